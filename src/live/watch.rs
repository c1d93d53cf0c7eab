//! The native file watcher: notify's recommended backend (inotify on Linux, FSEvents on macOS),
//! with one non-recursive watch per folder of the vault.
//!
//! Watching folder by folder (the folders the walk found, plus `.obsidian/` for `app.json`)
//! instead of the whole tree keeps dot-folders like `.git/` and ignored folders out, and costs
//! nothing at start-up: notify's recursive mode walks the whole tree a second time. New folders
//! are watched after the reconcile that their creation triggers; a folder that moved away is
//! unwatched, because an inotify watch follows the inode and would report stale paths.
//!
//! Events are filtered only for the obvious (reads, and dot-folder paths other than rule files):
//! the sync thread re-checks every path against the file system and the rules, so a lost or
//! misleading event costs a stat. An overflow or a watcher error asks for a full rescan. An
//! event on the root itself (inotify's `IN_DELETE_SELF`, `IN_MOVE_SELF`: the vault folder was
//! deleted, moved or replaced) asks the sync thread to check the root: its watches are dead then,
//! and it builds a new watcher once the folder is back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;
use notify::{EventKind, RecursiveMode, Watcher};

use crate::live::SyncMsg;

/// The watcher and the folders it watches.
pub(crate) struct DirWatcher {
    watcher: notify::RecommendedWatcher,
    root: PathBuf,
    watched: HashSet<PathBuf>,
}

impl DirWatcher {
    /// Starts a watcher whose events go to `tx`; watches the root and `.obsidian/` at once.
    pub(crate) fn new(root: &Path, tx: Sender<SyncMsg>) -> notify::Result<DirWatcher> {
        let root_for_filter = root.to_path_buf();
        let watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
            let message = match result {
                Ok(event) if event.need_rescan() => {
                    SyncMsg::Rescan("the watcher lost events (queue overflow)".into())
                }
                Ok(event) => {
                    if matches!(event.kind, EventKind::Access(_)) {
                        return;
                    }
                    if matches!(event.kind, EventKind::Remove(_) | EventKind::Modify(_))
                        && event.paths.iter().any(|p| p == &root_for_filter)
                    {
                        let _ = tx.send(SyncMsg::CheckRoot);
                        return;
                    }
                    let paths: Vec<PathBuf> = event
                        .paths
                        .into_iter()
                        .filter(|p| worth_checking(&root_for_filter, p))
                        .collect();
                    if paths.is_empty() {
                        return;
                    }
                    SyncMsg::Paths(paths)
                }
                Err(err) => SyncMsg::Rescan(format!("the watcher reported an error: {err}")),
            };
            let _ = tx.send(message);
        })?;
        let mut dir_watcher = DirWatcher {
            watcher,
            root: root.to_path_buf(),
            watched: HashSet::new(),
        };
        dir_watcher.watch(root.to_path_buf())?;
        dir_watcher.watch_obsidian();
        Ok(dir_watcher)
    }

    fn watch(&mut self, dir: PathBuf) -> notify::Result<bool> {
        if self.watched.contains(&dir) {
            return Ok(false);
        }
        self.watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        self.watched.insert(dir);
        Ok(true)
    }

    /// `.obsidian/` holds `app.json` (excluded files); it is a dot-folder the walk skips.
    fn watch_obsidian(&mut self) {
        let obsidian = self.root.join(".obsidian");
        if obsidian.is_dir() {
            let _ = self.watch(obsidian);
        }
    }

    /// Watches every folder in `dirs` not watched yet; returns how many were added. An error
    /// (an inotify watch limit, say) stops and is returned.
    pub(crate) fn watch_all(&mut self, dirs: &[PathBuf]) -> notify::Result<usize> {
        let mut added = 0;
        for dir in dirs {
            match self.watch(dir.clone()) {
                Ok(true) => added += 1,
                Ok(false) => {}
                // It vanished between the walk and now; the next event will tell.
                Err(notify::Error {
                    kind: notify::ErrorKind::PathNotFound,
                    ..
                }) => {}
                Err(notify::Error {
                    kind: notify::ErrorKind::Io(err),
                    ..
                }) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        self.watch_obsidian();
        Ok(added)
    }

    /// Stops watching `dir` and everything below it (it was deleted or moved away).
    pub(crate) fn forget(&mut self, dir: &Path) {
        let gone: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|w| w.starts_with(dir))
            .cloned()
            .collect();
        for path in gone {
            let _ = self.watcher.unwatch(&path);
            self.watched.remove(&path);
        }
    }

    /// True when `path` is a folder being watched.
    pub(crate) fn is_watched(&self, path: &Path) -> bool {
        self.watched.contains(path)
    }
}

/// Paths inside dot-folders (`.git`, `.obsidian`) matter only if they are rule files.
fn worth_checking(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    let parts: Vec<_> = relative.components().collect();
    let hidden = parts.iter().enumerate().any(|(i, c)| {
        crate::vault::rules::is_hidden_name(&c.as_os_str().to_string_lossy(), i + 1 < parts.len())
    });
    if !hidden {
        return true;
    }
    let id = relative.to_string_lossy().replace('\\', "/");
    crate::vault::rules::is_rules_file(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_folders_are_filtered_except_rule_files() {
        let root = Path::new("/v");
        assert!(worth_checking(root, Path::new("/v/a/b.md")));
        assert!(worth_checking(root, Path::new("/v/folder")));
        assert!(worth_checking(root, Path::new("/v/..md")));
        assert!(!worth_checking(root, Path::new("/v/.git/index")));
        assert!(!worth_checking(
            root,
            Path::new("/v/.obsidian/workspace.json")
        ));
        assert!(worth_checking(root, Path::new("/v/.obsidian/app.json")));
        assert!(worth_checking(root, Path::new("/v/.obsidian")));
        assert!(worth_checking(root, Path::new("/v/sub/.gitignore")));
        assert!(!worth_checking(root, Path::new("/elsewhere/x.md")));
    }
}
