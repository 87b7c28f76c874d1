//! Lambda function `update-notifications-settings`: see `shared::api::Route::UpdateNotificationsSettings`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateNotificationsSettings).await
}
