//! Lambda function `delete-recipient`: see `shared::api::Route::DeleteRecipient`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::DeleteRecipient).await
}
