//! Which files of a vault are notes.
//!
//! A file is a note when it ends in `.md` or `.markdown` and nothing excludes it. Excluded are:
//! dot-files and dot-folders (`.obsidian/`, `.git/`, `.trash/`), whatever `.gitignore` and
//! `.ignore` files in the vault say (no git repository needed), Obsidian's own "Excluded files"
//! (`userIgnoreFilters` in `.obsidian/app.json`), and the config's `exclude` globs. Symlinks are
//! followed only while they stay inside the vault.
//!
//! The same [`Rules`] drive the full walk ([`super::walk`]) and the one-path-at-a-time checks the
//! watcher needs, so both always agree.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::{IncrementalIgnore, WalkBuilder};
use regex::Regex;

use super::Vault;
use super::note::is_markdown_name;
use crate::error::{Error, Result};

/// A dot-file or dot-folder, hidden the way Obsidian hides them (`.obsidian`, `.git`,
/// `.hidden.md`). A note named only by dots (`..md`, the tldr page of the `.` command) is not
/// hidden: its name is the dot.
pub(crate) fn is_hidden_name(name: &str, is_dir: bool) -> bool {
    if !name.starts_with('.') {
        return false;
    }
    if is_dir {
        return true;
    }
    let stem = super::note::strip_markdown_extension(name);
    !(stem.len() < name.len() && stem.chars().all(|c| c == '.'))
}

/// Files whose change means the rules must be reloaded and the vault rescanned.
pub(crate) fn is_rules_file(relative_id: &str) -> bool {
    let name = relative_id.rsplit('/').next().unwrap_or(relative_id);
    relative_id == ".obsidian/app.json"
        || relative_id == ".obsidian"
        || name == ".gitignore"
        || name == ".ignore"
}

/// One entry of Obsidian's `userIgnoreFilters`.
#[derive(Clone, Debug)]
enum ObsidianFilter {
    /// `Archive/` or `Templates`: a prefix of the vault-relative path, as Obsidian matches it.
    Prefix(String),
    /// `/regex/`
    Regex(Regex),
}

/// The exclusion rules that are not gitignore files: Obsidian's filters and config globs.
#[derive(Clone, Debug, Default)]
pub(crate) struct ExtraRules {
    obsidian: Vec<ObsidianFilter>,
    globs: Option<GlobSet>,
}

impl ExtraRules {
    /// True when `id` (a vault-relative path; for folders without a trailing `/`) is excluded.
    pub(crate) fn excludes(&self, id: &str, is_dir: bool) -> bool {
        let with_slash;
        let candidate = if is_dir {
            with_slash = format!("{id}/");
            with_slash.as_str()
        } else {
            id
        };
        let obsidian = self.obsidian.iter().any(|filter| match filter {
            ObsidianFilter::Prefix(prefix) => candidate.starts_with(prefix.as_str()),
            ObsidianFilter::Regex(regex) => regex.is_match(candidate),
        });
        obsidian
            || self
                .globs
                .as_ref()
                .is_some_and(|globs| globs.is_match(id) || (is_dir && globs.is_match(candidate)))
    }
}

/// Everything that decides whether a path is a note.
#[derive(Debug)]
pub(crate) struct Rules {
    root: PathBuf,
    extra: ExtraRules,
    ignore: IncrementalIgnore,
    /// Problems found while loading the rules (a broken `app.json`), for the log.
    pub(crate) warnings: Vec<String>,
}

impl Rules {
    /// Loads the rules of a vault: reads `.obsidian/app.json` and compiles the config globs.
    /// A bad glob is an error (it is the user's config); a broken `app.json` is a warning.
    pub(crate) fn load(vault: &Vault) -> Result<Rules> {
        let mut warnings = Vec::new();
        let obsidian = load_obsidian_filters(vault.root(), &mut warnings);
        let globs = compile_globs(vault.exclude_globs())?;
        let extra = ExtraRules { obsidian, globs };
        let ignore = walk_builder(vault.root())
            .build_matchers()
            .pop()
            .expect("one root gives one matcher");
        Ok(Rules {
            root: vault.root().to_path_buf(),
            extra,
            ignore,
            warnings,
        })
    }

    /// The rules that a walk applies through `filter_entry`.
    pub(crate) fn extra(&self) -> &ExtraRules {
        &self.extra
    }

    /// True when the file or folder with this vault-relative id is excluded. Markdown extension
    /// and symlink checks are not part of this; see [`Rules::is_note_path`].
    pub(crate) fn is_excluded(&mut self, id: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = id.split('/').collect();
        let last = parts.len() - 1;
        if parts
            .iter()
            .enumerate()
            .any(|(i, part)| is_hidden_name(part, i < last || is_dir))
        {
            return true;
        }
        if self.ignore.matched(id, is_dir).is_ignore() {
            return true;
        }
        // Every ancestor folder must be allowed as well, as the walk would have pruned it.
        let mut end = 0;
        while let Some(slash) = id[end..].find('/') {
            let folder = &id[..end + slash];
            if self.extra.excludes(folder, true) {
                return true;
            }
            end += slash + 1;
        }
        self.extra.excludes(id, is_dir)
    }

