//! Every dashboard view drawn through ratatui's `TestBackend` at 80×24, with
//! key handling driven through `App::handle_key`.
#![allow(clippy::unwrap_used)]

use loupe_tui::testing::Synthetic;
use loupe_tui::{App, Screen, Tab};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, codes: &[KeyCode]) {
    for &code in codes {
        app.handle_key(key(code));
    }
}

/// The screen as lines of text.
fn render(app: &mut App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    app.set_screen_height(height);
    terminal.draw(|f| loupe_tui::ui::draw(f, app)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

fn screen_text(app: &mut App) -> String {
    render(app, 80, 24).join("\n")
}

/// Three sessions: `alpha` (old, cheap, clean), `beta` (newest, 2 failures),
/// `gamma` (most iterations, most expensive).
fn three_sessions() -> App {
    let mut alpha = Synthetic::new("alpha", 2);
    alpha.start = loupe_model::Timestamp(1_790_000_000_000_000);
    let mut beta = Synthetic::new("beta", 3);
    beta.start = loupe_model::Timestamp(1_790_000_900_000_000);
    beta.fail_every = 2;
    beta.task = "fix the flaky test".to_owned();
    let mut gamma = Synthetic::new("gamma", 8);
    gamma.start = loupe_model::Timestamp(1_790_000_500_000_000);
    gamma.input_tokens = 50_000;
    App::new(vec![alpha.analysis(), beta.analysis(), gamma.analysis()])
}

fn order(app: &App) -> Vec<String> {
    app.visible_sessions()
        .map(|s| s.analysis.session_id.clone())
        .collect()
}

#[test]
fn browser_lists_sessions_newest_first_with_columns() {
    let mut app = three_sessions();
    assert_eq!(order(&app), ["beta", "gamma", "alpha"]);
    let text = screen_text(&mut app);
    assert!(
        text.contains("Loupe sessions  3 sessions  sort: newest"),
        "{text}"
    );
    assert!(text.contains("Session"), "{text}");
    assert!(text.contains("Iter"), "{text}");
    let lines = render(&mut app, 80, 24);
    let beta_row = lines.iter().position(|l| l.contains("beta")).unwrap();
    let gamma_row = lines.iter().position(|l| l.contains("gamma")).unwrap();
    assert!(beta_row < gamma_row);
    assert!(lines[beta_row].contains("completed"), "{}", lines[beta_row]);
    assert!(text.contains("q quit"), "{text}");
}

#[test]
fn sort_cycles_through_cost_efficiency_and_iterations() {
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Char('s')]);
    assert_eq!(app.sort(), loupe_tui::SortMode::Cost);
    assert_eq!(order(&app)[0], "gamma");
    assert!(screen_text(&mut app).contains("sort: cost"));
    press(&mut app, &[KeyCode::Char('s')]);
    assert_eq!(app.sort(), loupe_tui::SortMode::Efficiency);
    let effs: Vec<f64> = app
        .visible_sessions()
        .map(|s| s.analysis.efficiency_score)
        .collect();
    assert!(effs.windows(2).all(|w| w[0] >= w[1]), "{effs:?}");
    press(&mut app, &[KeyCode::Char('s')]);
    assert_eq!(order(&app)[0], "gamma");
    assert!(screen_text(&mut app).contains("sort: iterations"));
}

#[test]
fn filter_narrows_the_list_and_esc_clears_it() {
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Char('/')]);
    for c in "FLAKY".chars() {
        press(&mut app, &[KeyCode::Char(c)]);
    }
    assert!(app.editing_filter());
    let text = screen_text(&mut app);
    assert!(text.contains("Filter: FLAKY"), "{text}");
    assert!(text.contains("1/3 sessions"), "{text}");
    assert_eq!(order(&app), ["beta"]);
    press(&mut app, &[KeyCode::Enter]);
    assert!(!app.editing_filter());
    assert_eq!(order(&app), ["beta"]);
    press(&mut app, &[KeyCode::Esc]);
    assert_eq!(order(&app).len(), 3);
    assert_eq!(app.selected_session().unwrap().analysis.session_id, "beta");
}

