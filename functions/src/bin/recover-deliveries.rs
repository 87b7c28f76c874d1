//! Lambda function `recover-deliveries`: see `shared::api::Route::RecoverDeliveries`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::RecoverDeliveries).await
}
