//! Lambda function `delete-notification`: see `shared::api::Route::DeleteNotification`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::DeleteNotification).await
}
