//! Lambda function `update-notification`: see `shared::api::Route::UpdateNotification`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateNotification).await
}
