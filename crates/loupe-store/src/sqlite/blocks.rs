//! Event blocks (schema 3 on): a session's events are stored up to
//! [`BLOCK_EVENTS`] to a row of `event_blocks`, instead of one row each.
//!
//! Why: with one row per event, every event cost a B-tree insert, a
//! dedup-index entry keyed by its text id and a link row per text, and that
//! per-row work was most of the writer's time (docs/benchmarks.md, "Store").
//! A block is one insert; deduplication is done in the writer's memory
//! against 128-bit hashes of the session's event ids; text links are per
//! block.
//!
//! Entry format, repeated: event id (varint length + UTF-8), timestamp in
//! microseconds (zigzag varint), kind (varint length + UTF-8), iteration
//! (varint, 0 = none, else n + 1), duration (byte 0 = none, 1 = followed by
//! the f64's 8 little-endian bytes), body (varint length + the body of
//! [`super::codec`]). Varints are LEB128.

use loupe_model::Event;

use super::codec::write_varint;

/// Most events in one block: small enough that search and paging decode
/// little they do not need, big enough that rows are few.
pub(crate) const BLOCK_EVENTS: usize = 512;

/// The dedup key of an event id within its session: 96 bits of BLAKE3 (a
/// collision among even 2 M ids of one session has odds under 2^-55). Three
/// words rather than a `u128`, so that a key and the stored copy's
/// [`loupe_model::Event::fullness`] (a `u32`) take 16 bytes together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdKey([u32; 3]);

impl std::hash::Hash for IdKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // BLAKE3 output: any 64 bits of it are already uniform.
        state.write_u64(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32));
    }
}

pub(crate) fn id_key(event_id: &str) -> IdKey {
    let hash = blake3::hash(event_id.as_bytes());
    let mut words = [0u32; 3];
    for (word, bytes) in words.iter_mut().zip(hash.as_bytes().chunks_exact(4)) {
        let mut le = [0u8; 4];
        le.copy_from_slice(bytes);
        *word = u32::from_le_bytes(le);
    }
    IdKey(words)
}

/// `block` with the entry at `range` (as [`Entries::position`] bounds it)
/// replaced by `entry`.
pub(crate) fn replace_entry(
    block: &[u8],
    range: std::ops::Range<usize>,
    entry: &RawEntry<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + entry.body.len());
    out.extend_from_slice(&block[..range.start]);
    push_raw_entry(&mut out, entry);
    out.extend_from_slice(&block[range.end..]);
    out
}

fn write_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    write_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

impl<'a> RawEntry<'a> {
    /// The entry of `event`, whose encoded body is `body`.
    pub(crate) fn of(event: &'a Event, body: &'a [u8]) -> RawEntry<'a> {
        RawEntry {
            event_id: &event.event_id,
            ts_us: event.timestamp.as_micros(),
            kind: event.kind.as_str(),
            iteration: event.iteration,
            duration_ms: event.duration_ms.filter(|d| d.is_finite()),
            body,
        }
    }
}

/// Appends one entry to a block's bytes.
fn push_raw_entry(block: &mut Vec<u8>, entry: &RawEntry<'_>) {
    write_bytes(entry.event_id.as_bytes(), block);
    let ts = entry.ts_us;
    write_varint(((ts << 1) ^ (ts >> 63)) as u64, block);
    write_bytes(entry.kind.as_bytes(), block);
    write_varint(entry.iteration.map_or(0, |i| u64::from(i) + 1), block);
    match entry.duration_ms {
        Some(d) => {
            block.push(1);
            block.extend_from_slice(&d.to_le_bytes());
        }
        None => block.push(0),
    }
    write_bytes(entry.body, block);
}

/// A block being filled for one session: its entries, the texts they
/// reference, and its time range.
#[derive(Default)]
pub(crate) struct BlockBuilder {
    bytes: Vec<u8>,
    contents: Vec<i64>,
    events: usize,
    first: i64,
    last: i64,
}

impl BlockBuilder {
    /// Adds one entry; `contents` are the text ids its body references.
    pub(crate) fn push(&mut self, entry: &RawEntry<'_>, contents: &[i64]) {
        let ts = entry.ts_us;
        if self.events == 0 {
            (self.first, self.last) = (ts, ts);
        }
        self.first = self.first.min(ts);
        self.last = self.last.max(ts);
        self.events += 1;
        push_raw_entry(&mut self.bytes, entry);
        self.contents.extend_from_slice(contents);
    }

    /// Whether the block holds [`BLOCK_EVENTS`] events.
    pub(crate) fn is_full(&self) -> bool {
        self.events >= BLOCK_EVENTS
    }

    /// Inserts the block (if it holds any event) into `event_blocks` with
    /// `insert` (`sid, first_ts, last_ts, events, body`), queues its text
    /// links as (content id, block id), and empties it for reuse.
    pub(crate) fn flush(
        &mut self,
        sid: i64,
        insert: &mut rusqlite::Statement<'_>,
        links: &mut Vec<(i64, i64)>,
    ) -> rusqlite::Result<()> {
        if self.events == 0 {
            return Ok(());
        }
        let block_id = insert.insert(rusqlite::params![
            sid,
            self.first,
            self.last,
            self.events as i64,
            &self.bytes[..]
        ])?;
        self.contents.sort_unstable();
        self.contents.dedup();
        links.extend(self.contents.iter().map(|&cid| (cid, block_id)));
        self.bytes.clear();
        self.contents.clear();
        self.events = 0;
        Ok(())
    }
}

