//! Lambda function `update-notification-preferences`: see `shared::api::Route::UpdateNotificationPreferences`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateNotificationPreferences).await
}
