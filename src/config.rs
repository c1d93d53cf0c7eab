//! Configuration: flags over `DEEPVAULT_*` environment variables over a TOML file over defaults.
//!
//! The TOML file is `--config FILE`, else `deepvault.toml` in the vault root when present. Every
//! key can also come from the environment as `DEEPVAULT_<KEY>` (uppercase; lists are
//! comma-separated). Parsing happens once, into [`ConfigFile`] (serde, unknown keys rejected with
//! their name), and is then validated into the immutable [`Config`] the rest of the program uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8765";
/// The default citation URL template.
pub const DEFAULT_URL_TEMPLATE: &str = "{public_url}/notes/{path}{#anchor}";

/// The file format, every key optional. Keep in sync with [`ENV_KEYS`] and the README.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub vault: Option<PathBuf>,
    pub index_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub url_template: Option<String>,
    pub exclude: Option<Vec<String>>,
    pub private_key: Option<String>,
    pub private_value: Option<String>,
    pub private_tags: Option<Vec<String>>,
    pub max_results: Option<usize>,
    pub snippet_chars: Option<usize>,
    pub max_file_bytes: Option<u64>,
    pub poll: Option<bool>,
    pub poll_interval_ms: Option<u64>,
    pub reconcile_interval_secs: Option<u64>,
    pub commit_quiet_ms: Option<u64>,
    pub commit_max_delay_ms: Option<u64>,
    pub commit_max_batch: Option<usize>,
    pub progress_commit_ms: Option<u64>,
    pub pages: Option<PagesMode>,
    pub page_link_ttl_secs: Option<u64>,
    pub redact_defaults: Option<bool>,
    pub redact_patterns: Option<Vec<String>>,
    pub tokens_file: Option<PathBuf>,
    pub insecure_no_auth: Option<bool>,
    pub allowed_hosts: Option<Vec<String>>,
    pub oauth_issuer: Option<String>,
    pub oauth_audience: Option<Vec<String>>,
    pub oauth_jwks_url: Option<String>,
    pub oauth_scopes: Option<Vec<String>>,
    pub oauth_resource: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub rate_limit_per_minute: Option<u32>,
    pub request_timeout_secs: Option<u64>,
    pub max_query_chars: Option<usize>,
    pub max_fetch_bytes: Option<usize>,
    pub audit_log: Option<PathBuf>,
}

/// How each key is read from the environment.
#[derive(Clone, Copy)]
enum EnvKind {
    Text,
    Bool,
    Int,
    List,
}

/// Keys that may come from `DEEPVAULT_<KEY>`.
const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("vault", EnvKind::Text),
    ("index_dir", EnvKind::Text),
    ("listen", EnvKind::Text),
    ("public_url", EnvKind::Text),
    ("url_template", EnvKind::Text),
    ("exclude", EnvKind::List),
    ("private_key", EnvKind::Text),
    ("private_value", EnvKind::Text),
    ("private_tags", EnvKind::List),
    ("max_results", EnvKind::Int),
    ("snippet_chars", EnvKind::Int),
    ("max_file_bytes", EnvKind::Int),
    ("poll", EnvKind::Bool),
    ("poll_interval_ms", EnvKind::Int),
    ("reconcile_interval_secs", EnvKind::Int),
    ("commit_quiet_ms", EnvKind::Int),
    ("commit_max_delay_ms", EnvKind::Int),
    ("commit_max_batch", EnvKind::Int),
    ("progress_commit_ms", EnvKind::Int),
    ("pages", EnvKind::Text),
    ("page_link_ttl_secs", EnvKind::Int),
    ("redact_defaults", EnvKind::Bool),
    ("redact_patterns", EnvKind::List),
    ("tokens_file", EnvKind::Text),
    ("insecure_no_auth", EnvKind::Bool),
    ("allowed_hosts", EnvKind::List),
    ("oauth_issuer", EnvKind::Text),
    ("oauth_audience", EnvKind::List),
    ("oauth_jwks_url", EnvKind::Text),
    ("oauth_scopes", EnvKind::List),
    ("oauth_resource", EnvKind::Text),
    ("max_body_bytes", EnvKind::Int),
    ("rate_limit_per_minute", EnvKind::Int),
    ("request_timeout_secs", EnvKind::Int),
    ("max_query_chars", EnvKind::Int),
    ("max_fetch_bytes", EnvKind::Int),
    ("audit_log", EnvKind::Text),
];

