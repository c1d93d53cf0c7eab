//! Which files of a vault are documents, and of which kind.
//!
//! A file is a document when its name says so ([`document_kind`]: `.md` and `.markdown` notes,
//! `*.excalidraw.md` drawings, `.canvas` canvases, `.pdf` and `.txt` files) and nothing
//! excludes it. Excluded are:
//! dot-files and dot-folders (`.obsidian/`, `.git/`, `.trash/`), whatever `.gitignore` and
//! `.ignore` files in the vault say (no git repository needed), Obsidian's own "Excluded files"
//! (`userIgnoreFilters` in `.obsidian/app.json`), and the config's `exclude` globs. Symlinks are
//! followed only while they stay inside the vault, and a symlink is a note only when its target
//! is one too: the rules apply to the target's path as well as to the link's.
//!
//! The config's `private_paths` globs are not exclusions: a file there is found and counted,
//! but it is private whatever it says ([`Rules::is_private_path`]): the indexer keeps it out as
//! it keeps out a note marked private, and `/files` never serves it. A symlink to such a file is
//! private too ([`Rules::leads_to_private`]).
//!
//! The same [`Rules`] drive the full walk ([`super::walk`]) and the one-path-at-a-time checks the
//! watcher needs, so both always agree. The rule files themselves are read through the root
//! handle ([`super::contain`]), like notes: a `.gitignore` that is a FIFO, a device or a link out
//! of the vault is not applied (and logged), and never blocks a walk.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::WalkBuilder;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use regex::Regex;

use super::Vault;
use super::note::{DocumentKind, is_markdown_name};
use crate::error::{Error, Result};

