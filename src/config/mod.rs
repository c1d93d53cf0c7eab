//! Configuration: flags over `DEEPVAULT_*` environment variables over a TOML file over defaults.
//!
//! The TOML file is `--config FILE`, else `deepvault.toml` in the vault root when present. Every
//! key can also come from the environment as `DEEPVAULT_<KEY>` (uppercase; lists are
//! comma-separated). Each key is declared once, in `config_keys!`: the file, the environment and
//! the flags are each a [`ConfigLayer`] of that declaration (unknown keys rejected with their name),
//! stacked, then validated into the immutable [`Config`] the rest of the program uses.
//!
//! # Layout
//!
//! - this file: the keys, the layers, validation and defaults.
//! - [`auth`]: the token and OAuth settings a configuration yields.
//! - [`url_template`]: the citation URL template's syntax and rendering.

pub(crate) mod auth;
pub(crate) mod url_template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub(crate) use auth::AuthMode;

use crate::error::{Error, Result};
use crate::vault::ingest::Ingest;
use crate::vault::privacy::Privacy;
use crate::vault::redact::Redactor;

/// The default listen address: loopback only.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8765";
/// The default citation URL template.
pub(crate) const DEFAULT_URL_TEMPLATE: &str = "{public_url}/notes/{path}{#anchor}";

/// Declares every configuration key once: the [`ConfigLayer`] field (file, environment and
/// flags share it), the key's name for error messages and the README check, and how its
/// environment variable is read (from the field's type, see [`FromEnv`]).
macro_rules! config_keys {
    ($( $(#[doc = $doc:literal])* $key:ident: $ty:ty, )*) => {
        /// One layer of configuration: a TOML file, the `DEEPVAULT_*` environment or the
        /// command line. Every key is optional; [`ConfigLayer::or`] stacks the layers.
        #[derive(Clone, Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct ConfigLayer {
            $( $(#[doc = $doc])* pub $key: Option<$ty>, )*
        }

        /// Every key, with the reader of its environment variable.
        const KEYS: &[(&str, EnvReader)] = &[ $( (stringify!($key), <$ty as FromEnv>::read), )* ];

        impl ConfigLayer {
            /// This layer's values where set, else `lower`'s.
            pub(crate) fn or(self, lower: ConfigLayer) -> ConfigLayer {
                ConfigLayer { $( $key: self.$key.or(lower.$key), )* }
            }
        }
    };
}

config_keys! {
    /// The folder of notes.
    vault: PathBuf,
    /// Where the index lives.
    index_dir: PathBuf,
    /// The HTTP address.
    listen: String,
    /// The URL clients reach.
    public_url: String,
    /// The citation URL template.
    url_template: String,
    /// Globs of paths to skip.
    exclude: Vec<String>,
    /// Globs of paths whose files are private: never indexed, never served.
    private_paths: Vec<String>,
    /// The frontmatter key that marks private notes.
    private_key: String,
    /// The value of that key that marks private notes.
    private_value: String,
    /// Tags of private notes.
    private_tags: Vec<String>,
    /// Results per search.
    max_results: usize,
    /// Length of the passage in each hit.
    snippet_chars: usize,
    /// Larger files are skipped.
    max_file_bytes: u64,
    /// Keep Obsidian `%%comments%%` in what is indexed and served.
    keep_comments: bool,
    /// Poll instead of file events.
    poll: bool,
    poll_interval_ms: u64,
    reconcile_interval_secs: u64,
    commit_quiet_ms: u64,
    commit_max_delay_ms: u64,
    commit_max_batch: usize,
    progress_commit_ms: u64,
    /// Who may open note pages.
    pages: PagesMode,
    page_link_ttl_secs: u64,
    redact_defaults: bool,
    redact_patterns: Vec<String>,
    /// Which way clients prove who they are: `auto`, `builtin` (deepvault's own OAuth
    /// server), `none`, `tokens` or `oauth` (an external issuer).
    auth: AuthMode,
    tokens_file: PathBuf,
    insecure_no_auth: bool,
    allowed_hosts: Vec<String>,
    oauth_issuer: String,
    oauth_audience: Vec<String>,
    oauth_jwks_url: String,
    oauth_scopes: Vec<String>,
    oauth_resource: String,
    max_body_bytes: usize,
    rate_limit_per_minute: u32,
    request_timeout_secs: u64,
    /// A connection with no byte in either direction for this long is closed.
    idle_timeout_secs: u64,
    max_query_chars: usize,
    max_fetch_bytes: usize,
    audit_log: PathBuf,
    /// The sentence-embedding model: a name or a folder.
    embedding_model: String,
    /// `auto` (on when a model is set), `on` or `off`.
    semantic: SemanticSwitch,
    /// `lexical`, `semantic` or `hybrid`.
    search_mode: SearchMode,
    /// Threads that embed notes in the background.
    embedding_threads: usize,
    /// Where `models pull` puts models.
    models_dir: PathBuf,
}

/// Reads `DEEPVAULT_<KEY>=raw` (the variable's name is for errors) into a TOML value.
type EnvReader = fn(&str, &str) -> Result<toml::Value>;

/// How a key's type is read from an environment variable: text as is, booleans as
/// `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`, integers in decimal, lists comma-separated.
trait FromEnv {
    fn read(name: &str, raw: &str) -> Result<toml::Value>;
}

macro_rules! text_from_env {
    ($($ty:ty),*) => {$(
        impl FromEnv for $ty {
            fn read(_: &str, raw: &str) -> Result<toml::Value> {
                Ok(toml::Value::String(raw.to_string()))
            }
        }
    )*};
}
text_from_env!(
    String,
    PathBuf,
    PagesMode,
    AuthMode,
    SemanticSwitch,
    SearchMode
);

macro_rules! int_from_env {
    ($($ty:ty),*) => {$(
        impl FromEnv for $ty {
            fn read(name: &str, raw: &str) -> Result<toml::Value> {
                match raw.trim().parse::<$ty>() {
                    Ok(n) => Ok(toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))),
                    Err(_) => Err(Error::Config {
                        message: format!("{name}=`{raw}` is not a non-negative integer"),
                    }),
                }
            }
        }
    )*};
}
int_from_env!(u32, u64, usize);

impl FromEnv for bool {
    fn read(name: &str, raw: &str) -> Result<toml::Value> {
        match raw.trim().to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "0" | "false" | "no" | "off" | "" => Ok(toml::Value::Boolean(false)),
            _ => Err(Error::Config {
                message: format!("{name}=`{raw}` is not a boolean; use true or false"),
            }),
        }
    }
}

