//! The HTTP sink: sends the writer's canonical JSONL lines (the exact bytes
//! it writes to the file) to `{endpoint}/api/v1/events`, gzip-compressed, in
//! batches, from its own thread.
//!
//! The writer thread appends whole lines to a bounded buffer ([`Sink::push`]);
//! record calls never touch it, so the agent's cost per event does not change.
//! The sender retries connection errors, 408, 429, 502, 503 and 504 with
//! exponential backoff and jitter, honouring `Retry-After`; a 413 splits the
//! batch; any other refusal (400...) drops the batch, logged once to stderr.
//! Lines that could not be buffered or were refused are counted
//! ([`crate::Summary::undelivered`]) and reported to the server in a
//! `loupe_dropped` event. Ending the recorder waits for delivery at most
//! [`crate::Config::http_shutdown_timeout`].

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::config::{Config, QueueFullPolicy, EVENTS_PATH};
use crate::recorder::{random_u64, Core};

/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A server asking for longer than this is asked again sooner.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Keeps a batch far below the server's default body limit (32 MiB).
const MAX_BATCH_BYTES: usize = 4 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a writer waiting for room (`QueueFullPolicy::Block`) re-checks
/// whether the server is still reachable.
const ROOM_WAIT_SLICE: Duration = Duration::from_millis(20);

/// What the sender does with a batch after an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Stored.
    Delivered,
    /// Try again later (overload, restart, proxy trouble).
    Retry,
    /// Too big for the server: send it in halves.
    Split,
    /// Refused for good (bad payload, wrong key...): drop and count.
    Reject,
}

/// The verdict for an HTTP status.
pub(crate) fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 502 | 503 | 504 => Verdict::Retry,
        413 => Verdict::Split,
        _ => Verdict::Reject,
    }
}

/// The wait a `Retry-After` value asks for: delta-seconds or an HTTP date
/// (relative to `now`), at most [`MAX_RETRY_AFTER`]. `None` when unreadable.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only: a number too large for u64 is still "a long time".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with "equal jitter": half the exponential delay plus a
/// random part of the other half, so many clients do not retry in step.
/// `attempt` counts failures so far (1 = first failure).
pub(crate) fn backoff(attempt: u32, random: u64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    let full = INITIAL_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_BACKOFF);
    let half = full / 2;
    let half_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_nanos(random % half_ns)
}

