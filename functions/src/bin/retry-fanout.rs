//! Lambda function `retry-fanout`: see `shared::api::Route::RetryFanout`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::RetryFanout).await
}
