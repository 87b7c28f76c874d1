//! Lambda function `list-users`: see `shared::api::Route::ListUsers`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListUsers).await
}
