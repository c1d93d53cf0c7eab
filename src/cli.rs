//! The command line: argument definitions and one function per command.
//!
//! `serve` and `connect` live in [`crate::serve`] and [`crate::connect`]; `index`, `search` and
//! `fetch` are here. Data goes to stdout; logs, progress and errors go to stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::error::Error;
use crate::index::VaultIndex;
use crate::index::writer::{ChangeReport, CommitTrigger, Indexer, IndexerSettings};
use crate::tools::{Citations, Tools};
use crate::vault::Vault;

/// deepvault: your Markdown notes as a deep-research connector (MCP `search` and `fetch`).
#[derive(Debug, Parser)]
#[command(name = "deepvault", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
}

/// Options every command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    /// Configuration file (default: deepvault.toml in the vault, if present) [env: DEEPVAULT_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Where the index lives (default: a folder per vault in the user cache directory)
    /// [env: DEEPVAULT_INDEX_DIR]
    #[arg(long, value_name = "DIR", global = true)]
    pub index_dir: Option<PathBuf>,
    /// The URL clients reach this server at, for citation URLs and the Host allow-list
    /// [env: DEEPVAULT_PUBLIC_URL]
    #[arg(long, value_name = "URL", global = true)]
    pub public_url: Option<String>,
    /// Template of citation URLs, e.g. `obsidian://open?vault={vault}&file={path_encoded}`
    /// [env: DEEPVAULT_URL_TEMPLATE]
    #[arg(long, value_name = "TEMPLATE", global = true)]
    pub url_template: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub vault: Option<PathBuf>,
    /// Address to listen on [env: DEEPVAULT_LISTEN] [default: 127.0.0.1:8765]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Serve MCP over stdin/stdout instead of HTTP (for Codex CLI and Claude Desktop)
    #[arg(long)]
    pub stdio: bool,
    /// Poll the vault for changes instead of using file-system events (network drives,
    /// container volumes) [env: DEEPVAULT_POLL]
    #[arg(long)]
    pub poll: bool,
    /// Serve a non-loopback address without authentication (anyone who reaches it can read
    /// the vault) [env: DEEPVAULT_INSECURE_NO_AUTH]
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Append a JSON line per tool call to FILE [env: DEEPVAULT_AUDIT_LOG]
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub vault: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query: words, "phrases", -excluded, tag:x, path:folder/, title:word
    pub query: String,
    /// The vault folder (default: the current directory, or `vault` from the config)
    #[arg(long)]
    pub vault: Option<PathBuf>,
    /// Print exactly the `search` tool's JSON
    #[arg(long)]
    pub json: bool,
    /// Number of results [default: max_results from the config, 10]
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Do not bring the index up to date first
    #[arg(long)]
    pub no_update: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The note id (a vault-relative path like `Folder/Note.md`, optionally `#Heading`)
    pub id: String,
    /// The vault folder (default: the current directory, or `vault` from the config)
    #[arg(long)]
    pub vault: Option<PathBuf>,
    /// Print exactly the `fetch` tool's JSON
    #[arg(long)]
    pub json: bool,
    /// Do not bring the index up to date first
    #[arg(long)]
    pub no_update: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub vault: Option<PathBuf>,
    /// Address the server listens on [env: DEEPVAULT_LISTEN] [default: 127.0.0.1:8765]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl CommonArgs {
    pub fn overrides(&self, vault: Option<PathBuf>) -> Overrides {
        Overrides {
            vault,
            config: self.config.clone(),
            index_dir: self.index_dir.clone(),
            public_url: self.public_url.clone(),
            url_template: self.url_template.clone(),
            ..Overrides::default()
        }
    }
}

/// Parses arguments, sets up logging and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init();
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
        Command::Serve(args) => crate::serve::run(args),
        Command::Index(args) => index_command(args),
        Command::Search(args) => search_command(args),
        Command::Fetch(args) => fetch_command(args),
        Command::Connect(args) => crate::connect::run(args),
    }
}

/// Settings for a one-shot indexing run.
pub fn indexer_settings(config: &Config) -> IndexerSettings {
    IndexerSettings {
        privacy: config.privacy.clone(),
        max_file_bytes: config.max_file_bytes,
        commit_every: Some(Duration::from_secs(30)),
        ..IndexerSettings::default()
    }
}

