//! The dashboard's state and its key handling: pure data, no terminal, so
//! every behaviour is testable without a screen.

use loupe_analyze::{NodeStatus, SessionAnalysis, SpanKind, SpanNode};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The detail view's tabs, in display order (keys 1–5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Metrics, outcome, tokens, cost, efficiency.
    Summary,
    /// Every event with its offset from the session start.
    Timeline,
    /// The span tree, flattened with indentation.
    Tree,
    /// Token flow per iteration.
    Tokens,
    /// Detected issues and their fixes.
    Issues,
}

impl Tab {
    /// Every tab in display order.
    pub const ALL: [Tab; 5] = [
        Tab::Summary,
        Tab::Timeline,
        Tab::Tree,
        Tab::Tokens,
        Tab::Issues,
    ];

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Summary => "Summary",
            Tab::Timeline => "Timeline",
            Tab::Tree => "Tree",
            Tab::Tokens => "Tokens",
            Tab::Issues => "Issues",
        }
    }

    /// Position in [`Tab::ALL`].
    pub fn index(self) -> usize {
        match self {
            Tab::Summary => 0,
            Tab::Timeline => 1,
            Tab::Tree => 2,
            Tab::Tokens => 3,
            Tab::Issues => 4,
        }
    }

    fn shifted(self, by: isize) -> Tab {
        let n = Tab::ALL.len() as isize;
        Tab::ALL[(self.index() as isize + by).rem_euclid(n) as usize]
    }
}

/// How the browser orders sessions (attocode's four modes, seed-formats.md §2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortMode {
    /// Latest start first.
    Newest,
    /// Most expensive first.
    Cost,
    /// Most efficient first.
    Efficiency,
    /// Most iterations first.
    Iterations,
}

impl SortMode {
    /// The mode after this one (`s` cycles).
    pub fn next(self) -> SortMode {
        match self {
            SortMode::Newest => SortMode::Cost,
            SortMode::Cost => SortMode::Efficiency,
            SortMode::Efficiency => SortMode::Iterations,
            SortMode::Iterations => SortMode::Newest,
        }
    }

    /// Short name shown in the header.
    pub fn label(self) -> &'static str {
        match self {
            SortMode::Newest => "newest",
            SortMode::Cost => "cost",
            SortMode::Efficiency => "efficiency",
            SortMode::Iterations => "iterations",
        }
    }
}

/// Which screen is showing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The session list.
    Browser,
    /// One session's tabs.
    Detail,
    /// Two marked sessions side by side.
    Compare,
}

/// What the event loop should do after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// State changed: draw again.
    Redraw,
    /// Leave the dashboard.
    Quit,
}

/// One row of a flattened span tree.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeRow {
    /// Nesting depth (the session root is 0).
    pub depth: u16,
    /// Node kind.
    pub kind: SpanKind,
    /// Node label.
    pub label: String,
    /// Node status.
    pub status: NodeStatus,
    /// Duration when ended.
    pub duration_ms: Option<f64>,
    /// `input + output` tokens of an LLM node.
    pub tokens: Option<u64>,
}

/// A session's analysis with the rows precomputed for drawing.
#[derive(Clone, Debug)]
pub struct SessionView {
    /// The analysis.
    pub analysis: SessionAnalysis,
    /// The span tree, flattened depth first once (not per frame).
    pub tree_rows: Vec<TreeRow>,
    /// Lower-cased text the filter matches against.
    search_text: String,
}

impl SessionView {
    /// Precomputes the rows of `analysis`.
    pub fn new(analysis: SessionAnalysis) -> Self {
        let tree_rows = flatten_tree(&analysis.tree);
        let search_text = [
            analysis.session_id.as_str(),
            analysis.task.as_deref().unwrap_or(""),
            analysis.model.as_deref().unwrap_or(""),
            analysis.source.path.as_str(),
            analysis.status.as_str(),
        ]
        .join("\n")
        .to_lowercase();
        SessionView {
            analysis,
            tree_rows,
            search_text,
        }
    }
}

