//! The full scan of a vault: every note's id, size and modification time, found in parallel.
//!
//! Only `stat` happens here; files are read later, and only when they changed.

use std::sync::Arc;
use std::time::SystemTime;

use ignore::WalkState;

use super::Vault;
use super::cancel::Cancel;
use super::rules::{NotANote, Rules, document_kind, walk_builder};

/// A document found by the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileEntry {
    pub(crate) id: String,
    pub(crate) size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub(crate) mtime: i64,
}

/// Why the walk passed over something that looked like a note.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SkipReason {
    /// The file name is not valid UTF-8, so it has no id.
    NonUtf8Name,
    /// A symlink that resolves outside the vault.
    SymlinkOutside,
    /// A symlink whose target the exclusion rules exclude.
    SymlinkToExcluded(String),
    /// A FIFO, a socket or a device with a note's name.
    NotRegular(&'static str),
    /// The walk could not read a folder or a file's metadata.
    Unreadable(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NonUtf8Name => f.write_str("file name is not valid UTF-8"),
            SkipReason::SymlinkOutside => f.write_str("symlink points outside the vault"),
            SkipReason::SymlinkToExcluded(target) => {
                write!(f, "symlink to {target}, which the exclusion rules exclude")
            }
            SkipReason::NotRegular(kind) => write!(f, "{kind}, not a regular file"),
            SkipReason::Unreadable(err) => write!(f, "unreadable: {err}"),
        }
    }
}

/// What a walk found.
#[derive(Debug, Default)]
pub(crate) struct WalkReport {
    pub(crate) files: Vec<FileEntry>,
    /// Paths passed over, with the reason.
    pub(crate) skipped: Vec<(String, SkipReason)>,
    /// Every folder the walk entered (absolute, the root included): what a watcher watches.
    pub(crate) dirs: Vec<std::path::PathBuf>,
    /// The walk was stopped before it saw every file: absent files may well exist.
    pub(crate) cancelled: bool,
}

enum Found {
    File(FileEntry),
    Dir(std::path::PathBuf),
    Skipped(String, SkipReason),
}

/// Walks the vault with every rule applied. Uses two threads; the order of `files` is sorted by
/// id so results are deterministic. Stops early when `cancel` is raised: the report then says
/// `cancelled` and lists only part of the vault.
pub(crate) fn walk(vault: &Vault, rules: &Rules, cancel: &Cancel) -> WalkReport {
    walk_until(vault, rules, cancel, false)
}

/// True when the vault holds at least one note (the walk stops at the first one).
pub(crate) fn has_notes(vault: &Vault, rules: &Rules) -> bool {
    !walk_until(vault, rules, &Cancel::new(), true)
        .files
        .is_empty()
}

fn walk_until(vault: &Vault, rules: &Rules, cancel: &Cancel, first_only: bool) -> WalkReport {
    let root = vault.root().to_path_buf();
    let rules = Arc::new(rules.clone());
    let (tx, rx) = crossbeam_channel::unbounded::<Found>();
    let mut builder = walk_builder(&root);
    {
        let root = root.clone();
        let rules = Arc::clone(&rules);
        let tx = tx.clone();
        builder.filter_entry(move |entry| {
            if entry.depth() == 0 {
                return true;
            }
            let Some(id) = entry
                .path()
                .strip_prefix(&root)
                .ok()
                .and_then(super::relative_id)
            else {
                let _ = tx.send(Found::Skipped(
                    entry.path().to_string_lossy().into_owned(),
                    SkipReason::NonUtf8Name,
                ));
                return false;
            };
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if super::rules::is_hidden_name(&entry.file_name().to_string_lossy(), is_dir) {
                return false;
            }
            if rules.extra().excludes(&id, is_dir) || rules.ignore_files().is_ignored(&id, is_dir) {
                return false;
            }
            if entry.path_is_symlink() {
                // One containment rule for the walk and the watcher: the target must be inside
                // the vault and not excluded itself.
                let reason = match rules.check_target(&id, is_dir) {
                    Ok(_) => return true,
                    Err(NotANote::TargetExcluded(target)) => SkipReason::SymlinkToExcluded(target),
                    Err(NotANote::Refused(super::contain::Refused::Outside)) => {
                        SkipReason::SymlinkOutside
                    }
                    Err(NotANote::Refused(err)) => SkipReason::Unreadable(err.to_string()),
                };
                let _ = tx.send(Found::Skipped(id, reason));
                return false;
            }
            true
        });
    }
    builder.threads(2).build_parallel().run(|| {
        let tx = tx.clone();
        let root = root.clone();
        Box::new(move |result| {
            if cancel.is_cancelled() {
                return WalkState::Quit;
            }
            let entry = match result {
                Ok(entry) => entry,
                Err(err) => {
                    let path = error_path(&err).unwrap_or_default();
                    let _ = tx.send(Found::Skipped(
                        path,
                        SkipReason::Unreadable(err.to_string()),
                    ));
                    return WalkState::Continue;
                }
            };
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                let _ = tx.send(Found::Dir(entry.path().to_path_buf()));
                return WalkState::Continue;
            }
            let name = entry.file_name().to_string_lossy();
            if document_kind(&name).is_none() {
                return WalkState::Continue;
            }
            match entry.file_type() {
                Some(kind) if kind.is_file() => {}
                Some(kind) => {
                    if let Some(id) = entry
                        .path()
                        .strip_prefix(&root)
                        .ok()
                        .and_then(super::relative_id)
                    {
                        let kind = super::contain::kind_name(&kind);
                        let _ = tx.send(Found::Skipped(id, SkipReason::NotRegular(kind)));
                    }
                    return WalkState::Continue;
                }
                None => return WalkState::Continue,
            }
            let Some(id) = entry
                .path()
                .strip_prefix(&root)
                .ok()
                .and_then(super::relative_id)
            else {
                return WalkState::Continue; // reported by the filter
            };
            match entry.metadata() {
                Ok(metadata) => {
                    let _ = tx.send(Found::File(FileEntry {
                        id,
                        size: metadata.len(),
                        mtime: mtime_ns(&metadata),
                    }));
                    if first_only {
                        return WalkState::Quit;
                    }
                }
                Err(err) => {
                    let _ = tx.send(Found::Skipped(id, SkipReason::Unreadable(err.to_string())));
                }
            }
            WalkState::Continue
        })
    });
    // The filter holds a sender too: drop the builder so the channel closes.
    drop(builder);
    drop(tx);
    let mut report = WalkReport {
        cancelled: cancel.is_cancelled(),
        ..WalkReport::default()
    };
    for found in rx {
        match found {
            Found::File(file) => report.files.push(file),
            Found::Dir(dir) => report.dirs.push(dir),
            Found::Skipped(path, reason) => report.skipped.push((path, reason)),
        }
    }
    report.files.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    report.skipped.sort();
    report.skipped.dedup();
    report
}

