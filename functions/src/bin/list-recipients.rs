//! Lambda function `list-recipients`: see `shared::api::Route::ListRecipients`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListRecipients).await
}