/// Depth-first rows of `root`, iteratively (deep trees cannot overflow the stack).
fn flatten_tree(root: &SpanNode) -> Vec<TreeRow> {
    let mut rows = Vec::new();
    let mut stack: Vec<(&SpanNode, u16)> = vec![(root, 0)];
    while let Some((node, depth)) = stack.pop() {
        rows.push(TreeRow {
            depth,
            kind: node.kind,
            label: node.label.clone(),
            status: node.status,
            duration_ms: node.duration_ms,
            tokens: node.tokens.as_ref().map(|t| t.total()),
        });
        for child in node.children.iter().rev() {
            stack.push((child, depth.saturating_add(1)));
        }
    }
    rows
}

/// The dashboard state.
#[derive(Debug)]
pub struct App {
    sessions: Vec<SessionView>,
    /// Indices into `sessions` after filter and sort.
    visible: Vec<usize>,
    /// Cursor position in `visible`.
    selected: usize,
    sort: SortMode,
    filter: String,
    editing_filter: bool,
    screen: Screen,
    /// Index into `sessions` of the session in the detail view.
    open: Option<usize>,
    tab: Tab,
    /// Top row of each tab's scrolled content.
    scroll: [usize; 5],
    /// Session ids marked for comparison (at most two, in marking order).
    marked: Vec<String>,
    help: bool,
    /// Height of the terminal at the last draw: how many rows each list
    /// shows, so scrolling stops where the last row is in view.
    screen_height: u16,
    status: Option<String>,
    /// A reload is under way (the data shown is the last loaded).
    loading: bool,
}

impl App {
    /// A dashboard over `analyses`, sorted newest first.
    pub fn new(analyses: Vec<SessionAnalysis>) -> Self {
        let mut app = App {
            sessions: analyses.into_iter().map(SessionView::new).collect(),
            visible: Vec::new(),
            selected: 0,
            sort: SortMode::Newest,
            filter: String::new(),
            editing_filter: false,
            screen: Screen::Browser,
            open: None,
            tab: Tab::Summary,
            scroll: [0; 5],
            marked: Vec::new(),
            help: false,
            screen_height: 24,
            status: None,
            loading: false,
        };
        app.refilter(None);
        app
    }

    /// Replaces the sessions (live refresh), keeping the cursor, the open
    /// session, the tab, scroll offsets and marks where those sessions still exist.
    pub fn set_sessions(&mut self, analyses: Vec<SessionAnalysis>) {
        self.set_views(analyses.into_iter().map(SessionView::new).collect());
    }

    /// [`App::set_sessions`] with the views already built (a loader thread
    /// builds them, so the UI thread only swaps them in).
    pub fn set_views(&mut self, views: Vec<SessionView>) {
        let keep_selected = self
            .selected_session()
            .map(|s| s.analysis.session_id.clone());
        let keep_open = self.open_session().map(|s| s.analysis.session_id.clone());
        self.sessions = views;
        self.open = keep_open.and_then(|id| self.index_of(&id));
        if self.open.is_none() && self.screen == Screen::Detail {
            self.screen = Screen::Browser;
        }
        let sessions = &self.sessions;
        self.marked
            .retain(|id| sessions.iter().any(|s| &s.analysis.session_id == id));
        if self.screen == Screen::Compare && self.marked.len() < 2 {
            self.screen = Screen::Browser;
        }
        self.refilter(keep_selected.as_deref());
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.sessions
            .iter()
            .position(|s| s.analysis.session_id == id)
    }

    /// Recomputes `visible`, putting the cursor on `keep` when it is still shown.
    fn refilter(&mut self, keep: Option<&str>) {
        let needle = self.filter.to_lowercase();
        let mut visible: Vec<usize> = (0..self.sessions.len())
            .filter(|&i| needle.is_empty() || self.sessions[i].search_text.contains(&needle))
            .collect();
        let sessions = &self.sessions;
        let sort = self.sort;
        visible.sort_by(|&x, &y| {
            let (a, b) = (&sessions[x].analysis, &sessions[y].analysis);
            let key = match sort {
                SortMode::Newest => b.started_at.cmp(&a.started_at),
                // An unknown cost is no cost of $0: such sessions go last.
                SortMode::Cost => match (a.known_cost_usd(), b.known_cost_usd()) {
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    (x, y) => y.is_some().cmp(&x.is_some()),
                },
                SortMode::Efficiency => b.efficiency_score.total_cmp(&a.efficiency_score),
                SortMode::Iterations => b.metrics.iterations.cmp(&a.metrics.iterations),
            };
            key.then_with(|| a.session_id.cmp(&b.session_id))
        });
        self.visible = visible;
        self.selected = keep
            .and_then(|id| {
                self.visible
                    .iter()
                    .position(|&i| self.sessions[i].analysis.session_id == id)
            })
            .unwrap_or(0)
            .min(self.visible.len().saturating_sub(1));
    }

