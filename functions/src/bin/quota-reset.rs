//! Lambda function `quota-reset`: EventBridge schedule `cron(0 0 * * ? *)`; closes the SMS quota
//! days that ended (see `shared::workers::quota`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::run_quota_reset().await
}
