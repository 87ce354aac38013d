//! The recorder: configuration builder, the shared per-session core, the
//! cheap cloneable [`Recorder`] handle and the [`Session`] guard.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use loupe_model::{
    keys, AgentRef, Event, EventKind, SessionStatus, Timestamp, FORMAT_NAME, FORMAT_VERSION,
};
use serde_json::{Map, Value};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, Durability, QueueFullPolicy};
use crate::exit;
use crate::http::Sink;
use crate::queue::{Queue, Refused};
use crate::sanitize::Sanitizer;
use crate::summary::{Counters, Summary};
use crate::writer::{Header, LineCache, Msg, Pending, Writer, ON_WRITER_THREAD};
use crossbeam_channel::{Receiver, RecvTimeoutError};

/// How long `flush()`, ending a session, dropping the last handle and
/// exit-time flushes wait for the writer at most: a write that hangs (a FIFO
/// nobody reads, a hung network file system) must not hang the agent.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller blocked on a full queue (`QueueFullPolicy::Block`) waits
/// before waking the writer again. Only a safety net: the writer is woken
/// before the caller starts waiting.
const BLOCKED_REWAKE: Duration = Duration::from_millis(10);

/// The writer is woken once the queue holds this fraction (1/N) of its
/// capacity, so a flood is drained long before the queue is full.
const WAKE_FRACTION: usize = 4;

/// Why a recorder could not start. Recording itself never returns errors.
#[derive(Debug)]
pub enum RecorderError {
    /// A bad setting (environment variable, TOML file, regex).
    Config(ConfigError),
    /// The trace directory or file could not be created or opened.
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl fmt::Display for RecorderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecorderError::Config(e) => write!(f, "loupe configuration: {e}"),
            RecorderError::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for RecorderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecorderError::Config(e) => Some(e),
            RecorderError::Io { source, .. } => Some(source),
        }
    }
}

impl From<ConfigError> for RecorderError {
    fn from(e: ConfigError) -> Self {
        RecorderError::Config(e)
    }
}

/// Cheap unique ids: a random 48-bit prefix per recorder and a counter, as
/// 20 hex digits. No allocation beyond the returned `String`.
pub(crate) struct IdGen {
    prefix: u64,
    next: AtomicU64,
}

impl IdGen {
    pub(crate) fn new(prefix: u64) -> Self {
        IdGen {
            prefix: prefix & 0xffff_ffff_ffff,
            next: AtomicU64::new(1),
        }
    }

    pub(crate) fn next(&self) -> String {
        self.format(self.next_number())
    }

    /// Reserves the next id without formatting it (the writer formats
    /// deferred events' ids with [`IdGen::format`]).
    pub(crate) fn next_number(&self) -> u64 {
        self.next.fetch_add(1, Relaxed)
    }

    /// The id of a number from [`IdGen::next_number`].
    pub(crate) fn format(&self, number: u64) -> String {
        let mut out = String::with_capacity(20);
        self.write(number, &mut out);
        out
    }

    /// Appends the id of `number` (20 lowercase hex digits) to `out`.
    pub(crate) fn write(&self, number: u64, out: &mut String) {
        out.extend(self.hex(number).map(char::from));
    }

    /// The id of `number` as ASCII bytes: the recorder's 48-bit prefix, then
    /// the number's low 32 bits.
    pub(crate) fn hex(&self, number: u64) -> [u8; 20] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digits = (u128::from(self.prefix) << 32) | u128::from(number & 0xffff_ffff);
        let mut out = [0u8; 20];
        for (i, d) in out.iter_mut().enumerate() {
            *d = HEX[((digits >> (76 - 4 * i)) & 0xf) as usize];
        }
        out
    }
}

/// 64 random bits from the standard library's per-process random keys.
pub(crate) fn random_u64() -> u64 {
    static SALT: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(SALT.fetch_add(1, Relaxed));
    h.write_u32(std::process::id());
    h.write_i64(Timestamp::now().as_micros());
    h.finish()
}

