//! Loupe's terminal dashboard (`loupe tui`): a session browser with sorting
//! and filtering, a detail view with Summary / Timeline / Tree / Tokens /
//! Issues tabs, a compare pane for two sessions and a keyboard help overlay.
//!
//! Architecture: [`App`] is pure state driven by [`App::handle_key`] (no
//! terminal, no I/O), [`ui::draw`] renders an `&App` into a ratatui frame,
//! and [`run()`] owns the terminal and the event loop, taking fresh
//! analyses from a [`Feed`] (files, a store...) polled on a thread of its
//! own for live refresh. Long lists
//! (timeline, span tree) are flattened once per session and only the rows
//! in view are rendered, so 200,000-event sessions redraw in constant time.
//!
//! The design follows attocode's Python trace dashboard (seed-formats.md
//! §2.10): same sort modes, tabs, efficiency colours and compare rows.

#![warn(missing_docs)]

mod app;
mod compare;
mod run;
#[doc(hidden)]
pub mod testing;
pub mod ui;

pub use app::{Action, App, Screen, SessionView, SortMode, Tab, TreeRow};
pub use compare::{compare_pane, ComparePane, CompareRow, Verdict};
pub use run::{first_load, run, Exit, Feed};
