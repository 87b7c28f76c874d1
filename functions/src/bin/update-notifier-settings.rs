//! Lambda function `update-notifier-settings`: see `shared::api::Route::UpdateNotifierSettings`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateNotifierSettings).await
}
