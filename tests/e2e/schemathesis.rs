//! schemathesis against `herald-local` as a process, with every check and every phase (the
//! stateful one follows the document's links: create a notification, then get, patch, test and
//! delete it): it finds nothing. `tests/schemathesis/schemathesis.toml` says which answers are
//! the server's rules rather than the schema's (a webhook host that does not resolve, a Slack
//! code Slack refuses, a user that does not exist), each with why.
//!
//! `scripts/test` installs schemathesis into `.venv-schemathesis`.

use std::process::Command;

use herald_tests::local::{Local, temp_path};
use herald_tests::slack_stand_in;

/// How long schemathesis generates requests, in seconds.
const MAX_SECONDS: &str = "120";

// One worker: with several, Python 3.11's `ast.parse` (hypothesis describing a filter) can fail
// with "AST constructor recursion depth mismatch" (CPython gh-106905), an error of the tool.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_with_every_check_and_phase_finds_nothing() {
    let root = herald_tests::repo_root();
    let schemathesis = herald_tests::installed(".venv-schemathesis/bin/schemathesis");
    let config = root.join("tests/schemathesis/schemathesis.toml");
    // Slack's stand-in refuses every code but `good-code`, as Slack refuses unknown codes.
    let slack = slack_stand_in().await;
    let dir = temp_path("schemathesis");
    let local = Local::start(
        &dir,
        &[
            ("HERALD_SLACK_API_URL", slack.as_str()),
            ("HERALD_SLACK_CLIENT_ID", "test-client"),
            ("HERALD_SLACK_CLIENT_SECRET", "test-secret"),
        ],
    );
    let work = temp_path("schemathesis-work");
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://127.0.0.1:{}/openapi.json", local.port);
    // A fixed seed, so that a failure repeats; `HERALD_SCHEMATHESIS_SEED` explores others.
    let seed = std::env::var("HERALD_SCHEMATHESIS_SEED").unwrap_or_else(|_| "1".into());
    let mut command = Command::new(&schemathesis);
    command
        .current_dir(&work)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &url, "--max-time", MAX_SECONDS, "--workers", "1"])
        .args(["--no-color", "--seed", &seed])
        .env("HERALD_ORGANIZATION_ID", local.org())
        .env("HERALD_ADMIN_TOKEN", local.admin_token())
        .env("HERALD_OPERATOR_TOKEN", local.operator_token());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{}: {e}", schemathesis.display()));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found something ({:?}):\n{report}\n{}\nherald-local's log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        local.stderr()
    );
    // Every phase ran and passed (a phase with nothing to test would say so instead).
    for phase in ["Examples", "Coverage", "Fuzzing", "Stateful"] {
        let passed = format!("✅  {phase} (in ");
        assert!(
            report.lines().any(|l| l.trim_start().starts_with(&passed)),
            "{phase} did not pass:\n{report}"
        );
    }
    println!("{report}");
}
