//! The background writer: one thread per recorder that owns the file,
//! sanitises, serialises into a reused buffer and writes in batches.
//!
//! Architecture Invariant: only this thread touches the trace file; record
//! calls only build an event (or a compact record of one) and push it onto a
//! bounded queue ([`crate::queue`]; tracing-appender's `non_blocking` design,
//! style.md §2).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use loupe_model::{keys, AgentRef, Event, EventKind, Timestamp, TokenUsage};
use serde_json::ser::{CompactFormatter, Formatter};

use crate::helpers::{llm_response_payload, LlmResponse};
use crate::http::Sink;
use crate::recorder::{Core, Scope};
use crate::sanitize::Sanitizer;
use crate::summary::Counters;

/// An event on its way to the writer: built by the caller, or a compact
/// record the writer turns into the event. The record sits inline in the
/// queue (no allocation per call, nothing for the writer to free); a built
/// event is boxed, it is large and rare on hot paths.
// Inline on purpose: the size is the point (see `crate::queue`).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Pending {
    /// A fully built event.
    Built(Box<Event>),
    /// An `llm_response` from [`crate::Recorder::record_llm_response`].
    LlmResponse(DeferredLlmResponse),
}

impl Pending {
    pub(crate) fn built(ev: Event) -> Self {
        Pending::Built(Box::new(ev))
    }
}

/// Everything an event needs besides its payload, captured on the caller's
/// thread at record time (so ids, timestamps and scope are the caller's).
pub(crate) struct Header {
    /// From [`crate::recorder::IdGen::next_number`].
    pub(crate) number: u64,
    pub(crate) kind: EventKind,
    pub(crate) timestamp: Timestamp,
    pub(crate) scope: Scope,
}

impl Header {
    /// The bare event (envelope without payload).
    pub(crate) fn into_event(self, core: &Core) -> Event {
        let mut ev = Event::new(
            core.ids.format(self.number),
            self.kind,
            self.timestamp,
            core.session_id.clone(),
        );
        ev.parent_event_id = self.scope.parent.as_deref().map(str::to_owned);
        ev.iteration = self.scope.iteration;
        ev.turn = self.scope.turn;
        ev.agent = self.scope.agent.as_deref().cloned().map(Box::new);
        ev
    }
}

/// Where a record's strings are in its [`RecordText`]: they are back to back
/// in order, so part `i` ends at `ends[i]` and starts where part `i - 1`
/// ended; bit `i` of `present` says whether it was given at all.
#[derive(Clone, Copy)]
struct Parts<const N: usize> {
    ends: [u32; N],
    present: u8,
}

impl<const N: usize> Parts<N> {
    /// The byte range of part `i`, if present.
    fn range(&self, i: usize) -> Option<(u32, u32)> {
        if self.present & (1 << i) == 0 {
            return None;
        }
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        Some((start, *self.ends.get(i)?))
    }
}

/// Bytes of strings a record keeps inside itself: enough for a model,
/// provider, stop reason and parent id; message content usually goes to the
/// heap.
const INLINE_TEXT: usize = 80;

/// A record's strings back to back: inside the record when they are short,
/// so the common call allocates nothing; on the heap otherwise.
enum RecordText {
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    Heap(String),
}

impl RecordText {
    /// `parts` back to back, and where they are ([`Parts`]). Parts beyond
    /// 4 GiB (not LLM responses) are left out rather than mislocated.
    fn join<const N: usize>(parts: [Option<&str>; N]) -> (Self, Parts<N>) {
        const { assert!(N <= 8, "Parts::present has one bit per part") };
        let total: usize = parts.iter().flatten().map(|p| p.len()).sum();
        let mut located = Parts {
            ends: [0; N],
            present: 0,
        };
        let mut end = 0u32;
        let mut text = if total <= INLINE_TEXT {
            RecordText::Inline {
                len: 0,
                bytes: [0; INLINE_TEXT],
            }
        } else {
            RecordText::Heap(String::with_capacity(total))
        };
        for (i, (part, slot_end)) in parts.iter().zip(located.ends.iter_mut()).enumerate() {
            if let Some(p) = part {
                let fits = u32::try_from(p.len()).ok().and_then(|n| end.checked_add(n));
                if let Some(new_end) = fits {
                    if text.push(p) {
                        end = new_end;
                        located.present |= 1 << i;
                    }
                }
            }
            *slot_end = end;
        }
        (text, located)
    }

    /// Appends `part`; false if it does not fit (inline text is sized for
    /// the parts by [`RecordText::join`], so that does not happen).
    fn push(&mut self, part: &str) -> bool {
        match self {
            RecordText::Inline { len, bytes } => {
                let start = usize::from(*len);
                let end = start + part.len();
                match (bytes.get_mut(start..end), u8::try_from(end)) {
                    (Some(slot), Ok(new_len)) => {
                        slot.copy_from_slice(part.as_bytes());
                        *len = new_len;
                        true
                    }
                    _ => false,
                }
            }
            RecordText::Heap(text) => {
                text.push_str(part);
                true
            }
        }
    }

    /// The part at byte range `a..b` (as returned by [`RecordText::join`]).
    fn get(&self, range: (u32, u32)) -> Option<&str> {
        match self {
            // Whole parts copied from `&str`s: the check cannot fail, and on
            // short ASCII it costs a few nanoseconds.
            RecordText::Inline { .. } => std::str::from_utf8(self.bytes(range)?).ok(),
            RecordText::Heap(text) => text.get(range.0 as usize..range.1 as usize),
        }
    }

    /// The part at byte range `a..b`, unchecked: for comparing with a memo.
    fn bytes(&self, (a, b): (u32, u32)) -> Option<&[u8]> {
        let range = a as usize..b as usize;
        match self {
            RecordText::Inline { len, bytes } => bytes.get(..usize::from(*len))?.get(range),
            RecordText::Heap(text) => text.as_bytes().get(range),
        }
    }
}

