//! Lambda function `get-user`: see `shared::api::Route::GetUser`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetUser).await
}
