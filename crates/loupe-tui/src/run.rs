//! The event loop: owns the terminal, turns key presses into [`App`]
//! updates, and takes fresh data from a [`Feed`] polled on its own thread
//! about once a second, so a slow reload (a large file growing) never holds
//! up a key press. SIGTERM, SIGHUP and SIGINT end the loop like `q` does, so
//! the terminal is restored rather than left raw.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use loupe_analyze::SessionAnalysis;
use ratatui::crossterm::event::{self, Event};

use crate::app::{Action, App, SessionView};

/// Where the dashboard's sessions come from (trace files, a store...).
pub trait Feed {
    /// Fresh analyses when the underlying data changed since the last call,
    /// `None` when nothing changed, or a one-line error for the footer.
    fn poll(&mut self) -> Result<Option<Vec<SessionAnalysis>>, String>;

    /// A warning about the last successful poll (unreadable files, skipped
    /// lines) for the footer; `None` when all was well.
    fn warning(&self) -> Option<String> {
        None
    }
}

/// The dashboard over the feed's first poll, with that poll's warning (a
/// skipped line, a capped session list) in the footer from the start.
pub fn first_load(feed: &mut dyn Feed) -> Result<App, String> {
    let initial = feed.poll()?.unwrap_or_default();
    let mut app = App::new(initial);
    app.set_status(feed.warning());
    Ok(app)
}

/// How the dashboard ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The user quit (`q`, `Esc`, `Ctrl-C`).
    Quit,
    /// A signal (its number) asked the process to end.
    Signal(i32),
}

impl Exit {
    /// The conventional exit status: 0, or 128 + the signal's number.
    pub fn status(self) -> u8 {
        match self {
            Exit::Quit => 0,
            Exit::Signal(n) => u8::try_from(128 + n).unwrap_or(u8::MAX),
        }
    }
}

/// How long a reload runs before the footer says `loading…` (the quick
/// check for changes every second should not flash it).
const LOADING_HINT_AFTER: Duration = Duration::from_millis(250);

/// How often the loop looks at the feed's results and at signals while no
/// key arrives.
const TICK: Duration = Duration::from_millis(50);

