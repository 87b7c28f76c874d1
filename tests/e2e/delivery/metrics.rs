//! The sender's and the fan-out's CloudWatch Embedded Metric Format documents, as their Lambda
//! functions write them: deliveries sent, failed, retried and skipped by transport, each sent
//! delivery's latency, and each event's fan-out size.

use super::*;
use herald_tests::Captured;
use shared::telemetry::Metrics;

/// The sum of metric `name` over the documents of `transport`.
fn total(documents: &[Value], transport: &str, name: &str) -> u64 {
    documents
        .iter()
        .filter(|d| d["Transport"] == transport)
        .filter_map(|d| d[name].as_u64())
        .sum()
}

async fn every_settled_attempt_is_counted_by_transport_and_every_event_by_its_fan_out_size(
    backend: Backend,
) {
    let mut d = DeliveryApp::spawn(backend).await;
    let out = Captured::default();
    // Emitting counts a fan-out too (where it makes the event's deliveries): the routes see the
    // metrics as the workers do.
    d.app = d
        .app
        .restated(|state| state.with_metrics(Metrics::emf("Herald/test", out.clone())));
    let flaky = Receiver::start(&[(500, None)]).await;
    let refusing = Receiver::start(&[(400, None)]).await;
    webhook(&d, &flaky.url).await;
    webhook(&d, &refusing.url).await;
    emitted(&d).await;
    d.pump(PUMP).await;
    assert_eq!(flaky.received(), 2, "a 500, then sent");
    assert_eq!(refusing.received(), 1, "a 400 fails at once");

    let documents = out.json_lines();
    for document in &documents {
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Herald/test");
        assert!(
            document["_aws"]["Timestamp"].as_u64().is_some(),
            "{document}"
        );
        // Every declared metric has its value in the document.
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let name = metric["Name"].as_str().unwrap_or_default();
            assert!(document.get(name).is_some(), "{name} in {document}");
        }
    }
    let fan_outs: Vec<&Value> = documents
        .iter()
        .filter(|d| d.get("FanoutSize").is_some())
        .collect();
    assert_eq!(fan_outs.len(), 1, "{documents:?}");
    assert_eq!(
        fan_outs[0]["FanoutSize"],
        json!([2]),
        "one event, two targets"
    );

    assert_eq!(total(&documents, "webhook", "DeliveriesSent"), 1);
    assert_eq!(total(&documents, "webhook", "DeliveriesRetried"), 1);
    assert_eq!(total(&documents, "webhook", "DeliveriesFailed"), 1);
    assert_eq!(total(&documents, "webhook", "DeliveriesSkipped"), 0);
    let latencies: Vec<u64> = documents
        .iter()
        .filter_map(|d| d["DeliveryLatency"].as_array())
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(latencies.len(), 1, "one delivery sent: {documents:?}");
    // From the event to the delivery sent: within the pump's run.
    assert!(latencies[0] < PUMP.as_millis() as u64, "{latencies:?}");
    assert!(
        documents
            .iter()
            .filter(|d| d.get("Transport").is_some())
            .all(|d| d["Transport"] == "webhook"),
        "{documents:?}"
    );
}

herald_tests::on_both_backends!(
    every_settled_attempt_is_counted_by_transport_and_every_event_by_its_fan_out_size
);
