//! Lambda function `send-test-notification`: see `shared::api::Route::SendTestNotification`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::SendTestNotification).await
}
