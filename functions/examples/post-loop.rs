//! Benchmark baseline for the sender (bench/deliveries.py): the bare loopback POST loop. The same
//! HTTP client (`shared::adapters::http::delivery_client`), the same signed webhook POST
//! (`shared::adapters::http::webhook::post_webhook`) and the same concurrency as `herald-local`'s sender
//! (16 loops, each sending a batch of 10 at once and waiting for all 10), with no store and no
//! queue: what the machine can deliver at all.
//!
//! Usage: `post-loop URL COUNT`; prints `deliveries seconds cpu_seconds`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::{StreamExt, stream};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `herald-local`'s sender loops (`SENDERS`), and the batch each receives.
const WORKERS: usize = 16;
const BATCH: usize = 10;

/// The process's user + system CPU seconds so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: post-loop URL COUNT")?;
    let count: usize = args.next().ok_or("usage: post-loop URL COUNT")?.parse()?;
    let http = shared::adapters::http::delivery_client(
        Arc::new(shared::adapters::http::SystemResolver),
        true,
    )?;
    // A body the size of a delivery's (type, timestamp, data, title, body, ids).
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "buildProcessed",
        "timestamp": "2026-11-29T12:00:00.000Z",
        "data": {"appName": "Bench"},
        "title": "Build processed",
        "body": "Bench was processed and is ready to install.",
        "organization": "0123456789abcdef01234567",
        "notification": "0123456789abcdef01234568",
    }))?;
    let next = Arc::new(AtomicUsize::new(0));
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (http, url, body, next) = (http.clone(), url.clone(), body.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(BATCH, Ordering::SeqCst);
                if first >= count {
                    return;
                }
                let batch = first..(first + BATCH).min(count);
                stream::iter(batch)
                    .map(|n| {
                        let id = uuid::Uuid::from_u128(n as u128).to_string();
                        let (http, url, body) = (&http, &url, body.clone());
                        async move {
                            let sent = shared::adapters::http::webhook::post_webhook(
                                http,
                                url,
                                &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()],
                                &id,
                                1_764_417_600,
                                body,
                            )
                            .await;
                            if let Err(e) = sent {
                                eprintln!("post-loop: {e:?}");
                            }
                        }
                    })
                    .buffer_unordered(BATCH)
                    .collect::<()>()
                    .await;
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{count} {seconds:.4} {:.3}", cpu_seconds() - cpu0);
    Ok(())
}
