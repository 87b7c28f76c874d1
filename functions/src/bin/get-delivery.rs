//! Lambda function `get-delivery`: see `shared::api::Route::GetDelivery`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetDelivery).await
}
