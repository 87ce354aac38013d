//! Crash safety: a registry of live recorders flushed from a panic hook
//! (chained to the previous hook) and from an `atexit` handler, so a panic,
//! `std::process::exit` or returning from `main` with a session still open
//! (leaked, stored in a static) loses nothing. Sessions are not ended there:
//! the trace honestly shows no `session_end`.
//!
//! At exit, recorders with an HTTP endpoint also get up to their
//! `http_shutdown_timeout` (one shared deadline) to deliver what is pending.
//!
//! Rust runs no destructors for statics and `process::exit` skips those of
//! locals, hence the C `atexit` hook; it is the one `unsafe` call of the crate.

use std::sync::{Arc, Mutex, Once, Weak};
use std::time::Instant;

use crate::recorder::{Core, FLUSH_TIMEOUT};

static LIVE: Mutex<Vec<Weak<Core>>> = Mutex::new(Vec::new());
static PANIC_HOOK: Once = Once::new();
static AT_EXIT: Once = Once::new();

/// Adds a recorder to the registry and installs the hooks it asks for.
pub(crate) fn register(core: &Arc<Core>) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(core));
    }
    if core.config.flush_on_panic {
        PANIC_HOOK.call_once(install_panic_hook);
    }
    if core.config.flush_at_exit {
        AT_EXIT.call_once(install_at_exit);
    }
}

/// Flushes every live recorder and waits for them, at most 5 s in all (a
/// recorder whose trace write hangs is not waited for longer). Call it
/// before `std::process::exit` on platforms without `atexit`, or to be
/// explicit; sessions stay open. Returns how many recorders confirmed.
pub fn shutdown() -> usize {
    flush_all_live(|_| true)
}

fn flush_all_live(select: impl Fn(&Core) -> bool) -> usize {
    // `try_lock`: a panic while the registry is locked must not deadlock.
    let live: Vec<Arc<Core>> = match LIVE.try_lock() {
        Ok(live) => live.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return 0,
    };
    // Every writer is asked first, then all are awaited until one deadline:
    // one hung writer costs the wait once, not once per recorder.
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    let asked: Vec<_> = live
        .iter()
        .filter(|c| select(c))
        .map(|c| (c, c.request_flush(deadline)))
        .collect();
    asked
        .into_iter()
        .filter(|(c, ack)| {
            ack.as_ref()
                .is_some_and(|ack| c.confirm_flush(ack, deadline))
        })
        .count()
}

thread_local! {
    /// The last panic of this thread, as the hook saw it: what guards and
    /// sessions dropped while unwinding record as their error.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Why this thread is unwinding (`panicked at src/agent.rs:12:5: boom`),
/// when the panic hook saw it; plain `panicked` otherwise.
pub(crate) fn panic_reason() -> String {
    LAST_PANIC
        .try_with(|p| p.borrow().clone())
        .ok()
        .flatten()
        .unwrap_or_else(|| "panicked".to_owned())
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("");
        let mut reason = match info.location() {
            Some(at) => format!("panicked at {}:{}:{}", at.file(), at.line(), at.column()),
            None => "panicked".to_owned(),
        };
        if !message.is_empty() {
            reason.push_str(": ");
            reason.extend(message.chars().take(500));
        }
        let _ = LAST_PANIC.try_with(|p| {
            if let Ok(mut slot) = p.try_borrow_mut() {
                *slot = Some(reason);
            }
        });
        flush_all_live(|c| c.config.flush_on_panic);
        previous(info);
    }));
}

/// Gives every live recorder's HTTP sink until one shared deadline (the
/// longest `http_shutdown_timeout` among them) to deliver what is pending.
fn drain_http_senders(select: impl Fn(&Core) -> bool) {
    let live: Vec<Arc<Core>> = match LIVE.try_lock() {
        Ok(live) => live.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return,
    };
    let senders: Vec<&Arc<Core>> = live
        .iter()
        .filter(|c| c.http.is_some() && select(c))
        .collect();
    let Some(longest) = senders.iter().map(|c| c.config.http_shutdown_timeout).max() else {
        return;
    };
    let deadline = Instant::now() + longest;
    for core in senders {
        core.wait_http_idle(deadline);
    }
}

extern "C" fn flush_at_exit() {
    // Unwinding out of an `extern "C"` function aborts; never let it.
    let _ = std::panic::catch_unwind(|| {
        flush_all_live(|c| c.config.flush_at_exit);
        drain_http_senders(|c| c.config.flush_at_exit);
    });
}

#[allow(unsafe_code)]
fn install_at_exit() {
    // SAFETY: `flush_at_exit` is a plain `extern "C" fn()` without captured
    // state that never unwinds; `atexit` only stores the pointer and calls it
    // once during `exit`, while the writer threads still run.
    let _ = unsafe { libc::atexit(flush_at_exit) };
}
