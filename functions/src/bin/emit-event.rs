//! Lambda function `emit-event`: see `shared::api::Route::EmitEvent`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::EmitEvent).await
}