#[test]
fn cursor_moves_and_enter_opens_the_summary_tab() {
    let mut app = three_sessions();
    press(
        &mut app,
        &[KeyCode::Down, KeyCode::Char('j'), KeyCode::Char('k')],
    );
    assert_eq!(app.selected_session().unwrap().analysis.session_id, "gamma");
    press(&mut app, &[KeyCode::End]);
    assert_eq!(app.selected_session().unwrap().analysis.session_id, "alpha");
    press(&mut app, &[KeyCode::Down]);
    assert_eq!(app.selected_index(), 2, "the cursor stops at the end");
    press(&mut app, &[KeyCode::Home, KeyCode::Enter]);
    assert_eq!(app.screen(), Screen::Detail);
    assert_eq!(app.tab(), Tab::Summary);
    let text = screen_text(&mut app);
    assert!(text.contains("Session beta"), "{text}");
    assert!(text.contains("1 Summary"), "{text}");
    assert!(text.contains("fix the flaky test"), "{text}");
    assert!(text.contains("Iterations   3"), "{text}");
    assert!(text.contains("claude-sonnet-4-5"), "{text}");
    // beta fails every second tool call: 6 calls, 3 errors.
    assert!(text.contains("Errors       3"), "{text}");
}

#[test]
fn timeline_tab_scrolls_through_events() {
    let mut app = three_sessions();
    press(
        &mut app,
        &[KeyCode::Down, KeyCode::Enter, KeyCode::Char('2')],
    );
    assert_eq!(app.tab(), Tab::Timeline);
    let events = app.open_session().unwrap().analysis.timeline.len();
    let text = screen_text(&mut app);
    assert!(text.contains("2 Timeline"), "{text}");
    assert!(text.contains("session_start"), "{text}");
    assert!(text.contains(&format!("of {events}")), "{text}");
    press(&mut app, &[KeyCode::End]);
    let text = screen_text(&mut app);
    assert!(text.contains("session_end"), "{text}");
    assert!(!text.contains("session_start"), "{text}");
    press(&mut app, &[KeyCode::Home]);
    assert!(screen_text(&mut app).contains("rows 1-"));
}

#[test]
fn tree_tab_indents_children_under_iterations() {
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Enter, KeyCode::Tab, KeyCode::Tab]);
    assert_eq!(app.tab(), Tab::Tree);
    let text = screen_text(&mut app);
    assert!(text.contains("3 Tree"), "{text}");
    assert!(text.contains("read_file"), "{text}");
    assert!(text.contains("✗"), "failed tool calls are marked: {text}");
    let rows = &app.open_session().unwrap().tree_rows;
    assert_eq!(rows[0].depth, 0);
    assert!(rows.iter().any(|r| r.depth >= 2));
}

#[test]
fn tokens_tab_shows_one_row_per_iteration() {
    let mut app = three_sessions();
    press(
        &mut app,
        &[KeyCode::Down, KeyCode::Enter, KeyCode::Char('4')],
    );
    assert_eq!(app.tab(), Tab::Tokens);
    let text = screen_text(&mut app);
    assert!(text.contains("4 Tokens"), "{text}");
    assert!(text.contains("Cache:"), "{text}");
    assert!(text.contains("Iter"), "{text}");
    // gamma: 50K input per call.
    assert!(text.contains("50.0K"), "{text}");
}