/// Values given on the command line; `None` means "not given".
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub vault: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub index_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub url_template: Option<String>,
    pub poll: Option<bool>,
    pub insecure_no_auth: Option<bool>,
    pub audit_log: Option<PathBuf>,
}

/// Request limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// Requests per minute per client; 0 disables the limit.
    pub rate_limit_per_minute: u32,
    /// A tool call or page that takes longer fails with a timeout.
    pub request_timeout: Duration,
    /// Longer queries are cut to this many characters (and still answered).
    pub max_query_chars: usize,
    /// Fetched text longer than this is cut, with `metadata.truncated: true`.
    pub max_fetch_bytes: usize,
}

/// Who may connect.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// Static bearer tokens (from `DEEPVAULT_TOKENS` and `tokens_file`).
    pub tokens: Vec<crate::http::auth::StaticToken>,
    pub oauth: Option<crate::http::auth::OAuthSettings>,
    /// Serve a non-loopback address without auth, knowingly.
    pub insecure_no_auth: bool,
}

impl AuthConfig {
    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty() || self.oauth.is_some()
    }
}

/// Who may open the note pages that citations link to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PagesMode {
    /// Each citation URL carries a signature for its one note; the search page and other notes
    /// need the token. The default when auth is on.
    Signed,
    /// Anyone who reaches the server may read every page. The default without auth (loopback).
    Public,
    /// Pages need the same bearer token as `/mcp`.
    Token,
}

/// Who marks a note private.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Privacy {
    /// Frontmatter key, `deepvault` by default.
    pub key: String,
    /// Value of that key that makes a note private, `private` by default.
    pub value: String,
    /// Tags that make a note private (lowercase), `private` by default.
    pub tags: Vec<String>,
}

impl Default for Privacy {
    fn default() -> Self {
        Privacy {
            key: "deepvault".into(),
            value: "private".into(),
            tags: vec!["private".into()],
        }
    }
}

/// When the indexer commits a batch of changes.
#[derive(Clone, Debug)]
pub struct CommitPolicy {
    /// Commit once no new change arrived for this long.
    pub quiet: Duration,
    /// Commit at the latest this long after the first pending change.
    pub max_delay: Duration,
    /// Commit once this many changes are pending.
    pub max_batch: usize,
}

/// How the vault is watched.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Poll instead of native file events (network drives, container volumes).
    pub poll: bool,
    pub poll_interval: Duration,
    /// Interval of the light (stat-only) reconcile that catches missed events; zero disables it.
    pub reconcile_interval: Duration,
    pub commit: CommitPolicy,
    /// During the first index, commit at least this often so searches see progress.
    pub progress_commit: Duration,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub vault: PathBuf,
    pub index_dir: PathBuf,
    pub listen: String,
    /// The URL clients reach, without a trailing `/`; `None` means "derive from `listen`".
    pub public_url: Option<String>,
    pub url_template: String,
    pub exclude: Vec<String>,
    pub privacy: Privacy,
    pub max_results: usize,
    pub snippet_chars: usize,
    pub max_file_bytes: u64,
    pub watch: WatchConfig,
    pub pages: PagesMode,
    /// Signed page links expire after this long; `None` means never.
    pub page_link_ttl: Option<Duration>,
    /// Use the built-in secret patterns.
    pub redact_defaults: bool,
    /// More patterns (regular expressions) to redact.
    pub redact_patterns: Vec<String>,
    pub auth: AuthConfig,
    /// More host names the server answers to (besides loopback and the public URL's host).
    pub allowed_hosts: Vec<String>,
    pub limits: Limits,
    /// JSON lines of every tool call, when set.
    pub audit_log: Option<PathBuf>,
    /// The file the configuration came from, if any.
    pub source: Option<PathBuf>,
}

