//! Lambda function `get-user`: see `shared::api::Route::GetUser`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetUser).await
}