#[test]
fn issues_tab_lists_issues_or_says_none() {
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Enter, KeyCode::Char('5')]);
    assert_eq!(app.tab(), Tab::Issues);
    let issues = app.open_session().unwrap().analysis.issues.clone();
    let text = screen_text(&mut app);
    assert!(text.contains("5 Issues"), "{text}");
    if issues.is_empty() {
        assert!(text.contains("No issues detected."), "{text}");
    } else {
        assert!(text.contains(&format!("{} issues", issues.len())), "{text}");
        assert!(text.contains("Fix:"), "{text}");
    }
    press(&mut app, &[KeyCode::BackTab]);
    assert_eq!(app.tab(), Tab::Tokens);
    press(&mut app, &[KeyCode::Right, KeyCode::Right]);
    assert_eq!(app.tab(), Tab::Summary, "tabs wrap around");
    press(&mut app, &[KeyCode::Char('q')]);
    assert_eq!(app.screen(), Screen::Browser);
}

#[test]
fn marking_two_sessions_opens_the_compare_pane() {
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Char('c')]);
    assert!(app.is_marked("beta"));
    assert_eq!(app.screen(), Screen::Browser);
    assert!(screen_text(&mut app).contains("* beta"));
    press(&mut app, &[KeyCode::Down, KeyCode::Char('c')]);
    assert_eq!(app.screen(), Screen::Compare);
    let text = screen_text(&mut app);
    for row in [
        "Duration",
        "Iterations",
        "Total Tokens",
        "Total Cost",
        "Tool Calls",
        "LLM Calls",
        "Errors",
        "Compactions",
        "Efficiency",
        "Cache Rate",
        "Avg Tok/Iter",
        "Avg Cost/Iter",
    ] {
        assert!(text.contains(row), "missing {row}: {text}");
    }
    assert!(text.contains("A: beta"), "{text}");
    assert!(text.contains("B: gamma"), "{text}");
    let lines = render(&mut app, 80, 24);
    let iterations = lines.iter().find(|l| l.contains("Iterations")).unwrap();
    assert!(iterations.contains("+5 (+167%)"), "{iterations}");
    assert!(iterations.contains("A better"), "{iterations}");
    let errors = lines.iter().find(|l| l.contains("Errors")).unwrap();
    assert!(errors.contains("B better"), "{errors}");
    press(&mut app, &[KeyCode::Esc]);
    assert_eq!(app.screen(), Screen::Browser);
    assert!(!app.is_marked("beta"));
}

#[test]
fn help_overlay_shows_keys_and_any_key_closes_it() {
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Char('?')]);
    assert!(app.help_visible());
    let text = screen_text(&mut app);
    assert!(text.contains("Keys"), "{text}");
    assert!(text.contains("mark for compare"), "{text}");
    assert!(text.contains("cycle sort"), "{text}");
    press(&mut app, &[KeyCode::Char('x')]);
    assert!(!app.help_visible());
    assert!(!screen_text(&mut app).contains("mark for compare"));
}

#[test]
fn help_fits_short_terminals() {
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Char('?')]);
    // Short but wide: every key, in two columns.
    let wide = render(&mut app, 100, 9).join("\n");
    for key in ["↑ ↓ / j k", "q / Esc", "mark for compare", "any key closes"] {
        assert!(wide.contains(key), "{key} in\n{wide}");
    }
    // Short and narrow: the first keys and a count of the rest.
    let narrow = render(&mut app, 60, 6).join("\n");
    assert!(narrow.contains("↑ ↓ / j k"), "{narrow}");
    assert!(
        narrow.contains("…6 more keys in a taller terminal"),
        "{narrow}"
    );
    assert!(!narrow.contains("Keys"), "no border: {narrow}");
}

#[test]
fn quit_keys_and_ctrl_c() {
    let mut app = three_sessions();
    assert_eq!(
        app.handle_key(key(KeyCode::Char('q'))),
        loupe_tui::Action::Quit
    );
    let mut app = three_sessions();
    press(&mut app, &[KeyCode::Enter]);
    assert_eq!(
        app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        loupe_tui::Action::Quit
    );
}

