//! Lambda function `delete-notification`: see `shared::api::Route::DeleteNotification`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::DeleteNotification).await
}
