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

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use loupe_model::{keys, Event, EventKind};

use crate::recorder::Core;
use crate::sanitize::Sanitizer;

/// What travels from record calls to the writer.
pub(crate) enum Msg {
    /// An event to write when convenient (boxed: keeps queue slots small).
    Event(Box<Event>),
    /// An event to write, flush and fsync before answering on the channel.
    Durable(Box<Event>, Sender<()>),
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
    pub(crate) file: File,
    pub(crate) sanitizer: Sanitizer,
    pub(crate) buffer_size: usize,
    pub(crate) flush_interval: Duration,
    /// `Durability::EveryEvent`: also fsync when stopping.
    pub(crate) durable: bool,
}

impl Writer {
    /// The thread's body: runs until `Shutdown` or until every sender is gone.
    pub(crate) fn run(mut self) {
        ON_WRITER_THREAD.with(|w| w.set(true));
        let mut buf: Vec<u8> = Vec::with_capacity(self.buffer_size + 4096);
        let mut last_write = Instant::now();
        loop {
            let wait = self
                .flush_interval
                .saturating_sub(last_write.elapsed())
                .max(Duration::from_millis(1));
            match self.rx.recv_timeout(wait) {
                Ok(Msg::Event(ev)) => {
                    self.encode(*ev, &mut buf);
                    if buf.len() >= self.buffer_size {
                        self.write_out(&mut buf);
                        last_write = Instant::now();
                    }
                }
                Ok(Msg::Durable(ev, ack)) => {
                    self.encode(*ev, &mut buf);
                    self.write_out(&mut buf);
                    self.sync();
                    last_write = Instant::now();
                    let _ = ack.send(());
                }
                Ok(Msg::Flush(ack)) => {
                    self.report_drops(&mut buf);
                    self.write_out(&mut buf);
                    self.flush_file();
                    last_write = Instant::now();
                    let _ = ack.send(());
                }
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.core.pending_drops.load(Relaxed) > 0 {
                self.report_drops(&mut buf);
            }
            if last_write.elapsed() >= self.flush_interval {
                self.write_out(&mut buf);
                last_write = Instant::now();
            }
        }
        // Anything still queued (events sent before Shutdown are ahead of it,
        // but a Flush from another thread may follow) is written too.
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Event(ev) => self.encode(*ev, &mut buf),
                Msg::Durable(ev, ack) => {
                    self.encode(*ev, &mut buf);
                    self.write_out(&mut buf);
                    self.sync();
                    let _ = ack.send(());
                }
                Msg::Flush(ack) => {
                    self.write_out(&mut buf);
                    let _ = ack.send(());
                }
                Msg::Shutdown => {}
            }
        }
        self.report_drops(&mut buf);
        self.write_out(&mut buf);
        if self.durable {
            self.sync();
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

    /// Writes a `loupe_dropped` event when record calls dropped events.
    fn report_drops(&self, buf: &mut Vec<u8>) {
        let dropped = self.core.pending_drops.swap(0, Relaxed);
        if dropped == 0 {
            return;
        }
        let ev = Event::new(
            self.core.ids.next(),
            EventKind::Dropped,
            self.core.clock.now(),
            self.core.session_id.clone(),
        )
        .with(keys::DROPPED, dropped)
        .with(
            keys::MESSAGE,
            "the recorder's queue was full; events were dropped",
        );
        self.encode(ev, buf);
    }

    fn write_out(&mut self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        if self.file.write_all(buf).is_err() {
            self.core.counters.write_errors.fetch_add(1, Relaxed);
        }
        buf.clear();
    }

    fn flush_file(&mut self) {
        if self.file.flush().is_err() {
            self.core.counters.write_errors.fetch_add(1, Relaxed);
        }
    }

    fn sync(&mut self) {
        self.flush_file();
        if self.file.sync_data().is_err() {
            self.core.counters.write_errors.fetch_add(1, Relaxed);
        }
    }
}