impl FromEnv for Vec<String> {
    fn read(_: &str, raw: &str) -> Result<toml::Value> {
        Ok(toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ))
    }
}

/// What the command line gives: which file to read, and values over every other layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--config FILE`.
    pub(crate) config: Option<PathBuf>,
    /// Flags, over the environment and the file.
    pub(crate) values: ConfigLayer,
}

impl Overrides {
    /// Only the vault given, as `deepvault COMMAND VAULT` does.
    pub fn for_vault(vault: PathBuf) -> Overrides {
        Overrides {
            config: None,
            values: ConfigLayer {
                vault: Some(vault),
                ..ConfigLayer::default()
            },
        }
    }
}

/// Request limits.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Larger request bodies get 413.
    pub(crate) max_body_bytes: usize,
    /// Requests per minute per client; 0 disables the limit.
    pub(crate) rate_limit_per_minute: u32,
    /// A tool call or page that takes longer fails with a timeout; a request body must arrive
    /// within it too.
    pub(crate) request_timeout: Duration,
    /// A connection silent in both directions this long is closed (never less than
    /// `request_timeout`, so a slow answer is not cut).
    pub(crate) idle_timeout: Duration,
    /// Longer queries are cut to this many characters (and still answered).
    pub(crate) max_query_chars: usize,
    /// Fetched text longer than this is cut, with `metadata.truncated: true`.
    pub(crate) max_fetch_bytes: usize,
}

/// Who may connect.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuthConfig {
    /// Static bearer tokens (from `DEEPVAULT_TOKENS` and `tokens_file`).
    pub(crate) tokens: Vec<auth::StaticToken>,
    /// An external issuer's JWTs.
    pub(crate) oauth: Option<auth::OAuthSettings>,
    /// deepvault is its own OAuth authorization server (`auth = "builtin"`, or the default for a
    /// non-loopback public URL without other auth).
    pub(crate) builtin: bool,
    /// Serve a non-loopback address without auth, knowingly.
    pub(crate) insecure_no_auth: bool,
}

