//! Lambda function `get-event`: see `shared::api::Route::GetEvent`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetEvent).await
}
