//! Lambda function `fanout-dead-letters`: SQS, from the fan-out dead-letter queue; records each
//! dead event job's event `failed` and tells the operational webhook (see
//! `shared::workers::dead_letters`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::run_fanout_dead_letters().await
}
