//! Lambda function `fan-out`: SQS-triggered, see `functions::run_fan_out`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::run_fan_out().await
}