/// FNV-1a over the id, then a splitmix64 finaliser so that ids differing in
/// their last character spread over the whole range. Maps to `[0, 1)`.
pub fn sample_point(session_id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in session_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a session with this id is recorded at `rate`.
pub fn is_sampled(session_id: &str, rate: f64) -> bool {
    rate >= 1.0 || sample_point(session_id) < rate
}

/// State shared by every handle of one recording session and its writer.
pub(crate) struct Core {
    pub(crate) session_id: String,
    pub(crate) path: PathBuf,
    pub(crate) config: Config,
    /// Record calls' messages to the writer, in order.
    pub(crate) queue: Queue<Msg>,
    /// The writer thread, to unpark it. The writer sleeps between batches and
    /// record calls do not wake it per event: a wake-up is a futex syscall
    /// on the caller's thread, which used to dominate the cost of recording.
    writer_thread: OnceLock<Thread>,
    /// Queue length at which a record call wakes the writer.
    wake_at: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: IdGen,
    pub(crate) counters: Counters,
    pub(crate) pending_drops: AtomicU64,
    pub(crate) iteration_seq: AtomicU32,
    pub(crate) turn_seq: AtomicU32,
    pub(crate) ended: AtomicBool,
    /// Set when a wait for the writer timed out (it hangs in a write), so
    /// that ending the session does not wait for it a second time; cleared
    /// when the writer answers a flush again.
    pub(crate) stalled: AtomicBool,
    /// Lines the writer holds but has not written yet (its buffer and the
    /// rest of its batch), published before each write that may block: what
    /// is lost if the writer is left behind in that write.
    pub(crate) in_flight: InFlight,
    pub(crate) started_at: Timestamp,
    /// The HTTP sink, when an endpoint is configured.
    pub(crate) http: Option<Arc<Sink>>,
}

impl Core {
    /// A `loupe_dropped` event reporting `dropped` lost events and why.
    pub(crate) fn dropped_event(&self, dropped: u64, message: &str) -> Event {
        Event::new(
            self.ids.next(),
            EventKind::Dropped,
            self.clock.now(),
            self.session_id.clone(),
        )
        .with(keys::DROPPED, dropped)
        .with(keys::MESSAGE, message)
    }

    /// Hands an event to the writer according to the durability and
    /// queue-full policies. Never fails; losses are counted.
    fn submit(&self, ev: Event) {
        self.submit_with(Pending::built(ev), self.config.queue_full);
    }

    /// Hands a built or deferred event to the writer (queue-full policy as
    /// configured).
    pub(crate) fn submit_pending(&self, pending: Pending) {
        self.submit_with(pending, self.config.queue_full);
    }

    /// Session boundaries wait for room (a trace without its
    /// `session_start` or `session_end` would misreport the whole session),
    /// but only until `deadline`: a writer hung in a write must not hang the
    /// agent. An event that found no room by then is counted as a write
    /// error.
    fn submit_lifecycle(&self, ev: Event, deadline: Instant) {
        self.submit_until(Pending::built(ev), QueueFullPolicy::Block, Some(deadline));
    }

    fn submit_with(&self, ev: Pending, policy: QueueFullPolicy) {
        self.submit_until(ev, policy, None);
    }

    /// Queues `ev`; with [`QueueFullPolicy::Block`] waits for room until
    /// `deadline` (without one, as long as it takes).
    fn submit_until(&self, ev: Pending, policy: QueueFullPolicy, deadline: Option<Instant>) {
        let left = |default: Duration| {
            deadline.map_or(default, |d| d.saturating_duration_since(Instant::now()))
        };
        if self.config.durability == Durability::EveryEvent && !ON_WRITER_THREAD.with(|w| w.get()) {
            let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
            let msg = Msg::Durable(Box::new((ev, ack_tx)));
            if self.send_blocking(msg, left(FLUSH_TIMEOUT)) {
                Counters::bump(&self.counters.events);
                self.wake_writer();
                let _ = ack_rx.recv_timeout(left(FLUSH_TIMEOUT));
            } else {
                Counters::bump(&self.counters.write_errors);
            }
            return;
        }
        let sent = match self.queue.try_push(Msg::Event(ev)) {
            Ok(queued) => {
                if queued >= self.wake_at {
                    self.wake_writer();
                }
                true
            }
            Err(Refused::Full(msg)) => {
                self.wake_writer();
                match policy {
                    QueueFullPolicy::Block => self.send_blocking(msg, left(Duration::MAX)),
                    QueueFullPolicy::Drop => {
                        self.pending_drops.fetch_add(1, Relaxed);
                        Counters::bump(&self.counters.dropped);
                        return;
                    }
                }
            }
            Err(Refused::Closed(_)) => false,
        };
        if sent {
            Counters::bump(&self.counters.events);
        } else {
            Counters::bump(&self.counters.write_errors);
        }
    }

    /// Sends `msg`, waiting for room at most `limit` and waking the writer
    /// while waiting (it may be asleep between batches). Returns whether the
    /// message was queued.
    fn send_blocking(&self, mut msg: Msg, limit: Duration) -> bool {
        let started = std::time::Instant::now();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                return false;
            }
            match self.queue.push_timeout(msg, left.min(BLOCKED_REWAKE)) {
                Ok(()) => return true,
                Err(Refused::Full(back)) => {
                    self.wake_writer();
                    msg = back;
                }
                Err(Refused::Closed(_)) => return false,
            }
        }
    }

    /// Wakes the writer thread if it sleeps (an atomic swap when it does not).
    pub(crate) fn wake_writer(&self) {
        if let Some(t) = self.writer_thread.get() {
            t.unpark();
        }
    }

    /// Asks the writer to write and flush everything queued so far, and waits
    /// (at most [`FLUSH_TIMEOUT`] in all). Returns whether the writer
    /// confirmed and no accepted event was ever lost to a write error: a
    /// trace missing events is not safe, whenever they went missing.
    pub(crate) fn flush(&self) -> bool {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        self.request_flush(deadline)
            .is_some_and(|ack| self.confirm_flush(&ack, deadline))
    }

    /// Queues a flush request (waiting for room until `deadline` at most);
    /// the receiver answers once the writer did it.
    pub(crate) fn request_flush(&self, deadline: Instant) -> Option<Receiver<()>> {
        if ON_WRITER_THREAD.with(|w| w.get()) {
            return None;
        }
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        self.wake_writer();
        let left = deadline.saturating_duration_since(Instant::now());
        // A full queue with no time left still takes the request if it can.
        let queued = match self.queue.try_push(Msg::Flush(ack_tx)) {
            Ok(_) => true,
            Err(Refused::Full(msg)) => self.send_blocking(msg, left),
            Err(Refused::Closed(_)) => false,
        };
        if !queued {
            self.stalled.store(true, Relaxed);
            return None;
        }
        self.wake_writer();
        Some(ack_rx)
    }

    /// Waits until `deadline` for the writer to answer a
    /// [`Core::request_flush`]; see [`Core::flush`].
    pub(crate) fn confirm_flush(&self, ack: &Receiver<()>, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        // The writer counts its errors before it answers.
        let answered = ack.recv_timeout(left).is_ok();
        if !answered {
            self.stalled.store(true, Relaxed);
        }
        answered && self.nothing_lost()
    }

    /// How long ending the session may still wait for the writer: nothing
    /// when a wait already timed out (the writer hangs in a write).
    fn end_deadline(&self) -> Instant {
        let now = Instant::now();
        if self.stalled.load(Relaxed) {
            now
        } else {
            now + FLUSH_TIMEOUT
        }
    }

    /// Whether every event accepted so far was written (or is still
    /// queued): no write error and no line the file refused. Events
    /// dropped from a full queue were never accepted ([`Summary::dropped`]).
    fn nothing_lost(&self) -> bool {
        self.counters.write_errors.load(Relaxed) == 0 && self.counters.unwritten.load(Relaxed) == 0
    }

    /// Waits until the HTTP sink has delivered what the writer handed it, at
    /// most until `deadline`. True without a sink.
    pub(crate) fn wait_http_idle(&self, deadline: Instant) -> bool {
        self.http
            .as_ref()
            .is_none_or(|sink| sink.wait_idle(deadline))
    }

    /// Asks the writer to write everything and stop (waiting for room in
    /// the queue until `deadline` at most).
    fn shut_down_writer(&self, deadline: Instant) {
        self.wake_writer();
        if let Err(Refused::Full(msg)) = self.queue.try_push(Msg::Shutdown) {
            let _ = self.send_blocking(msg, deadline.saturating_duration_since(Instant::now()));
        }
        self.wake_writer();
    }

    /// Gives up on a writer that did not stop in time (it hangs in a
    /// write): refuses later messages and counts what it was never going to
    /// write (still queued, or held by the writer) as unwritten, so the
    /// summary and [`Recorder::flush`] say the trace misses events. The
    /// thread is left behind; it cannot keep the process from exiting.
    fn abandon_writer(&self) {
        let queued = self
            .queue
            .close()
            .iter()
            .filter(|m| matches!(m, Msg::Event(_) | Msg::Durable(_)))
            .count() as u64;
        let lost = queued + self.in_flight.0.load(Relaxed);
        self.counters.unwritten.fetch_add(lost, Relaxed);
        Counters::bump(&self.counters.write_errors);
        // `writeln!` rather than `eprintln!`: a closed stderr must not panic.
        let _ = writeln!(
            std::io::stderr(),
            "loupe: the trace writer did not finish within {} s (a write to {} hangs); it was left behind and about {lost} events were not written",
            FLUSH_TIMEOUT.as_secs(),
            self.path.display()
        );
    }
}

