//! The layers of `shared/src` look down only: no module imports `api` but `api` itself (the
//! edge), and the top-level modules import each other without a cycle. And every Rust file is
//! at most 600 lines, the templates' copy apart.

use std::collections::{BTreeMap, BTreeSet};
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

/// Every top-level module of `shared/src` and the top-level modules its non-test code names as
/// `crate::<module>`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap_or(&file);
        let module = relative
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_owned()
            })
            .unwrap_or_default();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let named = graph.entry(module.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                named.insert(name);
            }
        }
    }
    graph
}

#[test]
fn only_the_edge_imports_the_api_and_no_modules_import_each_other_in_a_cycle() {
    let graph = imports();
    assert!(
        graph.contains_key("domain") && graph.contains_key("api"),
        "{graph:?}"
    );
    let into_api: Vec<&String> = graph
        .iter()
        .filter(|(module, named)| *module != "lib" && named.contains("api"))
        .map(|(module, _)| module)
        .collect();
    assert!(into_api.is_empty(), "import api: {into_api:?}");
    // Depth-first search: a module met again while still on the path closes a cycle.
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|m| *m == module) {
            panic!("import cycle: {:?}", &path[at..]);
        }
        if !done.insert(module) {
            return;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done);
    }
}
