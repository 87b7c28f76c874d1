//! Lambda function `get-dispatch-methods`: see `shared::api::Route::GetDispatchMethods`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::GetDispatchMethods).await
}