/// A counter the writer thread updates and agent threads read only when
/// they give up on it: on a cache line of its own, so the writer's updates
/// do not slow down record calls touching the fields next to it.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct InFlight(pub(crate) AtomicU64);

/// Owns the writer thread (and the HTTP sender): the last handle to go
/// stops and joins them.
struct Shared {
    core: Arc<Core>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Disconnected when the writer thread's body has returned.
    writer_done: Receiver<()>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(sink) = &self.core.http {
            // A writer waiting for room in the sink must not hold up the stop.
            sink.close();
        }
        let deadline = self.core.end_deadline();
        self.core.shut_down_writer(deadline);
        let take = |m: &Mutex<Option<JoinHandle<()>>>| match m.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let on_writer = ON_WRITER_THREAD.with(|w| w.get());
        if let Some(h) = take(&self.writer) {
            if !on_writer {
                // The writer's end is awaited with a deadline (a join has
                // none); past it the thread is detached and what it did not
                // write is counted.
                let left = deadline.saturating_duration_since(Instant::now());
                match self.writer_done.recv_timeout(left) {
                    Err(RecvTimeoutError::Timeout) => self.core.abandon_writer(),
                    _ => {
                        let _ = h.join();
                    }
                }
            }
        }
        if let Some(sink) = &self.core.http {
            let deadline = Instant::now() + self.core.config.http_shutdown_timeout;
            // Past the deadline the sender is left behind (detached) rather
            // than holding up the agent's exit.
            if sink.finish(deadline) {
                if let Some(h) = take(&self.sender) {
                    let _ = h.join();
                }
            }
        }
    }
}