impl AuthConfig {
    pub(crate) fn is_enabled(&self) -> bool {
        !self.tokens.is_empty() || self.oauth.is_some() || self.builtin
    }
}

/// Who may open the note pages that citations link to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PagesMode {
    /// Each citation URL carries a signature for its one note; the search page and other notes
    /// need the token. The default when auth is on.
    Signed,
    /// Anyone who reaches the server may read every page. The default without auth (loopback).
    Public,
    /// Pages need the same bearer token as `/mcp`.
    Token,
}

/// Whether semantic search is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SemanticSwitch {
    /// On when `embedding_model` is set.
    Auto,
    /// On, with `embedding_model` or else the default model.
    On,
    Off,
}

/// How a search ranks: by words, by meaning, or both fused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    #[default]
    Lexical,
    Semantic,
    Hybrid,
}

impl SearchMode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            SearchMode::Lexical => "lexical",
            SearchMode::Semantic => "semantic",
            SearchMode::Hybrid => "hybrid",
        }
    }
}

/// Semantic search settings, when it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SemanticConfig {
    /// `embedding_model`: a model name or a folder, resolved by `index::vectors::models`.
    pub(crate) model: String,
    /// Background embedding threads (run at a lower priority).
    pub(crate) threads: usize,
}

/// The model `semantic = "on"` uses when `embedding_model` is not set.
pub(crate) const DEFAULT_EMBEDDING_MODEL: &str = "all-MiniLM-L6-v2";

/// When the indexer commits a batch of changes.
#[derive(Clone, Debug)]
pub(crate) struct CommitPolicy {
    /// Commit once no new change arrived for this long.
    pub(crate) quiet: Duration,
    /// Commit at the latest this long after the first pending change.
    pub(crate) max_delay: Duration,
    /// Commit once this many changes are pending.
    pub(crate) max_batch: usize,
}

/// How the vault is watched.
#[derive(Clone, Debug)]
pub(crate) struct WatchConfig {
    /// Poll instead of native file events (network drives, container volumes).
    pub(crate) poll: bool,
    pub(crate) poll_interval: Duration,
    /// Interval of the light (stat-only) reconcile that catches missed events; zero disables it.
    pub(crate) reconcile_interval: Duration,
    pub(crate) commit: CommitPolicy,
    /// During the first index, commit at least this often so searches see progress.
    pub(crate) progress_commit: Duration,
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) vault: PathBuf,
    /// No flag, variable or file named the vault: it is the current folder.
    pub(crate) vault_is_cwd: bool,
    pub(crate) index_dir: PathBuf,
    pub(crate) listen: String,
    /// The URL clients reach, without a trailing `/`; `None` means "derive from `listen`".
    pub(crate) public_url: Option<String>,
    pub(crate) url_template: String,
    pub(crate) exclude: Vec<String>,
    /// Globs (vault-relative, as `exclude`) of files that are private whatever they say.
    pub(crate) private_paths: Vec<String>,
    pub(crate) privacy: Privacy,
    pub(crate) max_results: usize,
    pub(crate) snippet_chars: usize,
    pub(crate) max_file_bytes: u64,
    /// Keep Obsidian `%%comments%%` (hidden from readers by default, as Obsidian does).
    pub(crate) keep_comments: bool,
    pub(crate) watch: WatchConfig,
    pub(crate) pages: PagesMode,
    /// Signed page links expire after this long; `None` means never.
    pub(crate) page_link_ttl: Option<Duration>,
    /// Use the built-in secret patterns.
    pub(crate) redact_defaults: bool,
    /// More patterns (regular expressions) to redact.
    pub(crate) redact_patterns: Vec<String>,
    pub(crate) auth: AuthConfig,
    /// More host names the server answers to (besides loopback and the public URL's host).
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) limits: Limits,
    /// JSON lines of every tool call, when set.
    pub(crate) audit_log: Option<PathBuf>,
    /// Semantic search, when on.
    pub(crate) semantic: Option<SemanticConfig>,
    /// How `search` ranks (hybrid by default when semantic search is on).
    pub(crate) search_mode: SearchMode,
    /// Where models are pulled to and looked up by name.
    pub(crate) models_dir: PathBuf,
    /// The file the configuration came from, if any.
    pub(crate) source: Option<PathBuf>,
}

