//! Lambda function `get-notification`: see `shared::api::Route::GetNotification`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetNotification).await
}
