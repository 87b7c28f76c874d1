//! What `herald` prints for people: tables of the API's answers.

use serde_json::Value;

use crate::client::Failure;

/// A value as a table cell.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows under their headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([h.len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_uppercase()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// Rows of `items`, one column per key (`a.b` reaches into objects).
pub fn rows(items: &[Value], keys: &[&str]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|item| {
            keys.iter()
                .map(|k| cell(k.split('.').fold(item, |v, part| &v[part])))
                .collect()
        })
        .collect()
}

/// What a command printed: the JSON answer, and the same as a table for people.
pub struct Shown {
    pub json: Value,
    pub human: String,
}

pub fn shown(json: Value, human: String) -> Result<Shown, Failure> {
    Ok(Shown { json, human })
}

pub fn key_values(value: &Value) -> String {
    let items: Vec<Vec<String>> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| vec![k.clone(), cell(v)])
        .collect();
    table(&["field", "value"], &items)
}
