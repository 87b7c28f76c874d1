//! Lambda function `revoke-token`: see `shared::api::Route::RevokeToken`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::RevokeToken).await
}
