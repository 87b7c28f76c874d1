//! Lambda function `dead-letters`: SQS-triggered by the delivery dead-letter queue, see
//! `functions::run_dead_letters`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::run_dead_letters().await
}