    /// True when the file at `path` (absolute, under the root) is a note by every rule: a
    /// Markdown name, not excluded, and not a symlink that leaves the vault.
    pub(crate) fn is_note_path(&mut self, id: &str, path: &Path) -> bool {
        if !is_markdown_name(id) || self.is_excluded(id, false) {
            return false;
        }
        stays_inside(&self.root, path)
    }
}

/// True unless `path` is, or passes through, a symlink that resolves outside `root`.
pub(crate) fn stays_inside(root: &Path, path: &Path) -> bool {
    match std::fs::canonicalize(path) {
        Ok(real) => real.starts_with(root),
        // A file that vanished is handled by the caller's stat; it leaks nothing.
        Err(_) => true,
    }
}

/// The `ignore` walk builder with deepvault's settings: `.gitignore` and
/// `.ignore` honoured without a git repository, nothing read from above the vault root.
pub(crate) fn walk_builder(root: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        // Hidden names are filtered by `is_hidden_name`, which keeps notes named `..md`.
        .hidden(false)
        .parents(false)
        .ignore(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(true);
    builder
}

fn load_obsidian_filters(root: &Path, warnings: &mut Vec<String>) -> Vec<ObsidianFilter> {
    let path = root.join(".obsidian").join("app.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => {
            warnings.push(format!("cannot read {}: {err}", path.display()));
            return Vec::new();
        }
    };
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(value) => value,
        Err(err) => {
            warnings.push(format!(
                "{} is not valid JSON ({err}); Obsidian's excluded files are not applied",
                path.display()
            ));
            return Vec::new();
        }
    };
    let Some(filters) = value.get("userIgnoreFilters").and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    filters
        .iter()
        .filter_map(|f| f.as_str())
        .filter(|f| !f.trim().is_empty())
        .filter_map(|filter| {
            let filter = filter.trim();
            if filter.len() > 2 && filter.starts_with('/') && filter.ends_with('/') {
                match Regex::new(&filter[1..filter.len() - 1]) {
                    Ok(regex) => Some(ObsidianFilter::Regex(regex)),
                    Err(err) => {
                        warnings.push(format!(
                            "excluded-files pattern {filter} in {} is not a valid regex: {err}",
                            path.display()
                        ));
                        None
                    }
                }
            } else {
                Some(ObsidianFilter::Prefix(
                    filter.trim_start_matches('/').to_string(),
                ))
            }
        })
        .collect()
}

fn compile_globs(patterns: &[String]) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern.trim_end_matches('/')).map_err(|err| Error::Config {
            message: format!("exclude pattern `{pattern}` is not a valid glob: {err}"),
        })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|err| Error::Config {
        message: format!("exclude patterns cannot be compiled: {err}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault_with(files: &[(&str, &str)], exclude: &[&str]) -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        let vault = Vault::open(dir.path(), &exclude).unwrap();
        (dir, vault)
    }

    #[test]
    fn every_kind_of_exclusion() {
        let (_dir, vault) = vault_with(
            &[
                (
                    ".obsidian/app.json",
                    r#"{"userIgnoreFilters":["Archive/","/^Temp.*\\.md$/"]}"#,
                ),
                (".gitignore", "drafts/\n*.tmp.md\n"),
                ("a.md", ""),
            ],
            &["Templates/**", "**/*.excalidraw.md"],
        );
        let mut rules = Rules::load(&vault).unwrap();
        assert!(rules.warnings.is_empty(), "{:?}", rules.warnings);
        for excluded in [
            ".trash/x.md",
            "sub/.hidden.md",
            ".github/..md",
            "Archive/old.md",
            "Archive/deep/old.md",
            "Temporary.md",
            "drafts/d.md",
            "x.tmp.md",
            "Templates/t.md",
            "a/b.excalidraw.md",
        ] {
            assert!(
                rules.is_excluded(excluded, false),
                "{excluded} should be excluded"
            );
        }
        for included in [
            "a.md",
            "Archived.md",
            "notes/Archive.md",
            "sub/drafts.md",
            "common/..md",
        ] {
            assert!(
                !rules.is_excluded(included, false),
                "{included} should be included"
            );
        }
        assert!(rules.is_excluded("Archive", true));
        assert!(rules.is_excluded("drafts", true));
    }

    #[test]
    fn broken_app_json_is_a_warning() {
        let (_dir, vault) = vault_with(&[(".obsidian/app.json", "{not json")], &[]);
        let rules = Rules::load(&vault).unwrap();
        assert_eq!(rules.warnings.len(), 1);
        assert!(rules.warnings[0].contains("not valid JSON"));
    }

    #[test]
    fn bad_glob_is_an_error_naming_it() {
        let (_dir, vault) = vault_with(&[], &["a/[b"]);
        let err = Rules::load(&vault).unwrap_err();
        assert!(err.to_string().contains("a/[b"), "{err}");
    }

    #[test]
    fn rules_files() {
        assert!(is_rules_file(".gitignore"));
        assert!(is_rules_file("sub/.ignore"));
        assert!(is_rules_file(".obsidian/app.json"));
        assert!(!is_rules_file(".obsidian/workspace.json"));
        assert!(!is_rules_file("gitignore.md"));
    }
}
