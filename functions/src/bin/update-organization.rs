//! Lambda function `update-organization`: see `shared::api::Route::UpdateOrganization`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::UpdateOrganization).await
}
