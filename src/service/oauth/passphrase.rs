//! The owner's passphrase: an argon2id PHC string in `<state>/oauth/passphrase` (0600).
//!
//! Argon2id v19 with the crate defaults (19 MiB, 2 passes, 1 lane) is OWASP's recommendation and
//! takes tens of milliseconds here. The PHC string records the parameters, so raising them later
//! still verifies old hashes. Checking is blocking CPU work: the HTTP side runs [`verify`] on a
//! blocking thread, a bounded number at a time, behind a back-off.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::oauth_dir;
use crate::durable::write_atomic;
use crate::error::{Error, Result};

/// Shorter passphrases are refused by `deepvault auth passphrase`.
pub(crate) const MIN_CHARS: usize = 8;
/// Longer input is refused without hashing it.
pub(crate) const MAX_BYTES: usize = 1024;

/// Where the hash lives.
pub(crate) fn path(state_dir: &Path) -> PathBuf {
    oauth_dir(state_dir).join("passphrase")
}

/// Hashes and stores the passphrase (0600, inside the 0700 `oauth/` folder).
pub(crate) fn set(state_dir: &Path, passphrase: &str) -> Result<()> {
    if passphrase.chars().count() < MIN_CHARS {
        return Err(Error::Passphrase {
            message: format!(
                "the passphrase is too short: use at least {MIN_CHARS} characters\n\nhint: a few unrelated words are easy to type and hard to guess"
            ),
        });
    }
    if passphrase.len() > MAX_BYTES {
        return Err(Error::Passphrase {
            message: format!("the passphrase is longer than {MAX_BYTES} bytes"),
        });
    }
    let dir = oauth_dir(state_dir);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(&dir, e))?;
    let salt: [u8; 16] = rand::random();
    let phc = Argon2::default()
        .hash_password_with_salt(passphrase.as_bytes(), &salt)
        .map_err(|e| Error::Passphrase {
            message: format!("cannot hash the passphrase: {e}"),
        })?
        .to_string();
    write_atomic(&path(state_dir), format!("{phc}\n").as_bytes())
}

/// The outcome of checking a passphrase.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verified {
    Right,
    Wrong,
    /// No passphrase has been set, or its file cannot be used; the reason is for the log.
    Unavailable(String),
}

/// Checks a passphrase against the stored hash. Blocking (argon2). The file is read each time,
/// so a passphrase set by the CLI while the server runs applies at once.
pub(crate) fn verify(state_dir: &Path, passphrase: &str) -> Verified {
    if passphrase.is_empty() || passphrase.len() > MAX_BYTES {
        return Verified::Wrong;
    }
    let file = path(state_dir);
    let stored = match fs::read_to_string(&file) {
        Ok(text) => text.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Verified::Unavailable(format!(
                "no passphrase is set ({} is missing); run `deepvault auth passphrase`",
                file.display()
            ));
        }
        Err(e) => return Verified::Unavailable(format!("{}: {e}", file.display())),
    };
    match Argon2::default().verify_password(passphrase.as_bytes(), stored.as_str()) {
        Ok(()) => Verified::Right,
        Err(argon2::password_hash::Error::PasswordInvalid) => Verified::Wrong,
        Err(e) => Verified::Unavailable(format!(
            "{} does not hold a valid argon2 hash: {e}",
            file.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_then_verify() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            set(dir.path(), "short"),
            Err(Error::Passphrase { .. })
        ));
        assert!(matches!(
            verify(dir.path(), "anything at all"),
            Verified::Unavailable(_)
        ));
        set(dir.path(), "correct horse battery").unwrap();
        let stored = fs::read_to_string(path(dir.path())).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!stored.contains("correct horse"));
        let mode = fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let folder = fs::metadata(oauth_dir(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(folder & 0o777, 0o700);
        assert_eq!(verify(dir.path(), "correct horse battery"), Verified::Right);
        assert_eq!(verify(dir.path(), "wrong horse battery"), Verified::Wrong);
        assert_eq!(verify(dir.path(), ""), Verified::Wrong);
    }
}
