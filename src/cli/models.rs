//! `deepvault models pull [NAME]` and `deepvault models list`: the embedding models semantic
//! search uses, downloaded from the Hugging Face hub into the models folder and checked.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::CommonArgs;
use super::output::human_bytes;
use crate::config::{Config, ConfigLayer, Overrides};
use crate::index::vectors::hub::{PullOptions, pull};
use crate::index::vectors::models::{REGISTRY, default_model, from_folder, pulled_folder};

#[derive(Debug, Args)]
pub(crate) struct ModelsArgs {
    #[command(subcommand)]
    pub(crate) command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// Download a model (default all-MiniLM-L6-v2) from the Hugging Face hub into the models
    /// folder, checking every file's checksum
    Pull(PullArgs),
    /// The models deepvault knows, and which are downloaded
    List(ListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// A model name (`deepvault models list`) or a hub id such as `BAAI/bge-small-en-v1.5`
    pub(crate) name: Option<String>,
    /// Where models go [env: DEEPVAULT_MODELS_DIR] [default: <user cache>/deepvault/models]
    #[arg(long, value_name = "DIR")]
    pub(crate) models_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Where models are [env: DEEPVAULT_MODELS_DIR]
    #[arg(long, value_name = "DIR")]
    pub(crate) models_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

fn config(common: &CommonArgs, models_dir: Option<std::path::PathBuf>) -> anyhow::Result<Config> {
    let mut overrides: Overrides = common.overrides(None);
    overrides.values = ConfigLayer {
        models_dir,
        ..overrides.values
    };
    Ok(Config::load(&overrides)?)
}

pub(crate) fn run(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ModelsCommand::Pull(args) => pull_command(args),
        ModelsCommand::List(args) => list(args),
    }
}

fn pull_command(args: PullArgs) -> anyhow::Result<ExitCode> {
    let config = config(&args.common, args.models_dir)?;
    let name = args
        .name
        .unwrap_or_else(|| default_model().name.to_string());
    let options = PullOptions::from_env(config.models_dir.clone(), std::io::stderr().is_terminal());
    eprintln!(
        "pulling {name} from {} into {}",
        options.endpoint,
        config.models_dir.display()
    );
    let started = std::time::Instant::now();
    let pulled = pull(&name, &options)?;
    let mut err = std::io::stderr().lock();
    if pulled.bytes == 0 {
        writeln!(
            err,
            "{} is up to date (commit {}) in {}",
            pulled.name,
            &pulled.revision[..pulled.revision.len().min(12)],
            pulled.folder.display()
        )?;
    } else {
        writeln!(
            err,
            "pulled {} (commit {}, {}, every file checked) in {:.1} s into {}",
            pulled.name,
            &pulled.revision[..pulled.revision.len().min(12)],
            human_bytes(pulled.bytes as f64),
            started.elapsed().as_secs_f64(),
            pulled.folder.display()
        )?;
    }
    writeln!(
        err,
        "\nto search by meaning too: deepvault serve VAULT --embedding-model {}\n(or embedding_model = \"{}\" in deepvault.toml, or DEEPVAULT_EMBEDDING_MODEL)",
        pulled.name, pulled.name
    )?;
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let config = config(&args.common, args.models_dir)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "models folder: {}", config.models_dir.display())?;
    for model in REGISTRY {
        let folder = pulled_folder(&config.models_dir, model);
        let state = if from_folder(&folder).is_ok() {
            "downloaded"
        } else {
            "not downloaded"
        };
        writeln!(
            out,
            "  {:<24} {:<42} {}{}",
            model.name,
            model.repo,
            state,
            if model.multilingual {
                ", multilingual"
            } else {
                ", English"
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
