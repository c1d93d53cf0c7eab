//! The command line: argument definitions, and one file per command.
//!
//! # Layout
//!
//! - this file: [`Cli`] and the options every command shares, turned into config overrides.
//! - `serve`: `deepvault serve` (MCP over HTTP or stdio), handed to [`crate::server`].
//! - `index`: a one-shot index with a progress bar and a summary.
//! - `query`: `search` and `fetch`, printing what the tools return.
//! - [`connect`]: ready-to-paste client configurations.
//! - `models`: `models pull` and `models list`: embedding models for semantic search.
//! - `auth`: the built-in OAuth server's passphrase, clients and revocation.
//! - `output`: progress bars, number formatting, and how errors are shown.
//!
//! Argument types stay here: lower layers take a [`Config`] and never see clap. Data goes to
//! stdout; logs, progress and errors go to stderr, except that `search --json` and `fetch
//! --json` print an error as JSON on stdout too (see [`output::ErrorReport`]).
//!
//! `--help` names each option's environment variable (`[env: DEEPVAULT_…]`, clap's `env`), but
//! clap does not read those variables: the config layer does, with its own parsing, precedence
//! and error messages, so a flag's value here is only ever what the command line says.
//!
//! [`Config`]: crate::config::Config

mod auth;
pub(crate) mod connect;
mod index;
mod logging;
mod models;
mod output;
mod query;
mod serve;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::config::auth::AuthMode;
use crate::config::{ConfigLayer, Overrides};
use output::ErrorReport;

use auth::AuthArgs;

pub(crate) use connect::ConnectArgs;
use index::IndexArgs;
use models::ModelsArgs;
use query::{FetchArgs, SearchArgs};
use serve::ServeArgs;

/// deepvault: your Markdown notes as a deep-research connector (MCP `search` and `fetch`).
#[derive(Debug, Parser)]
#[command(name = "deepvault", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Index the vault, keep the index current while files change, and serve MCP over HTTP
    /// (or stdio with --stdio)
    Serve(ServeArgs),
    /// Build or update the index once, then print a summary
    Index(IndexArgs),
    /// Search the index: prints what the `search` tool returns
    Search(SearchArgs),
    /// Fetch one note by id: prints what the `fetch` tool returns
    Fetch(FetchArgs),
    /// Print ready-to-paste configurations for Codex CLI, the Responses API, Claude Desktop and
    /// ChatGPT
    Connect(ConnectArgs),
    /// Download and list the embedding models semantic search uses
    Models(ModelsArgs),
    /// The built-in OAuth server (ChatGPT): set the passphrase, list and revoke clients
    Auth(AuthArgs),
    /// Internal: a PDF extraction worker, started by deepvault itself (`vault::pdf`)
    #[command(name = "__extract-pdf", hide = true, disable_help_flag = true)]
    ExtractPdf(ExtractPdfArgs),
}

/// The worker's arguments, passed as they are to [`crate::vault::pdf::worker_main`], which
/// defines them next to the code that sends them.
#[derive(Debug, Args)]
pub(crate) struct ExtractPdfArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<String>,
}

/// Options every command takes.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct CommonArgs {
    /// Configuration file (default: deepvault.toml in the vault, if present)
    #[arg(long, value_name = "FILE", global = true, env = "DEEPVAULT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Where the index lives (default: a folder per vault in the user cache directory)
    #[arg(long, value_name = "DIR", global = true, env = "DEEPVAULT_INDEX_DIR")]
    pub(crate) index_dir: Option<PathBuf>,
    /// The URL clients reach this server at, for citation URLs and the Host allow-list
    #[arg(long, value_name = "URL", global = true, env = "DEEPVAULT_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// Template of citation URLs, e.g. `obsidian://open?vault={vault}&file={path_encoded}`
    #[arg(
        long,
        value_name = "TEMPLATE",
        global = true,
        env = "DEEPVAULT_URL_TEMPLATE"
    )]
    pub(crate) url_template: Option<String>,
    /// Embedding model for semantic search: a name (`deepvault models list`) or a model folder;
    /// semantic search is off without one [env: DEEPVAULT_EMBEDDING_MODEL]
    #[arg(long, value_name = "NAME|DIR", global = true)]
    pub(crate) embedding_model: Option<String>,
}

/// `--auth`: which way clients prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum AuthArg {
    /// Tokens or an issuer when configured; else deepvault's own OAuth server when --public-url
    /// is not loopback; else none
    Auto,
    /// deepvault's own OAuth 2.1 server (ChatGPT signs in with a passphrase), also on loopback
    Builtin,
    /// No auth (beyond loopback only with --insecure-no-auth)
    None,
    /// Static bearer tokens: DEEPVAULT_TOKENS (comma-separated) or --tokens-file
    Tokens,
    /// JWTs from an external OAuth issuer: --oauth-issuer, with --public-url
    #[value(name = "oauth")]
    OAuth,
}

