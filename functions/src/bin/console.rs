//! Lambda function `console`: the web console's page and assets, see `shared::console`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run_console().await
}
