//! Lambda function `delete-recipient`: see `shared::api::Route::DeleteRecipient`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::DeleteRecipient).await
}
