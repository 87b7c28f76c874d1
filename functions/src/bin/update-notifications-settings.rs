//! Lambda function `update-notifications-settings`: see `shared::api::Route::UpdateNotificationsSettings`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateNotificationsSettings).await
}
