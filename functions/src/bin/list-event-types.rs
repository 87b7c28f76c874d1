//! Lambda function `list-event-types`: see `shared::api::Route::ListEventTypes`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::ListEventTypes).await
}
