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
//! - `output`: progress bars and number formatting for humans.
//!
//! Argument types stay here: lower layers take a [`Config`] and never see clap. Data goes to
//! stdout; logs, progress and errors go to stderr.

pub(crate) mod connect;
mod index;
mod logging;
mod models;
mod output;
mod query;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{ConfigLayer, Overrides};

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
}

/// Options every command takes.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct CommonArgs {
    /// Configuration file (default: deepvault.toml in the vault, if present) [env: DEEPVAULT_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Where the index lives (default: a folder per vault in the user cache directory)
    /// [env: DEEPVAULT_INDEX_DIR]
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) index_dir: Option<PathBuf>,
    /// The URL clients reach this server at, for citation URLs and the Host allow-list
    /// [env: DEEPVAULT_PUBLIC_URL]
    #[arg(long, value_name = "URL", global = true)]
    pub(crate) public_url: Option<String>,
    /// Template of citation URLs, e.g. `obsidian://open?vault={vault}&file={path_encoded}`
    /// [env: DEEPVAULT_URL_TEMPLATE]
    #[arg(long, value_name = "TEMPLATE", global = true)]
    pub(crate) url_template: Option<String>,
    /// Embedding model for semantic search: a name (`deepvault models list`) or a model folder;
    /// semantic search is off without one [env: DEEPVAULT_EMBEDDING_MODEL]
    #[arg(long, value_name = "NAME|DIR", global = true)]
    pub(crate) embedding_model: Option<String>,
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
    let cli = Cli::parse();
    logging::init();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(1)
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
    }
}
