//! Lambda function `get-notification-preferences`: see `shared::api::Route::GetNotificationPreferences`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetNotificationPreferences).await
}
