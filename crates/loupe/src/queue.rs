//! The bounded queue between record calls and the writer thread: a `Vec`
//! behind a mutex that the writer swaps out whole.
//!
//! Why not a channel of boxed messages: at a million events a second the
//! writer's time went to cache misses on each message's own heap block and
//! to freeing blocks that another thread allocated (glibc's `free` of a
//! foreign chunk). Here messages sit inline and back to back, the writer
//! takes a whole batch with one lock and reads it front to back (which the
//! prefetcher follows), and the two `Vec`s are reused, so steady recording
//! allocates nothing. Record calls hold the lock only to move one message in.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Why a message was not queued; the message comes back.
pub(crate) enum Refused<T> {
    /// The queue holds `capacity` messages (or stayed full until the deadline).
    Full(T),
    /// The writer has stopped.
    Closed(T),
}

struct State<T> {
    items: Vec<T>,
    /// Callers waiting for room, so the writer signals only when someone waits
    /// (a condvar signal is a syscall even with no waiter).
    blocked: usize,
    closed: bool,
}

/// A multi-producer, single-consumer bounded queue (see the module docs).
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    room: Condvar,
    capacity: usize,
}

/// Room for this many messages is always kept between batches; more only
/// while batches need it (see [`Queue::take_all`]).
const KEEP_CAPACITY: usize = 4096;

impl<T> Queue<T> {
    /// A queue holding at most `capacity` messages (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                items: Vec::new(),
                blocked: 0,
                closed: false,
            }),
            room: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// A poisoned lock only means a thread panicked while moving a message
    /// in; the `Vec` is still consistent, so recording carries on.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `item` if there is room. Returns the queue length after it.
    pub(crate) fn try_push(&self, item: T) -> Result<usize, Refused<T>> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed(item));
        }
        if state.items.len() >= self.capacity {
            return Err(Refused::Full(item));
        }
        state.items.push(item);
        Ok(state.items.len())
    }

    /// Queues `item`, waiting for room at most `wait`. Gives the item back
    /// on timeout ([`Refused::Full`]) or when the writer has stopped.
    pub(crate) fn push_timeout(&self, item: T, wait: Duration) -> Result<(), Refused<T>> {
        let deadline = Instant::now().checked_add(wait);
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(Refused::Closed(item));
            }
            if state.items.len() < self.capacity {
                state.items.push(item);
                return Ok(());
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => wait,
            };
            if left.is_zero() {
                return Err(Refused::Full(item));
            }
            state.blocked += 1;
            state = match self.room.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            state.blocked -= 1;
        }
    }

    /// Moves every queued message into `batch` (empty on entry; its
    /// allocation becomes the queue's next buffer) and wakes blocked callers.
    ///
    /// `last_taken` is how many messages `batch` held last time: its room is
    /// kept while batches are that large (in a flood, the queue would
    /// otherwise regrow from nothing each time, copying and faulting in
    /// fresh pages under the lock) and given back once they shrink, so a
    /// burst does not pin its peak memory for the rest of the session.
    ///
    /// Returns whether the queue is closed.
    pub(crate) fn take_all(&self, batch: &mut Vec<T>, last_taken: usize) -> bool {
        debug_assert!(batch.is_empty());
        let keep = last_taken.saturating_mul(2).max(KEEP_CAPACITY);
        if batch.capacity() > keep {
            batch.shrink_to(keep);
        }
        let mut state = self.lock();
        std::mem::swap(&mut state.items, batch);
        if state.blocked > 0 {
            self.room.notify_all();
        }
        state.closed
    }

    /// Refuses every later message and hands over those still queued.
    pub(crate) fn close(&self) -> Vec<T> {
        let mut state = self.lock();
        state.closed = true;
        self.room.notify_all();
        std::mem::take(&mut state.items)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_full_queue_refuses_then_takes_again_once_drained() {
        let q = Queue::new(2);
        assert_eq!(q.try_push(1).ok(), Some(1));
        assert_eq!(q.try_push(2).ok(), Some(2));
        assert!(matches!(q.try_push(3), Err(Refused::Full(3))));
        assert!(matches!(
            q.push_timeout(3, Duration::from_millis(5)),
            Err(Refused::Full(3))
        ));
        let mut batch = Vec::new();
        q.take_all(&mut batch, 0);
        assert_eq!(batch, [1, 2]);
        assert_eq!(q.try_push(3).ok(), Some(1));
    }

    #[test]
    fn a_blocked_push_proceeds_when_the_consumer_takes_the_batch() {
        let q = Arc::new(Queue::new(1));
        q.try_push(0).ok().unwrap();
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || q.push_timeout(1, Duration::from_secs(30)).is_ok())
        };
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let mut batch = Vec::new();
            q.take_all(&mut batch, 0);
            seen.extend(batch);
            std::thread::yield_now();
        }
        assert!(producer.join().unwrap());
        assert_eq!(seen, [0, 1]);
    }

    #[test]
    fn room_is_kept_while_batches_are_large_and_given_back_after() {
        let q = Queue::<u32>::new(100_000);
        let mut batch = Vec::with_capacity(50_000);
        q.take_all(&mut batch, 40_000);
        // Handed to the queue: the next `take_all` returns it.
        let mut other = Vec::new();
        q.take_all(&mut other, 0);
        assert!(other.capacity() >= 50_000, "{}", other.capacity());
        other.clear();
        q.take_all(&mut other, 10);
        let mut back = Vec::new();
        q.take_all(&mut back, 0);
        assert!(back.capacity() <= KEEP_CAPACITY, "{}", back.capacity());
    }

    #[test]
    fn a_closed_queue_hands_back_what_it_held_and_refuses_more() {
        let q = Queue::new(4);
        q.try_push("a").ok().unwrap();
        assert_eq!(q.close(), ["a"]);
        assert!(matches!(q.try_push("b"), Err(Refused::Closed("b"))));
        assert!(matches!(
            q.push_timeout("b", Duration::from_secs(1)),
            Err(Refused::Closed("b"))
        ));
    }
}
