//! Benchmark of the dashboard on a 200,000-event session: time to first
//! frame and per-keystroke redraw, drawn into ratatui's `TestBackend` (no
//! terminal I/O, so it measures Loupe's work). Run with
//! `cargo run --release -p loupe-tui --example tui_bench`; results are in
//! docs/benchmarks.md ("TUI (issue 7)").
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use loupe_tui::testing::Synthetic;
use loupe_tui::App;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

fn draw(terminal: &mut Terminal<TestBackend>, app: &mut App) {
    let height = terminal.size().unwrap().height;
    app.set_screen_height(height);
    terminal.draw(|f| loupe_tui::ui::draw(f, app)).unwrap();
}

/// Mean and worst time of `presses` presses of `code`, each followed by a redraw.
fn keystrokes(
    terminal: &mut Terminal<TestBackend>,
    app: &mut App,
    code: KeyCode,
    presses: u32,
) -> (Duration, Duration) {
    let mut total = Duration::ZERO;
    let mut worst = Duration::ZERO;
    for _ in 0..presses {
        let t = Instant::now();
        app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
        draw(terminal, app);
        let took = t.elapsed();
        total += took;
        worst = worst.max(took);
    }
    (total / presses, worst)
}

fn main() {
    let mut synthetic = Synthetic::new("bench", 20_000);
    synthetic.tools_per_iteration = 3;
    synthetic.fail_every = 50;
    let events = synthetic.event_count();

    let t = Instant::now();
    let session = synthetic.session();
    let built = t.elapsed();
    let t = Instant::now();
    let analysis = loupe_analyze::analyze(&session, &loupe_tui::testing::config());
    let analysed = t.elapsed();
    println!("events: {events}");
    println!("build events: {built:?}   analyze: {analysed:?}");

    for (w, h) in [(80u16, 24u16), (200, 60)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        let t = Instant::now();
        let mut app = App::new(vec![analysis.clone()]);
        draw(&mut terminal, &mut app);
        let first = t.elapsed();
        let open = keystrokes(&mut terminal, &mut app, KeyCode::Enter, 1).0;
        println!(
            "{w}x{h}: App::new + first frame (browser): {first:?}   Enter (summary): {open:?}"
        );
        for (tab, name) in [
            (KeyCode::Char('2'), "timeline"),
            (KeyCode::Char('3'), "tree"),
        ] {
            let switch = keystrokes(&mut terminal, &mut app, tab, 1).0;
            let (down, down_worst) = keystrokes(&mut terminal, &mut app, KeyCode::Down, 2_000);
            let (page, page_worst) = keystrokes(&mut terminal, &mut app, KeyCode::PageDown, 500);
            let end = keystrokes(&mut terminal, &mut app, KeyCode::End, 1).0;
            let home = keystrokes(&mut terminal, &mut app, KeyCode::Home, 1).0;
            println!(
                "  {name}: switch {switch:?}; Down mean {down:?} (worst {down_worst:?}); \
                 PgDn mean {page:?} (worst {page_worst:?}); End {end:?}; Home {home:?}"
            );
        }
    }
}
