//! End-to-end test of `loupe tui` in a real terminal: the binary runs inside
//! a detached tmux session (private socket), keys are sent with `send-keys`
//! and the screen is read with `capture-pane`. Needs tmux
//! (scripts/setup-test-deps.sh installs it).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use loupe_model::Timestamp;
use loupe_tui::testing::Synthetic;

const LOUPE: &str = env!("CARGO_BIN_EXE_loupe");

/// A tmux server on its own socket, killed on drop (also when a test fails).
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a 100×30 session; `tag` keeps the sockets of
    /// tests running in parallel apart.
    fn start(tag: &str, command: &str) -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "tmux is required for this test: run scripts/setup-test-deps.sh"
        );
        let tmux = Tmux {
            socket: format!("loupe-test-{}-{tag}", std::process::id()),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "main",
            command,
        ]);
        assert!(out.status.success(), "tmux new-session failed: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap()
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let out = self.run(&["send-keys", "-t", "main", key]);
            assert!(out.status.success(), "send-keys {key}: {out:?}");
            // One key at a time, like a person: each is handled before the next.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "main"]).stdout)
            .into_owned()
    }

    /// Waits until the screen contains every one of `needles`.
    fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needles:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "main"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn write_session(dir: &Path, synthetic: &Synthetic) {
    let text: String = synthetic
        .events()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(dir.join(format!("{}.jsonl", synthetic.session_id)), text).unwrap();
}

fn session(id: &str, iterations: u32, start_secs: i64) -> Synthetic {
    let mut s = Synthetic::new(id, iterations);
    s.start = Timestamp(1_790_000_000_000_000 + start_secs * 1_000_000);
    s
}