/// Where new events hang in the span tree: parent span, iteration, turn and
/// producing agent. Cloned into every guard; cheap (`Arc`s).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    pub(crate) parent: Option<Arc<str>>,
    pub(crate) iteration: Option<u32>,
    pub(crate) turn: Option<u32>,
    pub(crate) agent: Option<Arc<AgentRef>>,
}

/// A handle for recording into one session. Cheap to clone (`Arc`), `Send`
/// and `Sync`; every clone writes to the same file. A handle also carries a
/// scope (parent span, iteration, turn, agent) which guards narrow: record
/// through a guard and the event lands under it.
///
/// A recorder for an unsampled or disabled session holds nothing: every
/// call is one branch.
#[derive(Clone)]
pub struct Recorder {
    shared: Option<Arc<Shared>>,
    pub(crate) scope: Scope,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("session_id", &self.session_id())
            .field("path", &self.path())
            .finish()
    }
}

impl Recorder {
    /// A builder with default settings ([`Config::default`]).
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A recorder that records nothing.
    pub fn disabled() -> Recorder {
        Recorder {
            shared: None,
            scope: Scope::default(),
        }
    }

    pub(crate) fn core(&self) -> Option<&Core> {
        self.shared.as_deref().map(|s| &*s.core)
    }

    /// Whether this recorder writes anything (enabled and sampled).
    pub fn is_recording(&self) -> bool {
        self.shared.is_some()
    }

    /// The session id (`None` when not recording).
    pub fn session_id(&self) -> Option<&str> {
        self.core().map(|c| c.session_id.as_str())
    }

    /// The trace file (`None` when not recording or not writing a file,
    /// [`Config::write_file`]).
    pub fn path(&self) -> Option<&Path> {
        self.core()
            .filter(|c| c.config.write_file)
            .map(|c| c.path.as_path())
    }

    /// The session's running counters, O(1).
    pub fn summary(&self) -> Summary {
        self.core()
            .map(|c| c.counters.snapshot())
            .unwrap_or_default()
    }

    /// Writes everything recorded so far to the file (write + flush, no
    /// fsync) and waits for it, at most 5 s. After it returns true, a
    /// `SIGKILL` cannot lose those events.
    ///
    /// Returns false when the writer did not confirm in time, or when any
    /// event accepted since the session started was not written
    /// ([`Summary::write_errors`] or [`Summary::unwritten`] is not 0, e.g.
    /// the disk was full): once events are missing from the file, every
    /// later flush of the session returns false, even after the disk took
    /// lines again. Events dropped from a full queue
    /// ([`QueueFullPolicy::Drop`], [`Summary::dropped`]) were never accepted
    /// and do not count.
    pub fn flush(&self) -> bool {
        self.core().is_some_and(Core::flush)
    }

    /// The current time on this recorder's clock.
    pub fn now(&self) -> Timestamp {
        self.core()
            .map(|c| c.clock.now())
            .unwrap_or_else(Timestamp::now)
    }

    /// Capture settings; `None` when not recording.
    pub(crate) fn capture(&self) -> Option<crate::config::Capture> {
        self.core().map(|c| c.config.capture)
    }

    /// A fresh event of `kind` in this handle's scope, or `None` when not
    /// recording (so callers build no payload at all).
    pub(crate) fn event(&self, kind: EventKind) -> Option<Event> {
        let core = self.core()?;
        Some(self.header(core, kind).into_event(core))
    }

    /// What an event of `kind` recorded now in this scope needs besides its
    /// payload: id number, time, scope. Costs no allocation.
    pub(crate) fn header(&self, core: &Core, kind: EventKind) -> Header {
        Header {
            number: core.ids.next_number(),
            kind,
            timestamp: core.clock.now(),
            scope: self.scope.clone(),
        }
    }

    /// Records a prepared event (counters already handled by the caller).
    pub(crate) fn submit(&self, ev: Event) {
        if let Some(core) = self.core() {
            core.submit(ev);
        }
    }

    /// A handle whose events hang under `parent`.
    pub(crate) fn child(&self, parent: &str) -> Recorder {
        let mut r = self.clone();
        r.scope.parent = Some(Arc::from(parent));
        r
    }

    /// Records an event of any kind with a free-form payload (attocode-py's
    /// `record(kind, **data)`). Updates no counters.
    pub fn record(&self, kind: EventKind, data: Map<String, Value>) {
        if let Some(mut ev) = self.event(kind) {
            ev.data = data;
            self.submit(ev);
        }
    }

