//! The vault: a folder of Markdown notes (and other documents: canvases, PDFs, text files), the rules that say
//! which files are documents, and the mapping between file paths and note ids.
//!
//! - [`note`]: the note model, and the [`note::DocumentKind`]s.
//! - [`parse`]: bytes → [`note::Note`], pure; Markdown (and Excalidraw drawings) here.
//! - [`canvas`]: JSON Canvas → the same model, through a Markdown rendering.
//! - [`pdf`]: PDF bytes → text page by page and metadata, run in worker processes (the
//!   deepvault binary as `__extract-pdf`) under a time and memory limit, so that a hostile PDF
//!   costs one skipped file.
//! - [`ingest`]: a document as the index keeps it: privacy decided on the text as written,
//!   secrets redacted before anything is derived from it.
//! - [`text`]: documents that are text, not Markdown (a PDF's pages, `.txt` files) → the same
//!   model, one section per page.
//! - `privacy`: the private marker and private tags, failing closed.
//! - [`redact`]: the secret patterns, used when notes are read and again on the way out.
//! - [`walk`]: the full scan, in parallel, with every exclusion rule applied.
//! - [`rules`]: which file names are documents of which kind, and the exclusion rules
//!   (dot-files, `.gitignore`/`.ignore`, Obsidian's excluded files, config globs), usable for one
//!   path at a time by the watcher; and the `private_paths` globs, whose files are private.
//! - `cancel`: the stop flag that the walk checks between entries and the indexer between files,
//!   so a shutdown is prompt (it lives here, in the lowest layer that checks it).
//! - [`contain`]: the one containment rule: every vault file is read through a handle of the
//!   root, symlinks followed only inside the vault, only regular files read.
//!
//! Ids are vault-relative paths with `/` separators. They are produced from paths the walk found,
//! never turned back into paths from user input: lookups by id go through the index.

pub(crate) mod cancel;
pub(crate) mod canvas;
pub(crate) mod contain;
pub mod ingest;
pub mod note;
pub mod parse;
pub mod pdf;
pub(crate) mod privacy;
pub mod redact;
pub(crate) mod rules;
pub mod text;
pub(crate) mod walk;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// What an empty vault is told: which files are documents, and what is skipped.
fn no_notes_reason() -> String {
    let kinds: Vec<String> = note::MARKDOWN_EXTENSIONS
        .iter()
        .map(|ext| format!("`{ext}`"))
        .collect();
    format!(
        "deepvault indexes Markdown files ({}), canvases (`.canvas`), PDFs and text files (`.txt`) and found none there; dot-folders, .gitignore'd paths and `exclude` globs are skipped",
        kinds.join(", ")
    )
}

/// An opened vault: its canonical root (fixed at start), a handle of it through which every
/// file is read, and its exclusion rules.
#[derive(Clone, Debug)]
pub struct Vault {
    root: PathBuf,
    name: String,
    exclude: Vec<String>,
    /// The config's `private_paths` globs.
    private: Vec<String>,
    dir: Arc<contain::RootDir>,
}

impl Vault {
    /// Opens the folder at `path`. It must exist and be a directory.
    pub fn open(path: &Path, exclude: &[String]) -> Result<Vault> {
        let metadata = std::fs::metadata(path).map_err(|source| Error::VaultMissing {
            path: path.to_path_buf(),
            source,
        })?;
        if !metadata.is_dir() {
            return Err(Error::VaultNotADirectory {
                path: path.to_path_buf(),
            });
        }
        let root = std::fs::canonicalize(path).map_err(|source| Error::VaultMissing {
            path: path.to_path_buf(),
            source,
        })?;
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "vault".to_string());
        let dir = contain::RootDir::open(&root, path).map_err(|source| Error::VaultMissing {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Vault {
            root,
            name,
            exclude: exclude.to_vec(),
            private: Vec::new(),
            dir: Arc::new(dir),
        })
    }

    /// The same vault, with the config's `private_paths` globs: files there are private
    /// whatever they say (see [`rules::Rules::is_private_path`]).
    pub fn with_private_paths(mut self, globs: &[String]) -> Vault {
        self.private = globs.to_vec();
        self
    }

    /// The handle every vault file is read through.
    pub(crate) fn dir(&self) -> &contain::RootDir {
        &self.dir
    }

    /// The canonical root folder.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The folder's name, used as the Obsidian vault name in `obsidian://` URLs.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// True for an Obsidian vault: the root holds an `.obsidian/` folder.
    pub(crate) fn is_obsidian(&self) -> bool {
        self.root.join(".obsidian").is_dir()
    }

    /// What to tell the user when the vault holds no note: the folder and the kinds of files
    /// that are indexed.
    pub(crate) fn no_notes_message(&self) -> String {
        format!("no notes in {}: {}", self.root.display(), no_notes_reason())
    }

    /// The same without the folder's path, for `/readyz` (which names no path).
    pub(crate) fn no_notes_message_without_path(&self) -> String {
        format!(
            "no notes in the vault folder (the server log names it): {}",
            no_notes_reason()
        )
    }

    /// The config's `exclude` globs.
    pub(crate) fn exclude_globs(&self) -> &[String] {
        &self.exclude
    }

    /// The config's `private_paths` globs.
    pub(crate) fn private_globs(&self) -> &[String] {
        &self.private
    }

    /// The id of a file under the root: its relative path with `/` separators. `None` for paths
    /// outside the root, with `..` components, or whose name is not valid UTF-8.
    pub(crate) fn id_for(&self, path: &Path) -> Option<String> {
        let relative = path.strip_prefix(&self.root).ok()?;
        relative_id(relative)
    }
}

/// Joins the normal components of a relative path with `/`.
pub(crate) fn relative_id(relative: &Path) -> Option<String> {
    let mut id = String::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => {
                if !id.is_empty() {
                    id.push('/');
                }
                id.push_str(part.to_str()?);
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_relative_slash_paths() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path(), &[]).unwrap();
        let id = vault
            .id_for(&vault.root().join("a").join("b c.md"))
            .unwrap();
        assert_eq!(id, "a/b c.md");
        assert_eq!(vault.id_for(Path::new("/elsewhere/x.md")), None);
        assert_eq!(relative_id(Path::new("../x.md")), None);
    }

    #[test]
    fn a_file_is_not_a_vault() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("note.md");
        std::fs::write(&file, "x").unwrap();
        let err = Vault::open(&file, &[]).unwrap_err();
        assert!(err.to_string().contains("is a file"), "{err}");
        let err = Vault::open(&dir.path().join("missing"), &[]).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
