//! `deepvault models pull`: fetch a model from the Hugging Face hub into the models folder, and
//! check every byte.
//!
//! 1. `GET {endpoint}/api/models/{repo}/revision/main?blobs=true` names the commit `main` is at
//!    and, per file, its size and checksum: the SHA-256 of large (LFS) files, the git blob SHA-1
//!    of small ones.
//! 2. Each file comes from `GET {endpoint}/{repo}/resolve/{commit}/{path}` (the hub redirects
//!    large files to its CDN), into a temporary folder beside the final one, with a progress bar.
//! 3. Every file is checked against the hub's checksum, and against the SHA-256 deepvault knows
//!    independently where it knows one (all-MiniLM-L6-v2's files are those of the PyPI wheel
//!    CI uses). Any mismatch fails the pull and leaves nothing behind.
//! 4. `model.lock.json` records the commit and each file's size and SHA-256; then the folder is
//!    renamed into place, so a model folder is complete or absent.
//!
//! `HF_ENDPOINT` moves the hub (a mirror, or the tests' local server); `HF_TOKEN` is sent for
//! gated models.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha1::Digest as _;

use super::models::{KnownModel, LOCK_FILE, LockedFile, ModelFile, ModelLock, known};
use crate::error::{Error, Result};

/// Where and how to pull from.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// The hub, `https://huggingface.co` unless `HF_ENDPOINT` says otherwise.
    pub endpoint: String,
    /// `HF_TOKEN`, for gated models.
    pub token: Option<String>,
    /// The models folder.
    pub models_dir: PathBuf,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

impl PullOptions {
    /// The endpoint and token from `HF_ENDPOINT` and `HF_TOKEN`.
    pub fn from_env(models_dir: PathBuf, progress: bool) -> PullOptions {
        PullOptions {
            endpoint: std::env::var("HF_ENDPOINT")
                .ok()
                .filter(|e| !e.trim().is_empty())
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            token: std::env::var("HF_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty()),
            models_dir,
            progress,
        }
    }
}

/// What a pull did.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub name: String,
    pub folder: PathBuf,
    pub revision: String,
    /// Bytes downloaded (0 when the folder was already current).
    pub bytes: u64,
}