    /// Records a fully built event as is, only filling `session_id` (and
    /// `event_id` when empty). For bridges from other instrumentation.
    pub fn record_event(&self, mut ev: Event) {
        if let Some(core) = self.core() {
            ev.session_id.clone_from(&core.session_id);
            if ev.event_id.is_empty() {
                ev.event_id = core.ids.next();
            }
            core.submit(ev);
        }
    }

    pub(crate) fn counters(&self) -> Option<&Counters> {
        self.core().map(|c| &c.counters)
    }
}

/// Configures and starts a recording session. Obtain one with
/// [`Recorder::builder`].
pub struct Builder {
    config: Config,
    clock: Arc<dyn Clock>,
    id_seed: Option<u64>,
    session_id: Option<String>,
    start_data: Map<String, Value>,
    metadata: Map<String, Value>,
    tags: Vec<String>,
    error: Option<ConfigError>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            config: Config::default(),
            clock: Arc::new(SystemClock),
            id_seed: None,
            session_id: None,
            start_data: Map::new(),
            metadata: Map::new(),
            tags: Vec::new(),
            error: None,
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty => $($field:ident).+) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$($field).+ = value;
            self
        }
    };
}

impl Builder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The configuration as set so far.
    pub fn current_config(&self) -> &Config {
        &self.config
    }

    setter!(/// Turns recording on or off.
        enabled: bool => enabled);
    setter!(/// Queue capacity in events.
        queue_capacity: usize => queue_capacity);
    setter!(/// Writer buffer size in bytes.
        buffer_size: usize => buffer_size);
    setter!(/// Longest time an event waits in the writer's buffer.
        flush_interval: Duration => flush_interval);
    setter!(/// See [`Durability`].
        durability: Durability => durability);
    setter!(/// See [`QueueFullPolicy`].
        queue_full: QueueFullPolicy => queue_full);
    setter!(/// Keep LLM messages and response text.
        capture_messages: bool => capture.messages);
    setter!(/// Keep thinking text.
        capture_thinking: bool => capture.thinking);
    setter!(/// Keep tool arguments.
        capture_tool_args: bool => capture.tool_args);
    setter!(/// Keep tool results.
        capture_tool_results: bool => capture.tool_results);
    setter!(/// Free-text strings in `data` longer than this many characters are
        /// truncated with a marker (keys and the library's own fields are not).
        max_content_chars: usize => max_content_chars);
    setter!(/// Apply the built-in secret patterns.
        redact: bool => redact);
    setter!(/// Flush from a panic hook.
        flush_on_panic: bool => flush_on_panic);
    setter!(/// Flush at process exit.
        flush_at_exit: bool => flush_at_exit);
    setter!(/// Also write the local JSONL file (default true).
        write_file: bool => write_file);
    setter!(/// Lines per HTTP batch at most.
        http_batch_size: usize => http_batch_size);
    setter!(/// Longest time a line waits in the HTTP sink before it is sent.
        http_max_delay: Duration => http_max_delay);
    setter!(/// Bytes the HTTP sink buffers while the server is slow or down.
        http_buffer_bytes: usize => http_buffer_bytes);
    setter!(/// How long ending the recorder waits for the HTTP sink to deliver.
        http_shutdown_timeout: Duration => http_shutdown_timeout);

    /// Also sends every event to a `loupe serve` at `url` (e.g.
    /// `http://127.0.0.1:4318`); a URL that is not `http://` makes
    /// [`Builder::start`] fail.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        match crate::config::check_endpoint(&url.into()) {
            Ok(endpoint) => self.config.endpoint = endpoint,
            Err(reason) => {
                self.error.get_or_insert(ConfigError {
                    origin: "endpoint".into(),
                    reason,
                });
            }
        }
        self
    }

    /// The API key sent as `Authorization: Bearer` to the endpoint.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    /// Directory for trace files (default `.loupe/traces`).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.dir = dir.into();
        self
    }

    /// File name pattern (default `{session_id}.jsonl`; `{timestamp}` is the
    /// session's start as `YYYYMMDDTHHMMSSZ`).
    pub fn file_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.config.file_pattern = pattern.into();
        self
    }

    /// Fraction of sessions to record, decided by hashing the session id.
    /// Values outside `0..=1` are clamped.
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.config.sample_rate = if rate.is_nan() {
            1.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self
    }

    /// An extra redaction regex; an invalid one makes [`Builder::start`] fail.
    pub fn redact_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.config.redact_patterns.push(pattern.into());
        self
    }

    /// Applies `LOUPE_*` environment variables (see the crate docs).
    pub fn from_env(mut self) -> Self {
        if let Err(e) = self.config.apply_env() {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Applies a TOML configuration file.
    pub fn from_toml_file(mut self, path: impl AsRef<Path>) -> Self {
        if let Err(e) = self.config.apply_toml_file(path.as_ref()) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// The clock for timestamps and durations (tests, the demo).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Fixes the event-id prefix, making ids reproducible (tests, the demo).
    pub fn id_seed(mut self, seed: u64) -> Self {
        self.id_seed = Some(seed);
        self
    }

    /// The session id; generated (`{UTC time}-{random}`) when not given.
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// What the agent was asked to do (`data.task` of `session_start`).
    pub fn task(mut self, task: impl Into<String>) -> Self {
        self.start_data
            .insert(keys::TASK.into(), Value::String(task.into()));
        self
    }

    /// The main model (`data.model` of `session_start`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.start_data
            .insert(keys::MODEL.into(), Value::String(model.into()));
        self
    }

    /// The agent's name (`data.agent_name` of `session_start`).
    pub fn agent_name(mut self, name: impl Into<String>) -> Self {
        self.start_data
            .insert(keys::AGENT_NAME.into(), Value::String(name.into()));
        self
    }

    /// A metadata entry (`data.metadata.{key}` of `session_start`).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// A tag (`data.tags` of `session_start`).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Like [`Builder::start`], but a recorder that cannot start (a trace
    /// directory that cannot be created, a bad `LOUPE_*` variable or
    /// pattern) gives a disabled session instead of an error: the agent
    /// runs on untraced. The error is said on stderr, once per process
    /// (`loupe: recording is off: ...`).
    ///
    /// Use it when tracing must never stop the agent (production, the
    /// README's example); use [`Builder::start`] when a missing trace is a
    /// failure (tests, evaluation runs) or to handle the error yourself.
    pub fn start_or_disabled(self) -> Session {
        static SAID: AtomicBool = AtomicBool::new(false);
        match self.start() {
            Ok(session) => session,
            Err(e) => {
                if !SAID.swap(true, Relaxed) {
                    let _ = writeln!(
                        std::io::stderr(),
                        "loupe: recording is off: {e} (later failures to start a recorder are not said)"
                    );
                }
                Session {
                    recorder: Recorder::disabled(),
                    span_id: None,
                    ended: false,
                }
            }
        }
    }

    /// Opens the trace file, starts the writer and records `session_start`.
    /// Disabled or unsampled sessions start nothing and return a session whose
    /// calls are no-ops. Fails when the configuration is bad or the trace
    /// file cannot be opened; [`Builder::start_or_disabled`] records nothing
    /// instead.
    pub fn start(self) -> Result<Session, RecorderError> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        let started_at = self.clock.now();
        let session_id = match self.session_id {
            Some(id) => id,
            None => format!(
                "{}-{:06x}",
                compact_time(started_at),
                random_u64() & 0xff_ffff
            ),
        };
        if !self.config.enabled || !is_sampled(&session_id, self.config.sample_rate) {
            return Ok(Session {
                recorder: Recorder::disabled(),
                span_id: None,
                ended: false,
            });
        }
        let sanitizer = Sanitizer::new(
            self.config.redact,
            &self.config.redact_patterns,
            self.config.max_content_chars,
        )?;
        let file_name = self
            .config
            .file_pattern
            .replace("{session_id}", &file_safe(&session_id))
            .replace("{timestamp}", &compact_time(started_at));
        let path = self.config.dir.join(file_name);
        let file = if self.config.write_file {
            Some(open_trace_file(&path)?)
        } else {
            None
        };
        let http = Sink::new(&self.config).map(Arc::new);
        let capacity = self.config.queue_capacity.max(1);
        let prefix = self.id_seed.unwrap_or_else(random_u64);
        let core = Arc::new(Core {
            session_id,
            path,
            queue: Queue::new(capacity),
            writer_thread: OnceLock::new(),
            wake_at: (capacity / WAKE_FRACTION).max(1),
            clock: self.clock,
            ids: IdGen::new(prefix),
            counters: Counters::default(),
            pending_drops: AtomicU64::new(0),
            iteration_seq: AtomicU32::new(0),
            turn_seq: AtomicU32::new(0),
            ended: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            in_flight: InFlight::default(),
            started_at,
            http,
            config: self.config,
        });
        let writer = Writer {
            core: Arc::clone(&core),
            file,
            sanitizer,
            buffer_size: core.config.buffer_size.max(1),
            flush_interval: core.config.flush_interval.max(Duration::from_millis(1)),
            durable: core.config.durability == Durability::EveryEvent,
            sink: core.http.clone(),
            cache: LineCache::default(),
            unwritten: 0,
            reported_write_error: false,
            buffered_lines: 0,
            batch_left: 0,
            lines_in_file: 0,
            identity_checked: Instant::now(),
        };
        // The sender first: if the writer cannot start, the sender is
        // stopped again and nothing is left running.
        let sender = match &core.http {
            Some(sink) => {
                let (sink, for_thread) = (Arc::clone(sink), Arc::clone(&core));
                Some(
                    std::thread::Builder::new()
                        .name("loupe-http".into())
                        .spawn(move || {
                            own_thread::mark();
                            sink.run(for_thread)
                        })
                        .map_err(|source| RecorderError::Io {
                            path: core.path.clone(),
                            source,
                        })?,
                )
            }
            None => None,
        };
        let (done_tx, writer_done) = crossbeam_channel::bounded::<()>(0);
        let handle = std::thread::Builder::new()
            .name("loupe-writer".into())
            .spawn(move || {
                // Dropped when the body returns, however it returns.
                let _done = done_tx;
                own_thread::mark();
                writer.run()
            })
            .map_err(|source| {
                if let Some(sink) = &core.http {
                    sink.finish(Instant::now());
                }
                RecorderError::Io {
                    path: core.path.clone(),
                    source,
                }
            })?;
        let _ = core.writer_thread.set(handle.thread().clone());
        exit::register(&core);
        let recorder = Recorder {
            shared: Some(Arc::new(Shared {
                core: Arc::clone(&core),
                writer: Mutex::new(Some(handle)),
                writer_done,
                sender: Mutex::new(sender),
            })),
            scope: Scope::default(),
        };
        let mut data = self.start_data;
        data.insert(keys::FORMAT.into(), FORMAT_NAME.into());
        data.insert(keys::FORMAT_VERSION.into(), FORMAT_VERSION.into());
        if !self.metadata.is_empty() {
            data.insert(keys::METADATA.into(), Value::Object(self.metadata));
        }
        if !self.tags.is_empty() {
            data.insert(keys::TAGS.into(), self.tags.into());
        }
        let span_id = core.ids.next();
        let mut start = Event::new(
            span_id.clone(),
            EventKind::SessionStart,
            started_at,
            core.session_id.clone(),
        );
        start.span_id = Some(span_id.clone());
        start.data = data;
        core.submit_lifecycle(start, Instant::now() + FLUSH_TIMEOUT);
        let recorder = recorder.child(&span_id);
        Ok(Session {
            recorder,
            span_id: Some(span_id),
            ended: false,
        })
    }
}

