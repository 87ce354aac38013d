//! The background writer: one thread per recorder that owns the file,
//! sanitises, serialises into a reused buffer and writes in batches.
//!
//! Architecture Invariant: only this thread touches the trace file; record
//! calls only build an event and push it onto a bounded queue (tracing-appender's
//! `non_blocking` design, style.md §2).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use loupe_model::{keys, Event, EventKind, Timestamp, TokenUsage};

use crate::helpers::{llm_response_payload, LlmResponse};
use crate::http::Sink;
use crate::recorder::{Core, Scope};
use crate::sanitize::Sanitizer;

/// An event on its way to the writer: built by the caller, or a compact
/// record the writer turns into the event (boxed: keeps queue slots small).
pub(crate) enum Pending {
    /// A fully built event.
    Built(Box<Event>),
    /// An `llm_response` from [`crate::Recorder::record_llm_response`].
    LlmResponse(Box<DeferredLlmResponse>),
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
        ev.agent = self.scope.agent.as_deref().cloned();
        ev
    }
}

/// An [`LlmResponse`] copied into one allocation: its strings live back to
/// back in `text`, located by byte ranges. The writer rebuilds the event with
/// the same payload code as every other `llm_response` path.
pub(crate) struct DeferredLlmResponse {
    header: Header,
    text: String,
    /// `model`, `provider`, `stop_reason`, `content` as ranges of `text`.
    ranges: [Option<(u32, u32)>; 4],
    usage: TokenUsage,
    cost_usd: Option<f64>,
    tool_calls: Option<u32>,
    duration_ms: Option<f64>,
}

impl DeferredLlmResponse {
    /// Copies `resp` (its content only when `capture_messages`).
    pub(crate) fn new(header: Header, resp: &LlmResponse<'_>, capture_messages: bool) -> Self {
        let content = resp.content.filter(|_| capture_messages);
        let parts = [resp.model, resp.provider, resp.stop_reason, content];
        let total: usize = parts.iter().flatten().map(|p| p.len()).sum();
        let mut text = String::with_capacity(total);
        let mut ranges = [None; 4];
        for (part, range) in parts.iter().zip(ranges.iter_mut()) {
            if let Some(p) = part {
                let start = text.len();
                text.push_str(p);
                // Strings over 4 GiB are not LLM responses; such a part is
                // left out rather than mislocated.
                if let (Ok(a), Ok(b)) = (u32::try_from(start), u32::try_from(text.len())) {
                    *range = Some((a, b));
                }
            }
        }
        DeferredLlmResponse {
            header,
            text,
            ranges,
            usage: resp.usage,
            cost_usd: resp.cost_usd,
            tool_calls: resp.tool_calls,
            duration_ms: resp.duration_ms,
        }
    }

    /// The event [`crate::Recorder::record_llm_response`] stands for.
    pub(crate) fn into_event(self, core: &Core) -> Event {
        let DeferredLlmResponse {
            header,
            text,
            ranges,
            usage,
            cost_usd,
            tool_calls,
            duration_ms,
        } = self;
        let part = |i: usize| {
            let (a, b) = ranges.get(i).copied().flatten()?;
            text.get(a as usize..b as usize)
        };
        let resp = LlmResponse {
            model: part(0),
            provider: part(1),
            usage,
            stop_reason: part(2),
            cost_usd,
            tool_calls,
            content: part(3),
            duration_ms,
        };
        let mut ev = header.into_event(core);
        // Content was only copied when message capture was on.
        llm_response_payload(&mut ev, &resp, true);
        ev
    }
}

