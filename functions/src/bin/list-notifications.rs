//! Lambda function `list-notifications`: see `shared::api::Route::ListNotifications`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListNotifications).await
}