fn index_command(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.common.overrides(args.vault))?;
    let vault = Vault::open(&config.vault, &config.exclude)?;
    let started = Instant::now();
    let (mut indexer, outcome) =
        Indexer::open(vault, &config.index_dir, indexer_settings(&config))?;
    if let crate::index::OpenOutcome::Rebuilt(reason) = &outcome {
        tracing::warn!("rebuilding the index: {reason}");
    }
    let progress = Progress::new(std::io::stderr().is_terminal());
    let report = indexer.reconcile(Some(&|done, total| progress.update(done, total)))?;
    progress.finish();
    indexer.commit(CommitTrigger::Command)?;
    let notes = indexer.note_count();
    let root = indexer.vault().root().to_path_buf();
    indexer.close()?;
    let elapsed = started.elapsed();
    print_summary(&root, &config.index_dir, notes, &report, elapsed);
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on a terminal, nothing otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        let bar = enabled.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} indexing {pos}/{len} notes [{bar:30}] {per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        Progress { bar }
    }

    fn update(&self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn print_summary(
    root: &std::path::Path,
    index_dir: &std::path::Path,
    notes: usize,
    report: &ChangeReport,
    elapsed: Duration,
) {
    let seconds = elapsed.as_secs_f64();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "indexed {} notes from {} in {:.2} s",
        group(notes),
        root.display(),
        seconds
    );
    let _ = writeln!(
        err,
        "  {} new, {} changed, {} touched, {} removed, {} unchanged",
        group(report.added),
        group(report.updated),
        group(report.touched),
        group(report.removed),
        group(report.unchanged)
    );
    let rate = if seconds > 0.0 {
        report.bytes_read as f64 / seconds
    } else {
        0.0
    };
    let _ = writeln!(
        err,
        "  read {} at {}/s",
        human_bytes(report.bytes_read as f64),
        human_bytes(rate)
    );
    let mut reasons: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    if report.private > 0 {
        reasons.insert("private".into(), report.private);
    }
    for (_, kind, _) in &report.skipped {
        *reasons.entry(kind.label().to_string()).or_default() += 1;
    }
    let skipped: usize = reasons.values().sum();
    if skipped == 0 {
        let _ = writeln!(err, "  skipped 0");
    } else {
        let list: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let _ = writeln!(err, "  skipped {}: {}", group(skipped), list.join(", "));
        for (path, kind, message) in report.skipped.iter().take(20) {
            let _ = writeln!(err, "    {path}: {} ({message})", kind.label());
        }
        if report.skipped.len() > 20 {
            let _ = writeln!(
                err,
                "    … and {} more (see the log)",
                report.skipped.len() - 20
            );
        }
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(
            err,
            "  {} notes indexed with warnings (see the log above)",
            report.warnings.len()
        );
    }
    let _ = writeln!(err, "  index: {}", index_dir.display());
}

/// `1234567.0` → `1.2 MB`.
pub fn human_bytes(bytes: f64) -> String {
    if bytes >= 1_000_000.0 {
        format!("{:.1} MB", bytes / 1_000_000.0)
    } else if bytes >= 1_000.0 {
        format!("{:.1} KB", bytes / 1_000.0)
    } else {
        format!("{bytes:.0} B")
    }
}

/// `12345` → `12,345`.
pub fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Opens the index for a query command, first bringing it up to date when no other process is
/// writing it (a running `serve` keeps it current by itself).
fn open_for_query(config: &Config, vault: &Vault, update: bool) -> anyhow::Result<VaultIndex> {
    let locked = crate::index::is_locked(&config.index_dir);
    if update && !locked {
        match Indexer::open(vault.clone(), &config.index_dir, indexer_settings(config)) {
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
                indexer.close()?;
            }
            // Someone took the lock in between: they keep it current.
            Err(Error::IndexLocked { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    match VaultIndex::open_for_reading(&config.index_dir, vault.root())? {
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

fn tools_for(
    config: &Config,
    vault: &Vault,
    index: VaultIndex,
    limit: Option<usize>,
) -> anyhow::Result<Tools> {
    let mut tools = Tools::new(config, index, Citations::from_config(config, vault.name())?)?;
    if let Some(limit) = limit {
        tools.search.limit = limit;
    }
    Ok(tools)
}

fn search_command(args: SearchArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.common.overrides(args.vault))?;
    let vault = Vault::open(&config.vault, &config.exclude)?;
    let index = open_for_query(&config, &vault, !args.no_update)?;
    let tools = tools_for(&config, &vault, index, args.limit)?;
    let result = tools.search(&args.query)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&result)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let results = result["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        writeln!(out, "no results for {:?}", args.query)?;
        return Ok(ExitCode::SUCCESS);
    }
    for (rank, hit) in results.iter().enumerate() {
        let title = hit["title"].as_str().unwrap_or("");
        let id = hit["id"].as_str().unwrap_or("");
        writeln!(out, "{:>2}  {title}  ({id})", rank + 1)?;
        let text = hit["text"].as_str().unwrap_or("");
        if !text.is_empty() {
            writeln!(out, "    {}", text.chars().take(200).collect::<String>())?;
        }
        writeln!(out, "    {}", hit["url"].as_str().unwrap_or(""))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch_command(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.common.overrides(args.vault))?;
    let vault = Vault::open(&config.vault, &config.exclude)?;
    let index = open_for_query(&config, &vault, !args.no_update)?;
    let tools = tools_for(&config, &vault, index, None)?;
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
    writeln!(out, "# {}", result["title"].as_str().unwrap_or(""))?;
    writeln!(out, "id:  {}", result["id"].as_str().unwrap_or(""))?;
    writeln!(out, "url: {}", result["url"].as_str().unwrap_or(""))?;
    let meta = &result["metadata"];
    let list = |key: &str| {
        meta[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    writeln!(out, "tags: {}", list("tags"))?;
    writeln!(out, "backlinks: {}", list("backlinks"))?;
    writeln!(out)?;
    writeln!(out, "{}", result["text"].as_str().unwrap_or(""))?;
    Ok(ExitCode::SUCCESS)
}
