//! The route table (`shared::api::Route`) is the one list of routes: `template.yaml` (every
//! function's `CodeUri`, every HTTP event's `Method` and `Path`), `functions/src/bin/`, `events/`
//! and the README's route table all say exactly what it says.

use std::collections::BTreeSet;
use std::path::PathBuf;

use shared::api::Route;

/// The functions that are not API routes: triggered by a queue or a schedule, and the console.
const WORKERS: &[&str] = &[
    "fan-out",
    "sender",
    "dead-letters",
    "fanout-dead-letters",
    "quota-reset",
    "relay",
    "console",
];

/// The console function's HTTP events (its page and its assets): not API routes.
fn console() -> BTreeSet<(String, String, String)> {
    ["/console", "/console/{asset}"]
        .iter()
        .map(|p| ("console".to_owned(), "GET".to_owned(), (*p).to_owned()))
        .collect()
}

/// Asserts `found` is `expected`, naming only what differs.
fn same<T: Ord + std::fmt::Debug>(found: &BTreeSet<T>, expected: &BTreeSet<T>, what: &str) {
    let extra: Vec<&T> = found.difference(expected).collect();
    let missing: Vec<&T> = expected.difference(found).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{what}: not in the route table: {extra:?}; missing: {missing:?}"
    );
}

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(function, method, path)` of every route in the table (the notifications API's trailing slash included).
fn table() -> BTreeSet<(String, String, String)> {
    Route::ALL
        .iter()
        .flat_map(|route| {
            route
                .endpoints()
                .into_iter()
                .map(|(method, path)| (route.function_name().to_owned(), method, path))
        })
        .collect()
}

/// What `template.yaml` declares: each function resource's binary (its `CodeUri`,
/// `target/lambda/<binary>/`, where `scripts/build-functions` puts it), and the `Method` and `Path`
/// of its HTTP events. (A line reader: the template's layout is regular, and CloudFormation's
/// `!Ref` tags need no YAML library here.)
fn template() -> (BTreeSet<String>, BTreeSet<(String, String, String)>) {
    let text = read("template.yaml");
    let (mut binaries, mut endpoints) = (BTreeSet::new(), BTreeSet::new());
    let (mut binary, mut method): (Option<String>, Option<String>) = (None, None);
    for line in text.lines() {
        // A new resource (two-space indented key) ends the previous one.
        if line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':') {
            binary = None;
            method = None;
        }
        let line = line.trim();
        let code = line
            .strip_prefix("CodeUri: target/lambda/")
            .and_then(|b| b.strip_suffix('/'));
        if let Some(b) = code {
            binaries.insert(b.to_owned());
            binary = Some(b.to_owned());
        } else if let Some(m) = line.strip_prefix("Method: ") {
            method = Some(m.to_owned());
        } else if let Some(path) = line.strip_prefix("Path: ") {
            let b = binary
                .clone()
                .unwrap_or_else(|| panic!("Path {path} before CodeUri"));
            let m = method
                .take()
                .unwrap_or_else(|| panic!("Path {path} without Method"));
            endpoints.insert((b, m, path.to_owned()));
        }
    }
    (binaries, endpoints)
}

#[test]
fn template_yaml_declares_each_route_function_with_exactly_its_methods_and_paths() {
    let (binaries, endpoints) = template();
    let mut expected: BTreeSet<String> = Route::ALL
        .iter()
        .map(|r| r.function_name().to_owned())
        .collect();
    expected.extend(WORKERS.iter().map(|w| (*w).to_owned()));
    same(&binaries, &expected, "template.yaml's CodeUri entries");
    // The notifications API's trailing-slash spelling reaches create-notification through the API's $default
    // route (HTTP APIs do not keep a route key ending in `/`), which also answers unknown paths.
    let mut http = table();
    assert!(http.remove(&(
        "create-notification".to_owned(),
        "POST".to_owned(),
        "/v1/organizations/{organizationId}/notifications/".to_owned()
    )));
    http.insert((
        "create-notification".to_owned(),
        "ANY".to_owned(),
        "$default".to_owned(),
    ));
    http.extend(console());
    same(&endpoints, &http, "template.yaml's HTTP events");
}

#[test]
fn every_route_and_worker_has_its_binary_and_sample_event_and_nothing_else_does() {
    let names = |dir: &str, ext: &str| -> BTreeSet<String> {
        std::fs::read_dir(repo(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
            .collect()
    };
    let mut functions: BTreeSet<String> = Route::ALL
        .iter()
        .map(|r| r.function_name().to_owned())
        .collect();
    functions.extend(WORKERS.iter().map(|w| (*w).to_owned()));
    let mut bins = names("functions/src/bin", "rs");
    assert!(bins.remove("herald-local"));
    assert!(
        repo("functions/src/bin/herald/main.rs").is_file(),
        "the command line"
    );
    same(&bins, &functions, "functions/src/bin");
    // One sample per function, named after it; more for one function are `<function>-<case>`.
    let events = names("events", "json");
    let own: BTreeSet<String> = events
        .iter()
        .filter(|e| functions.contains(*e))
        .cloned()
        .collect();
    same(&own, &functions, "events/");
    for event in &events {
        assert!(
            functions
                .iter()
                .any(|f| event == f || event.starts_with(&format!("{f}-"))),
            "events/{event}.json belongs to no function"
        );
    }
    for route in Route::ALL {
        let name = route.function_name();
        let source = read(&format!("functions/src/bin/{name}.rs"));
        assert!(
            source.contains(&format!("functions::run(shared::api::Route::{route:?})")),
            "functions/src/bin/{name}.rs does not serve Route::{route:?}"
        );
        // A variant is its function's name.
        let words: String = name
            .split('-')
            .map(|w| w[..1].to_uppercase() + &w[1..])
            .collect();
        assert_eq!(format!("{route:?}"), words);
    }
}

#[test]
fn the_readme_route_table_has_one_row_per_route_endpoint() {
    let readme = read("README.md");
    let methods = ["| GET |", "| POST |", "| PUT |", "| PATCH |", "| DELETE |"];
    let mut rows = BTreeSet::new();
    for line in readme
        .lines()
        .filter(|l| methods.iter().any(|m| l.starts_with(m)))
    {
        let cells: Vec<&str> = line.split(" | ").collect();
        let method = cells[0].trim_start_matches("| ").to_owned();
        let code = |cell: &str| cell.split('`').nth(1).unwrap_or_default().to_owned();
        // The path cell holds the path, and may say more after it (query, trailing `/`).
        let path = code(cells[1]);
        let path = path.split('?').next().unwrap_or_default().to_owned();
        let function = code(cells[3]);
        if cells[1].contains("trailing `/` too") {
            rows.insert((function.clone(), method.clone(), format!("{path}/")));
        }
        rows.insert((function, method, path));
    }
    let mut expected = table();
    expected.extend(console());
    same(&rows, &expected, "the README's route table");
}
