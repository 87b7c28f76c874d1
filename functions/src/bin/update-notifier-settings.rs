//! Lambda function `update-notifier-settings`: see `shared::api::Route::UpdateNotifierSettings`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateNotifierSettings).await
}