impl Config {
    /// Loads the configuration from defaults, the file, the process environment and `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Config> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("DEEPVAULT_"))
            .collect();
        Config::load_with_env(overrides, &env)
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_with_env(overrides: &Overrides, env: &BTreeMap<String, String>) -> Result<Config> {
        let explicit_file = overrides
            .config
            .clone()
            .or_else(|| env.get("DEEPVAULT_CONFIG").map(PathBuf::from));
        let mut table = match &explicit_file {
            Some(path) => read_table(path)?,
            None => toml::Table::new(),
        };
        let env_table = env_table(env)?;

        // The vault decides where `deepvault.toml` is, so find it first.
        let vault = overrides
            .vault
            .clone()
            .or_else(|| {
                env_table
                    .get("vault")
                    .and_then(|v| v.as_str())
                    .map(PathBuf::from)
            })
            .or_else(|| {
                table
                    .get("vault")
                    .and_then(|v| v.as_str())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let mut source = explicit_file.clone();
        if explicit_file.is_none() {
            let candidate = vault.join("deepvault.toml");
            if candidate.is_file() {
                table = read_table(&candidate)?;
                source = Some(candidate);
            }
        }
        let file_origin = source
            .as_ref()
            .map_or("the configuration".to_string(), |p| p.display().to_string());
        let file: ConfigFile = deserialize_table(table, &file_origin)?;
        let from_env: ConfigFile = deserialize_table(env_table, "the environment")?;
        let merged = merge(file, from_env);
        let env_tokens = env.get("DEEPVAULT_TOKENS").cloned();
        Config::validate(merged, vault, overrides, source, env_tokens)
    }

    fn validate(
        file: ConfigFile,
        vault: PathBuf,
        overrides: &Overrides,
        source: Option<PathBuf>,
        env_tokens: Option<String>,
    ) -> Result<Config> {
        let listen = overrides
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        validate_listen(&listen)?;
        let public_url = overrides
            .public_url
            .clone()
            .or(file.public_url)
            .map(|url| validate_public_url(&url))
            .transpose()?;
        let url_template = overrides
            .url_template
            .clone()
            .or(file.url_template)
            .unwrap_or_else(|| DEFAULT_URL_TEMPLATE.to_string());
        crate::urls::UrlTemplate::parse(&url_template)?;
        let index_dir = match overrides.index_dir.clone().or(file.index_dir) {
            Some(dir) => dir,
            None => default_index_dir(&vault),
        };
        let defaults = Privacy::default();
        let privacy = Privacy {
            key: file.private_key.unwrap_or(defaults.key),
            value: file.private_value.unwrap_or(defaults.value),
            tags: file
                .private_tags
                .unwrap_or(defaults.tags)
                .into_iter()
                .map(|t| t.trim_start_matches('#').to_lowercase())
                .collect(),
        };
        let max_results = positive(file.max_results.unwrap_or(10), "max_results")?.min(100);
        let limits = Limits {
            max_body_bytes: positive(file.max_body_bytes.unwrap_or(512 * 1024), "max_body_bytes")?,
            rate_limit_per_minute: file.rate_limit_per_minute.unwrap_or(600),
            request_timeout: Duration::from_secs(positive(
                file.request_timeout_secs.unwrap_or(30) as usize,
                "request_timeout_secs",
            )? as u64),
            max_query_chars: positive(
                file.max_query_chars.unwrap_or(16 * 1024),
                "max_query_chars",
            )?,
            max_fetch_bytes: positive(
                file.max_fetch_bytes.unwrap_or(1024 * 1024),
                "max_fetch_bytes",
            )?,
        };
        let mut tokens = Vec::new();
        if let Some(raw) = &env_tokens {
            for (i, token) in raw
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .enumerate()
            {
                tokens.push(parse_token(
                    token,
                    &format!("DEEPVAULT_TOKENS (token {})", i + 1),
                )?);
            }
        }
        if let Some(path) = &file.tokens_file {
            tokens.extend(read_tokens_file(path)?);
        }
        let oauth = match &file.oauth_issuer {
            None => {
                if file.oauth_jwks_url.is_some()
                    || file.oauth_scopes.is_some()
                    || file.oauth_audience.is_some()
                {
                    return Err(Error::Config {
                        message: "oauth_jwks_url, oauth_scopes and oauth_audience need oauth_issuer\n\nhint: set oauth_issuer to your authorization server, e.g. https://your-tenant.auth0.com/".into(),
                    });
                }
                None
            }
            Some(issuer) => {
                let Some(public_url) = public_url.clone() else {
                    return Err(Error::Config {
                        message: "OAuth needs the public URL clients reach: the token audience is <public_url>/mcp\n\nhint: pass --public-url https://your-host (or set public_url)".into(),
                    });
                };
                let resource = file
                    .oauth_resource
                    .clone()
                    .unwrap_or_else(|| format!("{public_url}/mcp"));
                let mut audiences = vec![resource.clone()];
                audiences.extend(file.oauth_audience.clone().unwrap_or_default());
                Some(crate::http::auth::OAuthSettings {
                    issuer: issuer.trim().to_string(),
                    audiences,
                    jwks_url: file.oauth_jwks_url.clone(),
                    scopes: file.oauth_scopes.clone().unwrap_or_default(),
                    resource,
                    metadata_url: format!("{public_url}/.well-known/oauth-protected-resource/mcp"),
                })
            }
        };
        let auth = AuthConfig {
            tokens,
            oauth,
            insecure_no_auth: overrides
                .insecure_no_auth
                .or(file.insecure_no_auth)
                .unwrap_or(false),
        };
        let snippet_chars = positive(file.snippet_chars.unwrap_or(300), "snippet_chars")?;
        let commit = CommitPolicy {
            quiet: Duration::from_millis(file.commit_quiet_ms.unwrap_or(30)),
            max_delay: Duration::from_millis(file.commit_max_delay_ms.unwrap_or(250)),
            max_batch: positive(file.commit_max_batch.unwrap_or(2000), "commit_max_batch")?,
        };
        let watch = WatchConfig {
            poll: overrides.poll.or(file.poll).unwrap_or(false),
            poll_interval: Duration::from_millis(positive(
                file.poll_interval_ms.unwrap_or(2000) as usize,
                "poll_interval_ms",
            )? as u64),
            reconcile_interval: Duration::from_secs(file.reconcile_interval_secs.unwrap_or(300)),
            commit,
            progress_commit: Duration::from_millis(file.progress_commit_ms.unwrap_or(2000)),
        };
        Ok(Config {
            vault,
            index_dir,
            listen,
            public_url,
            url_template,
            exclude: file.exclude.unwrap_or_default(),
            privacy,
            max_results,
            snippet_chars,
            max_file_bytes: file.max_file_bytes.unwrap_or(64 * 1024 * 1024),
            watch,
            pages: file.pages.unwrap_or(if auth.is_enabled() {
                PagesMode::Signed
            } else {
                PagesMode::Public
            }),
            page_link_ttl: file
                .page_link_ttl_secs
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            redact_defaults: file.redact_defaults.unwrap_or(true),
            redact_patterns: file.redact_patterns.unwrap_or_default(),
            auth,
            allowed_hosts: file.allowed_hosts.unwrap_or_default(),
            limits,
            audit_log: overrides.audit_log.clone().or(file.audit_log),
            source,
        })
    }

    /// The base URL of this server as clients see it: `--public-url`, else from `listen`.
    pub fn base_url(&self) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = if self.listen.starts_with("0.0.0.0:") {
            self.listen.replacen("0.0.0.0", "127.0.0.1", 1)
        } else if self.listen.starts_with("[::]:") {
            self.listen.replacen("[::]", "[::1]", 1)
        } else {
            self.listen.clone()
        };
        format!("http://{host}")
    }
}

fn positive(value: usize, key: &str) -> Result<usize> {
    if value == 0 {
        return Err(Error::Config {
            message: format!("`{key}` must be greater than 0"),
        });
    }
    Ok(value)
}

fn validate_listen(listen: &str) -> Result<()> {
    let bad = || Error::Config {
        message: format!(
            "listen address `{listen}` is not HOST:PORT\n\nhint: use e.g. `127.0.0.1:8765`, `[::1]:8765` or `0.0.0.0:8765`"
        ),
    };
    let (host, port) = listen.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

fn validate_public_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(trimmed.to_string()),
        _ => Err(Error::Config {
            message: format!(
                "public URL `{url}` must start with https:// or http:// and name a host\n\nhint: use the address clients reach, e.g. `https://notes.example.com`"
            ),
        }),
    }
}

