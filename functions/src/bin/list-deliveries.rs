//! Lambda function `list-deliveries`: see `shared::api::Route::ListDeliveries`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListDeliveries).await
}
