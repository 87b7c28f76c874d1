//! Lambda function `delete-user`: see `shared::api::Route::DeleteUser`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::DeleteUser).await
}