fn open_trace_file(path: &Path) -> Result<File, RecorderError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| RecorderError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let io_error = |source| RecorderError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_error)?;
    // A session id given twice (copied from an example, a constant) appends
    // a second run to the first one's trace, and the two read as one
    // session. That is right for a resumed session, so it is allowed, but
    // said once, so a new run that reuses an id is not silently merged.
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "loupe: {} already holds a trace of this session id: this run is appended to it and reads as the same session (give each new run its own session id)",
            path.display()
        );
    }
    // Appending to a trace whose writer died mid-line: end the torn line
    // first, so it stays one line that readers skip and count, and the new
    // lines stay whole.
    if ends_mid_line(path) {
        file.write_all(b"\n").map_err(io_error)?;
    }
    Ok(file)
}

/// Opens the trace path again after the file was deleted or replaced while
/// recording (see the writer's identity check): created if missing, appended
/// to if something else put a file there, a torn last line ended first.
pub(crate) fn reopen_trace_file(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    if ends_mid_line(path) {
        file.write_all(b"\n")?;
    }
    Ok(file)
}

/// Whether a regular file at `path` ends without a newline. Anything that
/// cannot be checked (a pipe, a write-only file) counts as ending whole: the
/// check must never stop a recording that the file itself allows.
fn ends_mid_line(path: &Path) -> bool {
    let check = || -> std::io::Result<bool> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() == 0 {
            return Ok(false);
        }
        let mut last = [0u8];
        file.seek(SeekFrom::End(-1))?;
        file.read_exact(&mut last)?;
        Ok(last[0] != b'\n')
    };
    check().unwrap_or(false)
}

