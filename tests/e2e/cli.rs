//! `herald`, the command line, as a process against `herald-local` as a process: notifications,
//! events, the delivery log (and `tail` until Ctrl-C), the notifier's pause, settings and
//! recipients; and its failures: no token, a wrong token, a wrong URL, the API's refusals, each a
//! clear message and exit 1, never a panic.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use herald_tests::delivery::Receiver;
use herald_tests::local::{Local, debug_binary, temp_path};
use serde_json::Value;

/// `herald args…` against `local` as its admin; `env` on top.
fn herald(local: &Local, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(debug_binary("herald"));
    command
        .env_remove("HERALD_ORGANIZATION_ID")
        .env("HERALD_URL", format!("http://127.0.0.1:{}", local.port))
        .env("HERALD_TOKEN", local.admin_token())
        .args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("herald {args:?}: {e}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `herald args… --json`, which must succeed: its JSON.
fn json(local: &Local, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let output = herald(local, &args, &[]);
    assert!(
        output.status.success(),
        "herald {args:?}: {}",
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("herald {args:?}: {e}: {}", stdout(&output)))
}

/// `herald notifications create --type webhook --url <url> --events <events>`: the notification.
fn create_webhook(local: &Local, url: &str, events: &str) -> Value {
    let args = [
        "notifications",
        "create",
        "--type",
        "webhook",
        "--url",
        url,
        "--events",
        events,
    ];
    json(local, &args)
}

/// A failure: exit 1, the message on stderr starting with `herald: `, nothing on stdout, no
/// panic.
fn fails(output: &Output) -> String {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.starts_with("herald: "), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(stdout(output), "");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_drives_notifications_events_deliveries_the_notifier_and_settings() {
    let receiver = Receiver::start(&[]).await;
    let local = Local::start(&temp_path("cli"), &[]);

    // A webhook notification, then one for email: the table lists both.
    let created = create_webhook(&local, &receiver.url, "buildCreated,buildProcessed");
    let webhook = created["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(created["events"]["buildCreated"], true);
    assert_eq!(created["events"]["buildProcessed"], true);
    assert_eq!(created["events"]["feedbackCreated"], false);
    let email = json(
        &local,
        &[
            "notifications",
            "create",
            "--type",
            "email",
            "--events",
            "feedbackCreated",
            "--description",
            "mail",
        ],
    );
    let table = stdout(&herald(&local, &["notifications", "list"], &[]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID  "), "{table}");
    let email_id = email["id"].as_str().unwrap_or_default().to_owned();
    let row = |id: &str| lines.iter().find(|l| l.starts_with(id)).copied();
    assert!(
        row(&webhook).is_some_and(|l| l.contains(&receiver.url)),
        "{table}"
    );
    assert!(
        row(&email_id).is_some_and(|l| l.contains("email") && l.contains("mail")),
        "{table}"
    );
    assert_eq!(
        json(&local, &["notifications", "get", &webhook])["id"],
        webhook
    );

    // An event reaches the receiver; the log shows its delivery `sent`.
    let accepted = json(
        &local,
        &[
            "events",
            "emit",
            "buildCreated",
            "--data",
            r#"{"appName": "Demo"}"#,
        ],
    );
    let event = accepted["id"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let deliveries = loop {
        let page = json(&local, &["deliveries", "list", "--event", &event]);
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.first().is_some_and(|d| d["status"] == "sent") || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["status"], "sent");
    assert_eq!(deliveries[0]["notificationId"], webhook.as_str());
    assert_eq!(receiver.received(), 1);
    let id = deliveries[0]["id"].as_str().unwrap_or_default();
    assert_eq!(json(&local, &["deliveries", "get", id]), deliveries[0]);
    let shown = json(&local, &["events", "get", &event]);
    assert_eq!(shown["deliveries"]["items"][0]["status"], "sent");
    assert_eq!(
        shown["fanout"],
        serde_json::json!({"status": "done", "deliveries": 1})
    );
    // Its fan-out did not fail: nothing to retry.
    let text = fails(&herald(&local, &["events", "retry-fanout", &event], &[]));
    assert_eq!(
        text,
        "herald: 409 3002: Conflict\n  fanout.status: the event's fan-out is done: only a failed one is retried\n"
    );

    // Resend it: the receiver gets it once more; the delivery shows both attempts.
    let resent = herald(&local, &["deliveries", "resend", id], &[]);
    assert_eq!(
        stdout(&resent),
        format!("queued {id} again\n"),
        "{}",
        stderr(&resent)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.received() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.received(), 2);
    let shown = stdout(&herald(&local, &["deliveries", "get", id], &[]));
    let attempts = shown.lines().filter(|l| l.contains(" sent ")).count();
    assert_eq!(attempts, 2, "the history's table: {shown}");
    // Recover: nothing failed in the last hour; a window in the future is refused.
    let since = shared::model::timestamp::format(
        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
    );
    let recovered = herald(
        &local,
        &["deliveries", "recover", &webhook, "--since", &since],
        &[],
    );
    assert_eq!(
        stdout(&recovered),
        "queued 0 failed deliveries again\n",
        "{}",
        stderr(&recovered)
    );
    let refused = herald(
        &local,
        &[
            "deliveries",
            "recover",
            &webhook,
            "--since",
            "2999-01-01T00:00:00Z",
        ],
        &[],
    );
    assert_eq!(
        fails(&refused),
        "herald: 400 1001: Validation failed\n  since: must not be in the future\n"
    );

    // The notifier: pause, status, resume (twice is fine: nothing changes).
    let paused = stdout(&herald(&local, &["notifier", "pause"], &[]));
    assert_eq!(paused, "paused: deliveries wait as held\n");
    assert_eq!(
        json(&local, &["notifier", "status"])["notifier_paused"],
        true
    );
    assert_eq!(
        stdout(&herald(&local, &["notifier", "resume"], &[])),
        "running\n"
    );
    assert_eq!(
        stdout(&herald(&local, &["notifier", "resume"], &[])),
        "running\n"
    );

    // Settings.
    let settings = json(
        &local,
        &["settings", "set", "--sms-quota", "12", "--language", "de"],
    );
    assert_eq!(settings["restrictions"]["smsVoiceQuota"]["daily"], 12);
    assert_eq!(settings["defaultLanguage"], "de");
    assert_eq!(json(&local, &["settings", "get"])["defaultLanguage"], "de");

    // Recipients from a file holding the recipients API's body.
    let file = temp_path("recipients.json");
    std::fs::write(
        &file,
        r#"{"recipients": [{"embedTenantName": "acme", "externalId": "ann@acme.example"}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let added = herald(
        &local,
        &[
            "recipients",
            "add",
            &email_id,
            "--file",
            &file.to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(
        stdout(&added),
        "created 1, updated 0, unchanged 0\n",
        "{}",
        stderr(&added)
    );

    // Test, then delete.
    let test = json(&local, &["notifications", "test", &webhook]);
    assert!(test["deliveryId"].is_string(), "{test}");
    let deleted = herald(&local, &["notifications", "delete", &email_id], &[]);
    assert_eq!(stdout(&deleted), format!("deleted {email_id}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_new_deliveries_until_ctrl_c() {
    let receiver = Receiver::start(&[]).await;
    let local = Local::start(&temp_path("cli-tail"), &[]);
    create_webhook(&local, &receiver.url, "feedbackCreated");
    let mut tail = Command::new(debug_binary("herald"))
        .env("HERALD_URL", format!("http://127.0.0.1:{}", local.port))
        .env("HERALD_TOKEN", local.admin_token())
        .args(["deliveries", "tail", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("herald deliveries tail: {e}"));
    let lines = BufReader::new(tail.stdout.take().unwrap_or_else(|| panic!("no stdout")));
    let accepted = json(&local, &["events", "emit", "feedbackCreated"]);
    let event = accepted["id"].as_str().unwrap_or_default().to_owned();
    // The delivery appears, then turns `sent`: one line each time it changes.
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in lines.lines().map_while(Result::ok) {
            let delivery: Value = serde_json::from_str(&line).unwrap_or_default();
            let sent = delivery["status"] == "sent";
            seen.push(delivery);
            if sent {
                break;
            }
        }
        seen
    });
    let seen = tokio::task::spawn_blocking(move || reader.join())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|_| panic!("the reader panicked"));
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|d| d["eventId"] == event.as_str()),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(|d| d["status"].clone()),
        Some("sent".into())
    );
    // Ctrl-C ends it, with success.
    let pid = tail.id().to_string();
    let signalled = Command::new("kill").args(["-INT", &pid]).status();
    assert!(signalled.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match tail.try_wait() {
            Ok(Some(status)) => break Some(status),
            _ if Instant::now() > deadline => break None,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let _ = tail.kill();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "tail did not stop on Ctrl-C"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_one_clear_line_and_exit_1() {
    let local = Local::start(&temp_path("cli-failures"), &[]);
    let list = ["notifications", "list"];

    let text = fails(&herald(&local, &list, &[("HERALD_TOKEN", "")]));
    assert_eq!(text, "herald: no token: give --token or set HERALD_TOKEN\n");
    let text = fails(&herald(&local, &list, &[("HERALD_TOKEN", "not-a-token")]));
    assert_eq!(
        text,
        "herald: the token is not a Herald token (hrld_…); give --org\n"
    );
    let wrong = format!("hrld_{}_{}", local.org(), "x".repeat(43));
    let text = fails(&herald(&local, &list, &[("HERALD_TOKEN", &wrong)]));
    assert_eq!(text, "herald: 401 4004: Invalid Token\n");
    let closed = herald_tests::local::free_port();
    let url = format!("http://127.0.0.1:{closed}");
    let text = fails(&herald(&local, &list, &[("HERALD_URL", &url)]));
    assert!(
        text.starts_with(&format!(
            "herald: cannot reach the API at {url}/v1/organizations/"
        )),
        "{text}"
    );
    let text = fails(&herald(&local, &["events", "emit", "pigeonLanded"], &[]));
    assert!(
        text.starts_with(
            "herald: 400 1001: Validation failed\n  type: must be one of buildCreated,"
        ),
        "{text}"
    );
    let text = fails(&herald(
        &local,
        &["notifications", "get", "0123456789abcdef01234567"],
        &[],
    ));
    assert_eq!(text, "herald: 404 3001: Entity not found\n");
    let text = fails(&herald(
        &local,
        &["events", "emit", "buildCreated", "--data", "{"],
        &[],
    ));
    assert!(text.starts_with("herald: --data is not JSON: "), "{text}");
    let missing = Path::new("/nonexistent/recipients.json");
    let text = fails(&herald(
        &local,
        &[
            "recipients",
            "add",
            "0123456789abcdef01234567",
            "--file",
            &missing.to_string_lossy(),
        ],
        &[],
    ));
    assert!(
        text.starts_with("herald: /nonexistent/recipients.json: "),
        "{text}"
    );
    // What clap refuses is exit 2, with the usage.
    let output = herald(
        &local,
        &["notifications", "create", "--type", "webhook"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--url <URL>"),
        "{}",
        stderr(&output)
    );
    // `--help` on every command.
    for args in [
        vec!["--help"],
        vec!["notifications", "--help"],
        vec!["notifications", "create", "--help"],
        vec!["notifier", "--help"],
        vec!["events", "emit", "--help"],
        vec!["deliveries", "tail", "--help"],
        vec!["settings", "set", "--help"],
        vec!["recipients", "add", "--help"],
    ] {
        let output = herald(&local, &args, &[]);
        assert!(output.status.success(), "{args:?}");
        assert!(stdout(&output).contains("Usage: herald"), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_tokens_are_managed_from_the_command_line() {
    let local = Local::start(&temp_path("cli-users"), &[]);
    let body = serde_json::json!({"username": "bob", "email": "bob@example.com"});
    let (status, created) = local
        .admin(reqwest::Method::POST, &local.path("/users"), Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    let bob = created["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let changed = json(&local, &["users", "set-roles", "bob", "admin,member"]);
    assert_eq!(changed["roles"], serde_json::json!(["admin", "member"]));
    let users = json(&local, &["users", "list"]);
    assert_eq!(users.as_array().map(Vec::len), Some(2), "{users}");

    let tokens = json(&local, &["tokens", "list"]);
    let listed = tokens.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{tokens}");
    assert!(
        listed[0]["lastUsedAt"].is_string(),
        "this very call used it: {tokens}"
    );
    assert!(
        !tokens.to_string().contains(local.admin_token()),
        "never a secret"
    );
    let table = stdout(&herald(&local, &["tokens", "list"], &[]));
    assert!(table.starts_with("ID  "), "{table}");
    assert!(table.contains("LASTUSEDAT"), "{table}");

    let deleted = stdout(&herald(&local, &["users", "delete", "bob"], &[]));
    assert_eq!(deleted.trim_end(), format!("deleted user {bob}"));
    let text = fails(&herald(
        &local,
        &["users", "set-roles", "me", "member"],
        &[],
    ));
    assert_eq!(
        text,
        "herald: 409 3002: Conflict\n  roles: the organization must keep at least one admin\n"
    );
}
