//! Lambda function `create-notification`: see `shared::api::Route::CreateNotification`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::CreateNotification).await
}
