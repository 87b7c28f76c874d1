//! Lambda function `reset-notifications-settings`: see `shared::api::Route::ResetNotificationsSettings`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ResetNotificationsSettings).await
}