/// `2026-03-01T12:00:00.000000Z` → `20260301T120000Z`.
fn compact_time(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    let mut out: String = s
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    out.push('Z');
    out
}

/// Keeps a session id usable as a file name: no separators, no `..`.
fn file_safe(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "session".into()
    } else {
        s
    }
}

/// The session guard: records `session_end` (with the summary) when ended or
/// dropped, then flushes. Dropped during a panic it records status `failed`.
/// Dereferences to its [`Recorder`].
pub struct Session {
    recorder: Recorder,
    span_id: Option<String>,
    ended: bool,
}

impl Deref for Session {
    type Target = Recorder;
    fn deref(&self) -> &Recorder {
        &self.recorder
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("recorder", &self.recorder)
            .field("ended", &self.ended)
            .finish()
    }
}

impl Session {
    /// A handle to record from other threads or store in the agent.
    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// Ends the session with `status` and flushes.
    pub fn end(mut self, status: SessionStatus) {
        self.finish(status, None);
    }

    /// Ends the session with `status` and an error message.
    pub fn fail(mut self, error: impl fmt::Display) {
        self.finish(SessionStatus::Failed, Some(error.to_string()));
    }

    fn finish(&mut self, status: SessionStatus, error: Option<String>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let Some(core) = self.recorder.core() else {
            return;
        };
        if core.ended.swap(true, Relaxed) {
            return;
        }
        let now = core.clock.now();
        let summary = core.counters.snapshot();
        let mut ev = Event::new(
            core.ids.next(),
            EventKind::SessionEnd,
            now,
            core.session_id.clone(),
        );
        ev.span_id.clone_from(&self.span_id);
        ev.duration_ms = Some(now.millis_since(core.started_at).max(0.0));
        ev.data.insert(keys::STATUS.into(), status.as_str().into());
        if let Some(e) = error {
            ev.data.insert(keys::ERROR.into(), e.into());
        }
        if let Ok(v) = serde_json::to_value(summary) {
            ev.data.insert("summary".into(), v);
        }
        // One deadline for the whole end: the agent waits at most
        // FLUSH_TIMEOUT for a writer that hangs, and not again when the last
        // handle goes.
        let deadline = core.end_deadline();
        core.submit_lifecycle(ev, deadline);
        if let Some(ack) = core.request_flush(deadline) {
            core.confirm_flush(&ack, deadline);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.finish(SessionStatus::Failed, Some(crate::exit::panic_reason()));
        } else {
            self.finish(SessionStatus::Completed, None);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_twenty_hex_digits_and_distinct() {
        let g = IdGen::new(0xabc);
        let a = g.next();
        let b = g.next();
        assert_eq!(a, "000000000abc00000001");
        assert_eq!(b.len(), 20);
        assert_ne!(a, b);
    }

    #[test]
    fn sampling_is_deterministic_and_bounded() {
        assert_eq!(sample_point("abc"), sample_point("abc"));
        assert!((0.0..1.0).contains(&sample_point("")));
        assert!(is_sampled("x", 1.0));
        assert!(!is_sampled("x", 0.0));
    }

    #[test]
    fn a_writer_thread_that_died_never_blocks_recording() {
        use crate::{LlmResponse, QueueFullPolicy};
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let session = Recorder::builder()
            .dir(dir.path())
            .session_id("dead-writer")
            .queue_capacity(4)
            .queue_full(QueueFullPolicy::Block)
            .start()
            .unwrap();
        let core = Arc::clone(&session.shared.as_ref().unwrap().core);
        assert!(core.queue.try_push(Msg::PanicForTest).is_ok());
        core.wake_writer();
        // A full queue with `Block` would wait on the writer forever if
        // nothing closed the queue when its thread ended.
        // Recorded on another thread so that a hang fails the test instead
        // of stalling the suite.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let recording = session.clone();
        std::thread::spawn(move || {
            for _ in 0..1_000 {
                recording.record_llm_response(&LlmResponse::default());
            }
            let _ = done_tx.send(());
        });
        assert!(
            done_rx.recv_timeout(Duration::from_secs(20)).is_ok(),
            "recording waited on a dead writer"
        );
        let summary = session.summary();
        assert!(
            summary.write_errors > 0,
            "events after the writer died are counted as lost: {summary:?}"
        );
        assert!(
            !session.flush(),
            "a flush cannot be confirmed by a dead writer"
        );
        let ended = Instant::now();
        drop(session);
        assert!(
            ended.elapsed() < Duration::from_secs(20),
            "{:?}",
            ended.elapsed()
        );
    }

    #[test]
    fn a_recorder_that_cannot_start_gives_a_disabled_session_instead() {
        let dir = tempfile::tempdir().unwrap();
        // A directory under a regular file cannot be created.
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"").unwrap();
        let unwritable = Recorder::builder().dir(blocker.join("traces"));
        let bad_pattern = Recorder::builder().dir(dir.path()).redact_pattern("(");
        for builder in [unwritable, bad_pattern] {
            let session = builder.start_or_disabled();
            assert!(!session.is_recording());
            session.record_custom("ignored", serde_json::Map::new());
            assert!(!session.flush());
            session.end(SessionStatus::Completed);
        }
        assert!(Recorder::builder()
            .dir(blocker.join("traces"))
            .start()
            .is_err());
        let fine = Recorder::builder().dir(dir.path()).start_or_disabled();
        assert!(fine.is_recording());
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("../a/b"), ".._a_b");
        assert_eq!(file_safe(".."), "session");
        assert_eq!(compact_time(Timestamp(0)), "19700101T000000Z");
    }
}

/// Which threads are the recorder's own (writer, HTTP sender). What they
/// log (the HTTP client's `log` records, bridged into `tracing` by
/// `tracing-log`) must not be recorded: each send would log, be recorded
/// and be sent again, forever.
pub(crate) mod own_thread {
    use std::cell::Cell;

    thread_local! {
        static OWN: Cell<bool> = const { Cell::new(false) };
    }

    /// Marks the calling thread as one of the recorder's own.
    pub(crate) fn mark() {
        OWN.with(|own| own.set(true));
    }

    /// Whether the calling thread is one of the recorder's own.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn is() -> bool {
        OWN.with(Cell::get)
    }
}
