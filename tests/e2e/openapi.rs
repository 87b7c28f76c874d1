//! The committed `openapi.json` is exactly what the code generates. Regenerate with
//! `HERALD_UPDATE_OPENAPI=1 cargo test -p herald-tests --test e2e openapi`.

use std::path::PathBuf;

use shared::api::Route;

#[test]
fn committed_openapi_matches_the_code_and_covers_every_route() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi.json");
    let generated = shared::api::openapi::document();
    if std::env::var("HERALD_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is stale: run HERALD_UPDATE_OPENAPI=1 cargo test -p herald-tests --test e2e openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap_or_default();
    let operations: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|ops| ops.as_object().map_or(0, |o| o.len()))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(operations, Route::ALL.len(), "one operation per route");
}
