//! Lambda function `create-token`: see `shared::api::Route::CreateToken`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::CreateToken).await
}