impl Config {
    /// How notes are read for the index: these privacy settings, redaction patterns and parse
    /// options.
    pub fn ingest(&self) -> Result<Ingest> {
        Ok(Ingest::new(
            self.privacy.clone(),
            std::sync::Arc::new(Redactor::new(self.redact_defaults, &self.redact_patterns)?),
        )
        .with_parse(crate::vault::parse::ParseOptions {
            keep_comments: self.keep_comments,
        }))
    }

    /// Opens the vault with the configured `exclude` and `private_paths` globs.
    pub fn open_vault(&self) -> Result<crate::vault::Vault> {
        Ok(crate::vault::Vault::open(&self.vault, &self.exclude)?
            .with_private_paths(&self.private_paths))
    }

    /// Loads the configuration from defaults, the file, the process environment and `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Config> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("DEEPVAULT_"))
            .collect();
        for warning in unknown_env_vars(&env) {
            tracing::warn!("{warning}");
        }
        Config::load_with_env(overrides, &env)
    }

    /// [`Config::load`] with an explicit environment, for tests.
    pub fn load_with_env(overrides: &Overrides, env: &BTreeMap<String, String>) -> Result<Config> {
        let explicit_file = overrides
            .config
            .clone()
            .or_else(|| env.get("DEEPVAULT_CONFIG").map(PathBuf::from));
        let from_env = env_layer(env)?;
        let mut file = match &explicit_file {
            Some(path) => read_layer(path)?,
            None => ConfigLayer::default(),
        };
        // The vault decides where `deepvault.toml` is, so find it first.
        let named_vault = overrides
            .values
            .vault
            .clone()
            .or_else(|| from_env.vault.clone())
            .or_else(|| file.vault.clone());
        let vault_is_cwd = named_vault.is_none();
        let vault = named_vault.unwrap_or_else(|| PathBuf::from("."));
        let mut source = explicit_file.clone();
        if explicit_file.is_none() {
            let candidate = vault.join("deepvault.toml");
            if candidate.is_file() {
                file = read_layer(&candidate)?;
                source = Some(candidate);
            }
        }
        let merged = overrides.values.clone().or(from_env).or(file);
        let env_tokens = env.get("DEEPVAULT_TOKENS").cloned();
        let mut config = Config::validate(merged, vault, source, env_tokens)?;
        config.vault_is_cwd = vault_is_cwd;
        Ok(config)
    }

    fn validate(
        file: ConfigLayer,
        vault: PathBuf,
        source: Option<PathBuf>,
        env_tokens: Option<String>,
    ) -> Result<Config> {
        let listen = file
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        validate_listen(&listen)?;
        let public_url = file
            .public_url
            .clone()
            .map(|url| validate_public_url(&url))
            .transpose()?;
        let url_template = file
            .url_template
            .clone()
            .unwrap_or_else(|| DEFAULT_URL_TEMPLATE.to_string());
        url_template::UrlTemplate::parse(&url_template)?;
        let index_dir = match file.index_dir.clone() {
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
            idle_timeout: Duration::from_secs(positive(
                file.idle_timeout_secs.unwrap_or(60) as usize,
                "idle_timeout_secs",
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
                Some(auth::OAuthSettings {
                    issuer: issuer.trim().to_string(),
                    audiences,
                    jwks_url: file.oauth_jwks_url.clone(),
                    scopes: file.oauth_scopes.clone().unwrap_or_default(),
                    resource,
                    metadata_url: format!("{public_url}/.well-known/oauth-protected-resource/mcp"),
                })
            }
        };
        let insecure_no_auth = file.insecure_no_auth.unwrap_or(false);
        let mode = file.auth.unwrap_or_default();
        let (tokens, oauth) = auth::apply_mode(mode, tokens, oauth)?;
        let builtin = match mode {
            AuthMode::Builtin if oauth.is_some() => {
                return Err(Error::Config {
                    message: "auth = \"builtin\" and oauth_issuer both name who grants access\n\nhint: choose one: remove oauth_issuer to let deepvault be its own authorization server, or remove auth = \"builtin\" to use your issuer".into(),
                });
            }
            AuthMode::Builtin => true,
            AuthMode::Auto => {
                tokens.is_empty()
                    && oauth.is_none()
                    && !insecure_no_auth
                    && public_url
                        .as_deref()
                        .is_some_and(|url| !auth::is_loopback_url(url))
            }
            AuthMode::None | AuthMode::Tokens | AuthMode::OAuth => false,
        };
        let auth = AuthConfig {
            tokens,
            oauth,
            builtin,
            insecure_no_auth,
        };
        let snippet_chars = positive(file.snippet_chars.unwrap_or(300), "snippet_chars")?;
        let commit = CommitPolicy {
            quiet: Duration::from_millis(file.commit_quiet_ms.unwrap_or(30)),
            max_delay: Duration::from_millis(file.commit_max_delay_ms.unwrap_or(250)),
            max_batch: positive(file.commit_max_batch.unwrap_or(2000), "commit_max_batch")?,
        };
        let watch = WatchConfig {
            poll: file.poll.unwrap_or(false),
            poll_interval: Duration::from_millis(positive(
                file.poll_interval_ms.unwrap_or(2000) as usize,
                "poll_interval_ms",
            )? as u64),
            reconcile_interval: Duration::from_secs(file.reconcile_interval_secs.unwrap_or(300)),
            commit,
            progress_commit: Duration::from_millis(file.progress_commit_ms.unwrap_or(2000)),
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let model = file
            .embedding_model
            .clone()
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        let semantic = match (file.semantic.unwrap_or(SemanticSwitch::Auto), model) {
            (SemanticSwitch::Off, _) | (SemanticSwitch::Auto, None) => None,
            (_, model) => Some(SemanticConfig {
                model: model.unwrap_or_else(|| DEFAULT_EMBEDDING_MODEL.to_string()),
                threads: positive(file.embedding_threads.unwrap_or(cores), "embedding_threads")?,
            }),
        };
        let search_mode = match (file.search_mode, &semantic) {
            (Some(SearchMode::Lexical), _) => SearchMode::Lexical,
            (Some(mode), None) => {
                return Err(Error::Config {
                    message: format!(
                        "search_mode = \"{}\" needs semantic search, which is off (no embedding_model, or semantic = \"off\")\n\nhint: run `deepvault models pull`, then set embedding_model = \"{DEFAULT_EMBEDDING_MODEL}\" (or --embedding-model); or use search_mode = \"lexical\"",
                        mode.name()
                    ),
                });
            }
            (Some(mode), Some(_)) => mode,
            (None, Some(_)) => SearchMode::Hybrid,
            (None, None) => SearchMode::Lexical,
        };
        let models_dir = file.models_dir.clone().unwrap_or_else(default_models_dir);
        Ok(Config {
            vault,
            vault_is_cwd: false,
            index_dir,
            listen,
            public_url,
            url_template,
            exclude: file.exclude.unwrap_or_default(),
            private_paths: file.private_paths.unwrap_or_default(),
            privacy,
            max_results,
            snippet_chars,
            max_file_bytes: file.max_file_bytes.unwrap_or(64 * 1024 * 1024),
            keep_comments: file.keep_comments.unwrap_or(false),
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
            audit_log: file.audit_log,
            semantic,
            search_mode,
            models_dir,
            source,
        })
    }

    /// The state folder beside the index (`tantivy/`): what must survive a rebuild of the index,
    /// like the built-in OAuth server's clients and grants. Never in the vault.
    pub(crate) fn state_dir(&self) -> PathBuf {
        self.index_dir.join("state")
    }

    /// The base URL of this server as clients see it: `--public-url`, else from `listen`.
    pub(crate) fn base_url(&self) -> String {
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
fn parse_token(token: &str, origin: &str) -> Result<auth::StaticToken> {
    parse_labelled_token(None, token, origin)
}

fn parse_labelled_token(
    label: Option<&str>,
    token: &str,
    origin: &str,
) -> Result<auth::StaticToken> {
    if token.chars().count() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Config {
            message: format!(
                "{origin} is not a usable token: use at least 16 characters without spaces\n\nhint: generate one with `openssl rand -hex 32`"
            ),
        });
    }
    Ok(auth::StaticToken::new(label, token))
}

/// A tokens file: one token per line, optionally `label token`; `#` starts a comment.
fn read_tokens_file(path: &Path) -> Result<Vec<auth::StaticToken>> {
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

/// Reads a TOML file as one layer. A wrong key or value names the key, the file and the line.
fn read_layer(path: &Path) -> Result<ConfigLayer> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Config {
        message: format!("cannot read config file {}: {source}", path.display()),
    })?;
    let table = text.parse::<toml::Table>().map_err(|err| Error::Config {
        message: format!("config file {} is not valid TOML: {err}", path.display()),
    })?;
    check_keys(
        table.keys().map(String::as_str),
        &path.display().to_string(),
    )?;
    toml::from_str::<ConfigLayer>(&text).map_err(|err| Error::Config {
        message: format!("invalid value in config file {}: {err}", path.display()),
    })
}

