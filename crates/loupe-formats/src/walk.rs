//! Which files a read covers: the paths named, and the files of each named
//! directory, walked recursively in name order.
//!
//! The walk is lazy. It holds the sorted listing of each directory on the
//! current path and nothing of the files already handed out, so its memory
//! follows the largest directory and the depth, not the number of files
//! read (a gigabyte of one-session files used to cost about 230 bytes a file
//! in lists kept to the end; docs/benchmarks.md).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::ReadError;

/// Where standard input is read from when a path is `-`.
const STDIN: &str = "/dev/stdin";

/// The file to open for a path the user gave: `-` is standard input.
pub fn resolve_stdin(path: &Path) -> PathBuf {
    if path.as_os_str() == "-" {
        PathBuf::from(STDIN)
    } else {
        path.to_path_buf()
    }
}

/// Whether a file's name says it holds JSON lines (`.jsonl`, `.ndjson`,
/// possibly compressed): a file so named whose content is no trace is worth
/// a warning, where other non-trace files of a directory are skipped
/// quietly.
pub fn named_as_json_lines(path: &Path) -> bool {
    let name = path.to_string_lossy();
    let name = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(&name);
    name.ends_with(".jsonl") || name.ends_with(".ndjson")
}

/// One file to read.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) path: PathBuf,
    /// Named by the user (errors are fatal) rather than found by a walk.
    pub(crate) explicit: bool,
}

/// The files of a read, in order, found as they are asked for.
#[derive(Debug)]
pub(crate) struct Walk {
    /// What the user named, not yet reached.
    roots: std::vec::IntoIter<Root>,
    /// Directories being walked, innermost last.
    stack: Vec<Listing>,
    /// Items found ahead of being asked for (see [`Walk::has_at_least`]).
    ahead: VecDeque<Item>,
    /// Items handed out so far: the next one's position in walk order.
    handed_out: usize,
    /// Directories met on the walk that could not be listed.
    errors: Vec<ReadError>,
}

#[derive(Debug)]
enum Root {
    File(PathBuf),
    Dir(Listing),
}

/// A directory's entries worth reading, sorted by name, not yet visited.
#[derive(Debug)]
struct Listing {
    dir: PathBuf,
    entries: std::vec::IntoIter<(OsString, bool)>,
}

impl Walk {
    /// Checks every named path and lists the named directories, so that a
    /// path that does not exist or a directory that cannot be listed fails
    /// the read before anything is read. Deeper directories are listed as
    /// the walk reaches them; one that cannot be listed is kept in
    /// [`Walk::into_errors`] and the walk goes on.
    ///
    /// `-` names standard input, as for `cat` or `rg` (read through
    /// `/dev/stdin`, which is also the name its events' source carries).
    pub(crate) fn new(paths: &[PathBuf]) -> Result<Walk, ReadError> {
        let mut roots = Vec::with_capacity(paths.len());
        for p in paths {
            if p.as_os_str() == "-" {
                roots.push(Root::File(resolve_stdin(p)));
                continue;
            }
            let meta = std::fs::metadata(p).map_err(|e| ReadError::Io {
                path: p.clone(),
                error: e,
            })?;
            roots.push(if meta.is_dir() {
                Root::Dir(Listing::read(p)?)
            } else {
                Root::File(p.clone())
            });
        }
        Ok(Walk {
            roots: roots.into_iter(),
            stack: Vec::new(),
            ahead: VecDeque::new(),
            handed_out: 0,
            errors: Vec::new(),
        })
    }

    /// The next file and its position in walk order (0, 1, 2…).
    pub(crate) fn next_numbered(&mut self) -> Option<(usize, Item)> {
        let item = self.ahead.pop_front().or_else(|| self.find_next())?;
        let n = self.handed_out;
        self.handed_out += 1;
        Some((n, item))
    }

    /// Whether at least `n` more files remain (looks ahead as far as needed;
    /// what it finds is handed out later, in order).
    pub(crate) fn has_at_least(&mut self, n: usize) -> bool {
        while self.ahead.len() < n {
            match self.find_next() {
                Some(item) => self.ahead.push_back(item),
                None => return false,
            }
        }
        true
    }

    /// Directories below the named ones that could not be listed.
    pub(crate) fn into_errors(self) -> Vec<ReadError> {
        self.errors
    }