/// A static token: at least 16 characters, no whitespace.
fn parse_token(token: &str, origin: &str) -> Result<crate::http::auth::StaticToken> {
    parse_labelled_token(None, token, origin)
}

fn parse_labelled_token(
    label: Option<&str>,
    token: &str,
    origin: &str,
) -> Result<crate::http::auth::StaticToken> {
    if token.chars().count() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Config {
            message: format!(
                "{origin} is not a usable token: use at least 16 characters without spaces\n\nhint: generate one with `openssl rand -hex 32`"
            ),
        });
    }
    Ok(crate::http::auth::StaticToken::new(label, token))
}

/// A tokens file: one token per line, optionally `label token`; `#` starts a comment.
fn read_tokens_file(path: &Path) -> Result<Vec<crate::http::auth::StaticToken>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Config {
        message: format!("cannot read tokens_file {}: {source}", path.display()),
    })?;
    let mut tokens = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let origin = format!("line {} of tokens_file {}", number + 1, path.display());
        let mut parts = line.split_whitespace();
        let (label, token) = match (parts.next(), parts.next(), parts.next()) {
            (Some(token), None, None) => (None, token),
            (Some(label), Some(token), None) => (Some(label), token),
            _ => {
                return Err(Error::Config {
                    message: format!("{origin} should be `token` or `label token`"),
                });
            }
        };
        tokens.push(parse_labelled_token(label, token, &origin)?);
    }
    if tokens.is_empty() {
        return Err(Error::Config {
            message: format!("tokens_file {} holds no token", path.display()),
        });
    }
    Ok(tokens)
}

