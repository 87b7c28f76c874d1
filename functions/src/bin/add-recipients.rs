//! Lambda function `add-recipients`: see `shared::api::Route::AddRecipients`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::AddRecipients).await
}
