//! Lambda function `update-notification-preferences`: see `shared::api::Route::UpdatePreferences`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdatePreferences).await
}