/// The strings of a [`DeferredLlmResponse`], in their order in its text.
const MODEL: usize = 0;
const PROVIDER: usize = 1;
const STOP_REASON: usize = 2;
const CONTENT: usize = 3;
const PARENT: usize = 4;

/// An [`LlmResponse`] and its envelope copied into one record: its strings
/// (and the parent span id) live back to back in `text`, located by byte
/// ranges. The writer serialises it directly, or rebuilds the event with the
/// same payload code as every other `llm_response` path.
///
/// The parent id is copied rather than kept as the scope's `Arc`: counting
/// references to one `Arc` from the caller (clone) and the writer (drop)
/// bounced its cache line between the two threads on every event.
pub(crate) struct DeferredLlmResponse {
    /// From [`crate::recorder::IdGen::next_number`].
    number: u64,
    timestamp: Timestamp,
    /// Only subagents' recorders have one.
    agent: Option<Arc<AgentRef>>,
    text: RecordText,
    /// Where [`MODEL`], [`PROVIDER`], [`STOP_REASON`], [`CONTENT`],
    /// [`PARENT`] are in `text`.
    parts: Parts<5>,
    numbers: Numbers,
}

/// The optional numbers of a record without `Option`'s padding (an
/// `Option<u64>` takes 16 bytes): each value as 64 bits, and a bit each
/// saying whether it is there. The writer reads every record from memory the
/// caller wrote, so its size is time; this cuts the numbers' share by a third.
#[derive(Clone, Copy, Default)]
struct Numbers {
    values: [u64; WIDE],
    /// The slots from [`WIDE`] on hold `u32`s (iteration and turn numbers).
    small: [u32; NUMBERS - WIDE],
    present: u16,
}

/// Whether a duration or a cost can be written: finite and not negative.
/// Others are left out (a count the caller got wrong is unknown, not `null`
/// or a refund).
pub(crate) fn plausible(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// Slots of [`Numbers`].
const INPUT_TOKENS: usize = 0;
const OUTPUT_TOKENS: usize = 1;
const CACHE_READ_TOKENS: usize = 2;
const CACHE_WRITE_TOKENS: usize = 3;
const REASONING_TOKENS: usize = 4;
const COST_USD: usize = 5;
const DURATION_MS: usize = 6;
const TOOL_CALLS: usize = 7;
const TOTAL_TOKENS: usize = 8;
/// Slots below this hold 64 bits, the rest 32.
const WIDE: usize = 9;
const ITERATION: usize = 9;
const TURN: usize = 10;
const NUMBERS: usize = 11;

impl Numbers {
    fn set(&mut self, slot: usize, value: Option<u64>) {
        let Some(v) = value else { return };
        let stored = match slot.checked_sub(WIDE) {
            None => self.values.get_mut(slot).map(|cell| *cell = v).is_some(),
            Some(i) => match (self.small.get_mut(i), u32::try_from(v)) {
                (Some(cell), Ok(v)) => {
                    *cell = v;
                    true
                }
                _ => false,
            },
        };
        if stored {
            self.present |= 1 << slot;
        }
    }

    fn get(&self, slot: usize) -> Option<u64> {
        if self.present & (1 << slot) == 0 {
            return None;
        }
        match slot.checked_sub(WIDE) {
            None => self.values.get(slot).copied(),
            Some(i) => self.small.get(i).map(|&v| u64::from(v)),
        }
    }

    fn float(&self, slot: usize) -> Option<f64> {
        self.get(slot).map(f64::from_bits)
    }

    /// A slot set from a `u32`.
    fn small(&self, slot: usize) -> Option<u32> {
        self.get(slot).and_then(|v| u32::try_from(v).ok())
    }

    fn usage(&self) -> TokenUsage {
        TokenUsage {
            input_tokens: self.get(INPUT_TOKENS),
            output_tokens: self.get(OUTPUT_TOKENS),
            cache_read_tokens: self.get(CACHE_READ_TOKENS),
            cache_write_tokens: self.get(CACHE_WRITE_TOKENS),
            reasoning_tokens: self.get(REASONING_TOKENS),
            total_tokens: self.get(TOTAL_TOKENS),
        }
    }
}

impl DeferredLlmResponse {
    /// Copies `resp` (its content only when `capture_messages`) recorded as
    /// event `number` at `timestamp` in `scope`.
    pub(crate) fn new(
        number: u64,
        timestamp: Timestamp,
        scope: &Scope,
        resp: &LlmResponse<'_>,
        capture_messages: bool,
    ) -> Self {
        let content = resp.content.filter(|_| capture_messages);
        let (text, parts) = RecordText::join([
            resp.model,
            resp.provider,
            resp.stop_reason,
            content,
            scope.parent.as_deref(),
        ]);
        let mut numbers = Numbers::default();
        let usage = &resp.usage;
        numbers.set(INPUT_TOKENS, usage.input_tokens);
        numbers.set(OUTPUT_TOKENS, usage.output_tokens);
        numbers.set(CACHE_READ_TOKENS, usage.cache_read_tokens);
        numbers.set(CACHE_WRITE_TOKENS, usage.cache_write_tokens);
        numbers.set(REASONING_TOKENS, usage.reasoning_tokens);
        numbers.set(TOTAL_TOKENS, usage.total_tokens);
        numbers.set(
            COST_USD,
            resp.cost_usd.filter(|&c| plausible(c)).map(f64::to_bits),
        );
        numbers.set(
            DURATION_MS,
            resp.duration_ms.filter(|&d| plausible(d)).map(f64::to_bits),
        );
        numbers.set(TOOL_CALLS, resp.tool_calls.map(u64::from));
        numbers.set(ITERATION, scope.iteration.map(u64::from));
        numbers.set(TURN, scope.turn.map(u64::from));
        DeferredLlmResponse {
            number,
            timestamp,
            agent: scope.agent.clone(),
            text,
            parts,
            numbers,
        }
    }

    /// Part `i` ([`MODEL`] …).
    fn part(&self, i: usize) -> Option<&str> {
        self.text.get(self.parts.range(i)?)
    }

    /// Part `i` as bytes, unchecked (see [`RecordText::bytes`]).
    fn part_bytes(&self, i: usize) -> Option<&[u8]> {
        self.text.bytes(self.parts.range(i)?)
    }

    /// The event [`crate::Recorder::record_llm_response`] stands for.
    pub(crate) fn to_event(&self, core: &Core) -> Event {
        let resp = LlmResponse {
            model: self.part(MODEL),
            provider: self.part(PROVIDER),
            usage: self.numbers.usage(),
            stop_reason: self.part(STOP_REASON),
            cost_usd: self.numbers.float(COST_USD),
            tool_calls: self.numbers.small(TOOL_CALLS),
            content: self.part(CONTENT),
            duration_ms: self.numbers.float(DURATION_MS),
        };
        let mut ev = Event::new(
            core.ids.format(self.number),
            EventKind::LlmResponse,
            self.timestamp,
            core.session_id.clone(),
        );
        ev.parent_event_id = self.part(PARENT).map(str::to_owned);
        ev.iteration = self.numbers.small(ITERATION);
        ev.turn = self.numbers.small(TURN);
        ev.agent = self.agent.as_deref().cloned().map(Box::new);
        // Content was only copied when message capture was on.
        llm_response_payload(&mut ev, &resp, true);
        ev
    }
}

/// Whether `s` can be put between JSON quotes as it is.
fn needs_no_escaping(s: &[u8]) -> bool {
    s.iter()
        .copied()
        .all(|b| (b.is_ascii_graphic() || b == b' ') && b != b'"' && b != b'\\')
}

/// Writes the members of one JSON object, managing the commas.
struct ObjectWriter<'b> {
    buf: &'b mut Vec<u8>,
    empty: bool,
}

