//! Lambda function `delete-operational-webhook`: see `shared::api::Route::DeleteOperationalWebhook`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::DeleteOperationalWebhook).await
}
