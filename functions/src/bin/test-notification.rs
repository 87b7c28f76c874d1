//! Lambda function `test-notification`: see `shared::api::Route::TestNotification`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::TestNotification).await
}