#[derive(Debug, Deserialize)]
struct RepoInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "blobId")]
    blob_id: Option<String>,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(Debug, Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

fn download_error(message: String) -> Error {
    Error::ModelDownload { message }
}

/// The folder a model is pulled into: its registry name, or `org--name` for another hub id.
pub(crate) fn folder_for(models_dir: &Path, name: &str) -> PathBuf {
    match known(name) {
        Some(model) => models_dir.join(model.name),
        None => models_dir.join(name.replace('/', "--")),
    }
}

/// Pulls `name` (a registry name, or any `org/name` on the hub holding a BERT sentence
/// embedder with `model.safetensors` and `tokenizer.json`).
pub fn pull(name: &str, options: &PullOptions) -> Result<Pulled> {
    let name = name.trim();
    let (label, repo, files): (String, String, Vec<ModelFile>) = match known(name) {
        Some(model) => (
            model.name.to_string(),
            model.repo.to_string(),
            files_of(model),
        ),
        None if valid_repo(name) => (
            name.to_string(),
            name.to_string(),
            super::models::STANDARD_FILES.to_vec(),
        ),
        None => {
            let names: Vec<&str> = super::models::REGISTRY.iter().map(|m| m.name).collect();
            return Err(download_error(format!(
                "unknown model `{name}`\n\nhint: pull one of {}, or a hub id such as `BAAI/bge-small-en-v1.5`",
                names.join(", ")
            )));
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(format!("deepvault/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let info_url = format!(
        "{}/api/models/{repo}/revision/main?blobs=true",
        options.endpoint
    );
    let info: RepoInfo = {
        let response = get(&agent, &info_url, options)?;
        serde_json::from_reader(response.into_body().into_reader()).map_err(|e| {
            download_error(format!(
                "the hub's answer for {repo} is not what was expected: {e}"
            ))
        })?
    };
    if info.sha.len() < 7 || !info.sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(download_error(format!(
            "the hub named no commit for {repo} (got `{}`)",
            info.sha
        )));
    }
    let folder = folder_for(&options.models_dir, name);
    if let Some(lock) = read_lock(&folder)
        && lock.revision == info.sha
        && lock
            .files
            .iter()
            .all(|f| std::fs::metadata(folder.join(&f.path)).is_ok_and(|m| m.len() == f.size))
    {
        return Ok(Pulled {
            name: label,
            folder,
            revision: info.sha,
            bytes: 0,
        });
    }
    // What to fetch, and what each file must hash to.
    let mut plan = Vec::new();
    for file in &files {
        let Some(sibling) = info.siblings.iter().find(|s| s.rfilename == file.path) else {
            if file.required {
                return Err(download_error(format!(
                    "{repo} has no {} at commit {}\n\nhint: deepvault needs a BERT sentence embedder with config.json, model.safetensors and tokenizer.json",
                    file.path, info.sha
                )));
            }
            continue;
        };
        plan.push((file, sibling));
    }
    let total: u64 = plan
        .iter()
        .map(|(_, s)| s.lfs.as_ref().map_or(s.size.unwrap_or(0), |l| l.size))
        .sum();
    std::fs::create_dir_all(&options.models_dir).map_err(|e| Error::io(&options.models_dir, e))?;
    let partial = options.models_dir.join(format!(
        ".partial-{}-{}",
        label.replace('/', "--"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&partial);
    let bar = progress_bar(options.progress, total, &label);
    let result = (|| -> Result<Vec<LockedFile>> {
        let mut locked = Vec::new();
        for (file, sibling) in &plan {
            let url = format!(
                "{}/{repo}/resolve/{}/{}",
                options.endpoint, info.sha, file.path
            );
            let target = partial.join(file.path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let (size, sha256, blob_sha1) = fetch(&agent, &url, &target, options, &bar)?;
            let expected_size = sibling.lfs.as_ref().map(|l| l.size).or(sibling.size);
            if expected_size.is_some_and(|s| s != size) {
                return Err(mismatch(
                    &repo,
                    file.path,
                    "size",
                    &expected_size.unwrap_or(0).to_string(),
                    &size.to_string(),
                ));
            }
            match (&sibling.lfs, &sibling.blob_id) {
                (Some(lfs), _) if !lfs.sha256.eq_ignore_ascii_case(&sha256) => {
                    return Err(mismatch(&repo, file.path, "SHA-256", &lfs.sha256, &sha256));
                }
                (None, Some(blob)) if !blob.eq_ignore_ascii_case(&blob_sha1) => {
                    return Err(mismatch(
                        &repo,
                        file.path,
                        "git blob SHA-1",
                        blob,
                        &blob_sha1,
                    ));
                }
                (None, None) => {
                    return Err(download_error(format!(
                        "the hub reported no checksum for {repo}/{}; refusing an unverified file",
                        file.path
                    )));
                }
                _ => {}
            }
            if let Some(pinned) = file.sha256
                && !pinned.eq_ignore_ascii_case(&sha256)
            {
                return Err(mismatch(
                    &repo,
                    file.path,
                    "pinned SHA-256",
                    pinned,
                    &sha256,
                ));
            }
            locked.push(LockedFile {
                path: file.path.to_string(),
                size,
                sha256,
            });
        }
        Ok(locked)
    })();
    bar.finish_and_clear();
    let locked = match result {
        Ok(locked) => locked,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(err);
        }
    };
    let lock = ModelLock {
        name: label.clone(),
        repo: repo.clone(),
        revision: info.sha.clone(),
        files: locked,
    };
    let lock_path = partial.join(LOCK_FILE);
    std::fs::write(
        &lock_path,
        serde_json::to_string_pretty(&lock).expect("lock serializes") + "\n",
    )
    .map_err(|e| Error::io(&lock_path, e))?;
    // Into place: the old folder (if any) out of the way first, then the new one in.
    let old = options.models_dir.join(format!(
        ".old-{}-{}",
        label.replace('/', "--"),
        std::process::id()
    ));
    if folder.exists() {
        std::fs::rename(&folder, &old).map_err(|e| Error::io(&folder, e))?;
    }
    std::fs::rename(&partial, &folder).map_err(|e| Error::io(&folder, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(Pulled {
        name: label,
        folder,
        revision: info.sha,
        bytes: total,
    })
}

fn files_of(model: &KnownModel) -> Vec<ModelFile> {
    model.files.to_vec()
}

fn valid_repo(name: &str) -> bool {
    let mut parts = name.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !p.starts_with('.')
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn read_lock(folder: &Path) -> Option<ModelLock> {
    let text = std::fs::read_to_string(folder.join(LOCK_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn mismatch(repo: &str, path: &str, what: &str, expected: &str, got: &str) -> Error {
    download_error(format!(
        "{repo}/{path} does not match its {what}: expected {expected}, got {got}; nothing was installed\n\nhint: try again; if it persists, the download is being altered on the way (a proxy?) or the hub's copy changed"
    ))
}

fn get(
    agent: &ureq::Agent,
    url: &str,
    options: &PullOptions,
) -> Result<ureq::http::Response<ureq::Body>> {
    let mut request = agent.get(url);
    if let Some(token) = &options.token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    request.call().map_err(|err| match err {
        ureq::Error::StatusCode(401 | 403) => download_error(format!(
            "the hub refused {url} (HTTP 401/403)\n\nhint: the model may be gated: accept its terms on the hub and set HF_TOKEN"
        )),
        ureq::Error::StatusCode(404) => download_error(format!(
            "the hub has no {url} (HTTP 404)\n\nhint: check the model name (`deepvault models list`)"
        )),
        other => download_error(format!(
            "cannot download {url}: {other}\n\nhint: check the network connection, or set HF_ENDPOINT to a reachable mirror; a model folder can also be copied by hand and named in embedding_model"
        )),
    })
}

/// Downloads `url` to `target`; returns its size, SHA-256 and git blob SHA-1 (hex).
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    target: &Path,
    options: &PullOptions,
    bar: &indicatif::ProgressBar,
) -> Result<(u64, String, String)> {
    let response = get(agent, url, options)?;
    let mut reader = response.into_body().into_reader();
    let mut file = std::fs::File::create(target).map_err(|e| Error::io(target, e))?;
    let mut sha256 = sha2::Sha256::new();
    let mut content = Vec::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| download_error(format!("cannot download {url}: {e}")))?;
        if n == 0 {
            break;
        }
        sha2::Digest::update(&mut sha256, &buf[..n]);
        // Small files are also hashed as git blobs, which needs their length first.
        if size < 64 << 20 {
            content.extend_from_slice(&buf[..n]);
        }
        file.write_all(&buf[..n])
            .map_err(|e| Error::io(target, e))?;
        size += n as u64;
        bar.inc(n as u64);
    }
    file.sync_all().map_err(|e| Error::io(target, e))?;
    let blob_sha1 = if size < 64 << 20 {
        let mut sha1 = sha1::Sha1::new();
        sha1.update(format!("blob {size}\0").as_bytes());
        sha1.update(&content);
        hex(&sha1.finalize())
    } else {
        String::new()
    };
    Ok((size, hex(&sha2::Digest::finalize(sha256)), blob_sha1))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn progress_bar(enabled: bool, total: u64, label: &str) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} pulling {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}
