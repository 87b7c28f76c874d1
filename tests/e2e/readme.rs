//! The README, held to what it says: its walk-through's commands run as they are written (taken
//! from the README's own code blocks), and its event-type table is the catalog's.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use herald_tests::local::{binary, free_port, temp_path, wait_for};
use serde_json::Value;
use shared::event_types;

fn readme() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of the section titled `## {title}`, up to the next `## ` heading.
fn section(readme: &str, title: &str) -> String {
    let heading = format!("\n## {title}\n");
    let start = readme
        .find(&heading)
        .unwrap_or_else(|| panic!("README has no `## {title}` section"))
        + heading.len();
    let rest = &readme[start..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_owned()
}

/// The contents of the section's ```sh blocks, in order.
fn shell_blocks(section: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + "```sh\n".len()..];
        let end = body
            .find("```")
            .unwrap_or_else(|| panic!("an unclosed code block"));
        blocks.push(body[..end].to_owned());
        rest = &body[end + 3..];
    }
    blocks
}

/// `text` with `from` replaced, which it must contain.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the walk-through no longer says {from:?}"
    );
    text.replace(from, to)
}

#[test]
fn the_walk_through_runs_as_written_from_a_fresh_directory_to_a_sent_webhook() {
    let blocks = shell_blocks(&section(&readme(), "Walk-through"));
    assert_eq!(blocks.len(), 7, "{blocks:#?}");
    // The same lines, with the binary the suite built (rather than `cargo run` from inside the
    // test run) and free ports instead of 3000 and 8080.
    let (api, hook) = (free_port(), free_port());
    let mut script = blocks.concat();
    script = substitute(
        &script,
        "cargo run -q -p functions --bin herald-local",
        &binary().display().to_string(),
    );
    script = substitute(&script, "127.0.0.1:3000", &format!("127.0.0.1:{api}"));
    script = substitute(&script, "8080", &hook.to_string());
    assert!(
        script.contains("kill %2 %1"),
        "the walk-through stops what it started"
    );
    let dir = temp_path("walk-through");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new("bash")
        .arg("-euc")
        // Whatever happens, nothing started here outlives the script.
        .arg(format!(
            "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}"
        ))
        .current_dir(&dir)
        .env("HERALD_PORT", api.to_string())
        .env_remove("HERALD_DATA_DIR")
        .env_remove("HERALD_OPERATOR_TOKEN")
        .env_remove("HERALD_BACKEND")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    let status = wait_for(&mut child, Duration::from_secs(90));
    if status.is_none() {
        let _ = child.kill();
    }
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    let file = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\nstdout:\n{out}\nstderr:\n{err}\nherald.log:\n{}",
        file("herald.log")
    );

    // The server's stdout: three `export` lines, nothing else; its logs on stderr, uncoloured.
    let env = file("herald.env");
    let names: Vec<&str> = env
        .lines()
        .map(|l| {
            let (name, value) = l
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .unwrap_or_else(|| panic!("not an export line: {l:?}"));
            assert!(
                !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{l}"
            );
            name
        })
        .collect();
    assert_eq!(
        names,
        [
            "HERALD_OPERATOR_TOKEN",
            "HERALD_ORGANIZATION_ID",
            "HERALD_ADMIN_TOKEN"
        ]
    );
    let log = file("herald.log");
    assert!(log.contains("herald-local listening on"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a file: {log}");

    // The receiver got one signed request: webhook-id, v1 signature, the rendered body.
    let received = file("received.log");
    let lines: Vec<&str> = received.lines().collect();
    assert_eq!(lines.len(), 1, "{received}");
    let mut parts = lines[0].splitn(3, ' ');
    let (id, signature, body) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    assert!(id.parse::<uuid::Uuid>().is_ok(), "{received}");
    assert!(signature.starts_with("v1,"), "{received}");
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {received}"));
    assert_eq!(body["type"], "buildCreated");
    assert_eq!(body["title"], "New build of Demo");
    assert_eq!(body["body"], "Ada uploaded Demo 1.0 (build 42) for iOS.");

    // What the script printed: the notification, the event with its warning, the receiver's
    // line, then the delivery log with that delivery sent.
    let printed: Vec<&str> = out.lines().collect();
    assert_eq!(printed.len(), 4, "{out}");
    let json = |line: &str| -> Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let created = json(printed[0]);
    assert!(
        created["data"]["config"]["webhook"]["token"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "{created}"
    );
    let event = json(printed[1]);
    assert_eq!(
        event["data"]["warnings"],
        serde_json::json!([{"field": "data.url", "message": "is missing: the buildCreated template renders it, and it will render empty"}])
    );
    assert_eq!(printed[2], lines[0]);
    let deliveries = json(printed[3]);
    let items = deliveries["data"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "{deliveries}");
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["eventId"], event["data"]["id"]);
    assert_eq!(items[0]["status"], "sent");
    assert_eq!(items[0]["attempts"], 1);
    // The server stopped gracefully and kept its data where the README says.
    assert!(dir.join("herald-data/herald.db").exists());
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn the_event_type_table_is_the_catalog() {
    let table = section(&readme(), "Event types");
    let rows: Vec<String> = table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = event_types::catalog()
        .iter()
        .map(|info| {
            let fields: Vec<String> = info.fields.iter().map(|f| format!("`{f}`")).collect();
            format!(
                "| `{}` | {} | {} |",
                info.kind,
                info.description,
                fields.join(", ")
            )
        })
        .collect();
    assert_eq!(rows, expected);
}
