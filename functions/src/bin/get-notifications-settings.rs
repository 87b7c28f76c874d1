//! Lambda function `get-notifications-settings`: see `shared::api::Route::GetNotificationsSettings`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetNotificationsSettings).await
}
