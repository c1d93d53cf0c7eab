//! The native file watcher: notify's recommended backend (inotify on Linux, FSEvents on macOS),
//! watching the vault recursively and forwarding changed paths to the sync thread.
//!
//! It filters nothing but the obvious (reads, and paths inside dot-folders other than the rule
//! files): the sync thread re-checks every path against the file system and the exclusion rules,
//! so a lost or misleading event costs nothing but a stat. An overflow or a watcher error asks
//! for a full rescan.

use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;
use notify::{EventKind, RecursiveMode, Watcher};

use crate::sync::SyncMsg;

/// Starts watching `root`; the watcher stops when the returned value is dropped.
pub fn watch(root: &Path, tx: Sender<SyncMsg>) -> notify::Result<notify::RecommendedWatcher> {
    let root_for_filter = root.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let message = match result {
            Ok(event) if event.need_rescan() => {
                SyncMsg::Rescan("the watcher lost events (queue overflow)".into())
            }
            Ok(event) => {
                if matches!(event.kind, EventKind::Access(_)) {
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
    watcher.watch(root, RecursiveMode::Recursive)?;
    Ok(watcher)
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
        assert!(!worth_checking(root, Path::new("/v/.git/index")));
        assert!(!worth_checking(
            root,
            Path::new("/v/.obsidian/workspace.json")
        ));
        assert!(worth_checking(root, Path::new("/v/.obsidian/app.json")));
        assert!(worth_checking(root, Path::new("/v/sub/.gitignore")));
        assert!(!worth_checking(root, Path::new("/elsewhere/x.md")));
    }
}
