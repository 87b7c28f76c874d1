//! Lambda function `get-notification-preferences`: see `shared::api::Route::GetNotificationPreferences`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetNotificationPreferences).await
}
