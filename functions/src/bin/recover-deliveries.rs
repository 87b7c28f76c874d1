//! Lambda function `recover-deliveries`: see `shared::api::Route::RecoverDeliveries`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::RecoverDeliveries).await
}
