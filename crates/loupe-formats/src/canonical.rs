//! Canonical Loupe JSONL (docs/format.md): one [`Event`] per line. The reader
//! deserialises each line straight into [`Event`]; [`CanonicalWriter`] writes
//! them back, reusing one buffer.

use std::io::{self, Write};

use loupe_model::Event;

use crate::common::{from_line, LineCtx, LineParser};
use crate::Sink;

/// Reader for canonical lines (stateless).
pub(crate) struct CanonicalReader;

impl LineParser for CanonicalReader {
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
        let event: Event = from_line(line).map_err(|e| format!("invalid canonical event: {e}"))?;
        sink.event(ctx.source, event);
        Ok(())
    }
}

/// Writes events as canonical JSONL, one per line, to any [`Write`]. Each
/// line is serialised into a reused buffer and written with one call, so a
/// reader of a growing file never sees half an event unless the writer dies.
#[derive(Debug)]
pub struct CanonicalWriter<W: Write> {
    out: W,
    line: Vec<u8>,
    written: u64,
}

impl<W: Write> CanonicalWriter<W> {
    /// Wraps `out` (give it a `BufWriter` for files).
    pub fn new(out: W) -> Self {
        CanonicalWriter {
            out,
            line: Vec::with_capacity(1024),
            written: 0,
        }
    }

    /// Writes one event as one line.
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, event).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.written += 1;
        Ok(())
    }

    /// Number of events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `events` as canonical JSONL to `out`; returns how many were written.
pub fn write_canonical<'a, W: Write>(
    out: W,
    events: impl IntoIterator<Item = &'a Event>,
) -> io::Result<u64> {
    let mut w = CanonicalWriter::new(out);
    for e in events {
        w.write(e)?;
    }
    w.flush()?;
    Ok(w.written())
}
