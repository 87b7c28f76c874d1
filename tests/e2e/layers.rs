//! The crate's floors, as its imports draw them: each module of `shared/src` looks down only, and
//! every Rust file is at most 600 lines (the templates' copy apart).
//!
//! | floor | modules | may import (besides its own floor) |
//! |---|---|---|
//! | edge | `api`, `app`, `console` | everything below |
//! | adapters | `adapters` | ports, ground |
//! | workers | `workers` | domain, ports, ground |
//! | domain | `domain` | ports, ground |
//! | ports | `ports` | ground |
//! | ground | `model`, `config`, `telemetry`, `templates`, `event_types` | ground |
//!
//! Below the edge and the adapters nothing names a backend or an HTTP framework (`axum`,
//! `hyper`, `tower`, `reqwest`, `rusqlite`, the AWS SDK, the Lambda runtime).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_rust_file_is_over_600_lines_but_the_templates_copy() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["shared/src", "functions/src", "tests", "bench"] {
        if root.join(dir).is_dir() {
            walk(&root.join(dir), &mut files);
        }
    }
    assert!(files.len() > 50, "{files:?}");
    let long: Vec<(String, usize)> = files
        .iter()
        .filter(|f| !f.ends_with("shared/src/templates/copy.rs"))
        .map(|f| {
            let lines = std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .count();
            (f.display().to_string(), lines)
        })
        .filter(|(_, lines)| *lines > 600)
        .collect();
    assert!(long.is_empty(), "{long:?}");
}

/// The floor of a top-level module (0 is the ground), `None` for one the table does not know.
fn floor(module: &str) -> Option<u8> {
    Some(match module {
        "model" | "config" | "telemetry" | "templates" | "event_types" => 0,
        "ports" => 1,
        "domain" => 2,
        "workers" => 3,
        "adapters" => 4,
        "api" | "app" | "console" | "lib" => 5,
        _ => return None,
    })
}

/// Whether a module on `from`'s floor may import `to`.
fn may_import(from: &str, to: &str) -> bool {
    match (floor(from), floor(to)) {
        // The adapters implement the ports: they see the ports and the ground, never the domain
        // or the workers.
        (Some(4), Some(to)) => to <= 1 || to == 4,
        (Some(from), Some(to)) => to <= from,
        _ => false,
    }
}

/// Crates only the edge and the adapters may name: backends and HTTP frameworks.
const BACKENDS: &[&str] = &[
    "axum",
    "hyper",
    "tower",
    "reqwest",
    "rusqlite",
    "aws_sdk_",
    "aws_config",
    "aws_smithy",
    "lambda_http",
    "lambda_runtime",
];

/// What a source breaks of the floors: `(file, what it names)` for each import that looks up.
/// `sources` are `(path relative to shared/src, text)`.
fn violations(sources: &[(String, String)]) -> Vec<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, text) in sources {
        let module = path
            .split('/')
            .next()
            .unwrap_or_default()
            .trim_end_matches(".rs");
        // The code, not its tests or its comments (a doc may name what implements a port).
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (i, _) in code.match_indices("crate::") {
            let named: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !named.is_empty() && named != module && !may_import(module, &named) {
                found.insert((path.clone(), format!("crate::{named}")));
            }
        }
        if floor(module).is_some_and(|f| f <= 3) {
            for backend in BACKENDS {
                let named = code.match_indices(backend).any(|(i, _)| {
                    let before = code[..i].chars().next_back();
                    // A crate's name, not the tail of another identifier.
                    !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                        && code[i + backend.len()..]
                            .chars()
                            .next()
                            .is_some_and(|c| c == ':' || c.is_ascii_alphanumeric())
                });
                if named {
                    found.insert((path.clone(), (*backend).to_owned()));
                }
            }
        }
    }
    found.into_iter().collect()
}

/// Every file of `shared/src`, as `(path relative to it, text)`.
fn sources() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .iter()
        .map(|f| {
            let relative = f.strip_prefix(&root).unwrap_or(f);
            (
                relative.display().to_string(),
                std::fs::read_to_string(f).unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn every_module_looks_down_only_and_nothing_below_the_edge_names_a_backend() {
    let sources = sources();
    let modules: BTreeSet<String> = sources
        .iter()
        .filter_map(|(p, _)| p.split('/').next())
        .map(|m| m.trim_end_matches(".rs").to_owned())
        .collect();
    let unknown: Vec<&String> = modules.iter().filter(|m| floor(m).is_none()).collect();
    assert!(unknown.is_empty(), "modules on no floor: {unknown:?}");
    assert_eq!(violations(&sources), Vec::<(String, String)>::new());
}

#[test]
fn the_floors_check_finds_a_planted_import_up_and_a_planted_backend() {
    let mut sources = sources();
    let (path, text) = sources
        .iter_mut()
        .find(|(p, _)| p == "domain/events.rs")
        .unwrap_or_else(|| panic!("domain/events.rs"));
    text.insert_str(0, "use crate::app::AppState;\n");
    let path = path.clone();
    let (worker, text) = sources
        .iter_mut()
        .find(|(p, _)| p == "workers/fanout.rs")
        .unwrap_or_else(|| panic!("workers/fanout.rs"));
    text.insert_str(0, "use rusqlite::Connection;\n");
    let worker = worker.clone();
    let (port, text) = sources
        .iter_mut()
        .find(|(p, _)| p == "ports/queue.rs")
        .unwrap_or_else(|| panic!("ports/queue.rs"));
    text.insert_str(0, "use crate::domain::Error;\n");
    let port = port.clone();
    let (adapter, text) = sources
        .iter_mut()
        .find(|(p, _)| p == "adapters/sqs.rs")
        .unwrap_or_else(|| panic!("adapters/sqs.rs"));
    text.insert_str(0, "use crate::workers::sender;\n");
    let adapter = adapter.clone();
    assert_eq!(
        violations(&sources),
        vec![
            (adapter, "crate::workers".to_owned()),
            (path, "crate::app".to_owned()),
            (port, "crate::domain".to_owned()),
            (worker, "rusqlite".to_owned()),
        ]
    );
}
