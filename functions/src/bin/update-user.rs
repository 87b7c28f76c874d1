//! Lambda function `update-user`: see `shared::api::Route::UpdateUser`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateUser).await
}
