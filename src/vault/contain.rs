//! The one containment rule: every byte deepvault reads from a vault (notes, `.gitignore` and
//! `.ignore` files, `.obsidian/app.json`) is read through a directory handle of the vault root,
//! never through a path.
//!
//! - [`RootDir::resolve`] follows a note's symlinks one component at a time, inside the vault
//!   only: relative targets, and absolute ones that lie under the root, are turned into a
//!   vault-relative target id; anything else (a `..` above the root, an absolute path elsewhere,
//!   a loop) is [`Refused::Outside`]. Callers apply the ignore rules to that target id as well as
//!   to the link's own id, so a link cannot smuggle an ignored note in.
//! - [`RootDir::read`] opens the resolved id relative to the root handle with `cap-std`, which
//!   refuses by construction any path or symlink that would leave the directory (a symlink
//!   swapped in after `resolve` ran still cannot lead out), opens without blocking (a FIFO opened
//!   for reading would wait for a writer forever), then checks the *opened* handle (`fstat`):
//!   only a regular file is read, at most `max_bytes` of it.
//! - The root's identity (device and inode) is fixed when the vault is opened;
//!   [`RootDir::check`] says whether the folder at the root path is still that one, was replaced
//!   by a new folder (re-opened: `rm -rf vault; mkdir vault`), is gone, or now resolves
//!   elsewhere (a symlink swapped in for the root, which is refused and reported).

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, RwLock};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};

/// The most symlinks followed while resolving one id.
const MAX_HOPS: usize = 40;

/// Why a vault file was not read.
#[derive(Debug)]
pub(crate) enum Refused {
    /// A symlink (or `..`) that leads out of the vault.
    Outside,
    /// Not a regular file: a FIFO, a socket, a device or a folder. Never opened for long.
    NotRegular(&'static str),
    /// Larger than the limit given.
    TooLarge(u64),
    /// The file system said no (vanished, permissions, a symlink loop).
    Io(std::io::Error),
}

impl Refused {
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Refused::Io(err) if err.kind() == std::io::ErrorKind::NotFound)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Outside => f.write_str("symlink points outside the vault"),
            Refused::NotRegular(kind) => write!(f, "{kind}, not a regular file"),
            Refused::TooLarge(size) => write!(f, "{size} bytes, over the limit"),
            Refused::Io(err) => write!(f, "{err}"),
        }
    }
}

impl From<std::io::Error> for Refused {
    fn from(err: std::io::Error) -> Refused {
        Refused::Io(err)
    }
}

/// What [`RootDir::check`] found at the root path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootState {
    /// The same folder as at start.
    Same,
    /// A new folder at the same place (deleted and created again); the handle now points to it.
    Reopened,
    /// Nothing is there (or it cannot be read): the reason.
    Missing(String),
    /// The root path now leads somewhere else (a symlink); refused: the reason.
    Moved(String),
}

/// A handle of the vault root and the root's fixed identity.
#[derive(Debug)]
pub(crate) struct RootDir {
    /// The canonical root path, fixed at start.
    root: PathBuf,
    /// The path the user named, when it differs (absolute symlink targets may use either).
    named: Option<PathBuf>,
    handle: RwLock<Handle>,
}

#[derive(Debug)]
struct Handle {
    dir: Arc<Dir>,
    identity: (u64, u64),
}

impl RootDir {
    /// Opens a handle of `root` (canonical); `named` is the path as the user wrote it.
    pub(crate) fn open(root: &Path, named: &Path) -> std::io::Result<RootDir> {
        let handle = open_handle(root)?;
        let named = std::path::absolute(named)
            .ok()
            .filter(|named| named != root);
        Ok(RootDir {
            root: root.to_path_buf(),
            named,
            handle: RwLock::new(handle),
        })
    }

