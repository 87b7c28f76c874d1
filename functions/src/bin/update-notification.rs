//! Lambda function `update-notification`: see `shared::api::Route::UpdateNotification`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateNotification).await
}
