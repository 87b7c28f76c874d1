//! Crash safety with a real process: `herald-local` accepts thousands of events for a loopback
//! webhook receiver, is killed with SIGKILL while it is still accepting and delivering, and is
//! started again on the same data directory. Every event it answered 202 is then delivered, and
//! everything created before the kill is there.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, Records, id, temp_path};
use reqwest::Method;
use serde_json::{Value, json};

/// Events answered 202 before the kill, at least.
const EVENTS: usize = 2_000;
/// Emitters running at once.
const EMITTERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_while_delivering_loses_no_accepted_event_and_no_record() {
    let dir = temp_path("crash");
    // Each answer takes a few milliseconds: deliveries are in flight when the kill comes.
    let receiver = Receiver::start_pacing(Duration::from_millis(50)).await;
    let mut first = Local::start(&dir, &[]);

    // What must survive: a user and its token, notifications, recipients, settings.
    let records = Records::create(&first, &receiver.url).await;
    let webhook = records.webhook.clone();

    // Emit until killed: every 202 is an event that must be delivered.
    let accepted = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let killed = Arc::new(AtomicBool::new(false));
    let (port, events_path, admin) = (
        first.port,
        first.path("/events"),
        first.admin_token().to_owned(),
    );
    let client = shared::adapters::http::http_client().unwrap_or_else(|e| panic!("{e}"));
    let mut emitters = Vec::new();
    for _ in 0..EMITTERS {
        let (client, accepted, killed) = (client.clone(), accepted.clone(), killed.clone());
        let (url, admin) = (
            format!("http://127.0.0.1:{port}{events_path}"),
            admin.clone(),
        );
        emitters.push(tokio::spawn(async move {
            while !killed.load(Ordering::SeqCst) {
                let sent = client
                    .post(&url)
                    .bearer_auth(&admin)
                    .json(&json!({"type": "buildCreated", "data": {"appName": "Crash"}}))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status().as_u16() != 202 {
                    break;
                }
                let body: Value = response.json().await.unwrap_or(Value::Null);
                accepted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(id(&body));
            }
        }));
    }
    let count = || accepted.lock().unwrap_or_else(|e| e.into_inner()).len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while (count() < EVENTS || receiver.received() < 100) && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (before_kill, arrived_before) = (count(), receiver.received());
    first.kill9();
    killed.store(true, Ordering::SeqCst);
    for e in emitters {
        let _ = e.await;
    }
    let accepted: Vec<String> = accepted.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        accepted.len() >= EVENTS,
        "{} events accepted before the kill",
        accepted.len()
    );
    assert!(
        arrived_before < accepted.len(),
        "the kill came while deliveries were still to be made ({arrived_before} of {})",
        accepted.len()
    );
    eprintln!(
        "killed with {} events accepted ({before_kill} when the kill was decided) and {arrived_before} webhooks arrived",
        accepted.len()
    );

    // Started again on the same directory.
    let second = Local::start(&dir, &[]);
    assert_eq!(second.lines, first.lines, "the same credentials");

    // Every accepted event's delivery arrives and ends `sent`; nothing stays queued.
    let mut delivery_of: HashMap<String, (String, String)> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut pending: Vec<String> = accepted.clone();
    while !pending.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = Vec::new();
        for event in pending {
            let (status, got) = second
                .admin(Method::GET, &second.path(&format!("/events/{event}")), None)
                .await;
            assert_eq!(status, 200, "accepted event {event} is recorded: {got}");
            let delivery = &got["data"]["deliveries"]["items"][0];
            match delivery["status"].as_str() {
                Some("sent") => {
                    delivery_of.insert(
                        event,
                        (
                            delivery["id"].as_str().unwrap_or_default().to_owned(),
                            delivery["notificationId"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        ),
                    );
                }
                _ => still.push(event),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(
        pending.is_empty(),
        "{} accepted events not delivered, e.g. {:?}\n{}",
        pending.len(),
        pending.first(),
        second.stderr()
    );
    assert!(delivery_of.values().all(|(_, n)| *n == webhook));

    // What the receiver got: each accepted event's webhook-id at least once; a repeat is a
    // delivery that was being sent when the process died, sent again under the same id.
    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for hit in receiver.hits() {
        *arrivals.entry(hit.header("webhook-id")).or_default() += 1;
    }
    let wanted: HashSet<&String> = delivery_of.values().map(|(d, _)| d).collect();
    let missing = wanted
        .iter()
        .filter(|d| !arrivals.contains_key(**d))
        .count();
    assert_eq!(missing, 0, "every accepted event's webhook arrived");
    let repeats: usize = arrivals.values().map(|n| n - 1).sum();
    let repeated_ids = arrivals.values().filter(|n| **n > 1).count();
    let unasked = arrivals.keys().filter(|d| !wanted.contains(d)).count();
    eprintln!(
        "{} webhook-ids answered 2xx once each; {repeats} repeats of {repeated_ids} ids (in flight at the kill, resent with the same webhook-id); {unasked} ids of events whose 202 the kill cut off",
        wanted.len()
    );
    // Only what was in flight can repeat: at most the sender's concurrency (4 loops × 32).
    assert!(repeats <= 4 * 32, "{repeats} repeats");
    assert!(
        arrivals.values().all(|n| *n <= 2),
        "never more than one repeat"
    );
    let (_, queued) = second
        .admin(Method::GET, &second.path("/deliveries?status=queued"), None)
        .await;
    assert_eq!(queued["data"]["items"], json!([]), "nothing stays queued");
    let (_, sending) = second
        .admin(
            Method::GET,
            &second.path("/deliveries?status=sending"),
            None,
        )
        .await;
    assert_eq!(sending["data"]["items"], json!([]), "nothing stays sending");

    // Everything created before the kill is there.
    records.assert_kept(&second).await;
}
