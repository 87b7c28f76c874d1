//! Lambda function `get-event`: see `shared::api::Route::GetEvent`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetEvent).await
}