    fn dir(&self) -> Arc<Dir> {
        let handle = self.handle.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&handle.dir)
    }

    /// Checks that the folder at the root path is still the vault, and re-opens the handle when
    /// a new folder took the old one's place.
    pub(crate) fn check(&self) -> RootState {
        let metadata = match std::fs::symlink_metadata(&self.root) {
            Ok(metadata) => metadata,
            Err(err) => return RootState::Missing(format!("{}: {err}", self.root.display())),
        };
        if metadata.file_type().is_symlink() {
            let target = std::fs::canonicalize(&self.root)
                .map_or_else(|_| "a missing target".into(), |t| t.display().to_string());
            return RootState::Moved(format!(
                "{} is now a symlink to {target}",
                self.root.display()
            ));
        }
        if !metadata.is_dir() {
            return RootState::Missing(format!("{} is not a folder any more", self.root.display()));
        }
        match std::fs::canonicalize(&self.root) {
            Ok(real) if real == self.root => {}
            Ok(real) => {
                return RootState::Moved(format!(
                    "{} now resolves to {}",
                    self.root.display(),
                    real.display()
                ));
            }
            Err(err) => return RootState::Missing(format!("{}: {err}", self.root.display())),
        }
        let identity = (metadata.dev(), metadata.ino());
        let mut handle = self.handle.write().unwrap_or_else(|e| e.into_inner());
        if handle.identity == identity {
            return RootState::Same;
        }
        match open_handle(&self.root) {
            // The identity is that of the handle opened, whatever happened in between.
            Ok(new) => {
                *handle = new;
                RootState::Reopened
            }
            Err(err) => RootState::Missing(format!("{}: {err}", self.root.display())),
        }
    }

    /// The vault-relative id that `id` leads to once its symlinks are followed, or
    /// [`Refused::Outside`]. Each component is looked at through the root handle.
    pub(crate) fn resolve(&self, id: &str) -> Result<String, Refused> {
        let dir = self.dir();
        let mut pending: Vec<PathBuf> = Vec::new(); // reversed: the next component is last
        push_components(&mut pending, Path::new(id))?;
        let mut resolved: Vec<PathBuf> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.to_str() {
                Some("..") => {
                    if resolved.pop().is_none() {
                        return Err(Refused::Outside);
                    }
                    continue;
                }
                Some(".") => continue,
                _ => {}
            }
            resolved.push(part);
            let path: PathBuf = resolved.iter().collect();
            let metadata = dir.symlink_metadata(&path)?;
            if !metadata.file_type().is_symlink() {
                continue;
            }
            hops += 1;
            if hops > MAX_HOPS {
                return Err(Refused::Io(std::io::Error::other(
                    "too many levels of symbolic links",
                )));
            }
            let target = dir.read_link_contents(&path)?;
            resolved.pop();
            if target.is_absolute() {
                let relative = [Some(self.root.as_path()), self.named.as_deref()]
                    .into_iter()
                    .flatten()
                    .find_map(|root| target.strip_prefix(root).ok())
                    .ok_or(Refused::Outside)?;
                resolved.clear();
                push_components(&mut pending, relative)?;
            } else {
                push_components(&mut pending, &target)?;
            }
        }
        let mut out = String::new();
        for part in &resolved {
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(part.to_str().ok_or_else(|| {
                Refused::Io(std::io::Error::other("a symlink target is not valid UTF-8"))
            })?);
        }
        if out.is_empty() {
            return Err(Refused::NotRegular("the vault folder"));
        }
        Ok(out)
    }

    /// Reads the regular file at the vault-relative, already resolved `id`: at most `max_bytes`
    /// (more is [`Refused::TooLarge`]). Returns the bytes and the opened file's metadata.
    pub(crate) fn read(
        &self,
        id: &str,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, std::fs::Metadata), Refused> {
        let (file, metadata) = self.open_file(id)?;
        if metadata.len() > max_bytes {
            return Err(Refused::TooLarge(metadata.len()));
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize + 1);
        // The file may grow while it is read: never read past the limit.
        file.take(max_bytes + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > max_bytes {
            return Err(Refused::TooLarge(bytes.len() as u64));
        }
        Ok((bytes, metadata))
    }

    /// Opens the regular file at the vault-relative, already resolved `id` for reading, with
    /// the opened handle's metadata: the same checks as [`RootDir::read`], for a caller that
    /// reads only part of the file (a range of an attachment).
    pub(crate) fn open_file(
        &self,
        id: &str,
    ) -> Result<(std::fs::File, std::fs::Metadata), Refused> {
        let dir = self.dir();
        let mut options = OpenOptions::new();
        // Opening a FIFO for reading waits for a writer, and a device may act on open: neither
        // blocks, and neither is read (the handle's type is checked below). `O_NOCTTY`: a tty
        // never becomes ours.
        options
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        let file = dir.open_with(id, &options)?.into_std();
        let metadata = file.metadata()?;
        let kind = metadata.file_type();
        if !kind.is_file() {
            return Err(Refused::NotRegular(kind_name(&kind)));
        }
        Ok((file, metadata))
    }

    /// [`RootDir::resolve`] then [`RootDir::read`].
    pub(crate) fn resolve_and_read(
        &self,
        id: &str,
        max_bytes: u64,
    ) -> Result<(String, Vec<u8>, std::fs::Metadata), Refused> {
        let target = self.resolve(id)?;
        let (bytes, metadata) = self.read(&target, max_bytes)?;
        Ok((target, bytes, metadata))
    }
}

fn open_handle(root: &Path) -> std::io::Result<Handle> {
    let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())?;
    let metadata = dir.dir_metadata()?;
    use cap_std::fs::MetadataExt as _;
    Ok(Handle {
        identity: (metadata.dev(), metadata.ino()),
        dir: Arc::new(dir),
    })
}