#[test]
fn live_refresh_keeps_the_open_session_and_tab() {
    let mut app = three_sessions();
    press(
        &mut app,
        &[
            KeyCode::Down,
            KeyCode::Enter,
            KeyCode::Char('2'),
            KeyCode::Down,
        ],
    );
    assert_eq!(app.open_session().unwrap().analysis.session_id, "gamma");
    let mut grown = Synthetic::new("gamma", 12);
    grown.start = loupe_model::Timestamp(1_790_000_500_000_000);
    let fresh = Synthetic::new("delta", 1);
    let mut beta = Synthetic::new("beta", 3);
    beta.start = loupe_model::Timestamp(1_790_000_900_000_000);
    app.set_sessions(vec![beta.analysis(), grown.analysis(), fresh.analysis()]);
    assert_eq!(app.screen(), Screen::Detail);
    assert_eq!(app.tab(), Tab::Timeline);
    assert_eq!(app.scroll(Tab::Timeline), 1);
    let open = app.open_session().unwrap();
    assert_eq!(open.analysis.session_id, "gamma");
    assert_eq!(open.analysis.metrics.iterations, 12);
    press(&mut app, &[KeyCode::Esc]);
    assert_eq!(app.sessions().len(), 3);
    assert_eq!(app.selected_session().unwrap().analysis.session_id, "gamma");
}

#[test]
fn empty_input_and_tiny_terminals_do_not_panic() {
    let mut app = App::new(Vec::new());
    assert!(screen_text(&mut app).contains("No sessions yet"));
    press(
        &mut app,
        &[
            KeyCode::Enter,
            KeyCode::Down,
            KeyCode::Char('c'),
            KeyCode::End,
        ],
    );
    assert_eq!(app.screen(), Screen::Browser);
    let mut app = three_sessions();
    for (w, h) in [(1, 1), (10, 3), (20, 5)] {
        render(&mut app, w, h);
        press(
            &mut app,
            &[KeyCode::Enter, KeyCode::Char('3'), KeyCode::Char('?')],
        );
        render(&mut app, w, h);
        press(&mut app, &[KeyCode::Esc, KeyCode::Esc]);
    }
}

/// A 200,000-event session: the flattened rows cover every event and node,
/// and the last page renders (timing is in the benchmark, docs/benchmarks.md).
#[test]
fn a_200k_event_session_renders_its_last_page() {
    let mut big = Synthetic::new("huge", 20_000);
    big.tools_per_iteration = 3;
    assert_eq!(big.event_count(), 200_002);
    let mut app = App::new(vec![big.analysis()]);
    press(
        &mut app,
        &[KeyCode::Enter, KeyCode::Char('2'), KeyCode::End],
    );
    assert_eq!(app.content_len(Tab::Timeline), 200_002);
    let text = screen_text(&mut app);
    assert!(text.contains("of 200002"), "{text}");
    assert!(text.contains("session_end"), "{text}");
    press(&mut app, &[KeyCode::Char('3'), KeyCode::End]);
    // session + 20,000 iterations + 20,000 LLM calls + 60,000 tools.
    assert!(
        app.content_len(Tab::Tree) >= 100_001,
        "{}",
        app.content_len(Tab::Tree)
    );
    assert!(screen_text(&mut app).contains(&format!("of {}", app.content_len(Tab::Tree))));
}

/// With more sessions than rows, the browser scrolls so the cursor stays in view.
#[test]
fn browser_scrolls_to_keep_the_cursor_visible() {
    let analyses = (0..60)
        .map(|i| {
            let mut s = Synthetic::new(&format!("run-{i:02}"), 1);
            s.start = loupe_model::Timestamp(1_790_000_000_000_000 + i64::from(i) * 1_000_000);
            s.analysis()
        })
        .collect();
    let mut app = App::new(analyses);
    assert!(screen_text(&mut app).contains("run-59"));
    press(&mut app, &[KeyCode::End]);
    let text = screen_text(&mut app);
    assert!(text.contains("run-00"), "the oldest is on screen: {text}");
    assert!(!text.contains("run-59"), "the newest scrolled away: {text}");
    press(&mut app, &[KeyCode::Home, KeyCode::PageDown]);
    // A page is the rows the list shows (24 rows - title, header, footer).
    assert_eq!(app.selected_index(), 21);
    let selected = app.selected_session().unwrap().analysis.session_id.clone();
    assert!(screen_text(&mut app).contains(&selected));
}