/// One stored event as laid out in a block, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawEntry<'a> {
    pub(crate) event_id: &'a str,
    pub(crate) ts_us: i64,
    pub(crate) kind: &'a str,
    pub(crate) iteration: Option<u32>,
    pub(crate) duration_ms: Option<f64>,
    pub(crate) body: &'a [u8],
}

/// Iterates a block's entries; a malformed block yields one error and stops.
pub(crate) struct Entries<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

pub(crate) fn entries(bytes: &[u8]) -> Entries<'_> {
    Entries {
        bytes,
        pos: 0,
        failed: false,
    }
}

impl<'a> Entries<'a> {
    /// Byte offset of the next entry: `entries(&bytes[offset..])` starts there.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            n |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn take(&mut self, len: u64) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        let end = self.pos.checked_add(len)?;
        let out = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    fn text(&mut self) -> Option<&'a str> {
        let len = self.varint()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn entry(&mut self) -> Option<RawEntry<'a>> {
        let event_id = self.text()?;
        let z = self.varint()?;
        let ts_us = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let kind = self.text()?;
        let iteration = match self.varint()? {
            0 => None,
            n => Some(u32::try_from(n - 1).ok()?),
        };
        let duration_ms = match self.take(1)?[0] {
            0 => None,
            1 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(self.take(8)?);
                Some(f64::from_le_bytes(b))
            }
            _ => return None,
        };
        let len = self.varint()?;
        let body = self.take(len)?;
        Some(RawEntry {
            event_id,
            ts_us,
            kind,
            iteration,
            duration_ms,
            body,
        })
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<RawEntry<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        let at = self.pos;
        match self.entry() {
            Some(entry) => Some(Ok(entry)),
            None => {
                self.failed = true;
                Some(Err(format!("event block malformed at byte {at}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use loupe_model::{EventKind, Timestamp};
    use proptest::prelude::*;

    #[test]
    fn entries_round_trip() {
        let mut block = Vec::new();
        let mut a = Event::new("a", EventKind::ToolEnd, Timestamp(-5), "s");
        a.iteration = Some(u32::MAX);
        a.duration_ms = Some(12.5);
        let mut b = Event::new("é-2", EventKind::Custom, Timestamp(i64::MAX), "s");
        b.duration_ms = Some(f64::NAN); // not finite: stored as none
        push_raw_entry(&mut block, &RawEntry::of(&a, b"\x01body"));
        push_raw_entry(&mut block, &RawEntry::of(&b, b""));
        let got: Vec<RawEntry<'_>> = entries(&block).map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].event_id, got[0].ts_us, got[0].kind, got[0].iteration),
            ("a", -5, "tool_end", Some(u32::MAX))
        );
        assert_eq!(
            (got[0].duration_ms, got[0].body),
            (Some(12.5), &b"\x01body"[..])
        );
        assert_eq!(
            (got[1].event_id, got[1].ts_us, got[1].duration_ms),
            ("é-2", i64::MAX, None)
        );
    }

    #[test]
    fn an_entry_is_replaced_in_its_place() {
        let events: Vec<Event> = ["a", "b", "c"]
            .iter()
            .map(|id| Event::new(*id, EventKind::Custom, Timestamp(1), "s"))
            .collect();
        let mut block = Vec::new();
        for e in &events {
            push_raw_entry(&mut block, &RawEntry::of(e, b"old"));
        }
        let mut walk = entries(&block);
        walk.next();
        let start = walk.position();
        walk.next();
        let replaced = replace_entry(
            &block,
            start..walk.position(),
            &RawEntry::of(&events[1], b"fuller body"),
        );
        let got: Vec<(&str, &[u8])> = entries(&replaced)
            .map(|e| e.map(|e| (e.event_id, e.body)).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                ("a", &b"old"[..]),
                ("b", &b"fuller body"[..]),
                ("c", &b"old"[..])
            ]
        );
    }

    #[test]
    fn a_truncated_block_gives_one_error() {
        let mut block = Vec::new();
        let event = Event::new("a", EventKind::Custom, Timestamp(1), "s");
        push_raw_entry(&mut block, &RawEntry::of(&event, b"xyz"));
        block.pop();
        let got: Vec<_> = entries(&block).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].as_ref().unwrap_err().contains("malformed"));
    }

    proptest! {
        /// Arbitrary bytes never panic and never loop.
        #[test]
        fn arbitrary_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let n = entries(&bytes).count();
            prop_assert!(n <= bytes.len() + 1);
        }

        #[test]
        fn timestamps_and_iterations_round_trip(ts in any::<i64>(), it in proptest::option::of(any::<u32>())) {
            let mut e = Event::new("x", EventKind::LlmRequest, Timestamp(ts), "s");
            e.iteration = it;
            let mut block = Vec::new();
            push_raw_entry(&mut block, &RawEntry::of(&e, b""));
            let got = entries(&block).next().unwrap().unwrap();
            prop_assert_eq!(got.ts_us, ts);
            prop_assert_eq!(got.iteration, it);
        }
    }
}