#[test]
fn browse_open_switch_tabs_compare_and_quit_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    write_session(dir.path(), &session("s-old", 2, 0));
    let mut failing = session("s-newest", 5, 900);
    failing.fail_every = 2;
    write_session(dir.path(), &failing);
    write_session(dir.path(), &session("s-middle", 3, 500));

    let command = format!("'{LOUPE}' tui '{}'", dir.path().display());
    let tmux = Tmux::start("paths", &command);
    let screen = tmux.wait_for(&["Loupe sessions", "3 sessions", "s-old"]);
    let newest = screen.find("s-newest").unwrap();
    let middle = screen.find("s-middle").unwrap();
    assert!(newest < middle, "newest first:\n{screen}");

    // Move to the second session and open it.
    tmux.keys(&["Down", "Enter"]);
    tmux.wait_for(&["Session s-middle", "1 Summary", "Iterations   3"]);
    // Switch tabs by number, Tab and arrows.
    tmux.keys(&["2"]);
    tmux.wait_for(&["session_start", "rows 1-"]);
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["read_file", "✓"]);
    tmux.keys(&["Right"]);
    tmux.wait_for(&["Cache:", "Trend:"]);
    tmux.keys(&["5"]);
    tmux.wait_for(&["5 Issues"]);
    tmux.keys(&["?"]);
    tmux.wait_for(&["mark for compare"]);
    tmux.keys(&["Escape", "q"]);
    tmux.wait_for(&["Loupe sessions"]);

    // Live refresh: a new trace file shows up without a key press.
    write_session(dir.path(), &session("s-later", 1, 1_000));
    tmux.wait_for(&["4 sessions", "s-later"]);

    // Mark two sessions from the top: s-later (now newest) and s-newest below it.
    tmux.keys(&["Home", "c", "Down", "c"]);
    let screen = tmux.wait_for(&["Compare", "A: s-later", "B: s-newest", "Avg Cost/Iter"]);
    assert!(screen.contains("Errors"), "{screen}");
    assert!(screen.contains("A better"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for(&["Loupe sessions"]);

    // Quit: the program exits and tmux closes the session.
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(Instant::now() < deadline, "loupe tui did not exit on q");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn browse_a_store_with_db_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces");
    std::fs::create_dir(&traces).unwrap();
    write_session(&traces, &session("db-one", 2, 0));
    write_session(&traces, &session("db-two", 4, 60));
    let db = dir.path().join("loupe.db");
    let ingest = Command::new(LOUPE)
        .arg("ingest")
        .arg("--db")
        .arg(&db)
        .arg(&traces)
        .output()
        .unwrap();
    assert!(ingest.status.success(), "{ingest:?}");

    let command = format!("'{LOUPE}' tui --db '{}'", db.display());
    let tmux = Tmux::start("db", &command);
    let screen = tmux.wait_for(&["Loupe sessions", "2 sessions", "db-one", "db-two"]);
    assert!(screen.find("db-two") < screen.find("db-one"), "{screen}");
    tmux.keys(&["Enter"]);
    // The source is where the store read the session from, as the server shows it.
    tmux.wait_for(&["Session db-two", "Iterations   4", "db-two.jsonl (loupe)"]);
    tmux.keys(&["q", "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "loupe tui --db did not exit on q"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `loupe serve` on a free loopback port, stopped with Ctrl-C (SIGINT) on drop.
struct Serve {
    child: std::process::Child,
    url: String,
}

impl Serve {
    fn start(db: &Path) -> Serve {
        use std::io::BufRead;
        let mut child = Command::new(LOUPE)
            .args(["serve", "--bind", "127.0.0.1:0", "--db"])
            .arg(db)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stderr)
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Serve { child, url }
    }

    fn post(&self, synthetic: &Synthetic) {
        let dir = tempfile::tempdir().unwrap();
        write_session(dir.path(), synthetic);
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let body = std::fs::read(file.path()).unwrap();
        let response = ureq::post(&format!("{}/api/v1/events", self.url))
            .set("content-type", "application/x-ndjson")
            .send_bytes(&body)
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn browse_a_live_server_with_server_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(&dir.path().join("loupe.db"));
    serve.post(&session("srv-one", 2, 0));
    let command = format!("'{LOUPE}' tui --server '{}'", serve.url);
    let tmux = Tmux::start("server", &command);
    tmux.wait_for(&["Loupe sessions", "srv-one"]);
    // A session sent while the dashboard is open shows up without a restart.
    serve.post(&session("srv-two", 3, 60));
    let screen = tmux.wait_for(&["2 sessions", "srv-one", "srv-two"]);
    assert!(screen.find("srv-two") < screen.find("srv-one"), "{screen}");
    // The selection stayed on srv-one, now second; the new session is above it.
    tmux.keys(&["Up", "Enter"]);
    tmux.wait_for(&["Session srv-two", "Iterations   3"]);
    tmux.keys(&["q", "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "loupe tui --server did not exit on q"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The pid of the `loupe` process whose parent is `parent` (the pane's shell).
#[cfg(target_os = "linux")]
fn child_named_loupe(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces, so split after `)`.
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (name == "loupe" && ppid == parent).then_some(pid)
        })
}

/// SIGTERM and SIGHUP end the dashboard like `q`: the terminal is back in
/// its normal mode (line editing and echo, main screen) and the exit status
/// is 128 + the signal. Before, the terminal was left raw on the alternate
/// screen. Also: a warning of the first load (a malformed line) is in the
/// footer from the start.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_and_sighup_restore_the_terminal_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    write_session(dir.path(), &session("sig-one", 2, 0));
    let file = dir.path().join("sig-one.jsonl");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"event_id\": \n");
    std::fs::write(&file, text).unwrap();
    for (signal, status) in [("TERM", 143), ("HUP", 129)] {
        let command = format!(
            "'{LOUPE}' tui '{}'; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 30",
            dir.path().display()
        );
        let tmux = Tmux::start(&format!("sig{signal}"), &command);
        tmux.wait_for(&["Loupe sessions", "sig-one", "malformed record(s) skipped"]);
        let display = |format: &str| {
            String::from_utf8_lossy(&tmux.run(&["display", "-p", "-t", "main", format]).stdout)
                .trim()
                .to_owned()
        };
        assert_eq!(display("#{alternate_on}"), "1");
        let shell: u32 = display("#{pane_pid}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            if let Some(pid) = child_named_loupe(shell) {
                break pid;
            }
            assert!(Instant::now() < deadline, "no loupe process under {shell}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let screen = tmux.wait_for(&[&format!("EXIT={status}"), "icanon"]);
        assert!(
            !screen.contains("-icanon"),
            "still raw after {signal}:\n{screen}"
        );
        assert_eq!(display("#{alternate_on}"), "0", "after {signal}");
        assert_eq!(
            display("#{cursor_flag}"),
            "1",
            "cursor shown after {signal}"
        );
    }
}

/// A dashboard whose terminal goes away (its tmux session or ssh
/// connection closed) ends: before, it kept reading end-of-file from the
/// dead terminal at full speed, forever.
#[cfg(target_os = "linux")]
#[test]
fn the_dashboard_ends_when_its_terminal_hangs_up() {
    let dir = tempfile::tempdir().unwrap();
    write_session(dir.path(), &session("hup-one", 2, 0));
    let command = format!("'{LOUPE}' tui '{}'", dir.path().display());
    let tmux = Tmux::start("hangup", &command);
    tmux.wait_for(&["Loupe sessions", "hup-one"]);
    let out = tmux.run(&["display", "-p", "-t", "main", "#{pane_pid}"]);
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let stat = format!("/proc/{pid}/stat");
    assert!(std::fs::read_to_string(&stat).unwrap().contains("(loupe)"));
    let _ = tmux.run(&["kill-server"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Gone, or a zombie waiting for its reaper.
        let state = std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.chars().next()));
        if matches!(state, None | Some(Some('Z'))) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "loupe tui still running 10 s after its terminal hung up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
