//! Lambda function `sender`: SQS-triggered, see `functions::run_sender`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::run_sender().await
}