fn read_table(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Config {
        message: format!("cannot read config file {}: {source}", path.display()),
    })?;
    text.parse::<toml::Table>().map_err(|err| Error::Config {
        message: format!("config file {} is not valid TOML: {err}", path.display()),
    })
}

fn deserialize_table(table: toml::Table, origin: &str) -> Result<ConfigFile> {
    let known: Vec<&str> = ENV_KEYS.iter().map(|(k, _)| *k).collect();
    if let Some(unknown) = table.keys().find(|k| !known.contains(&k.as_str())) {
        let hint = known
            .iter()
            .filter(|k| similar(k, unknown))
            .map(|k| format!("\n\nhint: did you mean `{k}`?"))
            .next()
            .unwrap_or_else(|| format!("\n\nhint: known keys are {}", known.join(", ")));
        return Err(Error::Config {
            message: format!("unknown key `{unknown}` in {origin}{hint}"),
        });
    }
    ConfigFile::deserialize(toml::Value::Table(table)).map_err(|err| Error::Config {
        message: format!("invalid value in {origin}: {}", err.message().trim()),
    })
}

/// A crude "did you mean": same first letter and a shared prefix or suffix.
fn similar(known: &str, unknown: &str) -> bool {
    let unknown = unknown.to_lowercase().replace('-', "_");
    known == unknown
        || (known.len() > 3
            && (unknown.starts_with(&known[..4]) || unknown.ends_with(&known[known.len() - 4..])))
}

