//! Signed page links: a citation URL carries an HMAC of its note id, so a browser (which has no
//! bearer token) can open that one note, and no other.
//!
//! `sig` is `base64url(HMAC-SHA256(secret, "v1\n" + id + "\n" + exp))`, with `exp` a Unix time
//! (or empty when links do not expire). The secret is 32 random bytes in `page-secret` in the
//! index folder, created once with mode 0600, so links stay valid across restarts and every
//! process serving the same index agrees on them.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Signs and checks page links.
#[derive(Clone)]
pub(crate) struct PageSigner {
    key: [u8; 32],
    ttl: Option<Duration>,
}

impl std::fmt::Debug for PageSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl PageSigner {
    /// Loads the secret of an index folder, creating it on first use.
    pub(crate) fn load_or_create(index_dir: &Path, ttl: Option<Duration>) -> Result<PageSigner> {
        let path = index_dir.join("page-secret");
        std::fs::create_dir_all(index_dir).map_err(|e| Error::io(index_dir, e))?;
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
        {
            return Ok(PageSigner { key, ttl });
        }
        let key: [u8; 32] = rand::random();
        write_secret(&path, &key).map_err(|e| Error::io(&path, e))?;
        // Another process may have won the race: use whatever is on disk now.
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).unwrap_or(key);
        Ok(PageSigner { key, ttl })
    }

    #[cfg(test)]
    pub(crate) fn with_key(key: [u8; 32], ttl: Option<Duration>) -> PageSigner {
        PageSigner { key, ttl }
    }

    fn mac(&self, id: &str, exp: Option<u64>) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length works");
        mac.update(b"v1\n");
        mac.update(id.as_bytes());
        mac.update(b"\n");
        if let Some(exp) = exp {
            mac.update(exp.to_string().as_bytes());
        }
        mac
    }

    /// The query string (`sig=…[&exp=…]`) that opens the page of `id`.
    pub(crate) fn query(&self, id: &str) -> String {
        let exp = self.ttl.map(|ttl| now_secs() + ttl.as_secs());
        let sig = URL_SAFE_NO_PAD.encode(self.mac(id, exp).finalize().into_bytes());
        match exp {
            Some(exp) => format!("sig={sig}&exp={exp}"),
            None => format!("sig={sig}"),
        }
    }

    /// True when `sig` (and `exp`) open the page of `id` now. Constant-time comparison.
    pub(crate) fn verify(&self, id: &str, sig: &str, exp: Option<u64>) -> bool {
        if exp.is_some_and(|exp| exp < now_secs()) {
            return false;
        }
        let Ok(tag) = URL_SAFE_NO_PAD.decode(sig.as_bytes()) else {
            return false;
        };
        self.mac(id, exp).verify_slice(&tag).is_ok()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn write_secret(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file.write_all(key),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            // Present but unreadable as a key (truncated?): replace it.
            let mut file = std::fs::File::create(path)?;
            file.write_all(key)
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_opens_one_note_only() {
        let signer = PageSigner::with_key([7; 32], None);
        let query = signer.query("a.md");
        let sig = query.strip_prefix("sig=").unwrap();
        assert!(signer.verify("a.md", sig, None));
        assert!(!signer.verify("b.md", sig, None));
        assert!(!signer.verify("a.md", "AAAA", None));
        assert!(!signer.verify("a.md", "not base64 !", None));
        let other = PageSigner::with_key([8; 32], None);
        assert!(!other.verify("a.md", sig, None));
    }

    #[test]
    fn expiry_is_signed_and_enforced() {
        let signer = PageSigner::with_key([1; 32], Some(Duration::from_secs(60)));
        let query = signer.query("a.md");
        let (sig, exp) = query
            .strip_prefix("sig=")
            .unwrap()
            .split_once("&exp=")
            .unwrap();
        let exp: u64 = exp.parse().unwrap();
        assert!(signer.verify("a.md", sig, Some(exp)));
        assert!(
            !signer.verify("a.md", sig, Some(exp + 1)),
            "a changed expiry breaks the signature"
        );
        assert!(!signer.verify("a.md", sig, None));
        let expired = PageSigner::with_key([1; 32], None);
        let old = now_secs() - 10;
        let sig = URL_SAFE_NO_PAD.encode(expired.mac("a.md", Some(old)).finalize().into_bytes());
        assert!(!expired.verify("a.md", &sig, Some(old)));
    }

    #[test]
    fn the_secret_persists() {
        let dir = tempfile::tempdir().unwrap();
        let first = PageSigner::load_or_create(dir.path(), None).unwrap();
        let second = PageSigner::load_or_create(dir.path(), None).unwrap();
        assert_eq!(first.key, second.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("page-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
