//! Lambda function `update-notifications-settings`: see `shared::api::Route::UpdateSettings`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateSettings).await
}
