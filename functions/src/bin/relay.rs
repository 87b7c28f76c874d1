//! Lambda function `relay`: EventBridge schedule `rate(1 minute)`; sends the queue messages of
//! the records still marked in the outbox after the grace period (see `shared::workers::relay`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::run_relay().await
}
