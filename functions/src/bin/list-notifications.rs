//! Lambda function `list-notifications`: see `shared::api::Route::ListNotifications`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListNotifications).await
}