/// Whether `s` can be put between JSON quotes as it is.
fn needs_no_escaping(s: &str) -> bool {
    s.bytes()
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
    /// escape, so they are copied as they are.
    fn key(&mut self, key: &str) -> serde_json::Result<()> {
        debug_assert!(needs_no_escaping(key), "{key}");
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
    fn plain_str(&mut self, key: &str, value: &str) -> serde_json::Result<()> {
        debug_assert!(needs_no_escaping(value), "{value}");
        self.key(key)?;
        self.buf.push(b'"');
        self.buf.extend_from_slice(value.as_bytes());
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
    fn raw(&mut self, key: &str, json: &[u8]) -> serde_json::Result<()> {
        self.key(key)?;
        self.buf.extend_from_slice(json);
        Ok(())
    }

    fn opt<T: serde::Serialize>(&mut self, key: &str, value: Option<T>) -> serde_json::Result<()> {
        match value {
            Some(v) => self.field(key, &v),
            None => Ok(()),
        }
    }

    fn close(self) {
        self.buf.push(b'}');
    }
}

/// Pieces of `llm_response` lines that repeat from event to event, kept by
/// the writer so that each is escaped, redaction-checked or formatted once:
/// the session id, the kind, the timestamp up to its second, and the last
/// value of `model`, `provider` and `stop_reason`. Valid for one writer (one
/// session, one sanitiser).
#[derive(Default)]
pub(crate) struct LineCache {
    scratch: String,
    session_json: Vec<u8>,
    kind: Option<(EventKind, Vec<u8>)>,
    /// A second since the epoch and its `YYYY-MM-DDTHH:MM:SS.` text.
    second: Option<(i64, String)>,
    /// Per short part: the raw value last seen and its sanitised JSON.
    parts: [Option<(String, Vec<u8>)>; 3],
}

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

    /// The sanitised JSON string for short part `slot` whose raw value is `raw`.
    fn part_json(
        &mut self,
        slot: usize,
        raw: &str,
        sanitizer: &Sanitizer,
    ) -> serde_json::Result<&[u8]> {
        let Some(entry) = self.parts.get_mut(slot) else {
            return Ok(&[]);
        };
        if entry.as_ref().is_none_or(|(prev, _)| prev != raw) {
            let json = serde_json::to_vec(&*sanitizer.sanitized(raw))?;
            *entry = Some((raw.to_owned(), json));
        }
        Ok(entry.as_ref().map_or(&[][..], |(_, json)| json.as_slice()))
    }
}

impl DeferredLlmResponse {
    /// Serialises the event straight from the record, with no payload map:
    /// the same JSON value as building the [`Event`] ([`Self::into_event`])
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
        let raw = |i: usize| {
            let (a, b) = self.ranges.get(i).copied().flatten()?;
            self.text.get(a as usize..b as usize)
        };
        let header = &self.header;
        let mut ev = ObjectWriter::open(buf);
        cache.scratch.clear();
        core.ids.write(header.number, &mut cache.scratch);
        ev.plain_str("event_id", &cache.scratch)?;
        ev.raw("kind", cache.kind_json(&header.kind)?)?;
        ev.key("timestamp")?;
        cache.write_timestamp(header.timestamp, ev.buf);
        ev.raw("session_id", cache.session_json(&core.session_id)?)?;
        ev.opt("parent_event_id", header.scope.parent.as_deref())?;
        ev.opt("iteration", header.scope.iteration)?;
        ev.opt("turn", header.scope.turn)?;
        ev.opt("duration_ms", self.duration_ms)?;
        ev.opt("agent", header.scope.agent.as_deref())?;
        let usage = &self.usage;
        let cost = self.cost_usd.filter(|c| c.is_finite());
        let has_data = self.ranges.iter().any(Option::is_some)
            || !usage.is_empty()
            || cost.is_some()
            || self.tool_calls.is_some();
        if has_data {
            ev.key("data")?;
            let mut data = ObjectWriter::open(&mut *ev.buf);
            data.opt(keys::CONTENT, raw(3).map(|s| sanitizer.sanitized(s)))?;
            data.opt(keys::COST_USD, cost)?;
            for (slot, key) in [keys::MODEL, keys::PROVIDER, keys::STOP_REASON]
                .into_iter()
                .enumerate()
            {
                if let Some(value) = raw(slot) {
                    data.raw(key, cache.part_json(slot, value, sanitizer)?)?;
                }
            }
            data.opt(keys::TOOL_CALLS, self.tool_calls)?;
            if !usage.is_empty() {
                data.key(keys::USAGE)?;
                let mut u = ObjectWriter::open(&mut *data.buf);
                u.opt("cache_read_tokens", usage.cache_read_tokens)?;
                u.opt("cache_write_tokens", usage.cache_write_tokens)?;
                u.opt("input_tokens", usage.input_tokens)?;
                u.opt("output_tokens", usage.output_tokens)?;
                u.opt("reasoning_tokens", usage.reasoning_tokens)?;
                u.close();
            }
            data.close();
        }
        ev.close();
        Ok(())
    }
}

impl Pending {
    fn into_event(self, core: &Core) -> Event {
        match self {
            Pending::Built(ev) => *ev,
            Pending::LlmResponse(rec) => rec.into_event(core),
        }
    }
}

/// What travels from record calls to the writer.
pub(crate) enum Msg {
    /// An event to write when convenient.
    Event(Pending),
    /// An event to write, flush and fsync before answering on the channel.
    Durable(Pending, Sender<()>),
    /// Write everything buffered, flush the file, then answer.
    Flush(Sender<()>),
    /// Write everything and stop.
    Shutdown,
}

thread_local! {
    /// True on writer threads, so a panic hook or exit handler running there
    /// does not wait for itself.
    pub(crate) static ON_WRITER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) struct Writer {
    pub(crate) core: Arc<Core>,
    pub(crate) rx: Receiver<Msg>,
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
}

