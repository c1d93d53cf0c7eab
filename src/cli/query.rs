//! `deepvault search` and `deepvault fetch`: what the tools return, as a table or as the exact
//! tool JSON (`--json`).
//!
//! Without `--vault` (nor `vault` in the environment or a config file) they use the current
//! folder: they say so, and refuse when it holds no note, rather than leave an empty index of
//! some random folder in the cache.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::CommonArgs;
use super::index::{indexer_settings, update_vectors};
use crate::config::{Config, SearchMode};
use crate::error::Error;
use crate::index::VaultIndex;
use crate::index::vectors::Semantic;
use crate::index::writer::{CommitTrigger, Indexer};
use crate::service::citations::Citations;
use crate::service::tools::Tools;
use crate::vault::Vault;
use crate::vault::ingest::Ingest;
use crate::vault::rules::Rules;
use crate::vault::walk::has_notes;

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// The query: words, "phrases", -excluded, tag:x, path:folder/, title:word
    pub(crate) query: String,
    /// The vault folder (default: the current directory, or `vault` from the config)
    #[arg(long)]
    pub(crate) vault: Option<PathBuf>,
    /// Print exactly the `search` tool's JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Rank by words, by meaning, or both fused [env: DEEPVAULT_SEARCH_MODE] [default: hybrid
    /// with an embedding model, else lexical]
    #[arg(long, value_enum)]
    pub(crate) mode: Option<ModeArg>,
    /// Number of results [default: max_results from the config, 10]
    #[arg(long, short = 'n')]
    pub(crate) limit: Option<usize>,
    /// Do not bring the index up to date first
    #[arg(long)]
    pub(crate) no_update: bool,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// `--mode`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum ModeArg {
    Lexical,
    Semantic,
    Hybrid,
}

