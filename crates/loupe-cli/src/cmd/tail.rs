//! `loupe tail PATH`: prints each event of a growing trace as it arrives,
//! one line per event, with running totals of tokens, cost, tool calls and
//! errors on stderr.
//!
//! Behaviour (decided here, documented in `--help`):
//! - PATH is a file, or a directory: then every line-oriented trace file in
//!   it (recursively) is followed, including files created later; files are
//!   visited oldest-modified first on each poll.
//! - By default existing events are printed first, then new ones as they
//!   arrive (like `tail -f -n +1`); `--new-only` starts at the current end.
//! - Files are polled (every `--interval-ms`, 200 ms by default). Only
//!   complete lines are read: a partial last line waits for its newline.
//!   Each new chunk is parsed by the file's format reader with its starting
//!   line number (`read_bytes_from`), so event ids match a full read.
//!   A file that shrinks is read again from the start. Files are told
//!   apart by identity (device, inode, creation time), not by name: a file
//!   renamed away (log rotation) goes on from where it was, never printed
//!   twice, and a new file put in its place (`mv new trace.jsonl`) is read
//!   from its start. A followed file that disappears is waited for.
//! - PATH `-` follows standard input (`agent | loupe tail -`) line by line
//!   until it closes; lines before the first trace line are passed over.
//! - Colour only when stdout is a terminal and `NO_COLOR` is unset. The
//!   totals line is kept up to date on a terminal stderr and always printed
//!   once more at exit. Ctrl-C stops cleanly with exit code 0.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead as _, IsTerminal as _, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anstyle::{AnsiColor, Style};
use anyhow::{bail, Context as _};
use loupe_analyze::PriceTable;
use loupe_formats::{Sink, Skipped, Source};
use loupe_model::{Category, CostSource, Event, EventKind, SourceFormat};
use loupe_report::{human_duration_ms, human_tokens};

use super::{diag, input};

/// Arguments of `loupe tail`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Trace file to follow, or a directory: every line-oriented trace file
    /// in it (recursively, new files included); `-` follows standard input
    /// until it closes (`agent | loupe tail -`). Rotation is followed: a
    /// file renamed away is not printed again, and a new file at a
    /// followed path is read from its start.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Start at the current end: print only events appended from now on
    /// (default: print existing events first, then follow).
    #[arg(long)]
    new_only: bool,
    /// Append each event's id to its line.
    #[arg(long)]
    ids: bool,
    /// How often to look for new data, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    interval_ms: u64,
    #[command(flatten)]
    format: input::FormatArg,
}

/// Which file a path names: the same identity under another name is the
/// same file renamed; another identity under the same name is a new file.
/// The creation time guards against an inode number reused at once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct FileId {
    dev: u64,
    ino: u64,
    created: Option<SystemTime>,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt as _;
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            created: meta.created().ok(),
        }
    }
}

/// How far one followed file has been read.
struct Followed {
    /// Bytes consumed (always just after a newline).
    offset: u64,
    /// 1-based number of the next unread line.
    next_line: u64,
    /// Detected (or forced) format; `None` until enough text arrived.
    format: Option<SourceFormat>,
    /// Session id of the last event, for formats naming it once.
    session_hint: Option<String>,
    /// Not a line-oriented trace: never read again.
    ignored: bool,
    /// UTF-16 text (`Some(big_endian)`), found from its byte order mark:
    /// lines are decoded before they are read.
    utf16: Option<bool>,
}

impl Followed {
    /// Nothing read yet; `format` forced, or detected from the first lines.
    fn new(format: Option<SourceFormat>) -> Self {
        Followed {
            offset: 0,
            next_line: 1,
            format,
            session_hint: None,
            ignored: false,
            utf16: None,
        }
    }
}

/// Running totals of what was printed.
#[derive(Default)]
struct Totals {
    events: u64,
    input: u64,
    output: u64,
    cache_read: u64,
    cost_usd: f64,
    /// Whether any response had a reported cost or a priced model.
    cost_known: bool,
    /// Models of responses with neither (their cost is unknown, not $0).
    unpriced: std::collections::BTreeSet<String>,
    tool_calls: u64,
    errors: u64,
}

