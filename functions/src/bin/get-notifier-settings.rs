//! Lambda function `get-notifier-settings`: see `shared::api::Route::GetNotifierSettings`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetNotifierSettings).await
}