impl<'b> ObjectWriter<'b> {
    fn open(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'{');
        ObjectWriter { buf, empty: true }
    }

    /// Keys are this crate's constants: plain ASCII that JSON needs not
    /// escape, so they are copied as they are. Inlined, so that each copy has
    /// a constant length (a few moves rather than a call to `memcpy`).
    #[inline(always)]
    fn key(&mut self, key: &str) -> serde_json::Result<()> {
        debug_assert!(needs_no_escaping(key.as_bytes()), "{key}");
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
        Ok(())
    }

    /// A string value known to need no escaping (hex ids, RFC 3339 times).
    #[inline(always)]
    fn plain_str(&mut self, key: &str, value: &[u8]) -> serde_json::Result<()> {
        debug_assert!(needs_no_escaping(value), "{value:?}");
        self.key(key)?;
        self.buf.push(b'"');
        self.buf.extend_from_slice(value);
        self.buf.push(b'"');
        Ok(())
    }

    fn field<T: serde::Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> serde_json::Result<()> {
        self.key(key)?;
        serde_json::to_writer(&mut *self.buf, value)
    }

    /// A value already encoded as JSON.
    #[inline(always)]
    fn raw(&mut self, key: &str, json: &[u8]) -> serde_json::Result<()> {
        self.key(key)?;
        self.buf.extend_from_slice(json);
        Ok(())
    }

    #[inline(always)]
    fn opt<T: serde::Serialize>(&mut self, key: &str, value: Option<T>) -> serde_json::Result<()> {
        match value {
            Some(v) => self.field(key, &v),
            None => Ok(()),
        }
    }

    /// An integer, through `serde_json`'s own formatter (the bytes its
    /// serialiser writes) without a serialiser around it per value.
    #[inline(always)]
    fn uint(&mut self, key: &str, value: Option<u64>) -> serde_json::Result<()> {
        if let Some(v) = value {
            self.key(key)?;
            CompactFormatter
                .write_u64(&mut *self.buf, v)
                .map_err(serde_json::Error::io)?;
        }
        Ok(())
    }

    /// A float as `serde_json` serialises it: `null` unless finite.
    #[inline(always)]
    fn float(&mut self, key: &str, value: Option<f64>) -> serde_json::Result<()> {
        if let Some(v) = value {
            self.key(key)?;
            if v.is_finite() {
                CompactFormatter
                    .write_f64(&mut *self.buf, v)
                    .map_err(serde_json::Error::io)?;
            } else {
                CompactFormatter
                    .write_null(&mut *self.buf)
                    .map_err(serde_json::Error::io)?;
            }
        }
        Ok(())
    }

    fn close(self) {
        self.buf.push(b'}');
    }
}

/// Pieces of `llm_response` lines that repeat from event to event, kept by
/// the writer so that each is escaped, redaction-checked or formatted once:
/// the session id, the kind, the timestamp up to its second, and the last
/// value of `model`, `provider`, `stop_reason` and the parent id. Valid for
/// one writer (one session, one sanitiser).
#[derive(Default)]
pub(crate) struct LineCache {
    scratch: String,
    session_json: Vec<u8>,
    kind: Option<(EventKind, Vec<u8>)>,
    /// A second since the epoch and its `YYYY-MM-DDTHH:MM:SS.` text.
    second: Option<(i64, String)>,
    /// Per memoised part ([`MEMO_PARTS`]): the raw value last seen and its
    /// JSON (redacted, except the parent id, which no event sanitises).
    parts: [Option<(Vec<u8>, Vec<u8>)>; 4],
}

/// The parts of a record [`LineCache`] memoises, in its slot order: short
/// values that repeat from line to line.
const MEMO_PARTS: [usize; 4] = [MODEL, PROVIDER, STOP_REASON, PARENT];

/// Microseconds per second, for splitting timestamps.
const MICROS: i64 = 1_000_000;