impl Totals {
    fn line(&self) -> String {
        format!(
            "{} events · tokens in {} out {} cache {} · {} · {} tool calls · {} errors",
            self.events,
            human_tokens(self.input),
            human_tokens(self.output),
            human_tokens(self.cache_read),
            self.cost(),
            self.tool_calls,
            self.errors
        )
    }

    /// `$0.1234`; an unknown cost is said to be unknown, as `view` does,
    /// not shown as $0.
    fn cost(&self) -> String {
        let unpriced = self
            .unpriced
            .iter()
            .map(|m| clean(m, 40))
            .collect::<Vec<_>>()
            .join(", ");
        match (self.cost_known, unpriced.is_empty()) {
            (true, true) => format!("${:.4}", self.cost_usd),
            (true, false) => format!("${:.4} + unpriced ({unpriced})", self.cost_usd),
            (false, false) => format!("cost unknown (unpriced: {unpriced})"),
            (false, true) => "cost unknown".to_owned(),
        }
    }
}

/// Formats and counts events as readers deliver them.
struct Printer {
    color: bool,
    ids: bool,
    /// Count and print (false while skipping existing content with `--new-only`).
    live: bool,
    prices: PriceTable,
    totals: Totals,
    out: String,
    last_session: Option<String>,
    skipped: u64,
    /// The last model each session named, for responses that name none.
    models: HashMap<String, String>,
}

/// Unpriced models named on the totals line at most.
const MAX_UNPRICED_SHOWN: usize = 4;

/// Malformed lines reported one by one; the rest are counted.
const SKIPS_SHOWN: u64 = 10;

/// What `metrics.errors` counts, so the running total agrees with `view`.
fn failed(e: &Event) -> bool {
    loupe_analyze::counts_as_error(e)
}

/// Control characters from trace content would move the cursor: make them spaces.
fn clean(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

impl Printer {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }

    fn count(&mut self, e: &Event) {
        self.totals.events += 1;
        if let Some(model) = e.model() {
            if self.models.get(&e.session_id).map(String::as_str) != Some(model) {
                self.models.insert(e.session_id.clone(), model.to_owned());
            }
        }
        if matches!(
            e.kind,
            EventKind::LlmResponse | EventKind::LlmError | EventKind::Think
        ) {
            let usage = e.usage();
            self.totals.input += usage.input();
            self.totals.output += usage.output();
            self.totals.cache_read += usage.cache_read();
            // attocode-ts names the model on the request only.
            let model = e
                .model()
                .or_else(|| self.models.get(&e.session_id).map(String::as_str));
            let cost = self.prices.cost(model, &usage, e.reported_cost());
            match cost.source {
                // Nothing to price: no cost, known or not.
                CostSource::Unpriced if usage.is_empty() => {}
                CostSource::Unpriced => {
                    if self.totals.unpriced.len() < MAX_UNPRICED_SHOWN {
                        let model = model.unwrap_or("no model named");
                        self.totals.unpriced.insert(model.to_owned());
                    }
                }
                _ => {
                    self.totals.cost_known = true;
                    self.totals.cost_usd += cost.usd;
                }
            }
        }
        if matches!(e.kind, EventKind::ToolEnd | EventKind::ToolError) {
            self.totals.tool_calls += 1;
        }
        if failed(e) {
            self.totals.errors += 1;
        }
    }

    /// `12:00:02.450 s=demo-1 it=3 TOOL_END read_file 42ms ✓`
    fn format(&self, e: &Event) -> String {
        let stamp = e.timestamp.to_rfc3339();
        let time = stamp.get(11..23).unwrap_or(&stamp);
        let mut line = self.paint(Style::new().dimmed(), time);
        line.push_str(&format!(" s={}", clean(&e.session_id, 40)));
        if let Some(it) = e.iteration {
            line.push_str(&format!(" it={it}"));
        }
        let is_failed = failed(e);
        let kind_style = if is_failed {
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
        } else {
            match e.kind.category() {
                Category::Llm => Style::new().fg_color(Some(AnsiColor::Blue.into())),
                Category::Tool => Style::new().fg_color(Some(AnsiColor::Cyan.into())),
                Category::Session => Style::new().bold(),
                _ => Style::new(),
            }
        };
        line.push(' ');
        line.push_str(&self.paint(kind_style, &e.kind.as_str().to_uppercase()));
        let detail = match e.kind.category() {
            Category::Tool => e.tool_name().map(|t| clean(t, 40)),
            Category::Llm if e.kind == EventKind::LlmResponse => {
                let usage = e.usage();
                let tokens = format!(
                    "in={} out={}",
                    human_tokens(usage.input()),
                    human_tokens(usage.output())
                );
                Some(match e.model() {
                    Some(model) => format!("{} {tokens}", clean(model, 40)),
                    None => tokens,
                })
            }
            Category::Llm => e.model().map(|m| clean(m, 40)),
            Category::Session => e
                .str(loupe_model::keys::TASK)
                .or(e.status())
                .map(|t| clean(t, 60)),
            _ => e
                .tool_name()
                .or(e.str(loupe_model::keys::NAME))
                .or(e.str(loupe_model::keys::MESSAGE))
                .map(|t| clean(t, 60)),
        };
        if let Some(detail) = detail {
            line.push(' ');
            line.push_str(&detail);
        }
        if let Some(ms) = e.duration_ms {
            line.push(' ');
            line.push_str(&human_duration_ms(ms));
        }
        if is_failed {
            line.push(' ');
            line.push_str(&self.paint(Style::new().fg_color(Some(AnsiColor::Red.into())), "✗"));
            if let Some(message) = e.error_message() {
                line.push(' ');
                line.push_str(&clean(&message, 80));
            }
        } else if e.kind == EventKind::ToolEnd {
            line.push(' ');
            line.push_str(&self.paint(Style::new().fg_color(Some(AnsiColor::Green.into())), "✓"));
        }
        if self.ids {
            line.push_str(&format!(" #{}", clean(&e.event_id, 200)));
        }
        line
    }
}

