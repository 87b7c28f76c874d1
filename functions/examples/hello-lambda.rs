//! Benchmark baseline: a bare `lambda_runtime` hello-world, built like the functions
//! (`cargo build --release --example hello-lambda`), for bench/cold_start.py.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"statusCode": 200, "body": "hello"}))
    }))
    .await
}
