//! Lambda function `put-operational-webhook`: see `shared::api::Route::PutOperationalWebhook`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::PutOperationalWebhook).await
}
