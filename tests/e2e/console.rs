//! The web console at `GET /console`: its page and assets (the strict Content-Security-Policy,
//! nothing from elsewhere, at most 100 KB in all), and a real browser — headless Chromium driven
//! by `tests/console/drive.py` — through sign-in, a webhook notification, the delivery log, the
//! notifier's pause and a resend, against `herald-local` as a process. A screenshot of the
//! delivery log is kept in `target/artefacts/`.
//!
//! `scripts/test` installs Debian's `chromium` and `chromium-driver` when missing, and selenium
//! into `.venv-console`.

use std::process::Command;

use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, temp_path};

/// The most a first load may transfer: the page and its assets.
const MAX_BYTES: usize = 100 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_pages_carry_the_strict_policy_and_stay_small() {
    let local = Local::start(&temp_path("console-assets"), &[]);
    let http = reqwest::Client::new();
    let mut total = 0;
    for (path, kind) in [
        ("/console", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
    ] {
        let res = http
            .get(format!("http://127.0.0.1:{}{path}", local.port))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(res.status(), 200, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-type"), kind, "{path}");
        assert_eq!(
            header("content-security-policy"),
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        let body = res.text().await.unwrap_or_default();
        // Nothing from another origin, and no inline script or style for the policy to refuse.
        for outside in ["http://", "https://", "<style", "style=\"", "onclick="] {
            assert!(!body.contains(outside), "{path} holds {outside}");
        }
        total += body.len();
    }
    assert_eq!(total, shared::console::size());
    assert!(total <= MAX_BYTES, "{total} bytes");
    println!("console: {total} bytes in 3 files");
    let missing = http
        .get(format!("http://127.0.0.1:{}/console/other.js", local.port))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_creates_a_webhook_watches_it_deliver_pauses_and_resends_in_chromium() {
    let root = herald_tests::repo_root();
    let python = herald_tests::installed(".venv-console/bin/python");
    herald_tests::installed("/usr/bin/chromium");
    herald_tests::installed("/usr/bin/chromedriver");
    // The first two deliveries are answered 200, the third 400 (failed), its resend 200.
    let receiver = Receiver::start(&[(200, None), (200, None), (400, None)]).await;
    let local = Local::start(&temp_path("console"), &[]);
    let artefacts = root.join("target/artefacts");
    std::fs::create_dir_all(&artefacts).unwrap_or_else(|e| panic!("{e}"));
    let screenshot = artefacts.join("console-delivery-log.png");
    let _ = std::fs::remove_file(&screenshot);
    let mut command = Command::new(&python);
    command
        .arg(root.join("tests/console/drive.py"))
        .env("HERALD_URL", format!("http://127.0.0.1:{}", local.port))
        .env("HERALD_TOKEN", local.admin_token())
        .env("HERALD_RECEIVER", &receiver.url)
        .env("HERALD_SCREENSHOT", &screenshot);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("drive.py: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "drive.py: {stdout}\n{stderr}\nherald-local: {}",
        local.stderr()
    );
    // The receiver: three deliveries and the resend, which carried the third's webhook-id.
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4, "{stdout}");
    assert_eq!(hits[3].header("webhook-id"), hits[2].header("webhook-id"));
    assert_ne!(hits[2].header("webhook-id"), hits[1].header("webhook-id"));
    let shot = std::fs::metadata(&screenshot).unwrap_or_else(|e| panic!("screenshot: {e}"));
    assert!(shot.len() > 10_000, "{} bytes", shot.len());
}
