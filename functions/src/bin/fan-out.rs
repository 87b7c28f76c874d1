//! Lambda function `fan-out`: SQS-triggered, see `functions::run_fan_out`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::run_fan_out().await
}