impl Sink for Printer {
    fn event(&mut self, _source: &Source, event: Event) {
        self.last_session = Some(event.session_id.clone());
        if !self.live {
            return;
        }
        self.count(&event);
        let line = self.format(&event);
        self.out.push_str(&line);
        self.out.push('\n');
    }

    fn skip(&mut self, skipped: Skipped) {
        self.skipped += 1;
        // Said as it happens (file, line, reason), the first few only: a
        // stream of garbage must not drown the events.
        if self.skipped <= SKIPS_SHOWN {
            let clear = if std::io::stderr().is_terminal() {
                "\r\x1b[K"
            } else {
                ""
            };
            eprint!("{clear}");
            diag!("loupe tail: skipped {}", clean(&skipped.to_string(), 300));
            if self.skipped == SKIPS_SHOWN {
                eprintln!("loupe tail: further malformed lines are only counted");
            }
        }
    }
}

/// Runs `loupe tail` until Ctrl-C.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut printer = Printer {
        color: input::use_color(None),
        ids: args.ids,
        live: !args.new_only,
        prices: PriceTable::builtin(),
        totals: Totals::default(),
        out: String::new(),
        last_session: None,
        skipped: 0,
        models: HashMap::new(),
    };
    if args.path.as_os_str() == "-" {
        return follow_stdin(&args, printer);
    }
    let meta = std::fs::metadata(&args.path)
        .with_context(|| format!("{}: cannot follow", args.path.display()))?;
    let is_dir = meta.is_dir();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let status = StatusLine {
        on_tty: std::io::stderr().is_terminal(),
    };
    let interval = Duration::from_millis(args.interval_ms.max(10));
    let mut files: HashMap<FileId, Followed> = HashMap::new();
    // The file last read at each path, to tell a file replaced in place.
    let mut at_path: BTreeMap<PathBuf, FileId> = BTreeMap::new();
    let mut missing_said = false;
    let mut first_pass = true;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let mut paths = Vec::new();
        if is_dir {
            list_files(&args.path, &mut paths);
        } else {
            paths.push((args.path.clone(), None));
        }
        paths.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let mut seen = HashSet::new();
        for (path, _) in paths {
            let opened = std::fs::File::open(&path).and_then(|f| {
                let meta = f.metadata()?;
                Ok((f, meta))
            });
            let (file, meta) = match opened {
                Ok(opened) => opened,
                // Rotation renames, then creates: wait for the new file.
                Err(e) if !is_dir && e.kind() == std::io::ErrorKind::NotFound => {
                    if !missing_said {
                        missing_said = true;
                        status.note(&format!(
                            "loupe tail: {} is gone; waiting for it to come back",
                            path.display()
                        ));
                    }
                    continue;
                }
                Err(e) if !is_dir => {
                    return Err(e).with_context(|| format!("{}: cannot open", path.display()))
                }
                // A file of a directory that went away or cannot be read.
                Err(_) => continue,
            };
            missing_said = false;
            let id = FileId::of(&meta);
            seen.insert(id);
            if let Some(before) = at_path.insert(path.clone(), id) {
                if before != id && !files.contains_key(&id) {
                    status.note(&format!(
                        "loupe tail: {} was replaced; reading the new file from its start",
                        path.display()
                    ));
                }
            }
            let state = files
                .entry(id)
                .or_insert_with(|| Followed::new(args.format.format));
            // Files present at start are skipped with --new-only; files created
            // later are new content and printed whole.
            printer.live = !(args.new_only && first_pass);
            if let Err(err) = read_new(&path, file, meta.len(), state, &mut printer, &status) {
                if !is_dir {
                    return Err(err);
                }
                state.ignored = true;
            }
        }
        // Files gone for good (deleted, or moved out of the directory).
        files.retain(|id, _| seen.contains(id));
        at_path.retain(|_, id| seen.contains(id));
        first_pass = false;
        printer.live = true;
        if !printer.out.is_empty() {
            status.clear();
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(printer.out.as_bytes())?;
            stdout.flush()?;
            printer.out.clear();
            status.show(&printer.totals);
        }
        let rest = interval.saturating_sub(started.elapsed());
        sleep_unless_stopped(rest, &stop);
    }
    status.clear();
    print_final_totals(&printer);
    Ok(ExitCode::SUCCESS)
}