    /// All sessions, in load order.
    pub fn sessions(&self) -> &[SessionView] {
        &self.sessions
    }

    /// Sessions shown by the browser, in display order.
    pub fn visible_sessions(&self) -> impl ExactSizeIterator<Item = &SessionView> + '_ {
        self.visible.iter().map(|&i| &self.sessions[i])
    }

    /// Cursor position in the browser's list.
    pub fn selected_index(&self) -> usize {
        self.selected
    }

    /// The session under the browser's cursor.
    pub fn selected_session(&self) -> Option<&SessionView> {
        self.visible.get(self.selected).map(|&i| &self.sessions[i])
    }

    /// The session in the detail view.
    pub fn open_session(&self) -> Option<&SessionView> {
        self.open.and_then(|i| self.sessions.get(i))
    }

    /// The two sessions of the compare pane (first marked is A).
    pub fn compared(&self) -> Option<(&SessionView, &SessionView)> {
        let a = self.index_of(self.marked.first()?)?;
        let b = self.index_of(self.marked.get(1)?)?;
        Some((&self.sessions[a], &self.sessions[b]))
    }

    /// Whether the session is marked for comparison.
    pub fn is_marked(&self, session_id: &str) -> bool {
        self.marked.iter().any(|m| m == session_id)
    }

    /// The current screen.
    pub fn screen(&self) -> Screen {
        self.screen
    }

    /// The current detail tab.
    pub fn tab(&self) -> Tab {
        self.tab
    }

    /// The current sort mode.
    pub fn sort(&self) -> SortMode {
        self.sort
    }

    /// The filter text.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Whether keys are being typed into the filter.
    pub fn editing_filter(&self) -> bool {
        self.editing_filter
    }

    /// Whether the help overlay is showing.
    pub fn help_visible(&self) -> bool {
        self.help
    }

    /// Top row of `tab`'s scrolled content (at most [`App::max_scroll`]
    /// after a key; a resize or refresh may leave it beyond until the next
    /// key, and drawing clamps).
    pub fn scroll(&self, tab: Tab) -> usize {
        self.scroll[tab.index()]
    }

    /// A status message (refresh errors, hints) for the footer.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// Sets or clears the footer's status message.
    pub fn set_status(&mut self, status: Option<String>) {
        self.status = status;
    }

    /// Whether a reload is under way (the footer says `loading…`).
    pub fn loading(&self) -> bool {
        self.loading
    }

    /// Sets whether a reload is under way.
    pub fn set_loading(&mut self, loading: bool) {
        self.loading = loading;
    }

    /// Tells the app the terminal's height (at each draw): a page scroll
    /// moves by the rows a list shows, and a list scrolls no further than
    /// its last row at the bottom.
    pub fn set_screen_height(&mut self, height: u16) {
        self.screen_height = height;
    }

    /// Rows the browser's list or `tab`'s list shows at the current height.
    fn page(&self, tab: Option<Tab>) -> usize {
        crate::ui::rows_shown(tab, self.screen_height)
    }

    /// The furthest `tab` scrolls: its last row at the bottom of the view
    /// (issues, of varying height, scroll one by one up to the last).
    pub fn max_scroll(&self, tab: Tab) -> usize {
        let len = self.content_len(tab);
        match tab {
            Tab::Issues => len.saturating_sub(1),
            _ => len.saturating_sub(self.page(Some(tab))),
        }
    }

    /// Rows of scrollable content in `tab` for the open session.
    pub fn content_len(&self, tab: Tab) -> usize {
        let Some(view) = self.open_session() else {
            return 0;
        };
        match tab {
            Tab::Summary => 0,
            Tab::Timeline => view.analysis.timeline.len(),
            Tab::Tree => view.tree_rows.len(),
            Tab::Tokens => view.analysis.token_flow.rows.len(),
            Tab::Issues => view.analysis.issues.len(),
        }
    }

    /// Applies one key press.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if self.help {
            self.help = false;
            return Action::Redraw;
        }
        if self.editing_filter {
            return self.filter_key(key.code);
        }
        if key.code == KeyCode::Char('?') {
            self.help = true;
            return Action::Redraw;
        }
        match self.screen {
            Screen::Browser => self.browser_key(key.code),
            Screen::Detail => self.detail_key(key.code),
            Screen::Compare => match key.code {
                KeyCode::Char('q') | KeyCode::Esc | KeyCode::Char('c') => {
                    self.marked.clear();
                    self.screen = Screen::Browser;
                    Action::Redraw
                }
                _ => Action::None,
            },
        }
    }

    fn filter_key(&mut self, code: KeyCode) -> Action {
        let keep = self
            .selected_session()
            .map(|s| s.analysis.session_id.clone());
        match code {
            KeyCode::Enter => self.editing_filter = false,
            KeyCode::Esc => {
                self.editing_filter = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) => self.filter.push(c),
            _ => return Action::None,
        }
        self.refilter(keep.as_deref());
        Action::Redraw
    }

    fn browser_key(&mut self, code: KeyCode) -> Action {
        let last = self.visible.len().saturating_sub(1);
        match code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                let keep = self
                    .selected_session()
                    .map(|s| s.analysis.session_id.clone());
                self.refilter(keep.as_deref());
            }
            KeyCode::Esc => return Action::Quit,
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(self.page(None)),
            KeyCode::PageDown => self.selected = (self.selected + self.page(None)).min(last),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = last,
            KeyCode::Enter => {
                let Some(&index) = self.visible.get(self.selected) else {
                    return Action::None;
                };
                if self.open != Some(index) {
                    self.scroll = [0; 5];
                }
                self.open = Some(index);
                self.screen = Screen::Detail;
            }
            KeyCode::Char('/') => self.editing_filter = true,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                let keep = self
                    .selected_session()
                    .map(|s| s.analysis.session_id.clone());
                self.refilter(keep.as_deref());
            }
            KeyCode::Char('c') => {
                let Some(id) = self
                    .selected_session()
                    .map(|s| s.analysis.session_id.clone())
                else {
                    return Action::None;
                };
                self.toggle_mark(id);
            }
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// Marks or unmarks a session; the second mark opens the compare pane.
    fn toggle_mark(&mut self, id: String) {
        if let Some(pos) = self.marked.iter().position(|m| *m == id) {
            self.marked.remove(pos);
            return;
        }
        self.marked.push(id);
        if self.marked.len() > 2 {
            self.marked.remove(0);
        }
        if self.marked.len() == 2 {
            self.screen = Screen::Compare;
        }
    }

    fn detail_key(&mut self, code: KeyCode) -> Action {
        let tab = self.tab;
        // Past the end nothing moves on screen: a key that only changed the
        // state there would seem dead, so the state stops where the view does
        // (also after a resize or a refresh shortened the list).
        let last = self.max_scroll(tab);
        let page = self.page(Some(tab));
        let scroll = &mut self.scroll[tab.index()];
        *scroll = (*scroll).min(last);
        match code {
            KeyCode::Char('q') | KeyCode::Esc => self.screen = Screen::Browser,
            KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => self.tab = tab.shifted(1),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => self.tab = tab.shifted(-1),
            KeyCode::Char(c @ '1'..='5') => {
                self.tab = Tab::ALL[(c as u8 - b'1') as usize];
            }
            KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => *scroll = (*scroll + 1).min(last),
            KeyCode::PageUp => *scroll = scroll.saturating_sub(page),
            KeyCode::PageDown => *scroll = (*scroll + page).min(last),
            KeyCode::Home | KeyCode::Char('g') => *scroll = 0,
            KeyCode::End | KeyCode::Char('G') => *scroll = last,
            KeyCode::Char('c') => {
                let Some(id) = self.open_session().map(|s| s.analysis.session_id.clone()) else {
                    return Action::None;
                };
                self.toggle_mark(id);
            }
            _ => return Action::None,
        }
        Action::Redraw
    }
}