/// `nocache`: calls that report no cache counts, to a model with no price.
fn unknown_cache_and_cost() -> loupe_analyze::SessionAnalysis {
    let mut s = Synthetic::new("nocache", 2);
    s.start = loupe_model::Timestamp(1_790_000_950_000_000);
    s.reports_cache = false;
    s.model = "acme-unpriced-1".to_owned();
    s.analysis()
}

/// The session with unknown cache rate and cost, then the three sessions.
fn unknown_cache_and_cost_beside_three() -> Vec<loupe_analyze::SessionAnalysis> {
    let mut sessions = vec![unknown_cache_and_cost()];
    sessions.extend(
        three_sessions()
            .sessions()
            .iter()
            .map(|v| v.analysis.clone()),
    );
    sessions
}

#[test]
fn an_unknown_cache_rate_or_cost_shows_as_such_not_as_zero() {
    let mut app = App::new(unknown_cache_and_cost_beside_three());
    let lines = render(&mut app, 100, 24);
    let row = lines.iter().find(|l| l.contains("nocache")).unwrap();
    assert!(row.contains("unpriced"), "{row}");
    assert!(!row.contains("$0.000"), "{row}");
    // Sorted by cost, an unknown cost comes last, not as the cheapest.
    press(&mut app, &[KeyCode::Char('s')]);
    assert_eq!(order(&app).last().unwrap(), "nocache");
    press(
        &mut app,
        &[KeyCode::Char('s'), KeyCode::Char('s'), KeyCode::Char('s')],
    );
    assert_eq!(order(&app)[0], "nocache", "newest first again");
    press(&mut app, &[KeyCode::Enter]);
    let summary = screen_text(&mut app);
    assert!(summary.contains("Cache hit    unreported"), "{summary}");
    assert!(summary.contains("Cost         unpriced"), "{summary}");
    assert!(!summary.contains("0.0%"), "{summary}");
    press(&mut app, &[KeyCode::Char('4')]);
    let tokens = render(&mut app, 80, 24);
    let first = tokens.iter().position(|l| l.contains("Hit")).unwrap();
    for row in &tokens[first + 1..first + 3] {
        assert!(row.contains('—') && !row.contains('%'), "{row}");
    }
    // A session that reports its cache counts keeps its rate.
    press(
        &mut app,
        &[
            KeyCode::Char('q'),
            KeyCode::Down,
            KeyCode::Enter,
            KeyCode::Char('1'),
        ],
    );
    assert!(screen_text(&mut app).contains("Cache hit    50.0%"));
}