impl LineCache {
    fn session_json(&mut self, session_id: &str) -> serde_json::Result<&[u8]> {
        if self.session_json.is_empty() {
            serde_json::to_writer(&mut self.session_json, session_id)?;
        }
        Ok(&self.session_json)
    }

    fn kind_json(&mut self, kind: &EventKind) -> serde_json::Result<&[u8]> {
        if self.kind.as_ref().is_none_or(|(k, _)| k != kind) {
            self.kind = Some((kind.clone(), serde_json::to_vec(kind)?));
        }
        Ok(self
            .kind
            .as_ref()
            .map_or(&[][..], |(_, json)| json.as_slice()))
    }

    /// Appends the timestamp as a JSON string (the canonical RFC 3339 form).
    fn write_timestamp(&mut self, t: Timestamp, buf: &mut Vec<u8>) {
        let second = t.0.div_euclid(MICROS);
        if self.second.as_ref().is_none_or(|(s, _)| *s != second) {
            self.scratch.clear();
            t.write_rfc3339(&mut self.scratch);
            // `YYYY-MM-DDTHH:MM:SS.` is the first 20 bytes (ASCII).
            let head = self.scratch.get(..20).unwrap_or_default().to_owned();
            self.second = Some((second, head));
        }
        let head = self.second.as_ref().map_or("", |(_, h)| h.as_str());
        buf.push(b'"');
        buf.extend_from_slice(head.as_bytes());
        let mut micros = t.0.rem_euclid(MICROS);
        let mut digits = [b'0'; 6];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        buf.extend_from_slice(&digits);
        buf.extend_from_slice(b"Z\"");
    }

    /// The JSON string of part `part` of `rec` (`None` when absent), from
    /// the memo while the raw bytes repeat: one comparison instead of a
    /// redaction scan plus escaping.
    fn part_json<'c>(
        &'c mut self,
        rec: &DeferredLlmResponse,
        part: usize,
        sanitizer: &Sanitizer,
    ) -> serde_json::Result<Option<&'c [u8]>> {
        let Some(raw) = rec.part_bytes(part) else {
            return Ok(None);
        };
        let Some(entry) = MEMO_PARTS
            .iter()
            .position(|&p| p == part)
            .and_then(|slot| self.parts.get_mut(slot))
        else {
            return Ok(None);
        };
        if entry
            .as_ref()
            .is_none_or(|(prev, _)| prev.as_slice() != raw)
        {
            let Some(value) = rec.part(part) else {
                return Ok(None);
            };
            // Model, provider and stop reason are identifiers: redacted,
            // never truncated (as `FIXED_KEYS` in built events).
            let json = if part == PARENT {
                serde_json::to_vec(value)?
            } else {
                serde_json::to_vec(&*sanitizer.redacted(value))?
            };
            *entry = Some((raw.to_vec(), json));
        }
        Ok(entry.as_ref().map(|(_, json)| json.as_slice()))
    }
}

impl DeferredLlmResponse {
    /// Serialises the event straight from the record, with no payload map:
    /// the same JSON value as building the [`Event`] ([`Self::to_event`])
    /// and serialising it (object keys in the same order too, `data` and
    /// `usage` keys sorted as `serde_json::Map` sorts them), sanitised like
    /// every other event. A test checks the two agree.
    fn write_json(
        &self,
        core: &Core,
        sanitizer: &Sanitizer,
        cache: &mut LineCache,
        buf: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        let mut ev = ObjectWriter::open(buf);
        ev.plain_str("event_id", &core.ids.hex(self.number))?;
        ev.raw("kind", cache.kind_json(&EventKind::LlmResponse)?)?;
        ev.key("timestamp")?;
        cache.write_timestamp(self.timestamp, ev.buf);
        ev.raw("session_id", cache.session_json(&core.session_id)?)?;
        if let Some(json) = cache.part_json(self, PARENT, sanitizer)? {
            ev.raw("parent_event_id", json)?;
        }
        let numbers = &self.numbers;
        ev.uint("iteration", numbers.get(ITERATION))?;
        ev.uint("turn", numbers.get(TURN))?;
        ev.float("duration_ms", numbers.float(DURATION_MS))?;
        ev.opt("agent", self.agent.as_deref().map(|a| sanitizer.agent(a)))?;
        let usage = numbers.usage();
        let cost = numbers.float(COST_USD).filter(|c| c.is_finite());
        let tool_calls = numbers.small(TOOL_CALLS);
        let has_data = [MODEL, PROVIDER, STOP_REASON, CONTENT]
            .iter()
            .any(|&i| self.parts.range(i).is_some())
            || !usage.is_empty()
            || cost.is_some()
            || tool_calls.is_some();
        if has_data {
            ev.key("data")?;
            let mut data = ObjectWriter::open(&mut *ev.buf);
            data.opt(
                keys::CONTENT,
                self.part(CONTENT).map(|s| sanitizer.sanitized(s)),
            )?;
            data.float(keys::COST_USD, cost)?;
            for (part, key) in [
                (MODEL, keys::MODEL),
                (PROVIDER, keys::PROVIDER),
                (STOP_REASON, keys::STOP_REASON),
            ] {
                if let Some(json) = cache.part_json(self, part, sanitizer)? {
                    data.raw(key, json)?;
                }
            }
            data.uint(keys::TOOL_CALLS, tool_calls.map(u64::from))?;
            if !usage.is_empty() {
                data.key(keys::USAGE)?;
                let mut u = ObjectWriter::open(&mut *data.buf);
                u.uint("cache_read_tokens", usage.cache_read_tokens)?;
                u.uint("cache_write_tokens", usage.cache_write_tokens)?;
                u.uint("input_tokens", usage.input_tokens)?;
                u.uint("output_tokens", usage.output_tokens)?;
                u.uint("reasoning_tokens", usage.reasoning_tokens)?;
                u.uint("total_tokens", usage.total_tokens)?;
                u.close();
            }
            data.close();
        }
        ev.close();
        Ok(())
    }
}

