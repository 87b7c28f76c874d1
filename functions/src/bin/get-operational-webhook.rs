//! Lambda function `get-operational-webhook`: see `shared::api::Route::GetOperationalWebhook`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetOperationalWebhook).await
}