fn env_table(env: &BTreeMap<String, String>) -> Result<toml::Table> {
    let mut table = toml::Table::new();
    for (key, kind) in ENV_KEYS {
        let name = format!("DEEPVAULT_{}", key.to_uppercase());
        let Some(raw) = env.get(&name) else { continue };
        let value = match kind {
            EnvKind::Text => toml::Value::String(raw.clone()),
            EnvKind::Bool => match raw.trim().to_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
                "0" | "false" | "no" | "off" | "" => toml::Value::Boolean(false),
                _ => {
                    return Err(Error::Config {
                        message: format!("{name}=`{raw}` is not a boolean; use true or false"),
                    });
                }
            },
            EnvKind::Int => match raw.trim().parse::<i64>() {
                Ok(n) if n >= 0 => toml::Value::Integer(n),
                _ => {
                    return Err(Error::Config {
                        message: format!("{name}=`{raw}` is not a non-negative integer"),
                    });
                }
            },
            EnvKind::List => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_string()))
                    .collect(),
            ),
        };
        table.insert(key.to_string(), value);
    }
    Ok(table)
}

/// Environment values win over file values.
fn merge(file: ConfigFile, env: ConfigFile) -> ConfigFile {
    ConfigFile {
        vault: env.vault.or(file.vault),
        index_dir: env.index_dir.or(file.index_dir),
        listen: env.listen.or(file.listen),
        public_url: env.public_url.or(file.public_url),
        url_template: env.url_template.or(file.url_template),
        exclude: env.exclude.or(file.exclude),
        private_key: env.private_key.or(file.private_key),
        private_value: env.private_value.or(file.private_value),
        private_tags: env.private_tags.or(file.private_tags),
        max_results: env.max_results.or(file.max_results),
        snippet_chars: env.snippet_chars.or(file.snippet_chars),
        max_file_bytes: env.max_file_bytes.or(file.max_file_bytes),
        poll: env.poll.or(file.poll),
        poll_interval_ms: env.poll_interval_ms.or(file.poll_interval_ms),
        reconcile_interval_secs: env.reconcile_interval_secs.or(file.reconcile_interval_secs),
        commit_quiet_ms: env.commit_quiet_ms.or(file.commit_quiet_ms),
        commit_max_delay_ms: env.commit_max_delay_ms.or(file.commit_max_delay_ms),
        commit_max_batch: env.commit_max_batch.or(file.commit_max_batch),
        progress_commit_ms: env.progress_commit_ms.or(file.progress_commit_ms),
        pages: env.pages.or(file.pages),
        page_link_ttl_secs: env.page_link_ttl_secs.or(file.page_link_ttl_secs),
        redact_defaults: env.redact_defaults.or(file.redact_defaults),
        redact_patterns: env.redact_patterns.or(file.redact_patterns),
        tokens_file: env.tokens_file.or(file.tokens_file),
        insecure_no_auth: env.insecure_no_auth.or(file.insecure_no_auth),
        allowed_hosts: env.allowed_hosts.or(file.allowed_hosts),
        oauth_issuer: env.oauth_issuer.or(file.oauth_issuer),
        oauth_audience: env.oauth_audience.or(file.oauth_audience),
        oauth_jwks_url: env.oauth_jwks_url.or(file.oauth_jwks_url),
        oauth_scopes: env.oauth_scopes.or(file.oauth_scopes),
        oauth_resource: env.oauth_resource.or(file.oauth_resource),
        max_body_bytes: env.max_body_bytes.or(file.max_body_bytes),
        rate_limit_per_minute: env.rate_limit_per_minute.or(file.rate_limit_per_minute),
        request_timeout_secs: env.request_timeout_secs.or(file.request_timeout_secs),
        max_query_chars: env.max_query_chars.or(file.max_query_chars),
        max_fetch_bytes: env.max_fetch_bytes.or(file.max_fetch_bytes),
        audit_log: env.audit_log.or(file.audit_log),
    }
}