/// What travels from record calls to the writer.
// Slots are record-sized on purpose: records travel inline.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    /// An event to write when convenient.
    Event(Pending),
    /// An event to write, flush and fsync before answering on the channel.
    /// Boxed: keeps every queue slot at the size of a record (durable
    /// events wait for an fsync anyway).
    Durable(Box<(Pending, Sender<()>)>),
    /// Write everything buffered, flush the file, then answer.
    Flush(Sender<()>),
    /// Write everything and stop.
    Shutdown,
    /// Makes the writer thread panic: tests of what callers see when it dies.
    #[cfg(test)]
    PanicForTest,
}

thread_local! {
    /// True on writer threads, so a panic hook or exit handler running there
    /// does not wait for itself.
    pub(crate) static ON_WRITER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Closes the queue when the writer thread ends, however it ends: callers
/// blocked on a full queue then give up instead of waiting forever.
struct CloseOnExit(Arc<Core>);

impl Drop for CloseOnExit {
    fn drop(&mut self) {
        drop(self.0.queue.close());
    }
}

pub(crate) struct Writer {
    pub(crate) core: Arc<Core>,
    /// `None` when only sending ([`crate::Config::write_file`] off).
    pub(crate) file: Option<File>,
    pub(crate) sanitizer: Sanitizer,
    pub(crate) buffer_size: usize,
    pub(crate) flush_interval: Duration,
    /// `Durability::EveryEvent`: also fsync when stopping.
    pub(crate) durable: bool,
    /// Receives a copy of every batch of lines written.
    pub(crate) sink: Option<Arc<Sink>>,
    pub(crate) cache: LineCache,
    /// Lines the file did not take since the last report of them.
    pub(crate) unwritten: u64,
    /// Whether a write error was said on stderr (once per session).
    pub(crate) reported_write_error: bool,
    /// Lines in the buffer, not yet written.
    pub(crate) buffered_lines: u64,
    /// Messages of the batch being handled that come after the current one.
    pub(crate) batch_left: u64,
    /// Lines written through the open handle: what a trace file deleted or
    /// replaced under the writer took with it.
    pub(crate) lines_in_file: u64,
    /// When the path was last checked to still name the open file.
    pub(crate) identity_checked: Instant,
}

/// How often, at most, the writer checks that the trace path still names
/// the file it writes to (a `stat` and an `fstat`; also on every flush).
const IDENTITY_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl Writer {
    /// The thread's body: runs until `Shutdown`.
    ///
    /// Takes the whole queue at once and handles it in order, then sleeps
    /// (`park_timeout`) when it was empty, until the flush interval is due or
    /// a record call wakes it (queue filling up, flush, durable event,
    /// shutdown). Record calls therefore never pay for a wake-up syscall per
    /// event.
    pub(crate) fn run(mut self) {
        ON_WRITER_THREAD.with(|w| w.set(true));
        // Even if this thread panics, record calls must stop waiting for it.
        let _close = CloseOnExit(Arc::clone(&self.core));
        let mut buf: Vec<u8> = Vec::with_capacity(self.buffer_size + 4096);
        let mut batch: Vec<Msg> = Vec::new();
        // How many messages the last batch (`batch`'s allocation) held.
        let mut taken = 0;
        let mut last_write = Instant::now();
        let mut stop = false;
        while !stop {
            let closed = self.core.queue.take_all(&mut batch, taken);
            taken = batch.len();
            let idle = batch.is_empty();
            // Closed by an agent that gave up waiting for this thread (its
            // write hung): nothing more will come.
            stop = closed && idle;
            // Messages queued after a `Shutdown` (a flush from another
            // thread) are handled too, as they were taken. Each message is
            // moved out and dropped as it is handled: one pass over a batch
            // that may be larger than the CPU caches.
            for (left, mut msg) in (0..taken as u64).rev().zip(batch.drain(..)) {
                self.batch_left = left;
                #[cfg(test)]
                if matches!(msg, Msg::PanicForTest) {
                    panic!("writer thread panic injected by a test");
                }
                if matches!(msg, Msg::Shutdown) {
                    stop = true;
                } else if self.handle(&mut msg, &mut buf) {
                    last_write = Instant::now();
                }
            }
            if self.core.pending_drops.load(Relaxed) > 0 {
                self.report_drops(&mut buf);
            }
            if stop || !idle {
                continue;
            }
            if last_write.elapsed() >= self.flush_interval {
                self.write_out(&mut buf);
                last_write = Instant::now();
            }
            let wait = self
                .flush_interval
                .saturating_sub(last_write.elapsed())
                .max(Duration::from_millis(1));
            std::thread::park_timeout(wait);
        }
        // Refuse later messages (their callers count a write error) and
        // write what is still queued.
        let rest = self.core.queue.close();
        for (left, mut msg) in (0..rest.len() as u64).rev().zip(rest) {
            self.batch_left = left;
            if !matches!(msg, Msg::Shutdown) {
                self.handle(&mut msg, &mut buf);
            }
        }
        self.report_drops(&mut buf);
        self.check_file_identity(true);
        self.write_out(&mut buf);
        if self.durable {
            self.sync();
        }
    }

    /// Handles one message other than `Shutdown`. Returns whether the buffer
    /// was written to the file.
    ///
    /// Takes the message by reference: a record is serialised (or turned
    /// into an event) where it lies, with no further copy.
    fn handle(&mut self, msg: &mut Msg, buf: &mut Vec<u8>) -> bool {
        match msg {
            Msg::Event(Pending::LlmResponse(rec)) => {
                let mark = buf.len();
                self.encode_llm_response(rec, buf);
                self.count_line(buf, mark);
                if buf.len() >= self.buffer_size {
                    self.write_out(buf);
                    return true;
                }
                false
            }
            Msg::Event(ev) => {
                let mark = buf.len();
                self.encode_pending(ev, buf);
                self.count_line(buf, mark);
                if buf.len() >= self.buffer_size {
                    self.write_out(buf);
                    return true;
                }
                false
            }
            Msg::Durable(durable) => {
                let (ev, ack) = &mut **durable;
                let mark = buf.len();
                self.encode_pending(ev, buf);
                self.count_line(buf, mark);
                self.write_out(buf);
                self.sync();
                self.nudge_sink();
                let _ = ack.send(());
                true
            }
            Msg::Flush(ack) => {
                self.report_drops(buf);
                self.check_file_identity(true);
                self.write_out(buf);
                self.flush_file();
                self.nudge_sink();
                self.core.stalled.store(false, Relaxed);
                let _ = ack.send(());
                true
            }
            Msg::Shutdown => false,
            #[cfg(test)]
            Msg::PanicForTest => false,
        }
    }

    /// Appends the line of a built event, or of a record through the
    /// [`Event`] it stands for (the slow path: durable events).
    fn encode_pending(&self, pending: &mut Pending, buf: &mut Vec<u8>) {
        match pending {
            Pending::Built(ev) => self.encode(ev, buf),
            Pending::LlmResponse(rec) => self.encode(&mut rec.to_event(&self.core), buf),
        }
    }

    /// Sanitises (in place: the event is written once) and appends one line
    /// to `buf`.
    fn encode(&self, ev: &mut Event, buf: &mut Vec<u8>) {
        // NaN would be written as `null`, which the format does not allow.
        ev.duration_ms = ev.duration_ms.filter(|&d| plausible(d));
        self.sanitizer.sanitize_event(ev);
        let mark = buf.len();
        match serde_json::to_writer(&mut *buf, &*ev) {
            Ok(()) => buf.push(b'\n'),
            Err(_) => {
                buf.truncate(mark);
                self.core.counters.write_errors.fetch_add(1, Relaxed);
            }
        }
    }

    /// Appends one deferred `llm_response` line to `buf` without building
    /// the event.
    fn encode_llm_response(&mut self, rec: &DeferredLlmResponse, buf: &mut Vec<u8>) {
        let mark = buf.len();
        match rec.write_json(&self.core, &self.sanitizer, &mut self.cache, buf) {
            Ok(()) => buf.push(b'\n'),
            Err(_) => {
                buf.truncate(mark);
                self.core.counters.write_errors.fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts the line appended to `buf` after `mark`, if one was.
    fn count_line(&mut self, buf: &[u8], mark: usize) {
        if buf.len() > mark {
            self.buffered_lines += 1;
        }
    }

    /// Writes a `loupe_dropped` event when record calls dropped events.
    fn report_drops(&mut self, buf: &mut Vec<u8>) {
        let dropped = self.core.pending_drops.swap(0, Relaxed);
        if dropped == 0 {
            return;
        }
        let mut ev = self.core.dropped_event(
            dropped,
            "the recorder's queue was full; events were dropped",
        );
        let mark = buf.len();
        self.encode(&mut ev, buf);
        self.count_line(buf, mark);
    }

    /// Publishes how many lines are lost if the next write hangs forever
    /// (see [`crate::recorder::Core::in_flight`]).
    fn publish_in_flight(&self) {
        self.core
            .in_flight
            .0
            .store(self.buffered_lines + self.batch_left, Relaxed);
    }

    /// Reopens the trace path when it no longer names the open file (deleted
    /// or replaced while recording): otherwise every later event would go
    /// to a file nobody can find. Checked at most every
    /// [`IDENTITY_CHECK_INTERVAL`], or now when `force`d (flush, stop).
    fn check_file_identity(&mut self, force: bool) {
        if self.file.is_none()
            || (!force && self.identity_checked.elapsed() < IDENTITY_CHECK_INTERVAL)
        {
            return;
        }
        self.publish_in_flight();
        self.identity_checked = Instant::now();
        if self
            .file
            .as_ref()
            .is_some_and(|f| path_names_file(&self.core.path, f))
        {
            return;
        }
        let reopened = match crate::recorder::reopen_trace_file(&self.core.path) {
            Ok(file) => file,
            Err(error) => {
                // Kept writing to the old file; tried again at the next check.
                self.write_failed(&error);
                return;
            }
        };
        self.file = Some(reopened);
        let gone = std::mem::take(&mut self.lines_in_file);
        self.core.counters.unwritten.fetch_add(gone, Relaxed);
        Counters::bump(&self.core.counters.reopened);
        let _ = writeln!(
            std::io::stderr(),
            "loupe: the trace file {} was deleted or replaced while recording; it was opened again, and the {gone} events written before are not in it",
            self.core.path.display()
        );
        let mut ev = self.core.dropped_event(
            gone,
            "the trace file was deleted or replaced while recording; the events written to it before are missing here",
        );
        let mut line = Vec::new();
        self.encode(&mut ev, &mut line);
        if let Some(file) = &mut self.file {
            if append_whole_lines(file, &line).is_ok() {
                self.lines_in_file += 1;
            }
        }
    }

    /// Writes `buf` (whole lines) to the file and hands it to the HTTP sink.
    ///
    /// Lines the file could not take (disk full) are counted, and once it
    /// takes lines again a `loupe_dropped` line says how many are missing
    /// before it. The HTTP sink got those lines, so it is not told.
    fn write_out(&mut self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        self.check_file_identity(false);
        self.publish_in_flight();
        let report = (self.file.is_some() && self.unwritten > 0).then(|| {
            let mut ev = self.core.dropped_event(
                self.unwritten,
                "the recorder could not write these events to the trace file (disk full or write refused)",
            );
            let mut line = Vec::new();
            self.encode(&mut ev, &mut line);
            line
        });
        if let Some(file) = &mut self.file {
            if report.is_some_and(|line| append_whole_lines(file, &line).is_ok()) {
                self.unwritten = 0;
                self.lines_in_file += 1;
            }
            match append_whole_lines(file, buf) {
                Ok(()) => self.lines_in_file += self.buffered_lines,
                Err((written, error)) => {
                    let lost = count_lines(buf.get(written..).unwrap_or_default());
                    self.lines_in_file += count_lines(buf.get(..written).unwrap_or_default());
                    self.unwritten += lost;
                    self.core.counters.unwritten.fetch_add(lost, Relaxed);
                    self.write_failed(&error);
                }
            }
        }
        self.buffered_lines = 0;
        self.publish_in_flight();
        if let Some(sink) = &self.sink {
            sink.push(&self.core, buf);
        }
        buf.clear();
    }

    fn nudge_sink(&self) {
        if let Some(sink) = &self.sink {
            sink.nudge();
        }
    }

    fn flush_file(&mut self) {
        if let Some(Err(e)) = self.file.as_mut().map(File::flush) {
            self.write_failed(&e);
        }
    }

    fn sync(&mut self) {
        self.publish_in_flight();
        self.flush_file();
        if let Some(Err(e)) = self.file.as_ref().map(File::sync_data) {
            self.write_failed(&e);
        }
    }

    /// Counts a failed write, flush or sync of the trace file. The first of
    /// a session is also said on stderr, as the HTTP sink says its first
    /// refusal: the agent never sees these errors, and a trace silently
    /// missing events is worse than one line of noise. Later ones are only
    /// counted (a full disk fails every write).
    fn write_failed(&mut self, error: &std::io::Error) {
        self.core.counters.write_errors.fetch_add(1, Relaxed);
        if !self.reported_write_error {
            self.reported_write_error = true;
            // `writeln!` rather than `eprintln!`: a closed stderr must not
            // panic the writer thread.
            let _ = writeln!(
                std::io::stderr(),
                "loupe: cannot write the trace file {}: {error}; events it did not take are counted in the session summary (write_errors, unwritten), later write errors are not logged",
                self.core.path.display()
            );
        }
    }
}

/// Whether `path` still names the open `file` (same device and inode).
/// Anything that cannot be checked counts as the same file: the check must
/// never move a recording that works.
#[cfg(unix)]
fn path_names_file(path: &std::path::Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
        (Err(e), _) => e.kind() != std::io::ErrorKind::NotFound,
        (_, Err(_)) => true,
    }
}

#[cfg(not(unix))]
fn path_names_file(_path: &std::path::Path, _file: &File) -> bool {
    true
}

/// Appends `lines` (whole lines) to `file`. On failure, returns how many
/// bytes of `lines` (whole lines) the file kept, and why it stopped.
///
/// When the write stops part way (disk full, file size limit), the torn
/// line is cut off again: the file keeps only whole lines, and whatever is
/// written later (after space was freed) starts a line of its own instead
/// of completing a torn one into a line no reader can parse.
pub(crate) fn append_whole_lines(
    file: &mut File,
    lines: &[u8],
) -> Result<(), (usize, std::io::Error)> {
    let mut written = 0;
    let mut error = None;
    while let Some(rest) = lines.get(written..).filter(|r| !r.is_empty()) {
        match file.write(rest) {
            Ok(0) => {
                error = Some(std::io::Error::from(std::io::ErrorKind::WriteZero));
                break;
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let Some(error) = error else {
        return Ok(());
    };
    let whole = lines
        .get(..written)
        .and_then(|done| done.iter().rposition(|&b| b == b'\n'))
        .map_or(0, |newline| newline + 1);
    let torn = (written - whole) as u64;
    if torn > 0 {
        // The file is opened for appending: its last `torn` bytes are ours.
        if let Ok(meta) = file.metadata() {
            let _ = file.set_len(meta.len().saturating_sub(torn));
        }
    }
    Err((whole, error))
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use loupe_model::{AgentRef, Timestamp, TokenUsage};
    use serde_json::Value;

    use super::*;
    use crate::{ManualClock, Recorder};

    /// The fast path must write exactly what building the event and
    /// serialising it would (same value, same key order), sanitised alike.
    #[test]
    fn deferred_llm_responses_serialise_like_built_events() {
        let dir = tempfile::tempdir().unwrap();
        let session = Recorder::builder()
            .dir(dir.path())
            .session_id("deferred")
            .clock(Arc::new(ManualClock::new(Timestamp(1_700_000_000_123_456))))
            .start()
            .unwrap();
        let core = session.core().unwrap();
        // A limit shorter than the model name and the usage keys too: both
        // paths cut free text only.
        for limit in [40, 8] {
            let sanitizer = Sanitizer::new(true, &[], limit).unwrap();
            check_deferred_matches_built(core, &sanitizer);
        }
    }

    fn check_deferred_matches_built(core: &Core, sanitizer: &Sanitizer) {
        let scoped = Scope {
            parent: Some(Arc::from("parent-span")),
            iteration: Some(3),
            turn: Some(2),
            agent: Some(Arc::new(AgentRef {
                id: "w1".into(),
                ..AgentRef::default()
            })),
        };
        let secret_agent = Scope {
            agent: Some(Arc::new(AgentRef {
                id: "worker-sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv".into(),
                agent_type: Some("coder".into()),
                ..AgentRef::default()
            })),
            ..scoped.clone()
        };
        let cases = [
            (Scope::default(), LlmResponse::default()),
            (
                scoped.clone(),
                LlmResponse {
                    model: Some("claude-sonnet-4-5"),
                    provider: Some("anthropic"),
                    usage: TokenUsage::otel(12_000, 350)
                        .with_cache(10_000, 1_200)
                        .with_reasoning(40),
                    stop_reason: Some("tool_use"),
                    cost_usd: Some(0.0123),
                    tool_calls: Some(2),
                    content: Some("key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv and \"quotes\"\n"),
                    duration_ms: Some(2400.5),
                },
            ),
            (
                // A parent id that needs escaping (ids from other
                // instrumentation), kept inline with the short strings.
                Scope {
                    parent: Some(Arc::from("span \"7\"")),
                    ..scoped.clone()
                },
                LlmResponse {
                    model: Some("claude-sonnet-4-5"),
                    provider: Some("anthropic"),
                    usage: TokenUsage::otel(7, 8),
                    stop_reason: Some("end_turn"),
                    cost_usd: Some(1e-7),
                    tool_calls: Some(0),
                    duration_ms: Some(0.25),
                    ..LlmResponse::default()
                },
            ),
            (
                secret_agent,
                LlmResponse {
                    model: Some("claude-sonnet-4-5"),
                    usage: TokenUsage::otel(1000, 10).with_cache(500, 100),
                    ..LlmResponse::default()
                },
            ),
            (
                scoped,
                LlmResponse {
                    model: Some("m"),
                    usage: TokenUsage::otel(1, 2),
                    cost_usd: Some(f64::NAN),
                    content: Some(&"é".repeat(100)),
                    duration_ms: Some(f64::INFINITY),
                    ..LlmResponse::default()
                },
            ),
        ];
        let mut cache = LineCache::default();
        // Same second, then the next one with leading zeros in the micros.
        let times = [
            1_700_000_000_123_456,
            1_700_000_000_999_999,
            1_700_000_001_000_005,
            1_700_000_001_000_006,
            1_700_000_001_000_007,
        ];
        assert_eq!(cases.len(), times.len());
        for ((scope, resp), time) in cases.into_iter().zip(times) {
            let record = || DeferredLlmResponse::new(7, Timestamp(time), &scope, &resp, true);
            // Twice with one cache: the second line comes from its memo.
            let mut fast = Vec::new();
            record()
                .write_json(core, sanitizer, &mut cache, &mut fast)
                .unwrap();
            let mut again = Vec::new();
            record()
                .write_json(core, sanitizer, &mut cache, &mut again)
                .unwrap();
            assert_eq!(fast, again);
            // The event as every other helper builds it.
            let header = Header {
                number: 7,
                kind: EventKind::LlmResponse,
                timestamp: Timestamp(time),
                scope: scope.clone(),
            };
            let mut ev = header.into_event(core);
            llm_response_payload(&mut ev, &resp, true);
            // Durable events take the record through `to_event`.
            assert_eq!(record().to_event(core), ev);
            sanitizer.sanitize_event(&mut ev);
            let slow = serde_json::to_vec(&ev).unwrap();
            // Byte for byte too, unless some crate in the build turned on
            // serde_json's `preserve_order` (maps then keep insertion order).
            if maps_sort_keys() {
                assert_eq!(
                    String::from_utf8(fast.clone()).unwrap(),
                    String::from_utf8(slow.clone()).unwrap()
                );
            }
            let fast: Value = serde_json::from_slice(&fast).unwrap();
            assert_eq!(fast, serde_json::from_slice::<Value>(&slow).unwrap());
            // Identifiers and usage keys are whole; secrets in the agent gone.
            if let Some(model) = resp.model {
                assert_eq!(fast["data"]["model"], model);
            }
            if let Some(cached) = resp.usage.cache_read_tokens {
                assert_eq!(fast["data"]["usage"]["cache_read_tokens"], cached);
            }
            assert!(!fast.to_string().contains("sk-ant"), "{fast}");
        }
    }

    fn maps_sort_keys() -> bool {
        let mut m = serde_json::Map::new();
        m.insert("b".into(), Value::Null);
        m.insert("a".into(), Value::Null);
        m.keys().next().map(String::as_str) == Some("a")
    }

    #[test]
    fn content_is_not_copied_when_message_capture_is_off() {
        let resp = LlmResponse {
            model: Some("m"),
            content: Some("private text"),
            ..LlmResponse::default()
        };
        let rec = DeferredLlmResponse::new(1, Timestamp(0), &Scope::default(), &resp, false);
        assert_eq!(rec.part(0), Some("m"));
        assert_eq!(rec.part(3), None);
        assert_eq!(rec.parts.range(CONTENT), None);
    }

    #[test]
    fn short_strings_stay_in_the_record_and_long_ones_go_to_the_heap() {
        let given = [Some("claude-sonnet-4-5"), None, Some(""), Some("end_turn")];
        let (short, parts) = RecordText::join(given);
        assert!(matches!(short, RecordText::Inline { .. }));
        let back: Vec<_> = (0..4)
            .map(|i| parts.range(i).and_then(|r| short.get(r)))
            .collect();
        assert_eq!(back, given);

        let exact = "é".repeat(INLINE_TEXT / 2);
        let (text, parts) = RecordText::join([Some(exact.as_str())]);
        assert!(matches!(text, RecordText::Inline { .. }));
        assert_eq!(
            parts.range(0).and_then(|r| text.get(r)),
            Some(exact.as_str())
        );

        let long = "x".repeat(INLINE_TEXT + 1);
        let (text, parts) = RecordText::join([Some("m"), None, Some(long.as_str())]);
        assert!(matches!(text, RecordText::Heap(_)));
        assert_eq!(parts.range(0).and_then(|r| text.get(r)), Some("m"));
        assert_eq!(parts.range(1), None);
        assert_eq!(
            parts.range(2).and_then(|r| text.get(r)),
            Some(long.as_str())
        );
    }

    #[test]
    fn a_queued_record_stays_small() {
        // Guards the packing: the writer reads each record from memory.
        let sizes = (
            std::mem::size_of::<Msg>(),
            std::mem::size_of::<DeferredLlmResponse>(),
            std::mem::size_of::<RecordText>(),
            std::mem::size_of::<Parts<5>>(),
            std::mem::size_of::<Numbers>(),
        );
        assert!(sizes.0 <= 224, "{sizes:?}");
    }
}