impl From<ModeArg> for SearchMode {
    fn from(mode: ModeArg) -> SearchMode {
        match mode {
            ModeArg::Lexical => SearchMode::Lexical,
            ModeArg::Semantic => SearchMode::Semantic,
            ModeArg::Hybrid => SearchMode::Hybrid,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// The note id (a vault-relative path like `Folder/Note.md`, optionally `#Heading`)
    pub(crate) id: String,
    /// The vault folder (default: the current directory, or `vault` from the config)
    #[arg(long)]
    pub(crate) vault: Option<PathBuf>,
    /// Print exactly the `fetch` tool's JSON
    #[arg(long)]
    pub(crate) json: bool,
    /// Do not bring the index up to date first
    #[arg(long)]
    pub(crate) no_update: bool,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// Opens the index for a query command, first bringing it (and its vectors, with semantic search
/// on) up to date when no other process is writing it (a running `serve` keeps it current by
/// itself).
fn open_for_query(
    config: &Config,
    vault: &Vault,
    ingest: &Ingest,
    update: bool,
    semantic: Option<&std::sync::Arc<Semantic>>,
) -> anyhow::Result<VaultIndex> {
    let locked = crate::index::is_locked(&config.index_dir);
    if update && !locked {
        match Indexer::open(
            vault.clone(),
            &config.index_dir,
            indexer_settings(config, ingest),
        ) {
            Ok((mut indexer, _)) => {
                let report = indexer.reconcile(None)?;
                indexer.commit(CommitTrigger::Command)?;
                if report.changed() {
                    tracing::info!(
                        added = report.added,
                        updated = report.updated,
                        removed = report.removed,
                        "brought the index up to date"
                    );
                }
                if let Some(semantic) = semantic {
                    use std::io::IsTerminal;
                    let summary = update_vectors(
                        semantic,
                        indexer.index(),
                        config.semantic.as_ref().map_or(1, |s| s.threads),
                        std::io::stderr().is_terminal(),
                    )?;
                    if summary.report.notes > 0 {
                        tracing::info!(
                            notes = summary.report.notes,
                            chunks = summary.report.chunks,
                            "embedded what changed"
                        );
                    }
                }
                indexer.close()?;
            }
            // Someone took the lock in between: they keep it current.
            Err(Error::IndexLocked { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    match VaultIndex::open_for_reading(&config.index_dir, vault.root(), &ingest.stamp())? {
        Some(index) => Ok(index),
        None if locked => anyhow::bail!(
            "the index at {} is still being built by another deepvault process\n\nhint: wait for it to finish (its /readyz answers 200 when ready), then try again",
            config.index_dir.display()
        ),
        None => Err(Error::IndexMissing {
            path: config.index_dir.clone(),
            vault: vault.root().to_path_buf(),
        }
        .into()),
    }
}

/// Opens the configured vault; when it is the current folder by default, checks that it holds
/// notes (before anything is created) and says which folder it is.
fn open_vault(config: &Config, command: &str, update: bool) -> anyhow::Result<Vault> {
    let vault = config.open_vault()?;
    if !config.vault_is_cwd {
        return Ok(vault);
    }
    let rules = Rules::load(&vault)?;
    if !has_notes(&vault, &rules) {
        anyhow::bail!(
            "{}\n\nhint: `{command}` uses the current folder when no vault is given; pass the vault, e.g. `deepvault {command} ... --vault ~/Notes` (or set DEEPVAULT_VAULT)",
            vault.no_notes_message()
        );
    }
    eprintln!(
        "{} {} (the current folder; pass --vault for another), index in {}",
        if update { "indexing" } else { "searching" },
        vault.root().display(),
        config.index_dir.display()
    );
    Ok(vault)
}

fn tools_for(
    config: &Config,
    vault: &Vault,
    ingest: &Ingest,
    index: VaultIndex,
    limit: Option<usize>,
) -> anyhow::Result<Tools> {
    let mut tools = Tools::new(config, index, Citations::from_config(config, vault.name())?)?
        .with_redactor(std::sync::Arc::clone(ingest.redactor()));
    if let Some(limit) = limit {
        tools.search.limit = limit;
    }
    Ok(tools)
}

pub(crate) fn search(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = args.common.overrides(args.vault);
    overrides.values.search_mode = args.mode.map(SearchMode::from);
    let config = Config::load(&overrides)?;
    let vault = open_vault(&config, "search", !args.no_update)?;
    let ingest = config.ingest()?;
    let semantic = Semantic::from_config(&config)?;
    let index = open_for_query(&config, &vault, &ingest, !args.no_update, semantic.as_ref())?;
    if let Some(semantic) = &semantic {
        // Reads the vectors (written just now, or by the process that writes the index).
        semantic.follow()?;
    }
    let tools = tools_for(&config, &vault, &ingest, index, args.limit)?.with_semantic(semantic);
    let result = tools.search(&args.query)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if result.results.is_empty() {
        writeln!(out, "no results for {:?}", args.query)?;
        return Ok(ExitCode::SUCCESS);
    }
    for (rank, hit) in result.results.iter().enumerate() {
        writeln!(out, "{:>2}  {}  ({})", rank + 1, hit.title, hit.id)?;
        if !hit.text.is_empty() {
            writeln!(
                out,
                "    {}",
                hit.text.chars().take(200).collect::<String>()
            )?;
        }
        writeln!(out, "    {}", hit.url)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.common.overrides(args.vault))?;
    let vault = open_vault(&config, "fetch", !args.no_update)?;
    let ingest = config.ingest()?;
    let index = open_for_query(&config, &vault, &ingest, !args.no_update, None)?;
    let tools = tools_for(&config, &vault, &ingest, index, None)?;
    let result = tools.fetch(&args.id).with_context(|| {
        format!(
            "cannot fetch `{}`",
            args.id.chars().take(200).collect::<String>()
        )
    })?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "# {}", result.title)?;
    writeln!(out, "id:  {}", result.id)?;
    writeln!(out, "url: {}", result.url)?;
    writeln!(out, "tags: {}", result.metadata.tags.join(", "))?;
    writeln!(out, "backlinks: {}", result.metadata.backlinks.join(", "))?;
    writeln!(out)?;
    writeln!(out, "{}", result.text)?;
    Ok(ExitCode::SUCCESS)
}
