//! Lambda function `create-user`: see `shared::api::Route::CreateUser`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::CreateUser).await
}
