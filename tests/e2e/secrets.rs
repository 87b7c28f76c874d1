//! The deployment's secrets from SSM Parameter Store (moto's), as Lambda reads them: the
//! operator token fetched on first use; a missing parameter is a clear 503 and a log line naming
//! the parameter; the secret's value appears in no answer and no log line.

use std::sync::Arc;

use herald_tests::{
    Backend, Captured, FakeResolver, TestApp, moto_sdk_config, new_backends, test_config,
};
use http::{Method, StatusCode};
use serde_json::json;
use shared::adapters::secrets::Secret;
use shared::app::AppState;
use tracing_subscriber::layer::SubscriberExt;

async fn app_with_operator(secret: Secret) -> TestApp {
    let (backends, calls) = new_backends(Backend::Sqlite).await;
    let config = test_config("http://127.0.0.1:9".into());
    let state = AppState::new(config, backends)
        .with_resolver(Arc::new(FakeResolver::default()))
        .with_operator_token(secret);
    TestApp::on_state(Backend::Sqlite, state, calls).await
}

// Current-thread: the request runs on this thread, where the capturing subscriber is the default.
#[tokio::test(flavor = "current_thread")]
async fn the_operator_token_comes_from_its_parameter_and_is_never_shown() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry().with(shared::telemetry::json_layer(
        "create-organization",
        move || writer.clone(),
    ));
    let _guard = tracing::subscriber::set_default(subscriber);

    let ssm = aws_sdk_ssm::Client::new(&moto_sdk_config().await);
    let name = format!(
        "/herald-test/{}/operator-token",
        uuid::Uuid::new_v4().simple()
    );
    let value = format!("op-{}", uuid::Uuid::new_v4().simple());
    ssm.put_parameter()
        .name(&name)
        .value(&value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = json!({"name": "Acme", "kind": "SANDBOX", "plan": "TRIAL", "admin": {"username": "root", "email": "root@acme.example"}});

    let app = app_with_operator(Secret::parameter(&name, Some(ssm.clone()))).await;
    let created = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some(&value),
            Some(body.clone()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let wrong = app
        .call(
            Method::POST,
            "/v1/organizations",
            Some("not-it"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);

    // A parameter that does not exist: 503, and the log names the parameter.
    let missing = format!("/herald-test/{}/missing", uuid::Uuid::new_v4().simple());
    let app = app_with_operator(Secret::parameter(&missing, Some(ssm))).await;
    let refused = app
        .call(Method::POST, "/v1/organizations", Some(&value), Some(body))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["code"], 5003);
    let logs = captured.text();
    assert!(
        logs.lines()
            .any(|l| l.contains("the operator token could not be read") && l.contains(&missing)),
        "{logs}"
    );
    // The value: in no answer, no log line.
    for answer in [&created.body, &wrong.body, &refused.body] {
        assert!(!answer.to_string().contains(&value));
    }
    assert!(!logs.contains(&value), "{logs}");
}
