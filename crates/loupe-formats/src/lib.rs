//! Readers for every trace format Loupe knows, and writers for canonical
//! JSONL and OTLP.
//!
//! Data flows one way: a reader turns bytes into [`loupe_model::Event`]s and
//! hands them, one at a time, to a [`Sink`]. Nothing here builds sessions or
//! computes metrics; that is `loupe-analyze`'s job.
//!
//! Architecture Invariant: a reader never fails a whole file because of a bad
//! line. Malformed records become [`Skipped`] entries (path, line, reason) and
//! reading goes on; only an unreadable, binary or foreign file is a
//! [`ReadError`]. Readers never panic on any input (each has a fuzz target).

pub mod myagent;
pub mod otlp;
pub mod victor;

use std::path::{Path, PathBuf};

use loupe_model::{Event, SourceFormat};

mod agent_trace;
mod attocode_py;
mod attocode_ts;
mod attoswarm;
mod canonical;
mod common;
mod convert;
mod cut;
mod detect;
mod fields;
mod layout;
mod lenient;
mod read;
mod walk;

pub use canonical::{write_canonical, CanonicalWriter};
pub use convert::{
    convert_paths, session_file_stem, ConvertError, ConvertReport, ConvertTarget, ConvertedSession,
    ExistingOutput,
};
pub use detect::detect;
pub use loupe_model::UnreadMember;
pub use read::{
    is_line_oriented, is_utf16, is_utf16_big_endian, read_bytes, read_bytes_from, read_file,
    read_paths, read_paths_per_file, utf16_whole_lines, HandOn, Ignored, ReadOptions, ReadStats,
};
pub use walk::{named_as_json_lines, resolve_stdin};

/// The file an event came from and the format it was read as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file (for Agent Trace, the session's `events.jsonl`).
    pub path: PathBuf,
    /// The detected (or forced) format.
    pub format: SourceFormat,
}

/// A record a reader could not use. Reading continued after it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The file.
    pub path: String,
    /// 1-based line number, for line-oriented formats.
    pub line: Option<u64>,
    /// Why it was skipped.
    pub reason: String,
}

impl Skipped {
    /// A skipped record at `path:line`.
    pub fn new(path: &Path, line: Option<u64>, reason: impl Into<String>) -> Self {
        Skipped {
            path: path.display().to_string(),
            line,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path, l, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

/// A whole file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    // The I/O error is part of the message and deliberately not a `source`:
    // error chains (`{:#}`) would print it twice.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is not in any format Loupe knows (binary, foreign JSON...).
    #[error("{path}: not a trace Loupe can read: {reason}")]
    Unrecognized {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file looked like a known format but its structure is broken as a whole
    /// (for example a truncated whole-file JSON document).
    #[error("{path}: invalid {format} file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The format it was read as.
        format: SourceFormat,
        /// What is wrong.
        reason: String,
    },
}

impl ReadError {
    /// For `map_err`: an I/O error reading `path`.
    pub(crate) fn io_at(path: &Path) -> impl Fn(std::io::Error) -> ReadError + Copy + '_ {
        move |error| ReadError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// Receives what readers read, one record at a time, so memory does not grow
/// with input size.
pub trait Sink {
    /// A file is about to be read as `source.format`.
    fn begin(&mut self, _source: &Source) {}
    /// One event, in file order.
    fn event(&mut self, source: &Source, event: Event);
    /// One skipped record.
    fn skip(&mut self, skipped: Skipped);
    /// No more events of `session_id` will come from this file, so a sink
    /// that groups events into sessions may finish that one now instead of
    /// holding it until [`Sink::end`]. A hint: sinks may ignore it, and
    /// readers send it where they know (OTLP JSON, whose reader looks over
    /// the whole file first) or where their writer's layout says so
    /// (attocode-py: a session that ended, once the next one starts), so a
    /// file of many sessions need not be held whole. A sink must still take
    /// a later event of the session (a writer interleaving sessions): the
    /// CLI then sees the session twice and reads the files whole.
    fn session_done(&mut self, _source: &Source, _session_id: &str) {}
    /// The file is done.
    fn end(&mut self, _source: &Source) {}
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn begin(&mut self, source: &Source) {
        (**self).begin(source);
    }
    fn event(&mut self, source: &Source, event: Event) {
        (**self).event(source, event);
    }
    fn skip(&mut self, skipped: Skipped) {
        (**self).skip(skipped);
    }
    fn session_done(&mut self, source: &Source, session_id: &str) {
        (**self).session_done(source, session_id);
    }
    fn end(&mut self, source: &Source) {
        (**self).end(source);
    }
}

/// A [`Sink`] that keeps events and skipped records in memory without their
/// source: for reads of a single input (the server's request bodies), where
/// [`Collected`]'s copy of the source per event is waste.
#[derive(Debug, Default)]
pub struct CollectedEvents {
    /// Events in the order read.
    pub events: Vec<Event>,
    /// Skipped records.
    pub skipped: Vec<Skipped>,
}

impl Sink for CollectedEvents {
    fn event(&mut self, _source: &Source, event: Event) {
        self.events.push(event);
    }
    fn skip(&mut self, skipped: Skipped) {
        self.skipped.push(skipped);
    }
}

/// A [`Sink`] that keeps everything in memory (tests, small inputs).
#[derive(Debug, Default)]
pub struct Collected {
    /// Events with their source, in the order read.
    pub events: Vec<(Source, Event)>,
    /// Skipped records.
    pub skipped: Vec<Skipped>,
    /// Sessions the readers said were done ([`Sink::session_done`]), each
    /// with the number of events read before it was.
    pub done: Vec<(usize, String)>,
}

impl Sink for Collected {
    fn event(&mut self, source: &Source, event: Event) {
        self.events.push((source.clone(), event));
    }
    fn skip(&mut self, skipped: Skipped) {
        self.skipped.push(skipped);
    }
    fn session_done(&mut self, _source: &Source, session_id: &str) {
        self.done.push((self.events.len(), session_id.to_owned()));
    }
}
