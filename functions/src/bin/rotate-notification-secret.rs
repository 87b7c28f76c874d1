//! Lambda function `rotate-notification-secret`: see `shared::api::Route::RotateNotificationSecret`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::RotateNotificationSecret).await
}
