//! Names of the trace formats Loupe reads (design §4, `source.format`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A trace format. Its name appears as `source.format` in JSON output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SourceFormat {
    /// Canonical Loupe JSONL.
    #[serde(rename = "loupe")]
    Loupe,
    /// attocode TypeScript `TraceCollector` JSONL (`_type` lines).
    #[serde(rename = "attocode-ts")]
    AttocodeTs,
    /// attocode Python `TraceCollector` JSONL (`kind` lines).
    #[serde(rename = "attocode-py")]
    AttocodePy,
    /// attocode Python's older `type`-line format.
    #[serde(rename = "attocode-py-legacy")]
    AttocodePyLegacy,
    /// Agent Trace session directories (`metadata.json` + `events.jsonl`).
    #[serde(rename = "agent-trace")]
    AgentTrace,
    /// MyAgent JSON exports.
    #[serde(rename = "myagent")]
    MyAgent,
    /// Victor `WorkflowTracer` JSON.
    #[serde(rename = "victor-workflow")]
    VictorWorkflow,
    /// Victor `ExecutionTrace` JSON and workflow history files.
    #[serde(rename = "victor-execution")]
    VictorExecution,
    /// attoswarm event and agent files.
    #[serde(rename = "attoswarm")]
    Attoswarm,
    /// OpenTelemetry OTLP (JSON or protobuf).
    #[serde(rename = "otlp")]
    Otlp,
}

impl SourceFormat {
    /// Every format.
    pub const ALL: &'static [SourceFormat] = &[
        SourceFormat::Loupe,
        SourceFormat::AttocodeTs,
        SourceFormat::AttocodePy,
        SourceFormat::AttocodePyLegacy,
        SourceFormat::AgentTrace,
        SourceFormat::MyAgent,
        SourceFormat::VictorWorkflow,
        SourceFormat::VictorExecution,
        SourceFormat::Attoswarm,
        SourceFormat::Otlp,
    ];

    /// The contract name (`attocode-py`).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Loupe => "loupe",
            SourceFormat::AttocodeTs => "attocode-ts",
            SourceFormat::AttocodePy => "attocode-py",
            SourceFormat::AttocodePyLegacy => "attocode-py-legacy",
            SourceFormat::AgentTrace => "agent-trace",
            SourceFormat::MyAgent => "myagent",
            SourceFormat::VictorWorkflow => "victor-workflow",
            SourceFormat::VictorExecution => "victor-execution",
            SourceFormat::Attoswarm => "attoswarm",
            SourceFormat::Otlp => "otlp",
        }
    }

    /// Looks up a contract name (`--format NAME`).
    pub fn from_name(name: &str) -> Option<SourceFormat> {
        SourceFormat::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == name)
    }
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for f in SourceFormat::ALL {
            assert_eq!(
                serde_json::to_string(f).unwrap(),
                format!("\"{}\"", f.as_str())
            );
            assert_eq!(SourceFormat::from_name(f.as_str()), Some(*f));
        }
    }
}
