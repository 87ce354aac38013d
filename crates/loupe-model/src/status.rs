//! Session outcome.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a session ended, normalised across the seed systems' spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// No end was recorded (still running, or crashed).
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with a failure.
    Failed,
    /// Cancelled or interrupted.
    Cancelled,
}

impl SessionStatus {
    /// Reads the many spellings (`complete`, `completed`, `success`, `ok`,
    /// `failed`, `error`, `failure`, `cancelled`, `running`, `pending`...).
    pub fn from_lenient(s: &str) -> SessionStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "complete" | "completed" | "success" | "succeeded" | "ok" | "done" | "finished" => {
                SessionStatus::Completed
            }
            "failed" | "fail" | "failure" | "error" | "errored" | "crashed" | "timeout" => {
                SessionStatus::Failed
            }
            "cancelled" | "canceled" | "interrupted" | "aborted" => SessionStatus::Cancelled,
            _ => SessionStatus::Running,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Completed => "completed",
            SessionStatus::Failed => "failed",
            SessionStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
