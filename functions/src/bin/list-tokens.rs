//! Lambda function `list-tokens`: see `shared::api::Route::ListTokens`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListTokens).await
}
