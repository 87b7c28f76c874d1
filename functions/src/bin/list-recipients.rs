//! Lambda function `list-recipients`: see `shared::api::Route::ListRecipients`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListRecipients).await
}