/// Pushes the components of a relative path onto `pending` (reversed, so the first is popped
/// first).
fn push_components(pending: &mut Vec<PathBuf>, path: &Path) -> Result<(), Refused> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(PathBuf::from(part)),
            Component::ParentDir => parts.push(PathBuf::from("..")),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(Refused::Outside),
        }
    }
    pending.extend(parts.into_iter().rev());
    Ok(())
}

/// A file type in words.
pub(crate) fn kind_name(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_symlink() {
        "a symlink"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, tempfile::TempDir, RootDir) {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        let handle = RootDir::open(&canonical, dir.path()).unwrap();
        (dir, outside, handle)
    }

    #[test]
    fn symlinks_resolve_inside_and_are_refused_outside() {
        let (dir, outside, root) = root();
        let v = dir.path();
        std::fs::create_dir_all(v.join("sub/deep")).unwrap();
        std::fs::write(v.join("sub/deep/a.md"), "a").unwrap();
        std::fs::write(outside.path().join("o.md"), "o").unwrap();
        symlink("sub/deep/a.md", v.join("rel.md")).unwrap();
        symlink(v.join("sub/deep/a.md"), v.join("abs.md")).unwrap();
        symlink("deep", v.join("sub/d")).unwrap();
        symlink("..", v.join("sub/deep/up")).unwrap();
        symlink(outside.path().join("o.md"), v.join("out.md")).unwrap();
        symlink("../../../../../../../etc/hostname", v.join("dots.md")).unwrap();
        symlink(outside.path(), v.join("outdir")).unwrap();
        symlink("loop.md", v.join("loop.md")).unwrap();
        assert_eq!(root.resolve("rel.md").unwrap(), "sub/deep/a.md");
        assert_eq!(root.resolve("abs.md").unwrap(), "sub/deep/a.md");
        assert_eq!(root.resolve("sub/d/a.md").unwrap(), "sub/deep/a.md");
        assert_eq!(root.resolve("sub/deep/up/d/a.md").unwrap(), "sub/deep/a.md");
        for id in ["out.md", "dots.md", "outdir/o.md", "../x.md"] {
            assert!(
                matches!(root.resolve(id), Err(Refused::Outside)),
                "{id}: {:?}",
                root.resolve(id)
            );
        }
        assert!(matches!(root.resolve("loop.md"), Err(Refused::Io(_))));
        assert!(root.resolve("missing.md").unwrap_err().is_not_found());
        // Even a path that names an outside target cannot be read through the handle.
        assert!(root.read("out.md", 100).is_err());
        assert!(root.read("outdir/o.md", 100).is_err());
        assert_eq!(root.read("sub/deep/a.md", 100).unwrap().0, b"a");
    }

    #[test]
    fn only_regular_files_are_read_and_never_block() {
        let (dir, _outside, root) = root();
        let v = dir.path();
        let fifo = v.join("fifo.md");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let _socket = std::os::unix::net::UnixListener::bind(v.join("socket.md")).unwrap();
        std::fs::create_dir(v.join("folder.md")).unwrap();
        std::fs::write(v.join("big.md"), "x".repeat(100)).unwrap();
        // Returns at once (the test would hang on a blocking open).
        assert!(matches!(
            root.read("fifo.md", 100),
            Err(Refused::NotRegular(kind)) if kind.contains("FIFO")
        ));
        assert!(root.read("socket.md", 100).is_err());
        assert!(matches!(
            root.read("folder.md", 100),
            Err(Refused::NotRegular(_))
        ));
        assert!(matches!(
            root.read("big.md", 99),
            Err(Refused::TooLarge(100))
        ));
        assert_eq!(root.read("big.md", 100).unwrap().0.len(), 100);
    }

    #[test]
    fn a_replaced_root_is_reopened_and_a_symlinked_one_refused() {
        let parent = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("x.md"), "outside").unwrap();
        let path = std::fs::canonicalize(parent.path()).unwrap().join("vault");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("a.md"), "old").unwrap();
        let root = RootDir::open(&path, &path).unwrap();
        assert_eq!(root.check(), RootState::Same);
        std::fs::remove_dir_all(&path).unwrap();
        assert!(matches!(root.check(), RootState::Missing(_)));
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("a.md"), "new").unwrap();
        assert_eq!(root.check(), RootState::Reopened);
        assert_eq!(root.read("a.md", 100).unwrap().0, b"new");
        // The vault moved away and a symlink to elsewhere took its place.
        std::fs::rename(&path, parent.path().join("vault_real")).unwrap();
        symlink(elsewhere.path(), &path).unwrap();
        assert!(matches!(root.check(), RootState::Moved(reason) if reason.contains("symlink")));
        assert!(
            root.read("x.md", 100).is_err(),
            "never reads the new target"
        );
    }
}
