//! Lambda function `resend-delivery`: see `shared::api::Route::ResendDelivery`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ResendDelivery).await
}
