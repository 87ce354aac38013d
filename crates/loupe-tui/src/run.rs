//! The event loop: owns the terminal, turns key presses into [`App`] updates
//! and polls a [`Feed`] for fresh data about once a second.

use std::time::{Duration, Instant};

use loupe_analyze::SessionAnalysis;
use ratatui::crossterm::event::{self, Event};

use crate::app::{Action, App};

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

/// Runs the dashboard until the user quits. The terminal is restored on
/// return and on panic (ratatui's `init` installs a restoring panic hook).
pub fn run(app: &mut App, feed: &mut dyn Feed, refresh: Duration) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, app, feed, refresh);
    ratatui::try_restore()?;
    result
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    feed: &mut dyn Feed,
    refresh: Duration,
) -> std::io::Result<()> {
    let mut last_poll = Instant::now();
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|frame| {
                app.set_page_height(crate::ui::page_height(frame.area().height));
                crate::ui::draw(frame, app);
            })?;
            dirty = false;
        }
        let wait = refresh.saturating_sub(last_poll.elapsed());
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(key) => match app.handle_key(key) {
                    Action::Quit => return Ok(()),
                    Action::Redraw => dirty = true,
                    Action::None => {}
                },
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        if last_poll.elapsed() >= refresh {
            last_poll = Instant::now();
            match feed.poll() {
                Ok(Some(fresh)) => {
                    app.set_sessions(fresh);
                    app.set_status(feed.warning());
                    dirty = true;
                }
                Ok(None) => {}
                Err(message) => {
                    app.set_status(Some(message));
                    dirty = true;
                }
            }
        }
    }
}