#[test]
fn the_compare_pane_agrees_with_loupe_compare_and_leaves_unknowns_unjudged() {
    let mut app = App::new(unknown_cache_and_cost_beside_three());
    // nocache (newest) is A, beta B.
    press(
        &mut app,
        &[KeyCode::Char('c'), KeyCode::Down, KeyCode::Char('c')],
    );
    assert_eq!(app.screen(), Screen::Compare);
    let lines = render(&mut app, 90, 24);
    let text = lines.join("\n");
    let line = |label: &str| lines.iter().find(|l| l.contains(label)).unwrap().clone();
    let cache = line("Cache Rate");
    assert!(
        cache.contains("unreported") && cache.contains("50.0%"),
        "{cache}"
    );
    assert!(cache.trim_end().ends_with('—'), "not judged: {cache}");
    let cost = line("Total Cost");
    assert!(
        cost.contains("unpriced") && cost.trim_end().ends_with('—'),
        "{cost}"
    );
    let outcome = line("Outcome");
    assert!(
        outcome.contains("completed") && outcome.contains("same"),
        "{outcome}"
    );
    // Scores to one decimal, as `loupe compare` writes them.
    let (a, b) = app.compared().unwrap();
    let efficiency = line("Efficiency");
    let score = |s: &loupe_tui::SessionView| format!("{:.1}", s.analysis.efficiency_score);
    assert!(efficiency.contains(&score(a)), "{efficiency}");
    assert!(efficiency.contains(&score(b)), "{efficiency}");
    // The verdict is `loupe compare`'s, and the tally leaves the unknowns out.
    let comparison = loupe_analyze::compare_sessions(
        &a.analysis,
        &b.analysis,
        &loupe_analyze::CompareConfig::default(),
    );
    assert!(
        !comparison
            .metrics
            .iter()
            .any(|m| m.name == "cache_hit_rate"),
        "{comparison:?}"
    );
    let pane = loupe_tui::compare_pane(&a.analysis, &b.analysis);
    assert_eq!(pane.comparison, comparison);
    let (a_wins, b_wins, unknown) = pane.tally();
    assert_eq!(unknown, 3, "cache rate, cost and cost per iteration");
    assert!(
        text.contains(&format!(
            "A better on {a_wins}, B better on {b_wins} of {} metrics",
            pane.rows.len() - 3
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("loupe compare A B: {}", pane.assessment_text())),
        "{text}"
    );
}

#[test]
fn scrolling_stops_where_the_last_row_is_in_view() {
    let mut app = three_sessions();
    press(
        &mut app,
        &[KeyCode::Down, KeyCode::Enter, KeyCode::Char('2')],
    );
    let len = app.content_len(Tab::Timeline);
    let shown = loupe_tui::ui::rows_shown(Some(Tab::Timeline), 24);
    render(&mut app, 80, 24);
    press(&mut app, &[KeyCode::End]);
    assert_eq!(app.scroll(Tab::Timeline), len - shown);
    for _ in 0..5 {
        press(&mut app, &[KeyCode::Down, KeyCode::PageDown]);
    }
    assert_eq!(app.scroll(Tab::Timeline), len - shown, "no overscroll");
    // The first key back up moves the view at once.
    let bottom = screen_text(&mut app);
    press(&mut app, &[KeyCode::Up]);
    assert_ne!(screen_text(&mut app), bottom);
    assert!(screen_text(&mut app).contains(&format!("rows {}-", len - shown)));
    // PageUp from the bottom moves a whole view.
    press(&mut app, &[KeyCode::End, KeyCode::PageUp]);
    assert_eq!(app.scroll(Tab::Timeline), len - 2 * shown);
    // A taller terminal shows more rows: the furthest scroll shrinks with it.
    render(&mut app, 80, 40);
    press(&mut app, &[KeyCode::End]);
    assert_eq!(
        app.scroll(Tab::Timeline),
        len - loupe_tui::ui::rows_shown(Some(Tab::Timeline), 40)
    );
    // The Tokens tab: its table fits, so it does not scroll at all.
    press(&mut app, &[KeyCode::Char('4'), KeyCode::End, KeyCode::Down]);
    assert_eq!(app.scroll(Tab::Tokens), 0);
}

#[test]
fn control_characters_in_trace_text_are_shown_escaped() {
    let mut evil = Synthetic::new("evil", 1);
    evil.task = "TASK\u{1b}]0;pwned\u{7}\u{1b}[2J line1\nline2 \u{202e}txt.exe".to_owned();
    let mut app = App::new(vec![evil.analysis()]);
    let browser = render(&mut app, 160, 10).join("\n");
    let shown = "TASK\\u{1b}]0;pwned\\u{7}\\u{1b}[2J line1 line2 \\u{202e}txt.exe";
    assert!(browser.contains(shown), "{browser}");
    press(&mut app, &[KeyCode::Enter]);
    let summary = render(&mut app, 160, 24).join("\n");
    assert!(summary.contains(shown), "{summary}");
    assert!(!summary.contains("line1line2"), "{summary}");
}
