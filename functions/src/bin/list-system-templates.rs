//! Lambda function `list-system-templates`: see `shared::api::Route::ListSystemTemplates`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListSystemTemplates).await
}
