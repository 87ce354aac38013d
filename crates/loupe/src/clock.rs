//! Where timestamps come from: the system clock, or a manual clock that tests
//! and the demo advance by hand so their traces are byte-for-byte reproducible.

use std::sync::atomic::{AtomicI64, Ordering};

use loupe_model::Timestamp;

/// A source of event timestamps. Durations of guards are differences of two
/// readings, so a manual clock also makes durations deterministic.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock (`SystemTime`), microsecond resolution.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to. Shareable between threads.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            micros: AtomicI64::new(start.as_micros()),
        }
    }

    /// Moves the clock forward by `ms` milliseconds (fractions kept to the µs).
    pub fn advance_ms(&self, ms: f64) {
        let micros = (ms * 1000.0).round();
        if micros.is_finite() && micros > 0.0 {
            self.micros.fetch_add(micros as i64, Ordering::Relaxed);
        }
    }

    /// Sets the clock to `t`.
    pub fn set(&self, t: Timestamp) {
        self.micros.store(t.as_micros(), Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.micros.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let c = ManualClock::new(Timestamp(1_000));
        assert_eq!(c.now(), Timestamp(1_000));
        c.advance_ms(2.5);
        assert_eq!(c.now(), Timestamp(3_500));
        c.advance_ms(-4.0);
        assert_eq!(c.now(), Timestamp(3_500));
    }
}