/// Where the line ending the `n`-th line of `bytes` is, plus one (or the
/// length when there are fewer lines); never more than `max_bytes` unless
/// the first line alone is longer.
fn cut_after_lines(bytes: &[u8], n: usize, max_bytes: usize) -> (usize, usize) {
    let mut end = 0;
    let mut lines = 0;
    while lines < n {
        let Some(pos) = bytes[end..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let next = end + pos + 1;
        if lines > 0 && next > max_bytes {
            break;
        }
        end = next;
        lines += 1;
    }
    (end, lines)
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// A batch the sender holds until it is delivered or given up.
struct Batch {
    body: Vec<u8>,
    /// Lines from the writer (the `loupe_dropped` report line excluded).
    lines: usize,
    /// Drops this batch's `loupe_dropped` line reports.
    reported_drops: u64,
    attempts: u32,
}

#[derive(Default)]
struct State {
    /// Whole lines, oldest first.
    pending: Vec<u8>,
    lines: usize,
    /// When the oldest pending line arrived.
    since: Option<Instant>,
    /// `flush()` asked: send what is pending without waiting for a full batch.
    send_now: bool,
    /// The sender holds batches not yet delivered.
    in_flight: bool,
    /// The recorder is stopping: the writer must not wait for room any more.
    closing: bool,
    /// Deliver what is pending until then, then stop.
    deadline: Option<Instant>,
    /// The last attempt could not reach the server.
    unreachable: bool,
    /// Dropped lines the server has not been told about yet.
    unreported_drops: u64,
    /// The sender thread has ended.
    stopped: bool,
}

/// The state shared by the writer (producer), the sender thread and the
/// recorder's shutdown.
pub(crate) struct Sink {
    state: Mutex<State>,
    /// Wakes the sender: new lines, flush, shutdown.
    work: Condvar,
    /// Wakes whoever waits for room or for the sink to be idle.
    progress: Condvar,
    url: String,
    authorization: Option<String>,
    batch_lines: usize,
    max_delay: Duration,
    buffer_bytes: usize,
    policy: QueueFullPolicy,
    write_file: bool,
}

impl Sink {
    /// A sink for `config.endpoint`, or `None` when there is none.
    pub(crate) fn new(config: &Config) -> Option<Sink> {
        let endpoint = config.endpoint.as_deref()?.trim_end_matches('/');
        let url = if endpoint.ends_with(EVENTS_PATH) {
            endpoint.to_owned()
        } else {
            format!("{endpoint}{EVENTS_PATH}")
        };
        Some(Sink {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
            url,
            authorization: config.api_key.as_ref().map(|k| format!("Bearer {k}")),
            batch_lines: config.http_batch_size.max(1),
            max_delay: config.http_max_delay,
            buffer_bytes: config.http_buffer_bytes.max(1),
            policy: config.queue_full,
            write_file: config.write_file,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Buffers whole lines (called by the writer thread). Lines beyond the
    /// buffer's limit are dropped, newest first, and counted; with
    /// `QueueFullPolicy::Block` the writer first waits for room while the
    /// server is reachable and the recorder is not stopping.
    pub(crate) fn push(&self, core: &Core, lines: &[u8]) {
        if lines.is_empty() {
            return;
        }
        let mut st = self.lock();
        if self.policy == QueueFullPolicy::Block {
            while st.pending.len() + lines.len() > self.buffer_bytes
                && !st.pending.is_empty()
                && !st.closing
                && !st.unreachable
                && !st.stopped
            {
                self.work.notify_one();
                st = self
                    .progress
                    .wait_timeout(st, ROOM_WAIT_SLICE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        let room = self.buffer_bytes.saturating_sub(st.pending.len());
        let take = if lines.len() <= room {
            lines.len()
        } else {
            lines[..room]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
        };
        let kept = &lines[..take];
        if !kept.is_empty() {
            st.pending.extend_from_slice(kept);
            st.lines += count_lines(kept);
            st.since.get_or_insert_with(Instant::now);
        }
        let dropped = count_lines(&lines[take..]) as u64;
        if dropped > 0 {
            st.unreported_drops += dropped;
            core.counters.undelivered.fetch_add(dropped, Relaxed);
        }
        drop(st);
        self.work.notify_one();
    }

    /// Sends what is pending without waiting for a full batch.
    pub(crate) fn nudge(&self) {
        self.lock().send_now = true;
        self.work.notify_one();
    }

    /// The recorder is stopping: a writer waiting for room gives up waiting.
    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.progress.notify_all();
    }

    /// Delivers what is pending until `deadline`, then stops the sender;
    /// waits for that at most until `deadline` (a request still running then
    /// is left to its own timeout). Returns whether the sender stopped.
    pub(crate) fn finish(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        st.closing = true;
        st.deadline = Some(deadline);
        self.work.notify_one();
        self.progress.notify_all();
        self.wait_progress(st, deadline, |st| !st.stopped).stopped
    }

    /// Sends what is pending now and waits until the sink holds nothing or
    /// `deadline` passes (exit handlers). Returns whether it became idle.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> bool {
        let mut st = self.lock();
        st.send_now = true;
        self.work.notify_one();
        let st = self.wait_progress(st, deadline, |st| {
            (st.lines > 0 || st.in_flight) && !st.stopped
        });
        st.lines == 0 && !st.in_flight
    }

    /// Waits on `progress` while `busy` holds, at most until `deadline`;
    /// returns the lock either way, for the caller to read the outcome.
    fn wait_progress<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        deadline: Instant,
        busy: impl Fn(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        while busy(&st) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .progress
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st
    }

    /// The sender thread's body: runs until [`Sink::finish`]'s deadline or
    /// until everything pending after it was delivered.
    pub(crate) fn run(self: Arc<Self>, core: Arc<Core>) {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build();
        let mut sender = Sender {
            sink: &self,
            core: &core,
            agent,
            held: VecDeque::new(),
            retry_at: None,
            server_asked: false,
            logged_refusal: false,
        };
        sender.run();
        let mut st = self.lock();
        st.stopped = true;
        st.in_flight = false;
        drop(st);
        self.progress.notify_all();
    }
}

/// The sender thread's working state.
struct Sender<'a> {
    sink: &'a Sink,
    core: &'a Core,
    agent: ureq::Agent,
    /// Batches taken from the buffer, front first (a 413 splits one in two).
    held: VecDeque<Batch>,
    /// When the front batch may be tried again.
    retry_at: Option<Instant>,
    /// `retry_at` came from the server's `Retry-After`.
    server_asked: bool,
    logged_refusal: bool,
}

impl Sender<'_> {
    fn run(&mut self) {
        let mut drain_seen = false;
        loop {
            {
                let mut st = self.sink.lock();
                loop {
                    let now = Instant::now();
                    if let Some(deadline) = st.deadline {
                        if !drain_seen {
                            drain_seen = true;
                            // Stopping: a backoff of our own is cut short; a
                            // server's Retry-After is still honoured.
                            if !self.server_asked {
                                self.retry_at = None;
                            }
                        }
                        if now >= deadline {
                            self.give_up(&mut st);
                            return;
                        }
                        if self.held.is_empty() && st.lines == 0 && st.unreported_drops == 0 {
                            return;
                        }
                    }
                    if !self.held.is_empty() {
                        match self.retry_at {
                            Some(at) if at > now => {
                                let until = st.deadline.map_or(at, |d| d.min(at));
                                st = self.wait(st, until - now);
                                continue;
                            }
                            _ => break,
                        }
                    }
                    let due = st.send_now
                        || st.deadline.is_some()
                        || st.lines >= self.sink.batch_lines
                        || st.since.is_some_and(|t| now >= t + self.sink.max_delay);
                    if due && (st.lines > 0 || st.unreported_drops > 0) {
                        let batch = self.take_batch(&mut st);
                        self.held.push_back(batch);
                        st.in_flight = true;
                        break;
                    }
                    if st.lines == 0 {
                        st.send_now = false;
                    }
                    let wait = match (st.since, st.deadline) {
                        (Some(t), _) if st.lines > 0 => (t + self.sink.max_delay)
                            .saturating_duration_since(now)
                            .max(Duration::from_millis(1)),
                        (_, Some(d)) => d.saturating_duration_since(now),
                        _ => Duration::from_secs(3600),
                    };
                    st = self.wait(st, wait);
                }
            }
            self.attempt();
        }
    }

    fn wait<'g>(&self, st: MutexGuard<'g, State>, timeout: Duration) -> MutexGuard<'g, State> {
        self.sink
            .work
            .wait_timeout(st, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// Cuts the next batch off the buffer, with a `loupe_dropped` line when
    /// lines were dropped since the last report.
    fn take_batch(&self, st: &mut State) -> Batch {
        let (end, lines) = cut_after_lines(&st.pending, self.sink.batch_lines, MAX_BATCH_BYTES);
        let rest = st.pending.split_off(end);
        let mut body = std::mem::replace(&mut st.pending, rest);
        st.lines -= lines;
        if st.lines == 0 {
            st.since = None;
            st.send_now = false;
        } else {
            st.since = Some(Instant::now());
        }
        let reported_drops = std::mem::take(&mut st.unreported_drops);
        if reported_drops > 0 {
            self.append_drop_report(&mut body, reported_drops);
        }
        // The writer may wait for the room just made.
        self.sink.progress.notify_all();
        Batch {
            body,
            lines,
            reported_drops,
            attempts: 0,
        }
    }

    fn append_drop_report(&self, body: &mut Vec<u8>, dropped: u64) {
        let message = if self.sink.write_file {
            "the recorder could not send these events to the server (buffer full or server refused them); the local trace file has them"
        } else {
            "the recorder could not send these events to the server (buffer full or server refused them)"
        };
        let ev = self.core.dropped_event(dropped, message);
        if serde_json::to_writer(&mut *body, &ev).is_ok() {
            body.push(b'\n');
        }
    }

    /// Sends the front batch once and acts on the answer.
    fn attempt(&mut self) {
        let Some(batch) = self.held.front_mut() else {
            return;
        };
        let answer = post(
            &self.agent,
            &self.sink.url,
            self.sink.authorization.as_deref(),
            &batch.body,
        );
        let mut st = self.sink.lock();
        st.unreachable = answer.status.is_none();
        let verdict = answer.status.map_or(Verdict::Retry, verdict);
        match verdict {
            Verdict::Delivered => {
                self.core
                    .counters
                    .sent
                    .fetch_add(batch.lines as u64, Relaxed);
                self.held.pop_front();
                self.retry_at = None;
                self.server_asked = false;
            }
            Verdict::Retry => {
                batch.attempts = batch.attempts.saturating_add(1);
                let asked = answer
                    .retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                self.server_asked = asked.is_some();
                let wait = match asked {
                    // "Retry-After: 0" must not turn into a busy loop.
                    Some(w) => w.max(INITIAL_BACKOFF / 2),
                    // Stopping: keep trying briskly until the deadline.
                    None if st.deadline.is_some() => INITIAL_BACKOFF,
                    None => backoff(batch.attempts, random_u64()),
                };
                self.retry_at = Some(Instant::now() + wait);
            }
            Verdict::Split if batch.lines > 1 => {
                if let Some(batch) = self.held.pop_front() {
                    let (first, second) = split(batch);
                    self.held.push_front(second);
                    self.held.push_front(first);
                }
                self.retry_at = None;
            }
            Verdict::Split | Verdict::Reject => {
                if !self.logged_refusal {
                    self.logged_refusal = true;
                    eprintln!(
                        "loupe: {} refused a batch of {} events ({}): {}; they are dropped and counted (later refusals are not logged)",
                        self.sink.url,
                        batch.lines,
                        answer.status.unwrap_or(0),
                        answer.message.trim()
                    );
                }
                self.core
                    .counters
                    .undelivered
                    .fetch_add(batch.lines as u64, Relaxed);
                st.unreported_drops += batch.lines as u64 + batch.reported_drops;
                self.held.pop_front();
                self.retry_at = None;
                self.server_asked = false;
            }
        }
        st.in_flight = !self.held.is_empty();
        drop(st);
        self.sink.progress.notify_all();
    }

    /// The deadline passed: everything still held or pending is undelivered.
    fn give_up(&mut self, st: &mut State) {
        let held: usize = self.held.drain(..).map(|b| b.lines).sum();
        let lost = (held + st.lines) as u64;
        self.core.counters.undelivered.fetch_add(lost, Relaxed);
        st.pending = Vec::new();
        st.lines = 0;
        st.since = None;
        st.in_flight = false;
    }
}

/// Splits a batch's lines in two halves (its drop report stays in the second).
fn split(batch: Batch) -> (Batch, Batch) {
    let (end, lines) = cut_after_lines(&batch.body, batch.lines / 2, usize::MAX);
    let mut first = batch.body;
    let second = first.split_off(end);
    (
        Batch {
            body: first,
            lines,
            reported_drops: 0,
            attempts: 0,
        },
        Batch {
            body: second,
            lines: batch.lines - lines,
            reported_drops: batch.reported_drops,
            attempts: 0,
        },
    )
}

/// What the server said: a status (`None`: no answer at all), `Retry-After`
/// and the start of the body for the log.
struct Answer {
    status: Option<u16>,
    retry_after: Option<String>,
    message: String,
}

/// Longest server message quoted in the log.
const MAX_MESSAGE: u64 = 500;

fn post(agent: &ureq::Agent, url: &str, authorization: Option<&str>, lines: &[u8]) -> Answer {
    let mut gz = GzEncoder::new(
        Vec::with_capacity(lines.len() / 8 + 64),
        Compression::fast(),
    );
    let body = match gz.write_all(lines).and_then(|()| gz.finish()) {
        Ok(body) => body,
        Err(e) => {
            return Answer {
                status: None,
                retry_after: None,
                message: e.to_string(),
            }
        }
    };
    let mut request = agent
        .post(url)
        .set("Content-Type", "application/x-ndjson")
        .set("Content-Encoding", "gzip");
    if let Some(auth) = authorization {
        request = request.set("Authorization", auth);
    }
    let response = match request.send_bytes(&body) {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(t)) => {
            return Answer {
                status: None,
                retry_after: None,
                message: t.to_string(),
            }
        }
    };
    let status = response.status();
    let retry_after = response.header("Retry-After").map(str::to_owned);
    let mut message = String::new();
    // Reading the body lets the connection be reused.
    let _ = response
        .into_reader()
        .take(MAX_MESSAGE)
        .read_to_string(&mut message);
    Answer {
        status: Some(status),
        retry_after,
        message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        // A date in the past means "now"; huge values are capped.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempt in 1..=20 {
            let full = INITIAL_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            for random in [0, 1, 12_345, u64::MAX] {
                let d = backoff(attempt, random);
                assert!(
                    d >= full / 2 && d <= full,
                    "attempt {attempt}: {d:?} vs {full:?}"
                );
            }
        }
        assert_eq!(backoff(1, 0), Duration::from_millis(50));
        assert_eq!(backoff(2, 0), Duration::from_millis(100));
        assert_eq!(backoff(30, 0), MAX_BACKOFF / 2);
        // Jitter spreads clients apart.
        assert_ne!(backoff(3, 1), backoff(3, 100_000_000));
    }

    #[test]
    fn statuses_map_to_retry_split_or_reject() {
        assert_eq!(verdict(200), Verdict::Delivered);
        for s in [408, 429, 502, 503, 504] {
            assert_eq!(verdict(s), Verdict::Retry, "{s}");
        }
        assert_eq!(verdict(413), Verdict::Split);
        for s in [400, 401, 403, 404, 500] {
            assert_eq!(verdict(s), Verdict::Reject, "{s}");
        }
    }

    #[test]
    fn batches_are_cut_at_line_ends() {
        let text = b"a\nbb\nccc\n";
        assert_eq!(cut_after_lines(text, 2, usize::MAX), (5, 2));
        assert_eq!(cut_after_lines(text, 9, usize::MAX), (9, 3));
        // The byte cap stops early but always keeps one line.
        assert_eq!(cut_after_lines(text, 9, 4), (2, 1));
        assert_eq!(cut_after_lines(text, 9, 1), (2, 1));
        let (a, b) = split(Batch {
            body: text.to_vec(),
            lines: 3,
            reported_drops: 4,
            attempts: 2,
        });
        assert_eq!(
            (a.body.as_slice(), a.lines, a.reported_drops),
            (&b"a\n"[..], 1, 0)
        );
        assert_eq!(
            (b.body.as_slice(), b.lines, b.reported_drops),
            (&b"bb\nccc\n"[..], 2, 4)
        );
    }
}