impl Writer {
    /// The thread's body: runs until `Shutdown` or until every sender is gone.
    ///
    /// Drains the queue in batches without blocking, then sleeps
    /// (`park_timeout`) until the flush interval is due or a record call wakes
    /// it (queue filling up, flush, durable event, shutdown). Record calls
    /// therefore never pay for a wake-up syscall per event.
    pub(crate) fn run(mut self) {
        ON_WRITER_THREAD.with(|w| w.set(true));
        let mut buf: Vec<u8> = Vec::with_capacity(self.buffer_size + 4096);
        let mut last_write = Instant::now();
        loop {
            let mut stop = false;
            loop {
                match self.rx.try_recv() {
                    Ok(Msg::Shutdown) => {
                        stop = true;
                        break;
                    }
                    Ok(msg) => {
                        if self.handle(msg, &mut buf) {
                            last_write = Instant::now();
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                }
            }
            if self.core.pending_drops.load(Relaxed) > 0 {
                self.report_drops(&mut buf);
            }
            if stop {
                break;
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
        // Anything still queued (events sent before Shutdown are ahead of it,
        // but a Flush from another thread may follow) is written too.
        while let Ok(msg) = self.rx.try_recv() {
            if !matches!(msg, Msg::Shutdown) {
                self.handle(msg, &mut buf);
            }
        }
        self.report_drops(&mut buf);
        self.write_out(&mut buf);
        if self.durable {
            self.sync();
        }
    }

    /// Handles one message other than `Shutdown`. Returns whether the buffer
    /// was written to the file.
    fn handle(&mut self, msg: Msg, buf: &mut Vec<u8>) -> bool {
        match msg {
            Msg::Event(Pending::LlmResponse(rec)) => {
                self.encode_llm_response(&rec, buf);
                if buf.len() >= self.buffer_size {
                    self.write_out(buf);
                    return true;
                }
                false
            }
            Msg::Event(ev) => {
                let ev = ev.into_event(&self.core);
                self.encode(ev, buf);
                if buf.len() >= self.buffer_size {
                    self.write_out(buf);
                    return true;
                }
                false
            }
            Msg::Durable(ev, ack) => {
                let ev = ev.into_event(&self.core);
                self.encode(ev, buf);
                self.write_out(buf);
                self.sync();
                self.nudge_sink();
                let _ = ack.send(());
                true
            }
            Msg::Flush(ack) => {
                self.report_drops(buf);
                self.write_out(buf);
                self.flush_file();
                self.nudge_sink();
                let _ = ack.send(());
                true
            }
            Msg::Shutdown => false,
        }
    }

    /// Sanitises and appends one line to `buf`.
    fn encode(&self, mut ev: Event, buf: &mut Vec<u8>) {
        if !ev.data.is_empty() {
            self.sanitizer.sanitize_map(&mut ev.data);
        }
        let mark = buf.len();
        match serde_json::to_writer(&mut *buf, &ev) {
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

    /// Writes a `loupe_dropped` event when record calls dropped events.
    fn report_drops(&self, buf: &mut Vec<u8>) {
        let dropped = self.core.pending_drops.swap(0, Relaxed);
        if dropped == 0 {
            return;
        }
        let ev = self.core.dropped_event(
            dropped,
            "the recorder's queue was full; events were dropped",
        );
        self.encode(ev, buf);
    }

    /// Writes `buf` (whole lines) to the file and hands it to the HTTP sink.
    fn write_out(&mut self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        if let Some(file) = &mut self.file {
            if file.write_all(buf).is_err() {
                self.core.counters.write_errors.fetch_add(1, Relaxed);
            }
        }
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
        if let Some(file) = &mut self.file {
            if file.flush().is_err() {
                self.core.counters.write_errors.fetch_add(1, Relaxed);
            }
        }
    }

    fn sync(&mut self) {
        self.flush_file();
        if let Some(file) = &self.file {
            if file.sync_data().is_err() {
                self.core.counters.write_errors.fetch_add(1, Relaxed);
            }
        }
    }
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
        let sanitizer = Sanitizer::new(true, &[], 40).unwrap();
        let scoped = Scope {
            parent: Some(Arc::from("parent-span")),
            iteration: Some(3),
            turn: Some(2),
            agent: Some(Arc::new(AgentRef {
                id: "w1".into(),
                ..AgentRef::default()
            })),
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
        ];
        for ((scope, resp), time) in cases.into_iter().zip(times) {
            let record = || {
                let header = Header {
                    number: 7,
                    kind: EventKind::LlmResponse,
                    timestamp: Timestamp(time),
                    scope: scope.clone(),
                };
                DeferredLlmResponse::new(header, &resp, true)
            };
            // Twice with one cache: the second line comes from its memo.
            let mut fast = Vec::new();
            record()
                .write_json(core, &sanitizer, &mut cache, &mut fast)
                .unwrap();
            let mut again = Vec::new();
            record()
                .write_json(core, &sanitizer, &mut cache, &mut again)
                .unwrap();
            assert_eq!(fast, again);
            let mut ev = record().into_event(core);
            sanitizer.sanitize_map(&mut ev.data);
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
        let header = Header {
            number: 1,
            kind: EventKind::LlmResponse,
            timestamp: Timestamp(0),
            scope: Scope::default(),
        };
        let resp = LlmResponse {
            model: Some("m"),
            content: Some("private text"),
            ..LlmResponse::default()
        };
        let rec = DeferredLlmResponse::new(header, &resp, false);
        assert_eq!(rec.text, "m");
        assert_eq!(rec.ranges[3], None);
    }
}