/// The running totals kept on the last line of a terminal's stderr.
struct StatusLine {
    on_tty: bool,
}

impl StatusLine {
    /// Erases the totals line so that other output starts on a clean line.
    fn clear(&self) {
        if self.on_tty {
            eprint!("\r\x1b[K");
        }
    }

    fn show(&self, totals: &Totals) {
        if self.on_tty {
            eprint!("{}", totals.line());
        }
    }

    /// A message on a line of its own (the totals come back with the next
    /// events).
    fn note(&self, message: &str) {
        self.clear();
        diag!("{message}");
    }
}

fn print_final_totals(printer: &Printer) {
    eprintln!("loupe tail: {}", printer.totals.line());
    if printer.skipped > 0 {
        eprintln!("loupe tail: {} malformed line(s) skipped", printer.skipped);
    }
}

/// `loupe tail -`: prints the events of a trace piped in (`agent | loupe
/// tail -`) line by line as they arrive, until the pipe closes. Ctrl-C in
/// a terminal stops the agent as well, which closes the pipe.
fn follow_stdin(args: &Args, mut printer: Printer) -> anyhow::Result<ExitCode> {
    let path = Path::new("-");
    let mut state = Followed::new(args.format.format);
    printer.live = true;
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = stdin
            .read_until(b'\n', &mut line)
            .context("standard input: cannot read")?;
        if n == 0 {
            break;
        }
        // Until a trace line arrives, what the agent prints besides its
        // trace (a banner, blank lines) is passed over and counted.
        if state.format.is_none() && loupe_formats::detect(&line).is_none() {
            if !line.iter().all(u8::is_ascii_whitespace) {
                printer.skipped += 1;
            }
            state.next_line += 1;
            continue;
        }
        feed(path, &line, line.len() as u64, &mut state, &mut printer)?;
        if !printer.out.is_empty() {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(printer.out.as_bytes())?;
            stdout.flush()?;
            printer.out.clear();
        }
    }
    print_final_totals(&printer);
    Ok(ExitCode::SUCCESS)
}

