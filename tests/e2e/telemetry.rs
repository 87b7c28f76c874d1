//! The Lambda functions' telemetry (`shared::telemetry`): the sender's and the fan-out's
//! CloudWatch Embedded Metric Format documents, and the JSON log line's fields.

use herald_tests::Captured;
use serde_json::json;
use shared::telemetry::{DeliveryTally, Metrics, Settled, json_layer};
use time::OffsetDateTime;
use tracing_subscriber::layer::SubscriberExt;

const AT: OffsetDateTime = time::macros::datetime!(2026-11-30 12:00:00.250 UTC);

#[test]
fn a_sender_batch_is_one_emf_document_per_transport_with_every_latency() {
    let lines = Captured::default();
    let metrics = Metrics::emf("Herald/test", lines.clone());
    let mut tally = DeliveryTally::default();
    tally.record("webhook", Settled::Sent { latency_ms: 120 });
    tally.record("webhook", Settled::Sent { latency_ms: 80 });
    tally.record("webhook", Settled::Retried);
    tally.record("sms", Settled::Skipped);
    tally.record("sms", Settled::Failed);
    metrics.deliveries(AT, &tally);
    assert_eq!(
        lines.json_lines(),
        vec![
            json!({
                "_aws": {"Timestamp": 1_796_040_000_250_i64, "CloudWatchMetrics": [{
                    "Namespace": "Herald/test",
                    "Dimensions": [["Transport"]],
                    "Metrics": [
                        {"Name": "DeliveriesSent", "Unit": "Count"},
                        {"Name": "DeliveriesFailed", "Unit": "Count"},
                        {"Name": "DeliveriesRetried", "Unit": "Count"},
                        {"Name": "DeliveriesSkipped", "Unit": "Count"},
                    ],
                }]},
                "Transport": "sms",
                "DeliveriesSent": 0, "DeliveriesFailed": 1, "DeliveriesRetried": 0, "DeliveriesSkipped": 1,
            }),
            json!({
                "_aws": {"Timestamp": 1_796_040_000_250_i64, "CloudWatchMetrics": [{
                    "Namespace": "Herald/test",
                    "Dimensions": [["Transport"]],
                    "Metrics": [
                        {"Name": "DeliveriesSent", "Unit": "Count"},
                        {"Name": "DeliveriesFailed", "Unit": "Count"},
                        {"Name": "DeliveriesRetried", "Unit": "Count"},
                        {"Name": "DeliveriesSkipped", "Unit": "Count"},
                        {"Name": "DeliveryLatency", "Unit": "Milliseconds"},
                    ],
                }]},
                "Transport": "webhook",
                "DeliveriesSent": 2, "DeliveriesFailed": 0, "DeliveriesRetried": 1, "DeliveriesSkipped": 0,
                "DeliveryLatency": [120, 80],
            }),
        ]
    );
}

#[test]
fn more_than_100_values_of_a_metric_go_in_further_documents() {
    let lines = Captured::default();
    let metrics = Metrics::emf("Herald", lines.clone());
    let sizes: Vec<u64> = (1..=150).collect();
    metrics.fanout_sizes(AT, &sizes);
    let documents = lines.json_lines();
    assert_eq!(documents.len(), 2);
    assert_eq!(
        documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );
    assert_eq!(
        documents[0]["FanoutSize"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(
        documents[1]["FanoutSize"],
        json!((101..=150).collect::<Vec<u64>>())
    );

    let mut tally = DeliveryTally::default();
    for latency_ms in 0..101 {
        tally.record("email", Settled::Sent { latency_ms });
    }
    metrics.deliveries(AT, &tally);
    let documents = lines.json_lines();
    assert_eq!(documents.len(), 4);
    assert_eq!(documents[2]["DeliveriesSent"], 101);
    assert_eq!(
        documents[2]["DeliveryLatency"].as_array().map(Vec::len),
        Some(100)
    );
    // The rest: the latency alone, so the counts are not counted twice.
    assert_eq!(documents[3]["DeliveryLatency"], json!([100]));
    assert_eq!(documents[3].get("DeliveriesSent"), None);
    assert_eq!(
        documents[3]["_aws"]["CloudWatchMetrics"][0]["Metrics"],
        json!([{"Name": "DeliveryLatency", "Unit": "Milliseconds"}])
    );
}

#[test]
fn metrics_off_write_nothing() {
    let mut tally = DeliveryTally::default();
    tally.record("webhook", Settled::Failed);
    Metrics::off().deliveries(AT, &tally);
    Metrics::off().fanout_sizes(AT, &[3]);
    assert_eq!(format!("{:?}", Metrics::off()), "Metrics(off)");
}

#[test]
fn a_json_log_line_carries_the_function_and_every_span_field_at_its_top_level() {
    let lines = Captured::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(json_layer("create-notification", move || writer.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let invoke = tracing::info_span!("Lambda runtime invoke", requestId = "lambda-1");
        let _invoke = invoke.enter();
        let request = tracing::info_span!(
            "request",
            request_id = "api-1",
            organization = tracing::field::Empty
        );
        let _request = request.enter();
        request.record("organization", "org_1");
        tracing::info!(status = 201, "done");
    });
    assert_eq!(
        lines.json_lines(),
        vec![json!({
            "level": "INFO",
            "message": "done",
            // The innermost span's name.
            "name": "request",
            "status": 201,
            "requestId": "lambda-1",
            "request_id": "api-1",
            "organization": "org_1",
            "function": "create-notification",
        })]
    );
}
