//! Lambda function `get-notification`: see `shared::api::Route::GetNotification`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetNotification).await
}