/// Runs the dashboard until the user quits or a terminating signal
/// arrives; the feed is polled every `refresh` on a thread of its own. The
/// terminal is restored on return, on a signal, and on panic (ratatui's
/// `init` installs a restoring panic hook).
pub fn run(app: &mut App, feed: Box<dyn Feed + Send>, refresh: Duration) -> std::io::Result<Exit> {
    let signals = SignalWatch::new()?;
    signals.backstop()?;
    let loader = Loader::spawn(feed, refresh);
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, app, &loader, &signals);
    let restored = ratatui::try_restore();
    let exit = result?;
    // After SIGHUP the terminal is gone: failing to restore it is expected.
    if exit == Exit::Quit {
        restored?;
    }
    Ok(exit)
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    loader: &Loader,
    signals: &SignalWatch,
) -> std::io::Result<Exit> {
    let mut dirty = true;
    loop {
        if let Some(signal) = signals.received() {
            return Ok(Exit::Signal(signal));
        }
        dirty |= loader.apply(app);
        if dirty {
            terminal.draw(|frame| {
                app.set_screen_height(frame.area().height);
                crate::ui::draw(frame, app);
            })?;
            dirty = false;
        }
        if event::poll(TICK)? {
            match event::read()? {
                Event::Key(key) => match app.handle_key(key) {
                    Action::Quit => return Ok(Exit::Quit),
                    Action::Redraw => dirty = true,
                    Action::None => {}
                },
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
}

/// What a poll of the feed brought.
enum Loaded {
    /// Changed data (its views built off the UI thread) and the feed's warning.
    Fresh(Vec<SessionView>, Option<String>),
    /// The poll failed: the last data stays, the footer says why.
    Failed(String),
}

/// The feed's thread: one poll at a time (a reload that takes longer than
/// the refresh interval is followed by one more, never by a queue of them),
/// results handed over a channel the UI drains without waiting.
struct Loader {
    results: Receiver<Loaded>,
    /// When the poll under way started; `None` between polls.
    busy_since: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl Loader {
    fn spawn(mut feed: Box<dyn Feed + Send>, refresh: Duration) -> Loader {
        let (sender, results) = mpsc::channel();
        let busy_since = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (busy, stopped) = (Arc::clone(&busy_since), Arc::clone(&stop));
        // Not joined: a reload under way when the user quits would hold the
        // exit up; the thread ends at its next poll or with the process.
        std::thread::spawn(move || loop {
            std::thread::sleep(refresh);
            if stopped.load(Ordering::Relaxed) {
                return;
            }
            set_busy(&busy, Some(Instant::now()));
            let loaded = match feed.poll() {
                Ok(None) => None,
                Ok(Some(analyses)) => Some(Loaded::Fresh(
                    analyses.into_iter().map(SessionView::new).collect(),
                    feed.warning(),
                )),
                Err(message) => Some(Loaded::Failed(message)),
            };
            set_busy(&busy, None);
            if let Some(loaded) = loaded {
                if sender.send(loaded).is_err() {
                    return;
                }
            }
        });
        Loader {
            results,
            busy_since,
            stop,
        }
    }

    /// Whether a poll has been running long enough to say so.
    fn loading(&self) -> bool {
        let since = *self
            .busy_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        since.is_some_and(|t| t.elapsed() >= LOADING_HINT_AFTER)
    }

    /// Applies what the feed brought since the last call (only the newest
    /// data counts) and the loading hint; whether anything changed.
    fn apply(&self, app: &mut App) -> bool {
        let mut changed = false;
        loop {
            match self.results.try_recv() {
                Ok(Loaded::Fresh(views, warning)) => {
                    app.set_views(views);
                    app.set_status(warning);
                }
                Ok(Loaded::Failed(message)) => app.set_status(Some(message)),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
            changed = true;
        }
        let loading = self.loading();
        if loading != app.loading() {
            app.set_loading(loading);
            changed = true;
        }
        changed
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn set_busy(busy: &Mutex<Option<Instant>>, value: Option<Instant>) {
    *busy.lock().unwrap_or_else(PoisonError::into_inner) = value;
}

/// How long the event loop has, after a terminating signal, to end the
/// dashboard itself before the process is ended for it.
const SIGNAL_GRACE: Duration = Duration::from_secs(1);

/// Signals that end the dashboard. SIGINT too: in raw mode Ctrl-C is a key,
/// but `kill -INT` still arrives as a signal.
#[cfg(unix)]
const TERMINATING: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
];
#[cfg(not(unix))]
const TERMINATING: [i32; 2] = [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT];

/// Notes a terminating signal for the event loop instead of dying with the
/// terminal in raw mode. A second one while the first is being handled
/// ends the process at once (a loop that no longer answers can still be
/// stopped).
struct SignalWatch {
    /// The last signal received; 0 for none.
    received: Arc<AtomicUsize>,
}

impl SignalWatch {
    fn new() -> std::io::Result<SignalWatch> {
        let received = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        for signal in TERMINATING {
            // Registered first, so it sees the flag as the earlier signal left it.
            let status = 128 + signal;
            signal_hook::flag::register_conditional_shutdown(signal, status, Arc::clone(&seen))?;
            signal_hook::flag::register(signal, Arc::clone(&seen))?;
            let number = usize::try_from(signal).unwrap_or_default();
            signal_hook::flag::register_usize(signal, Arc::clone(&received), number)?;
        }
        Ok(SignalWatch { received })
    }

    /// Ends the process within [`SIGNAL_GRACE`] of a terminating signal,
    /// whatever the event loop is doing. The loop looks at the flag every
    /// tick, but a terminal that hung up (its tmux or ssh session closed:
    /// SIGHUP) can keep it inside crossterm's read of that terminal for
    /// good, reading end-of-file at full speed.
    fn backstop(&self) -> std::io::Result<()> {
        let watched = Arc::clone(&self.received);
        std::thread::Builder::new()
            .name("loupe-tui-signals".into())
            .spawn(move || loop {
                std::thread::sleep(TICK);
                let signal = watched.load(Ordering::Relaxed);
                if signal != 0 {
                    std::thread::sleep(SIGNAL_GRACE);
                    ratatui::restore();
                    let status = i32::try_from(signal).map_or(1, |s| 128 + s);
                    std::process::exit(status);
                }
            })?;
        Ok(())
    }

    /// The terminating signal received, if any.
    fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::Relaxed) {
            0 => None,
            n => i32::try_from(n).ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Synthetic;

    /// A feed that answers from a script, one answer per poll.
    struct Scripted {
        answers: Vec<Result<Option<Vec<SessionAnalysis>>, String>>,
        warning: Option<String>,
    }

    impl Feed for Scripted {
        fn poll(&mut self) -> Result<Option<Vec<SessionAnalysis>>, String> {
            if self.answers.is_empty() {
                return Ok(None);
            }
            self.answers.remove(0)
        }

        fn warning(&self) -> Option<String> {
            self.warning.clone()
        }
    }

    #[test]
    fn the_first_loads_warning_is_in_the_footer_from_the_start() {
        let mut feed = Scripted {
            answers: vec![Ok(Some(vec![Synthetic::new("a", 1).analysis()]))],
            warning: Some("1 malformed record(s) skipped, first: x.jsonl:3".to_owned()),
        };
        let app = first_load(&mut feed).unwrap();
        assert_eq!(app.sessions().len(), 1);
        assert_eq!(
            app.status(),
            Some("1 malformed record(s) skipped, first: x.jsonl:3")
        );
        let mut failing = Scripted {
            answers: vec![Err("unreadable".to_owned())],
            warning: None,
        };
        assert_eq!(
            first_load(&mut failing).err().as_deref(),
            Some("unreadable")
        );
    }

    /// Waits (up to 5 s) until `done` says the loader delivered.
    fn pump(loader: &Loader, app: &mut App, done: impl Fn(&App) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(app) {
            loader.apply(app);
            assert!(Instant::now() < deadline, "the loader delivered nothing");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_feed_is_polled_off_the_ui_thread_and_its_results_applied() {
        let feed = Scripted {
            answers: vec![
                Ok(Some(vec![
                    Synthetic::new("a", 1).analysis(),
                    Synthetic::new("b", 2).analysis(),
                ])),
                Err("server gone".to_owned()),
            ],
            warning: Some("the server has more".to_owned()),
        };
        let mut app = App::new(Vec::new());
        let loader = Loader::spawn(Box::new(feed), Duration::from_millis(1));
        pump(&loader, &mut app, |app| app.sessions().len() == 2);
        pump(&loader, &mut app, |app| app.status() == Some("server gone"));
        assert_eq!(app.sessions().len(), 2, "a failed poll keeps the data");
    }

    /// A feed whose every poll takes a while and counts itself.
    struct Slow {
        polls: Arc<AtomicUsize>,
        running: Arc<AtomicUsize>,
        most_running: Arc<AtomicUsize>,
    }

    impl Feed for Slow {
        fn poll(&mut self) -> Result<Option<Vec<SessionAnalysis>>, String> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_running.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(400));
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.polls.fetch_add(1, Ordering::SeqCst);
            Ok(Some(vec![Synthetic::new("a", 1).analysis()]))
        }
    }

    #[test]
    fn a_slow_reload_shows_loading_and_reloads_never_overlap() {
        let polls = Arc::new(AtomicUsize::new(0));
        let most_running = Arc::new(AtomicUsize::new(0));
        let feed = Slow {
            polls: Arc::clone(&polls),
            running: Arc::new(AtomicUsize::new(0)),
            most_running: Arc::clone(&most_running),
        };
        let mut app = App::new(Vec::new());
        // Polls due every millisecond, each taking 400 ms.
        let loader = Loader::spawn(Box::new(feed), Duration::from_millis(1));
        pump(&loader, &mut app, App::loading);
        assert!(
            app.sessions().is_empty(),
            "the old data stays while loading"
        );
        pump(&loader, &mut app, |app| app.sessions().len() == 1);
        pump(&loader, &mut app, |_| polls.load(Ordering::SeqCst) >= 3);
        assert_eq!(most_running.load(Ordering::SeqCst), 1);
        drop(loader);
    }

    #[test]
    fn a_terminating_signal_is_noted_for_the_loop() {
        let watch = SignalWatch::new().unwrap();
        assert_eq!(watch.received(), None);
        signal_hook::low_level::raise(signal_hook::consts::SIGHUP).unwrap();
        assert_eq!(watch.received(), Some(signal_hook::consts::SIGHUP));
        assert_eq!(Exit::Signal(signal_hook::consts::SIGHUP).status(), 129);
        assert_eq!(Exit::Signal(signal_hook::consts::SIGTERM).status(), 143);
        assert_eq!(Exit::Quit.status(), 0);
    }
}