/// An unknown key is an error that names it and the closest known key.
fn check_keys<'k>(mut keys: impl Iterator<Item = &'k str>, origin: &str) -> Result<()> {
    let Some(unknown) = keys.find(|key| !KEYS.iter().any(|(known, _)| known == key)) else {
        return Ok(());
    };
    let hint = match closest_key(unknown) {
        Some(known) => format!("\n\nhint: did you mean `{known}`?"),
        None => {
            let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
            format!("\n\nhint: known keys are {}", known.join(", "))
        }
    };
    Err(Error::Config {
        message: format!("unknown key `{unknown}` in {origin}{hint}"),
    })
}

/// The known key nearest to `unknown` (case and `-`/`_` ignored), when it is near enough to be a
/// typo of it.
fn closest_key(unknown: &str) -> Option<&'static str> {
    closest(unknown, KEYS.iter().map(|(known, _)| *known))
}

fn closest<'k>(unknown: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let unknown = unknown.to_lowercase().replace('-', "_");
    known
        .map(|known| (known, strsim::jaro_winkler(known, &unknown)))
        .filter(|(_, similarity)| *similarity >= 0.85)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(known, _)| known)
}

/// The `DEEPVAULT_*` variables that are a key in upper case, as one layer.
fn env_layer(env: &BTreeMap<String, String>) -> Result<ConfigLayer> {
    let mut table = toml::Table::new();
    for (key, read) in KEYS {
        let name = format!("DEEPVAULT_{}", key.to_uppercase());
        if let Some(raw) = env.get(&name) {
            table.insert(key.to_string(), read(&name, raw)?);
        }
    }
    ConfigLayer::deserialize(toml::Value::Table(table.clone())).map_err(|err| {
        // Name the variable: find the one that does not deserialize on its own.
        let culprit = table.iter().find_map(|(key, value)| {
            let one = toml::Table::from_iter([(key.clone(), value.clone())]);
            ConfigLayer::deserialize(toml::Value::Table(one))
                .err()
                .map(|err| (key.to_uppercase(), err))
        });
        match culprit {
            Some((key, err)) => Error::Config {
                message: format!(
                    "DEEPVAULT_{key}=`{}` is not valid: {}",
                    env.get(&format!("DEEPVAULT_{key}"))
                        .map(String::as_str)
                        .unwrap_or_default(),
                    err.message().trim()
                ),
            },
            None => Error::Config {
                message: format!("invalid value in the environment: {}", err.message().trim()),
            },
        }
    })
}

