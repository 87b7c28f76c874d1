//! Lambda function `create-organization`: see `shared::api::Route::CreateOrganization`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    functions::run(shared::api::Route::CreateOrganization).await
}
