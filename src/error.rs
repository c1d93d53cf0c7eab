//! The library's error type. Callers branch on it (an unknown id is a tool error, a locked index
//! is a clear message); the binary adds context with `anyhow` at the edges.
//!
//! Messages follow one style: lowercase, name the thing (path, id, key), and where a fix exists
//! end with a `hint:` line that says what to do.

use std::path::PathBuf;

/// Refer to it as `crate::Result<T>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The vault folder is missing or unreadable.
    #[error("{}", vault_missing(path, source))]
    VaultMissing {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The vault folder is gone, or its path now leads elsewhere, while serving.
    #[error(
        "the vault folder {} is not the one deepvault started with: {reason}; the index is left as it was\n\nhint: put the folder back; to serve another folder, restart deepvault with its path",
        path.display()
    )]
    VaultChanged { path: PathBuf, reason: String },

    /// The vault path names a file.
    #[error(
        "vault {} is a file, not a folder\n\nhint: pass the folder that holds your notes, e.g. `deepvault serve {}`",
        path.display(),
        path.parent().map(|p| p.display().to_string()).filter(|p| !p.is_empty()).unwrap_or_else(|| ".".into())
    )]
    VaultNotADirectory { path: PathBuf },

    /// A configuration value is wrong; the message names the key.
    #[error("{message}")]
    Config { message: String },

    /// Another process holds the index writer lock.
    #[error(
        "the index at {} is being written by another deepvault process{holder}\n\nhint: only one `deepvault serve` or `deepvault index` may write an index at a time; `deepvault search` and `deepvault fetch` work alongside it. Stop the other process, or pass --index-dir to use a separate index",
        path.display()
    )]
    IndexLocked { path: PathBuf, holder: String },

    /// The index folder cannot be created, read or written.
    #[error(
        "cannot use the index directory {}: {source}\n\nhint: pass --index-dir (or set DEEPVAULT_INDEX_DIR) to a writable folder",
        path.display()
    )]
    IndexDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// There is no index yet and this command does not build one.
    #[error(
        "there is no index at {}\n\nhint: run `deepvault index {}` first",
        path.display(),
        vault.display()
    )]
    IndexMissing { path: PathBuf, vault: PathBuf },

    /// An existing index could not be read just now; it was left as it is.
    #[error(
        "cannot read the index at {} ({source}); it was left as it is\n\nhint: this is usually passing (too many open files, a disk hiccup): try again; if it persists, check the folder, or pass --index-dir to use another index",
        path.display()
    )]
    IndexUnavailable {
        path: PathBuf,
        source: tantivy::TantivyError,
    },

    /// A reader found an index made with other redaction or privacy settings.
    #[error(
        "the index at {} was made with other redaction or privacy settings than this process uses (by the deepvault process that writes it)\n\nhint: give every deepvault process on this vault the same redact_* and private_* settings (deepvault.toml, DEEPVAULT_* variables), or pass --index-dir to use a separate index",
        path.display()
    )]
    IndexSettings { path: PathBuf },

    /// tantivy failed.
    #[error("index error at {}: {source}", path.display())]
    Tantivy {
        path: PathBuf,
        source: tantivy::TantivyError,
    },

    /// No note has this id.
    #[error("{}", note_not_found(id, suggestions))]
    NoteNotFound {
        id: String,
        suggestions: Vec<String>,
    },

    /// The embedding model cannot be found or loaded; the message names it and says what to do.
    #[error("{message}")]
    Model { message: String },

    /// `deepvault models pull` failed; the message names the file and says what to do.
    #[error("{message}")]
    ModelDownload { message: String },
    /// The built-in OAuth server's state file cannot be used.
    #[error(
        "{} is not a usable OAuth state file: {message}\n\nhint: move it away to start over (every app must then connect again), or use the deepvault that wrote it",
        path.display()
    )]
    OAuthState { path: PathBuf, message: String },

    /// `deepvault auth revoke` named a client that is not registered.
    #[error(
        "unknown OAuth client `{id}`\n\nhint: `deepvault auth clients` lists the registered clients"
    )]
    UnknownClient { id: String },

    /// The owner's passphrase cannot be set.
    #[error("{message}")]
    Passphrase { message: String },

    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn vault_missing(path: &std::path::Path, source: &std::io::Error) -> String {
    if source.kind() == std::io::ErrorKind::NotFound {
        format!(
            "vault folder {} does not exist\n\nhint: pass the folder that holds your notes, e.g. `deepvault serve ~/Notes`",
            path.display()
        )
    } else {
        format!(
            "cannot read vault folder {}: {source}\n\nhint: check that the folder exists and that this user may read it",
            path.display()
        )
    }
}

fn note_not_found(id: &str, suggestions: &[String]) -> String {
    let shown: String = id.chars().take(200).collect();
    let mut message = format!("no note with id `{shown}`");
    if suggestions.is_empty() {
        message.push_str(
            "; ids are vault-relative paths such as `Folder/Note.md`, as returned by `search`",
        );
    } else {
        message.push_str("; did you mean ");
        let quoted: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
        message.push_str(&quoted.join(" or "));
        message.push('?');
    }
    message
}

/// A short random id that ties what a client saw (an error, a refusal) to the server log line
/// with its detail. Clients get the id; the detail, which may name paths or internal types, stays
/// in the log.
pub(crate) fn error_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}

impl Error {
    pub(crate) fn tantivy(path: &std::path::Path, source: tantivy::TantivyError) -> Error {
        Error::Tantivy {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A path or word as a POSIX shell reads it, for hints that show a command to run: as is when
/// it is plain, else in single quotes.
pub(crate) fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,=".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