/// The index folder for a vault when none is configured: the user cache directory, one folder
/// per canonical vault path, never inside the vault (so sync tools never upload it).
pub fn default_index_dir(vault: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(vault).unwrap_or_else(|_| vault.to_path_buf());
    let name: String = canonical
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vault".into())
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let hash = xxhash_rust::xxh3::xxh3_64(canonical.to_string_lossy().as_bytes());
    let base = dirs::cache_dir().unwrap_or_else(std::env::temp_dir);
    base.join("deepvault").join(format!("{name}-{hash:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn precedence_flags_env_file_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("deepvault.toml"),
            "listen = \"127.0.0.1:1111\"\nmax_results = 7\nexclude = [\"a/**\"]\n",
        )
        .unwrap();
        let overrides = Overrides {
            vault: Some(dir.path().to_path_buf()),
            ..Overrides::default()
        };
        let config = Config::load_with_env(&overrides, &env(&[])).unwrap();
        assert_eq!(config.listen, "127.0.0.1:1111");
        assert_eq!(config.max_results, 7);
        assert_eq!(config.exclude, vec!["a/**"]);
        assert_eq!(config.snippet_chars, 300);

        let e = env(&[
            ("DEEPVAULT_LISTEN", "127.0.0.1:2222"),
            ("DEEPVAULT_EXCLUDE", "x/**, y/**"),
        ]);
        let config = Config::load_with_env(&overrides, &e).unwrap();
        assert_eq!(config.listen, "127.0.0.1:2222");
        assert_eq!(config.exclude, vec!["x/**", "y/**"]);

        let with_flag = Overrides {
            listen: Some("127.0.0.1:3333".into()),
            ..overrides.clone()
        };
        let config = Config::load_with_env(&with_flag, &e).unwrap();
        assert_eq!(config.listen, "127.0.0.1:3333");
    }

    #[test]
    fn unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "max_result = 3\n").unwrap();
        let overrides = Overrides {
            config: Some(file.clone()),
            vault: Some(dir.path().to_path_buf()),
            ..Overrides::default()
        };
        let err = Config::load_with_env(&overrides, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `max_result`"), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains("did you mean `max_results`"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let o = Overrides {
            listen: Some("8765".into()),
            ..Overrides::default()
        };
        let err = Config::load_with_env(&o, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`8765` is not HOST:PORT"), "{err}");
        let err =
            Config::load_with_env(&Overrides::default(), &env(&[("DEEPVAULT_POLL", "maybe")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("DEEPVAULT_POLL"), "{err}");
        let o = Overrides {
            public_url: Some("ftp://x".into()),
            ..Overrides::default()
        };
        assert!(Config::load_with_env(&o, &env(&[])).is_err());
    }

    #[test]
    fn index_dir_is_outside_the_vault_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = default_index_dir(dir.path());
        assert_eq!(a, default_index_dir(dir.path()));
        assert!(!a.starts_with(dir.path()));
    }

    #[test]
    fn base_url_from_listen_or_public_url() {
        let mut config = Config::load_with_env(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(config.base_url(), "http://127.0.0.1:8765");
        config.listen = "0.0.0.0:9000".into();
        assert_eq!(config.base_url(), "http://127.0.0.1:9000");
        config.public_url = Some("https://notes.example.com".into());
        assert_eq!(config.base_url(), "https://notes.example.com");
    }
}