/// Variables that are read besides the keys (`RANKING`: ranking experiments, see the README).
const OTHER_ENV_VARS: &[&str] = &["config", "tokens", "log", "ranking", "test_clock_file"];

/// The variable `deepvault connect` tells clients (Codex's `bearer_token_env_var`) to read their
/// token from; the server reads `DEEPVAULT_TOKENS`.
const CLIENT_TOKEN_VAR: &str = "DEEPVAULT_TOKEN";

/// True for a `DEEPVAULT_*` variable that deepvault reads.
pub(crate) fn is_read_env_var(name: &str) -> bool {
    name.strip_prefix("DEEPVAULT_").is_some_and(|key| {
        OTHER_ENV_VARS
            .iter()
            .chain(KEYS.iter().map(|(k, _)| k))
            .any(|k| k.eq_ignore_ascii_case(key))
    })
}

/// Warnings for `DEEPVAULT_*` variables that nothing reads (a typo, say), naming the closest
/// known one.
pub(crate) fn unknown_env_vars(env: &BTreeMap<String, String>) -> Vec<String> {
    env.keys()
        .filter_map(|name| {
            if name == CLIENT_TOKEN_VAR {
                // A client's token: normal next to the server's DEEPVAULT_TOKENS, a likely typo
                // without it (the server would then run without the token the user meant).
                return (!env.contains_key("DEEPVAULT_TOKENS")).then(|| {
                    format!("{name} is set, but the server reads its tokens from DEEPVAULT_TOKENS (or tokens_file); {name} is what clients read theirs from (see `deepvault connect`)")
                });
            }
            let key = name.strip_prefix("DEEPVAULT_")?;
            if is_read_env_var(name) {
                return None;
            }
            let candidates = KEYS.iter().map(|(k, _)| *k).chain(OTHER_ENV_VARS.iter().copied());
            let hint = match closest(key, candidates) {
                Some(near) => format!("; did you mean DEEPVAULT_{}?", near.to_uppercase()),
                None => String::new(),
            };
            Some(format!(
                "ignoring {name}: it is not a deepvault setting{hint}"
            ))
        })
        .collect()
}

