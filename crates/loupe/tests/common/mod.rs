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