/// The kind of document a file name says it is, or `None` for a file that is not a document
/// (an attachment, a config file). The one place that decides which files are documents.
pub(crate) fn document_kind(name: &str) -> Option<DocumentKind> {
    if is_markdown_name(name) {
        return Some(if super::parse::is_excalidraw_name(name) {
            DocumentKind::Excalidraw
        } else {
            DocumentKind::Markdown
        });
    }
    [
        (".canvas", DocumentKind::Canvas),
        (".pdf", DocumentKind::Pdf),
        (".txt", DocumentKind::Text),
    ]
    .into_iter()
    .find(|(ext, _)| {
        name.len()
            .checked_sub(ext.len())
            .filter(|&cut| cut > 0)
            .and_then(|cut| name.get(cut..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(ext))
    })
    .map(|(_, kind)| kind)
}

/// The files of a vault by lower-cased file name ([`Rules::file_names`]).
pub(crate) struct FileNames {
    by_name: HashMap<String, Vec<String>>,
}

impl FileNames {
    /// The files whose link key is `key` or ends with `/key`: the files a link written `key`
    /// could mean (names match without regard to case, as link keys do).
    pub(crate) fn with_key(&self, key: &str) -> Vec<&str> {
        let name = key.rsplit('/').next().unwrap_or(key).to_lowercase();
        let suffix = format!("/{key}");
        self.by_name
            .get(&name)
            .into_iter()
            .flatten()
            .filter(|id| {
                let id_key = super::note::link_key(id);
                id_key == key || id_key.ends_with(&suffix)
            })
            .map(String::as_str)
            .collect()
    }
}

/// True for a document whose text is what deepvault serves (redacted), never its bytes: notes,
/// drawings, canvases and plain-text files. Their file is never served as it is (`/files`);
/// their page is.
pub(crate) fn is_text_document(name: &str) -> bool {
    document_kind(name).is_some_and(|kind| kind.is_markdown() || kind == DocumentKind::Text)
}

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

/// The largest rule file (`.gitignore`, `.ignore`, `app.json`) that is read.
const MAX_RULES_FILE_BYTES: u64 = 1024 * 1024;

/// The `.gitignore` and `.ignore` files of a vault, read through the root handle, each folder's
/// on first use. Matching follows the `ignore` crate: the deepest file with a match decides,
/// and `.ignore` files take precedence over `.gitignore` files.
#[derive(Debug)]
pub(crate) struct IgnoreFiles {
    vault: Vault,
    levels: Mutex<HashMap<String, Arc<Level>>>,
}

/// One folder's ignore files.
#[derive(Debug, Default)]
struct Level {
    ignore: Option<Gitignore>,
    gitignore: Option<Gitignore>,
}

impl IgnoreFiles {
    pub(crate) fn new(vault: &Vault) -> IgnoreFiles {
        IgnoreFiles {
            vault: vault.clone(),
            levels: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, folder: &str) -> Arc<Level> {
        if let Some(level) = self.lock().get(folder) {
            return Arc::clone(level);
        }
        let level = Arc::new(Level {
            ignore: self.load(folder, ".ignore"),
            gitignore: self.load(folder, ".gitignore"),
        });
        self.lock()
            .entry(folder.to_string())
            .or_insert(level)
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Level>>> {
        self.levels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn load(&self, folder: &str, name: &str) -> Option<Gitignore> {
        let id = if folder.is_empty() {
            name.to_string()
        } else {
            format!("{folder}/{name}")
        };
        let bytes = match self.vault.dir().resolve_and_read(&id, MAX_RULES_FILE_BYTES) {
            Ok((_, bytes, _)) => bytes,
            Err(err) if err.is_not_found() => return None,
            Err(err) => {
                tracing::warn!("{id} is not applied: {err}");
                return None;
            }
        };
        let mut builder = GitignoreBuilder::new(self.vault.root().join(folder));
        let text = String::from_utf8_lossy(&bytes);
        for line in text.trim_start_matches('\u{feff}').lines() {
            if let Err(err) = builder.add_line(None, line) {
                tracing::warn!("{id}: {err}");
            }
        }
        builder.build().ok()
    }

    /// True when the ignore files say `id` is ignored (its ancestors are not looked at).
    pub(crate) fn is_ignored(&self, id: &str, is_dir: bool) -> bool {
        let path = self.vault.root().join(id);
        let mut folders = vec![""];
        folders.extend(id.match_indices('/').map(|(i, _)| &id[..i]));
        let levels: Vec<Arc<Level>> = folders.iter().rev().map(|f| self.level(f)).collect();
        for ignore_file in [
            (|level: &Level| level.ignore.as_ref()) as fn(&Level) -> Option<&Gitignore>,
            |level: &Level| level.gitignore.as_ref(),
        ] {
            for level in &levels {
                if let Some(matcher) = ignore_file(level) {
                    let matched = matcher.matched(&path, is_dir);
                    if matched.is_ignore() {
                        return true;
                    }
                    if matched.is_whitelist() {
                        return false;
                    }
                }
            }
        }
        false
    }
}

/// Everything that decides whether a path is a note.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    vault: Vault,
    extra: ExtraRules,
    ignore: Arc<IgnoreFiles>,
    /// The config's `private_paths`.
    private: Option<GlobSet>,
    /// Problems found while loading the rules (a broken `app.json`), for the log.
    pub(crate) warnings: Vec<String>,
}

/// Why a path is not a note.
#[derive(Debug)]
pub(crate) enum NotANote {
    /// A symlink whose target is excluded: the rules apply to both ends.
    TargetExcluded(String),
    /// A symlink that leads out of the vault, or an unreadable link.
    Refused(super::contain::Refused),
}

impl Rules {
    /// Loads the rules of a vault: reads `.obsidian/app.json` and compiles the config globs.
    /// A bad glob is an error (it is the user's config); a broken `app.json` is a warning.
    pub(crate) fn load(vault: &Vault) -> Result<Rules> {
        let mut warnings = Vec::new();
        let obsidian = load_obsidian_filters(vault, &mut warnings);
        let globs = compile_globs(vault.exclude_globs(), "exclude")?;
        let extra = ExtraRules { obsidian, globs };
        Ok(Rules {
            vault: vault.clone(),
            extra,
            ignore: Arc::new(IgnoreFiles::new(vault)),
            private: compile_globs(vault.private_globs(), "private_paths")?,
            warnings,
        })
    }

    /// Forgets the ignore files read so far (a walk reads them again, so a change made while
    /// no watcher saw it, in polling mode say, is applied).
    pub(crate) fn refresh_ignore_files(&mut self) {
        self.ignore = Arc::new(IgnoreFiles::new(&self.vault));
    }

    /// The rules that a walk applies through `filter_entry`.
    pub(crate) fn extra(&self) -> &ExtraRules {
        &self.extra
    }

    /// The ignore files, for a walk.
    pub(crate) fn ignore_files(&self) -> &Arc<IgnoreFiles> {
        &self.ignore
    }

    /// True when the file or folder with this vault-relative id is excluded, by its own name
    /// or any of its folders'. Markdown extension and symlink checks are not part of this; see
    /// [`Rules::check_target`].
    pub(crate) fn is_excluded(&self, id: &str, is_dir: bool) -> bool {
        excluded_with_ancestors(&self.ignore, &self.extra, id, is_dir)
    }

    /// True when `private_paths` names this file or one of its folders (same glob semantics as
    /// `exclude`). Symlinks are not followed; see [`Rules::leads_to_private`].
    pub(crate) fn is_private_path(&self, id: &str) -> bool {
        let Some(globs) = &self.private else {
            return false;
        };
        if globs.is_match(id) {
            return true;
        }
        id.match_indices('/').any(|(end, _)| {
            let folder = &id[..end];
            globs.is_match(folder) || globs.is_match(&id[..=end])
        })
    }

    /// [`Rules::is_private_path`] for the file and, through its symlinks, for the file they
    /// lead to (looked up only when `private_paths` is set). A link that cannot be resolved is
    /// not private here: reading it fails anyway.
    pub(crate) fn leads_to_private(&self, id: &str) -> bool {
        if self.private.is_none() {
            return false;
        }
        self.is_private_path(id)
            || self
                .vault
                .dir()
                .resolve(id)
                .is_ok_and(|target| target != id && self.is_private_path(&target))
    }

    /// The files (not folders) of the vault, exclusions applied, by name: what a link written
    /// as a bare name or a path suffix could mean. One walk, on this thread.
    pub(crate) fn file_names(&self) -> FileNames {
        let root = self.vault.root().to_path_buf();
        let mut builder = walk_builder(&root);
        let rules = self.clone();
        let filter_root = root.clone();
        builder.filter_entry(move |entry| {
            if entry.depth() == 0 {
                return true;
            }
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            let Some(id) = entry
                .path()
                .strip_prefix(&filter_root)
                .ok()
                .and_then(super::relative_id)
            else {
                return false;
            };
            !is_hidden_name(&entry.file_name().to_string_lossy(), is_dir)
                && !rules.extra.excludes(&id, is_dir)
                && !rules.ignore.is_ignored(&id, is_dir)
        });
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        for entry in builder.build().flatten() {
            if entry.file_type().is_some_and(|t| t.is_dir()) {
                continue;
            }
            let Some(id) = entry
                .path()
                .strip_prefix(&root)
                .ok()
                .and_then(super::relative_id)
            else {
                continue;
            };
            let name = entry.file_name().to_string_lossy().to_lowercase();
            by_name.entry(name).or_default().push(id);
        }
        FileNames { by_name }
    }

    /// The target id of `id` through its symlinks, if it is inside the vault and not excluded:
    /// the id to read. The link's own id must pass [`Rules::is_excluded`] too.
    pub(crate) fn check_target(
        &self,
        id: &str,
        is_dir: bool,
    ) -> std::result::Result<String, NotANote> {
        let target = self.vault.dir().resolve(id).map_err(NotANote::Refused)?;
        if target != id && self.is_excluded(&target, is_dir) {
            return Err(NotANote::TargetExcluded(target));
        }
        Ok(target)
    }
}

/// Every exclusion rule for one id, its ancestor folders included (as a walk would have pruned
/// them).
pub(crate) fn excluded_with_ancestors(
    ignore: &IgnoreFiles,
    extra: &ExtraRules,
    id: &str,
    is_dir: bool,
) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    let last = parts.len() - 1;
    if parts
        .iter()
        .enumerate()
        .any(|(i, part)| is_hidden_name(part, i < last || is_dir))
    {
        return true;
    }
    let mut end = 0;
    while let Some(slash) = id[end..].find('/') {
        let folder = &id[..end + slash];
        if extra.excludes(folder, true) || ignore.is_ignored(folder, true) {
            return true;
        }
        end += slash + 1;
    }
    extra.excludes(id, is_dir) || ignore.is_ignored(id, is_dir)
}

/// The `ignore` walk builder with deepvault's settings: symlinks followed (the walk's filter
/// keeps them inside the vault), nothing read from above the vault root, and no ignore file
/// read by the walker itself: [`IgnoreFiles`] reads them through the root handle.
pub(crate) fn walk_builder(root: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        // Hidden names are filtered by `is_hidden_name`, which keeps notes named `..md`.
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_ignore(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(true);
    builder
}

fn load_obsidian_filters(vault: &Vault, warnings: &mut Vec<String>) -> Vec<ObsidianFilter> {
    let path = vault.root().join(".obsidian").join("app.json");
    let text = match vault
        .dir()
        .resolve_and_read(".obsidian/app.json", MAX_RULES_FILE_BYTES)
    {
        Ok((_, bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(err) if err.is_not_found() => return Vec::new(),
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

/// Compiles the globs of a config key (`exclude`, `private_paths`), named in errors.
fn compile_globs(patterns: &[String], key: &str) -> Result<Option<GlobSet>> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern.trim_end_matches('/')).map_err(|err| Error::Config {
            message: format!("{key} pattern `{pattern}` is not a valid glob: {err}"),
        })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|err| Error::Config {
        message: format!("{key} patterns cannot be compiled: {err}"),
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
        let rules = Rules::load(&vault).unwrap();
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
    fn document_kinds_by_name() {
        assert_eq!(document_kind("a/b.md"), Some(DocumentKind::Markdown));
        assert_eq!(document_kind("b.MARKDOWN"), Some(DocumentKind::Markdown));
        assert_eq!(
            document_kind("Drawing 1.excalidraw.md"),
            Some(DocumentKind::Excalidraw)
        );
        assert_eq!(document_kind("Board.Canvas"), Some(DocumentKind::Canvas));
        assert_eq!(document_kind(".canvas"), None);
        assert_eq!(document_kind("photo.png"), None);
        assert_eq!(document_kind("notes.txt"), Some(DocumentKind::Text));
        assert_eq!(
            document_kind("Papers/Attention.PDF"),
            Some(DocumentKind::Pdf)
        );
        assert_eq!(document_kind(".pdf"), None);
        assert_eq!(document_kind("pdf"), None);
        assert_eq!(document_kind("canvas"), None);
    }

    /// `private_paths` globs match a file by its own path or any of its folders', like
    /// `exclude`, follow symlinks, and are not exclusions.
    #[test]
    fn private_paths_match_files_folders_and_links_to_them() {
        let (dir, vault) = vault_with(
            &[
                ("Journal/2026/day.md", ""),
                ("Papers/secret-draft.pdf", ""),
                ("Papers/public.pdf", ""),
                ("notes/a.md", ""),
            ],
            &[],
        );
        std::os::unix::fs::symlink("../Journal/2026/day.md", dir.path().join("notes/link.md"))
            .unwrap();
        let none = Rules::load(&vault).unwrap();
        assert!(!none.is_private_path("Journal/2026/day.md"));
        assert!(!none.leads_to_private("notes/link.md"));
        let vault = vault.with_private_paths(&[
            "Journal".to_string(),
            "**/*-draft.pdf".to_string(),
            "Health/**".to_string(),
        ]);
        let rules = Rules::load(&vault).unwrap();
        for private in [
            "Journal/2026/day.md",
            "Journal/x.png",
            "Papers/secret-draft.pdf",
            "Health/a.md",
            "Health/deep/b.pdf",
        ] {
            assert!(
                rules.is_private_path(private),
                "{private} should be private"
            );
            assert!(
                !rules.is_excluded(private, false),
                "{private} is not excluded"
            );
        }
        for public in [
            "Papers/public.pdf",
            "notes/a.md",
            "Journals.md",
            "notes/Journal.md",
            "HealthX/a.md",
        ] {
            assert!(
                !rules.is_private_path(public),
                "{public} should not be private"
            );
        }
        assert!(!rules.is_private_path("notes/link.md"));
        assert!(
            rules.leads_to_private("notes/link.md"),
            "through the symlink"
        );
        assert!(!rules.leads_to_private("notes/a.md"));
        let bad = vault.with_private_paths(&["a/[b".to_string()]);
        let err = Rules::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("private_paths") && err.contains("a/[b"),
            "{err}"
        );
    }

    #[test]
    fn text_documents_are_never_files() {
        for text in [
            "a.md",
            "b/c.MARKDOWN",
            "d.canvas",
            "e.excalidraw.md",
            "f.TXT",
        ] {
            assert!(is_text_document(text), "{text}");
        }
        for file in ["a.pdf", "b.png", "c.svg", "md", "txt", "x.md.png"] {
            assert!(!is_text_document(file), "{file}");
        }
    }

    #[test]
    fn files_with_a_link_key() {
        let (_dir, vault) = vault_with(
            &[
                ("img/Diagram.png", ""),
                ("other/diagram.png", ""),
                ("solo.png", ""),
                (".hidden/solo.png", ""),
                ("Templates/solo.png", ""),
            ],
            &["Templates/**"],
        );
        let names = Rules::load(&vault).unwrap().file_names();
        let mut both = names.with_key("diagram.png");
        both.sort();
        assert_eq!(both, ["img/Diagram.png", "other/diagram.png"]);
        assert_eq!(names.with_key("img/diagram.png"), ["img/Diagram.png"]);
        assert_eq!(names.with_key("solo.png"), ["solo.png"]);
        assert!(names.with_key("g/diagram.png").is_empty());
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
