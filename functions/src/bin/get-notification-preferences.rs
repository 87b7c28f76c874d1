//! Lambda function `get-notification-preferences`: see `shared::api::Route::GetPreferences`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetPreferences).await
}