/// Modification time in nanoseconds since the Unix epoch (0 when unknown).
pub(crate) fn mtime_ns(metadata: &std::fs::Metadata) -> i64 {
    system_time_ns(metadata.modified().ok())
}

/// Creation (birth) time in nanoseconds since the epoch, when the file system records it.
pub(crate) fn created_ns(metadata: &std::fs::Metadata) -> Option<i64> {
    metadata.created().ok().map(|t| system_time_ns(Some(t)))
}

fn system_time_ns(time: Option<SystemTime>) -> i64 {
    match time.map(|t| t.duration_since(SystemTime::UNIX_EPOCH)) {
        Some(Ok(d)) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Some(Err(before)) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
        None => 0,
    }
}

fn error_path(err: &ignore::Error) -> Option<String> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.to_string_lossy().into_owned()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.to_string_lossy().into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::Rules;
    use super::*;

    #[test]
    fn walk_applies_all_rules() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "a.md",
            "b.markdown",
            "c.png",
            "sub/deep/d.md",
            ".obsidian/x.md",
            ".trash/y.md",
            "Archive/z.md",
            "drafts/w.md",
            "Templates/t.md",
            "[[.md",
            "c++.md",
            "emoji 🎉.md",
            "..md",
            ".hidden.md",
            ".github/t.md",
            "ignored/hidden.md",
        ];
        for f in files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        std::fs::write(
            dir.path().join(".obsidian/app.json"),
            r#"{"userIgnoreFilters":["Archive/"]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join(".gitignore"), "drafts/\nignored/\n").unwrap();
        // Issue 12 #7: the ignore rules apply to a symlink's target too.
        std::os::unix::fs::symlink("ignored/hidden.md", dir.path().join("link_to_ignored.md"))
            .unwrap();
        std::os::unix::fs::symlink("../ignored", dir.path().join("sub/ignored_dir")).unwrap();
        // A FIFO is reported, never opened.
        assert!(
            std::process::Command::new("mkfifo")
                .arg(dir.path().join("fifo.md"))
                .status()
                .unwrap()
                .success()
        );
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "secret").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.md"), dir.path().join("link.md"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a.md"), dir.path().join("inside.md")).unwrap();

        let vault = Vault::open(dir.path(), &["Templates/**".to_string()]).unwrap();
        let rules = Rules::load(&vault).unwrap();
        let report = walk(&vault, &rules, &Cancel::new());
        let ids: Vec<_> = report.files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "..md",
                "[[.md",
                "a.md",
                "b.markdown",
                "c++.md",
                "emoji 🎉.md",
                "inside.md",
                "sub/deep/d.md"
            ]
        );
        let skipped: Vec<_> = report
            .skipped
            .iter()
            .map(|(p, r)| (p.as_str(), r))
            .collect();
        assert_eq!(
            skipped,
            vec![
                ("fifo.md", &SkipReason::NotRegular("a FIFO (named pipe)")),
                ("link.md", &SkipReason::SymlinkOutside),
                (
                    "link_to_ignored.md",
                    &SkipReason::SymlinkToExcluded("ignored/hidden.md".into())
                ),
                ("linkdir", &SkipReason::SymlinkOutside),
                (
                    "sub/ignored_dir",
                    &SkipReason::SymlinkToExcluded("ignored".into())
                ),
            ]
        );
        assert!(report.files.iter().all(|f| f.size == 1 && f.mtime > 0));
        // The watcher's one-path check agrees.
        assert!(matches!(
            rules.check_target("link_to_ignored.md", false),
            Err(NotANote::TargetExcluded(target)) if target == "ignored/hidden.md"
        ));
        assert_eq!(rules.check_target("inside.md", false).unwrap(), "a.md");
    }

    #[test]
    fn a_cancelled_walk_says_so_and_has_notes_stops_early() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..50 {
            std::fs::write(dir.path().join(format!("n{i}.md")), "x").unwrap();
        }
        let vault = Vault::open(dir.path(), &[]).unwrap();
        let rules = Rules::load(&vault).unwrap();
        let cancel = Cancel::new();
        let full = walk(&vault, &rules, &cancel);
        assert!(!full.cancelled);
        assert_eq!(full.files.len(), 50);
        cancel.cancel();
        let stopped = walk(&vault, &rules, &cancel);
        assert!(stopped.cancelled);
        assert!(stopped.files.len() < 50);
        assert!(has_notes(&vault, &rules));
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("a.png"), "x").unwrap();
        let vault = Vault::open(empty.path(), &[]).unwrap();
        assert!(!has_notes(&vault, &Rules::load(&vault).unwrap()));
    }
}