/// Sleeps `total`, waking early when Ctrl-C was pressed.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(25)));
    }
}

/// Regular files under `dir` with their modification times.
fn list_files(dir: &Path, out: &mut Vec<(PathBuf, Option<SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            list_files(&path, out);
        } else if meta.is_file() {
            out.push((path, meta.modified().ok()));
        }
    }
}

/// Reads the complete lines appended to `file` (of length `len`, opened at
/// `path`) since the last call.
fn read_new(
    path: &Path,
    mut file: std::fs::File,
    len: u64,
    state: &mut Followed,
    printer: &mut Printer,
    status: &StatusLine,
) -> anyhow::Result<()> {
    if state.ignored {
        return Ok(());
    }
    if len < state.offset {
        status.note(&format!(
            "loupe tail: {}: file shrank, reading it again from the start",
            path.display()
        ));
        state.offset = 0;
        state.next_line = 1;
        state.utf16 = None;
    }
    if len == state.offset {
        return Ok(());
    }
    file.seek(SeekFrom::Start(state.offset))
        .with_context(|| format!("{}: cannot seek", path.display()))?;
    let mut chunk = Vec::with_capacity(usize::try_from(len - state.offset).unwrap_or(0));
    file.take(len - state.offset)
        .read_to_end(&mut chunk)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    if state.offset == 0 && loupe_formats::is_utf16(&chunk) {
        // A byte order mark opens UTF-16 text (Windows PowerShell's `>`):
        // from here on, whole lines are decoded before they are read.
        state.utf16 = Some(loupe_formats::is_utf16_big_endian(&chunk));
        state.offset = 2;
        chunk.drain(..2);
    }
    if let Some(big_endian) = state.utf16 {
        let (taken, text) = loupe_formats::utf16_whole_lines(&chunk, big_endian);
        if taken == 0 {
            return Ok(());
        }
        return feed(path, text.as_bytes(), taken as u64, state, printer);
    }
    // Only complete lines: a partial last line waits for its newline.
    let Some(last_newline) = memchr_last(b'\n', &chunk) else {
        return Ok(());
    };
    let complete = &chunk[..=last_newline];
    feed(path, complete, complete.len() as u64, state, printer)
}

/// Reads complete lines (`complete` ends with a newline, or is the torn end
/// of standard input) that follow what `state` has consumed; they took
/// `consumed` bytes of the input (more than `complete` when decoded from
/// UTF-16).
fn feed(
    path: &Path,
    complete: &[u8],
    consumed: u64,
    state: &mut Followed,
    printer: &mut Printer,
) -> anyhow::Result<()> {
    if state.offset == 0 && loupe_formats::is_utf16(complete) {
        bail!(
            "{}: UTF-16 text; tail follows UTF-8 standard input only (`loupe view -` reads it whole)",
            path.display()
        );
    }
    let format = match state.format {
        Some(f) => f,
        None => match loupe_formats::detect(complete) {
            Some(f) => f,
            None if state.next_line == 1 => bail!(
                "{}:1: not a trace Loupe can read (no known format detected)",
                path.display()
            ),
            None => return Ok(()),
        },
    };
    if !loupe_formats::is_line_oriented(format) {
        bail!(
            "{}: {} traces are whole JSON documents; tail follows line-oriented (JSONL) traces only",
            path.display(),
            format.as_str()
        );
    }
    state.format = Some(format);
    printer.last_session = state.session_hint.clone();
    loupe_formats::read_bytes_from(
        complete,
        path,
        format,
        state.next_line,
        state.session_hint.clone(),
        printer,
    )?;
    state.session_hint = printer.last_session.take();
    state.offset += consumed;
    state.next_line += complete.iter().filter(|&&b| b == b'\n').count() as u64;
    Ok(())
}

/// Position of the last `needle` in `haystack`.
fn memchr_last(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().rposition(|&b| b == needle)
}