impl From<AuthArg> for AuthMode {
    fn from(arg: AuthArg) -> AuthMode {
        match arg {
            AuthArg::Auto => AuthMode::Auto,
            AuthArg::Builtin => AuthMode::Builtin,
            AuthArg::None => AuthMode::None,
            AuthArg::Tokens => AuthMode::Tokens,
            AuthArg::OAuth => AuthMode::OAuth,
        }
    }
}

/// Who may connect: `serve` and `connect` take the same options, so that `connect` prints what
/// the server will expect. Tokens themselves never go on a command line (other users of the
/// machine can read it): they come from DEEPVAULT_TOKENS or a tokens file.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Auth (static tokens come from DEEPVAULT_TOKENS or --tokens-file)")]
pub(crate) struct AuthFlags {
    /// Which auth to require [default: auto]
    #[arg(long, value_enum, value_name = "MODE", env = "DEEPVAULT_AUTH")]
    pub(crate) auth: Option<AuthArg>,
    /// File of static bearer tokens: one `token` or `label token` per line
    #[arg(long, value_name = "FILE", env = "DEEPVAULT_TOKENS_FILE")]
    pub(crate) tokens_file: Option<PathBuf>,
    /// OAuth: the issuer whose access tokens (JWTs) are accepted, e.g. https://your-tenant.auth0.com/
    #[arg(long, value_name = "URL", env = "DEEPVAULT_OAUTH_ISSUER")]
    pub(crate) oauth_issuer: Option<String>,
    /// OAuth: the issuer's JWKS URL [default: found by OpenID discovery]
    #[arg(long, value_name = "URL", env = "DEEPVAULT_OAUTH_JWKS_URL")]
    pub(crate) oauth_jwks_url: Option<String>,
    /// OAuth: scopes every token must carry, comma-separated
    #[arg(
        long,
        value_name = "SCOPES",
        value_delimiter = ',',
        env = "DEEPVAULT_OAUTH_SCOPES"
    )]
    pub(crate) oauth_scopes: Option<Vec<String>>,
    /// OAuth: audiences accepted besides the resource URL, comma-separated
    #[arg(
        long,
        value_name = "AUDIENCES",
        value_delimiter = ',',
        env = "DEEPVAULT_OAUTH_AUDIENCE"
    )]
    pub(crate) oauth_audience: Option<Vec<String>>,
    /// OAuth: this server's resource URL, the tokens' audience [default: <public-url>/mcp]
    #[arg(long, value_name = "URL", env = "DEEPVAULT_OAUTH_RESOURCE")]
    pub(crate) oauth_resource: Option<String>,
}

impl AuthFlags {
    /// Sets the flags' values in the command line's config layer.
    pub(crate) fn apply(&self, layer: &mut ConfigLayer) {
        layer.auth = self.auth.map(AuthMode::from);
        layer.tokens_file = self.tokens_file.clone();
        layer.oauth_issuer = self.oauth_issuer.clone();
        layer.oauth_jwks_url = self.oauth_jwks_url.clone();
        layer.oauth_scopes = self.oauth_scopes.clone();
        layer.oauth_audience = self.oauth_audience.clone();
        layer.oauth_resource = self.oauth_resource.clone();
    }

    /// The same options as command-line arguments (`connect` prints them into `serve`).
    pub(crate) fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                flags.push(flag.to_string());
                flags.push(value);
            }
        };
        push(
            "--auth",
            self.auth
                .and_then(|a| a.to_possible_value())
                .map(|v| v.get_name().to_string()),
        );
        push(
            "--tokens-file",
            self.tokens_file.as_ref().map(|p| {
                std::fs::canonicalize(p)
                    .unwrap_or_else(|_| p.clone())
                    .display()
                    .to_string()
            }),
        );
        push("--oauth-issuer", self.oauth_issuer.clone());
        push("--oauth-jwks-url", self.oauth_jwks_url.clone());
        push(
            "--oauth-scopes",
            self.oauth_scopes.as_ref().map(|s| s.join(",")),
        );
        push(
            "--oauth-audience",
            self.oauth_audience.as_ref().map(|s| s.join(",")),
        );
        push("--oauth-resource", self.oauth_resource.clone());
        flags
    }
}

impl CommonArgs {
    /// The config overrides these flags make, with the vault argument.
    pub(crate) fn overrides(&self, vault: Option<PathBuf>) -> Overrides {
        Overrides {
            config: self.config.clone(),
            values: ConfigLayer {
                vault,
                index_dir: self.index_dir.clone(),
                public_url: self.public_url.clone(),
                url_template: self.url_template.clone(),
                embedding_model: self.embedding_model.clone(),
                ..ConfigLayer::default()
            },
        }
    }
}

