//! Helpers shared by the integration tests: reading a trace back.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::path::Path;

use serde_json::Value;

/// Every line of a trace file parsed as JSON; panics naming the line otherwise.
pub fn read_events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: invalid JSON ({e}): {l}", path.display(), i + 1))
        })
        .collect()
}

/// The events of one kind.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

/// The published event schema (docs/loupe-event.schema.json), compiled.
pub fn schema_validator() -> jsonschema::JSONSchema {
    let schema_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/loupe-event.schema.json"
    );
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    jsonschema::JSONSchema::compile(&schema).unwrap()
}

/// The number after `NAME=` in a child process's output (the harness may
/// print the test's name on the same line).
pub fn printed(text: &str, name: &str) -> u64 {
    text.split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{name} not printed: {text}"))
        .parse()
        .unwrap()
}
