//! Logging and metrics.
//!
//! Logs: JSON lines in Lambda, human output locally. A JSON line carries, at its top level, the
//! `level`, the `message` and the event's fields, the fields of every span it is in (the Lambda
//! runtime's `requestId`, the API request's `request_id`, `method`, `path` and `organization`,
//! and the innermost span's `name`) and the `function`, so a CloudWatch Logs Insights query filters on each directly. `RUST_LOG`
//! filters with `target=level` directives (`warn`, `info,shared=debug`; default `info`). Tokens
//! and secrets are never logged.
//!
//! `Targets` rather than `EnvFilter`: the same directives without a regex engine, which made
//! every function binary larger and its cold start slower (BENCHMARKS.md).
//!
//! Metrics: [`Metrics`] writes CloudWatch Embedded Metric Format documents, one JSON line each,
//! which CloudWatch Logs turns into metrics: they cost no API call and no latency.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use json_subscriber::JsonLayer;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tracing::Subscriber;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

fn filter() -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

/// The JSON layer of a Lambda function (CloudWatch adds the timestamp).
pub fn json_layer<S, W>(function: &'static str, writer: W) -> JsonLayer<S, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    let mut layer = JsonLayer::new(writer);
    layer
        .with_level("level")
        .with_flattened_event()
        .with_top_level_flattened_span_list();
    layer.add_static_field("function", Value::from(function));
    layer
}

/// JSON output for Lambda function `function`, on stdout.
pub fn init_json(function: &'static str) {
    let _ = tracing_subscriber::registry()
        .with(json_layer(function, std::io::stdout))
        .with(filter())
        .try_init();
}

/// Human-readable output for the local server, on stderr (its stdout carries only its three
/// lines), coloured only when stderr is a terminal and `NO_COLOR` is not set.
pub fn init_human() {
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter())
        .try_init();
}

/// CloudWatch takes at most 100 values of one metric in one document.
const VALUES_PER_DOCUMENT: usize = 100;

/// Where a process's metrics go: nowhere (the local server, tests), or CloudWatch Embedded
/// Metric Format documents written to a stream (stdout in Lambda).
#[derive(Clone, Default)]
pub struct Metrics {
    out: Option<Arc<Emf>>,
}

struct Emf {
    namespace: String,
    writer: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.out {
            Some(emf) => write!(f, "Metrics(EMF, {})", emf.namespace),
            None => f.write_str("Metrics(off)"),
        }
    }
}

/// How a delivery's attempt was settled, as the sender's metrics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Sent, this long after its event.
    Sent {
        latency_ms: u64,
    },
    Failed,
    Retried,
    Skipped,
}

/// What one sender batch settled, per transport (`webhook`, `slack`, `email`, `sms`).
#[derive(Debug, Default)]
pub struct DeliveryTally(BTreeMap<&'static str, TransportTally>);

#[derive(Debug, Default)]
struct TransportTally {
    sent: u64,
    failed: u64,
    retried: u64,
    skipped: u64,
    latency_ms: Vec<u64>,
}

impl DeliveryTally {
    pub fn record(&mut self, transport: &'static str, settled: Settled) {
        let tally = self.0.entry(transport).or_default();
        match settled {
            Settled::Sent { latency_ms } => {
                tally.sent += 1;
                tally.latency_ms.push(latency_ms);
            }
            Settled::Failed => tally.failed += 1,
            Settled::Retried => tally.retried += 1,
            Settled::Skipped => tally.skipped += 1,
        }
    }
}

impl Metrics {
    /// No metrics.
    pub fn off() -> Self {
        Self::default()
    }

    /// EMF documents in `namespace`, one line each, written to `writer`.
    pub fn emf(namespace: impl Into<String>, writer: impl Write + Send + 'static) -> Self {
        Self {
            out: Some(Arc::new(Emf {
                namespace: namespace.into(),
                writer: Mutex::new(Box::new(writer)),
            })),
        }
    }

    /// EMF on stdout, in `namespace` (a Lambda function: `Config::metrics_namespace`).
    pub fn emf_on_stdout(namespace: impl Into<String>) -> Self {
        Self::emf(namespace, std::io::stdout())
    }

    /// The sender's metrics for one batch, one document per transport (dimension `Transport`):
    /// `DeliveriesSent`, `DeliveriesFailed`, `DeliveriesRetried`, `DeliveriesSkipped` (Count) and
    /// `DeliveryLatency` (Milliseconds from the event to the delivery sent), every value listed.
    pub fn deliveries(&self, at: OffsetDateTime, tally: &DeliveryTally) {
        if self.out.is_none() {
            return;
        }
        for (transport, t) in &tally.0 {
            let mut chunks = t.latency_ms.chunks(VALUES_PER_DOCUMENT);
            let first = chunks.next().unwrap_or_default();
            let mut metrics = vec![
                ("DeliveriesSent", "Count", json!(t.sent)),
                ("DeliveriesFailed", "Count", json!(t.failed)),
                ("DeliveriesRetried", "Count", json!(t.retried)),
                ("DeliveriesSkipped", "Count", json!(t.skipped)),
            ];
            if !first.is_empty() {
                metrics.push(("DeliveryLatency", "Milliseconds", json!(first)));
            }
            self.put(at, &[("Transport", transport)], &metrics);
            for more in chunks {
                let metrics = [("DeliveryLatency", "Milliseconds", json!(more))];
                self.put(at, &[("Transport", transport)], &metrics);
            }
        }
    }

    /// The fan-out's metric for one batch: `FanoutSize` (Count), the deliveries each event's
    /// fan-out job made (a large event's fan-out runs as several jobs: one value each).
    pub fn fanout_sizes(&self, at: OffsetDateTime, sizes: &[u64]) {
        if self.out.is_none() {
            return;
        }
        for chunk in sizes.chunks(VALUES_PER_DOCUMENT) {
            self.put(at, &[], &[("FanoutSize", "Count", json!(chunk))]);
        }
    }

    /// Writes one document: its dimensions (one dimension set) and metrics (name, unit, value).
    fn put(
        &self,
        at: OffsetDateTime,
        dimensions: &[(&str, &str)],
        metrics: &[(&str, &str, Value)],
    ) {
        let Some(emf) = &self.out else { return };
        let mut document = Map::new();
        let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
        let declared: Vec<Value> = metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect();
        let millis = at.unix_timestamp_nanos() / 1_000_000;
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": i64::try_from(millis).unwrap_or(i64::MAX),
                "CloudWatchMetrics": [{
                    "Namespace": emf.namespace,
                    "Dimensions": [names],
                    "Metrics": declared,
                }],
            }),
        );
        for (name, value) in dimensions {
            document.insert((*name).into(), json!(value));
        }
        for (name, _, value) in metrics {
            document.insert((*name).into(), value.clone());
        }
        let mut line = Value::Object(document).to_string();
        line.push('\n');
        let mut writer = emf.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writer
            .write_all(line.as_bytes())
            .and_then(|()| writer.flush())
        {
            tracing::warn!(error = %e, "metrics not written");
        }
    }
}