/// Parses arguments, sets up logging and runs the command.
pub fn main() -> ExitCode {
    let cli = parse(std::env::args_os().collect());
    // A PDF worker's stderr is read only for why it died; pdf_oxide's warnings about broken
    // files would cost time and bury that line.
    if !matches!(cli.command, Command::ExtractPdf(_)) {
        logging::init();
    }
    let json = cli.command.json_output();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let report = ErrorReport::new(&err);
            if json {
                println!("{}", report.to_json());
            }
            eprintln!("{report}");
            ExitCode::from(1)
        }
    }
}

/// Parses the command line with clap's environment variables shown in `--help` but not read
/// (see the module doc).
fn parse(args: Vec<OsString>) -> Cli {
    match try_parse(&args) {
        Ok(cli) => cli,
        Err(err)
            if matches!(
                err.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            // Help comes from the definition that names the variables.
            command_for_help()
                .try_get_matches_from(&args)
                .err()
                .unwrap_or(err)
                .exit()
        }
        Err(err) => err.exit(),
    }
}

/// Parses without reading any environment variable.
pub(crate) fn try_parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = command_for_parsing().try_get_matches_from(args)?;
    Cli::from_arg_matches(&matches)
}

/// The command definition without the environment variables.
fn command_for_parsing() -> clap::Command {
    Cli::command().mut_subcommands(|sub| sub.mut_args(|arg| arg.env(None::<&'static str>)))
}

/// The command definition with each option's variable shown, never its value (a token file's
/// path, an issuer: nothing secret, but nothing help should print either).
fn command_for_help() -> clap::Command {
    Cli::command().mut_subcommands(|sub| sub.mut_args(|arg| arg.hide_env_values(true)))
}

impl Command {
    /// True when the command prints JSON (`--json`), errors included.
    fn json_output(&self) -> bool {
        match self {
            Command::Search(args) => args.json,
            Command::Fetch(args) => args.json,
            _ => false,
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Index(args) => index::run(args),
        Command::Search(args) => query::search(args),
        Command::Fetch(args) => query::fetch(args),
        Command::Connect(args) => connect::run(args),
        Command::Models(args) => models::run(args),
        Command::Auth(args) => auth::run(args),
        Command::ExtractPdf(args) => Ok(crate::vault::pdf::worker_main(&args.args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_consistent() {
        command_for_help().debug_assert();
        command_for_parsing().debug_assert();
    }

    /// Help names variables that the config layer reads, and parsing reads none of them.
    #[test]
    fn help_names_the_variables_that_the_config_reads() {
        let mut named = Vec::new();
        for sub in command_for_help().get_subcommands() {
            for arg in sub.get_arguments() {
                if let Some(name) = arg.get_env() {
                    let name = name.to_str().unwrap().to_string();
                    assert!(
                        crate::config::is_read_env_var(&name),
                        "{} --{}: nothing reads {name}",
                        sub.get_name(),
                        arg.get_id()
                    );
                    named.push(name);
                }
            }
        }
        for name in [
            "DEEPVAULT_AUTH",
            "DEEPVAULT_TOKENS_FILE",
            "DEEPVAULT_OAUTH_ISSUER",
        ] {
            assert!(named.iter().any(|n| n == name), "{name} is not in the help");
        }
        for sub in command_for_parsing().get_subcommands() {
            for arg in sub.get_arguments() {
                assert_eq!(arg.get_env(), None, "{} --{}", sub.get_name(), arg.get_id());
            }
        }
    }

    /// The PDF worker's arguments reach it untouched, and the subcommand is not in the help.
    #[test]
    fn the_pdf_worker_subcommand_takes_its_arguments_as_they_are() {
        let Command::ExtractPdf(args) = try_parse([
            "deepvault",
            crate::vault::pdf::WORKER_SUBCOMMAND,
            "--mem-limit-mb",
            "512",
            "--limits",
            "{\"max_pages\":3}",
        ])
        .unwrap()
        .command
        else {
            panic!("__extract-pdf")
        };
        assert_eq!(
            args.args,
            ["--mem-limit-mb", "512", "--limits", "{\"max_pages\":3}"]
        );
        let help = command_for_help().render_help().to_string();
        assert!(!help.contains("extract-pdf"), "{help}");
    }

    #[test]
    fn auth_flags_become_config_values() {
        let Command::Serve(args) = try_parse([
            "deepvault",
            "serve",
            "--auth",
            "oauth",
            "--oauth-issuer",
            "https://issuer.example/",
            "--oauth-scopes",
            "a,b",
        ])
        .unwrap()
        .command
        else {
            panic!("serve")
        };
        let mut layer = ConfigLayer::default();
        args.auth.apply(&mut layer);
        assert_eq!(layer.auth, Some(AuthMode::OAuth));
        assert_eq!(
            layer.oauth_issuer.as_deref(),
            Some("https://issuer.example/")
        );
        assert_eq!(
            layer.oauth_scopes,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            args.auth.flags(),
            [
                "--auth",
                "oauth",
                "--oauth-issuer",
                "https://issuer.example/",
                "--oauth-scopes",
                "a,b"
            ]
        );
    }
}