/// Where models are pulled to when `models_dir` is not set: `<user cache>/deepvault/models`.
pub(crate) fn default_models_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("deepvault")
        .join("models")
}

/// The index folder for a vault when none is configured: the user cache directory, one folder
/// per canonical vault path, never inside the vault (so sync tools never upload it).
pub(crate) fn default_index_dir(vault: &Path) -> PathBuf {
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
            values: ConfigLayer {
                vault: Some(dir.path().to_path_buf()),
                ..ConfigLayer::default()
            },
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

        let mut with_flag = overrides.clone();
        with_flag.values.listen = Some("127.0.0.1:3333".into());
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
            values: ConfigLayer {
                vault: Some(dir.path().to_path_buf()),
                ..ConfigLayer::default()
            },
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
        let mut o = Overrides::default();
        o.values.listen = Some("8765".into());
        let err = Config::load_with_env(&o, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`8765` is not HOST:PORT"), "{err}");
        let err =
            Config::load_with_env(&Overrides::default(), &env(&[("DEEPVAULT_POLL", "maybe")]))
                .unwrap_err()
                .to_string();
        assert!(err.contains("DEEPVAULT_POLL"), "{err}");
        let mut o = Overrides::default();
        o.values.public_url = Some("ftp://x".into());
        assert!(Config::load_with_env(&o, &env(&[])).is_err());
        // A value of the wrong type names the key, the file and the line.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nmax_results = \"five\"\n").unwrap();
        let o = Overrides {
            config: Some(file.clone()),
            ..Overrides::default()
        };
        let err = Config::load_with_env(&o, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_results"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
    }

    #[test]
    fn unknown_environment_variables_are_named_with_the_closest_key() {
        let warnings = unknown_env_vars(&env(&[
            ("DEEPVAULT_LISTN", "x"),
            ("DEEPVAULT_LISTEN", "x"),
            ("DEEPVAULT_TOKENS", "x"),
            ("DEEPVAULT_ZZZ", "x"),
        ]));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("DEEPVAULT_LISTN") && warnings[0].contains("DEEPVAULT_LISTEN?"),
            "{warnings:?}"
        );
        assert!(!warnings[1].contains("did you mean"), "{warnings:?}");
    }

    #[test]
    fn variables_that_are_read_are_not_unknown() {
        let warnings = unknown_env_vars(&env(&[
            ("DEEPVAULT_RANKING", "{}"),
            ("DEEPVAULT_LOG", "debug"),
            ("DEEPVAULT_CONFG", "x"),
        ]));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("did you mean DEEPVAULT_CONFIG?"),
            "{warnings:?}"
        );
        // A client's token variable next to the server's tokens is normal; alone, it is
        // probably meant for the server, which does not read it.
        assert!(
            unknown_env_vars(&env(&[("DEEPVAULT_TOKEN", "x"), ("DEEPVAULT_TOKENS", "y")]))
                .is_empty()
        );
        let alone = unknown_env_vars(&env(&[("DEEPVAULT_TOKEN", "x")]));
        assert!(alone[0].contains("DEEPVAULT_TOKENS"), "{alone:?}");
    }

    #[test]
    fn auth_mode_is_checked() {
        let with =
            |pairs: &[(&str, &str)]| Config::load_with_env(&Overrides::default(), &env(pairs));
        let err = with(&[("DEEPVAULT_AUTH", "tokens")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no token is configured") && err.contains("--tokens-file"),
            "{err}"
        );
        let err = with(&[("DEEPVAULT_AUTH", "oauth")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no issuer") && err.contains("--oauth-issuer"),
            "{err}"
        );
        let err = with(&[("DEEPVAULT_AUTH", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("DEEPVAULT_AUTH=`maybe`"), "{err}");
        let token = ("DEEPVAULT_TOKENS", "a-token-of-sixteen-chars");
        let config = with(&[token, ("DEEPVAULT_AUTH", "none")]).unwrap();
        assert!(!config.auth.is_enabled());
        let config = with(&[token]).unwrap();
        assert_eq!(config.auth.tokens.len(), 1);
        let config = with(&[
            token,
            ("DEEPVAULT_AUTH", "tokens"),
            ("DEEPVAULT_OAUTH_ISSUER", "https://issuer.example/"),
            ("DEEPVAULT_PUBLIC_URL", "https://notes.example.com"),
        ])
        .unwrap();
        assert!(config.auth.oauth.is_none() && config.auth.tokens.len() == 1);
    }

    #[test]
    fn the_vault_is_the_current_folder_only_when_nothing_names_it() {
        let config = Config::load_with_env(&Overrides::default(), &env(&[])).unwrap();
        assert!(config.vault_is_cwd);
        let config =
            Config::load_with_env(&Overrides::default(), &env(&[("DEEPVAULT_VAULT", ".")]))
                .unwrap();
        assert!(!config.vault_is_cwd);
    }

    /// The README's configuration table is the user's reference: every key must be in it.
    #[test]
    fn every_key_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("## Configuration")
            .nth(1)
            .expect("a Configuration section");
        for (key, _) in KEYS {
            assert!(table.contains(&format!("`{key}`")), "README lacks `{key}`");
        }
    }

    #[test]
    fn semantic_is_on_with_a_model_and_off_on_request() {
        let config = Config::load_with_env(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!(config.semantic, None);
        assert_eq!(config.search_mode, SearchMode::Lexical);

        let config = Config::load_with_env(
            &Overrides::default(),
            &env(&[("DEEPVAULT_EMBEDDING_MODEL", "all-MiniLM-L6-v2")]),
        )
        .unwrap();
        assert_eq!(config.semantic.as_ref().unwrap().model, "all-MiniLM-L6-v2");
        assert_eq!(config.search_mode, SearchMode::Hybrid);

        let config = Config::load_with_env(
            &Overrides::default(),
            &env(&[
                ("DEEPVAULT_EMBEDDING_MODEL", "all-MiniLM-L6-v2"),
                ("DEEPVAULT_SEMANTIC", "off"),
            ]),
        )
        .unwrap();
        assert_eq!(config.semantic, None);

        let config =
            Config::load_with_env(&Overrides::default(), &env(&[("DEEPVAULT_SEMANTIC", "on")]))
                .unwrap();
        assert_eq!(config.semantic.unwrap().model, DEFAULT_EMBEDDING_MODEL);

        let err = Config::load_with_env(
            &Overrides::default(),
            &env(&[("DEEPVAULT_SEARCH_MODE", "hybrid")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("needs semantic search"), "{err}");
        assert!(err.contains("models pull"), "{err}");
        let err = Config::load_with_env(
            &Overrides::default(),
            &env(&[("DEEPVAULT_SEARCH_MODE", "fuzzy")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("search_mode") || err.contains("fuzzy"),
            "{err}"
        );
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