    fn find_next(&mut self) -> Option<Item> {
        loop {
            if let Some(top) = self.stack.last_mut() {
                let Some((name, is_dir)) = top.entries.next() else {
                    self.stack.pop();
                    continue;
                };
                let path = top.dir.join(name);
                if !is_dir {
                    return Some(Item {
                        path,
                        explicit: false,
                    });
                }
                match Listing::read(&path) {
                    Ok(listing) => self.stack.push(listing),
                    Err(e) => self.errors.push(e),
                }
                continue;
            }
            match self.roots.next()? {
                Root::File(path) => {
                    return Some(Item {
                        path,
                        explicit: true,
                    })
                }
                Root::Dir(listing) => self.stack.push(listing),
            }
        }
    }
}

/// Hidden directories where the seed systems write their traces by default
/// (attocode's `.attocode/traces`, attoswarm's `.agent/hybrid-swarm`, Agent
/// Trace's `.agent/traces` and `.traces`, Victor's `~/.victor`), walked
/// although hidden, so `loupe view PROJECT` finds them.
const TRACE_HOMES: &[&str] = &[".attocode", ".agent", ".traces", ".victor"];

impl Listing {
    /// Lists `dir`: hidden entries (`.git`…) left out except [`TRACE_HOMES`], symlinked directories
    /// not followed (no cycles), an Agent Trace `metadata.json` beside an
    /// `events.jsonl` left out (the `events.jsonl` reader merges it).
    fn read(dir: &Path) -> Result<Listing, ReadError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| ReadError::Io {
                path: dir.to_path_buf(),
                error: e,
            })?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        let has_events_jsonl = entries.iter().any(|e| e.file_name() == "events.jsonl");
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".")
                && !TRACE_HOMES.iter().any(|home| name == *home)
            {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                kept.push((name, true));
            } else if ft.is_file() || (ft.is_symlink() && entry.path().is_file()) {
                if has_events_jsonl && name == "metadata.json" {
                    continue;
                }
                kept.push((name, false));
            }
        }
        Ok(Listing {
            dir: dir.to_path_buf(),
            entries: kept.into_iter(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(walk: &mut Walk) -> Vec<String> {
        std::iter::from_fn(|| walk.next_numbered())
            .map(|(_, item)| item.path.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn walks_named_files_and_directories_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for p in [
            "b/2.jsonl",
            "b/1.jsonl",
            "a.jsonl",
            "c/d/e.jsonl",
            ".hidden/x.jsonl",
            ".attocode/traces/t.jsonl",
        ] {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}\n").unwrap();
        }
        let mut walk = Walk::new(&[root.join("c/d/e.jsonl"), root.to_path_buf()]).unwrap();
        assert!(walk.has_at_least(2));
        let got = paths(&mut walk);
        let rel: Vec<_> = got
            .iter()
            .map(|p| p.strip_prefix(&*root.to_string_lossy()).unwrap().to_owned())
            .collect();
        assert_eq!(
            rel,
            [
                "/c/d/e.jsonl",
                "/.attocode/traces/t.jsonl",
                "/a.jsonl",
                "/b/1.jsonl",
                "/b/2.jsonl",
                "/c/d/e.jsonl"
            ]
        );
        assert!(!walk.has_at_least(1));
    }

    #[test]
    fn numbers_follow_walk_order_across_look_ahead() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.jsonl")), "{}\n").unwrap();
        }
        let mut walk = Walk::new(&[dir.path().to_path_buf()]).unwrap();
        let (n0, first) = walk.next_numbered().unwrap();
        assert!(walk.has_at_least(3));
        assert!(!walk.has_at_least(5));
        let rest: Vec<_> = std::iter::from_fn(|| walk.next_numbered()).collect();
        assert_eq!(n0, 0);
        assert!(first.path.ends_with("0.jsonl"));
        let numbers: Vec<_> = rest.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
        assert!(rest[3].1.path.ends_with("4.jsonl"));
    }

    #[test]
    fn a_subdirectory_that_cannot_be_listed_is_an_error_and_the_walk_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("gone")).unwrap();
        std::fs::write(dir.path().join("kept.jsonl"), "{}\n").unwrap();
        let mut walk = Walk::new(&[dir.path().to_path_buf()]).unwrap();
        // Listed with the root, removed before the walk reaches it.
        std::fs::remove_dir(dir.path().join("gone")).unwrap();
        let got = paths(&mut walk);
        assert_eq!(got.len(), 1);
        assert!(got[0].ends_with("kept.jsonl"));
        let errors = walk.into_errors();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("gone"), "{}", errors[0]);
    }

    #[test]
    fn a_missing_named_path_fails_up_front() {
        let err = Walk::new(&[PathBuf::from("/no/such/loupe/path")]).unwrap_err();
        assert!(err.to_string().contains("/no/such/loupe/path"), "{err}");
    }
}
