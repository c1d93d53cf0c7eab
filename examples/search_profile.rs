//! Runs the `search` tool over a file of queries, many times, in one process: a steady workload
//! for profilers (`perf record`, `valgrind --tool=callgrind`) without HTTP in the way.
//!
//!     cargo build --release --example search_profile
//!     target/release/examples/search_profile VAULT INDEX_DIR QUERIES_FILE [ROUNDS]
//!
//! The index in INDEX_DIR is brought up to date first (a no-op when it is current). Prints the
//! mean time per query; the profile is what matters.

use std::path::PathBuf;
use std::time::Instant;

use deepvault::config::{Config, Overrides};
use deepvault::index::writer::{CommitTrigger, Indexer, IndexerSettings};
use deepvault::service::citations::Citations;
use deepvault::service::tools::Tools;
use deepvault::vault::Vault;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: search_profile VAULT INDEX_DIR QUERIES_FILE [ROUNDS]".into());
    }
    let vault_path = PathBuf::from(&args[1]);
    let rounds: usize = args.get(4).map_or(Ok(10), |r| r.parse())?;
    let queries: Vec<String> = std::fs::read_to_string(&args[3])?
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_string)
        .collect();
    let vault = Vault::open(&vault_path, &[])?;
    let (mut indexer, _) =
        Indexer::open(vault, &PathBuf::from(&args[2]), IndexerSettings::default())?;
    indexer.reconcile(None)?;
    indexer.commit(CommitTrigger::Command)?;
    let config = Config::load_with_env(&Overrides::for_vault(vault_path), &Default::default())?;
    let citations = Citations::from_config(&config, "vault")?;
    let tools = Tools::new(&config, indexer.index().clone(), citations)?;
    let start = Instant::now();
    let mut hits = 0;
    for _ in 0..rounds {
        for query in &queries {
            hits += tools.search(query)?.results.len();
        }
    }
    let runs = rounds * queries.len();
    eprintln!(
        "{runs} searches, {:.3} ms each, {:.1} hits each",
        start.elapsed().as_secs_f64() * 1000.0 / runs as f64,
        hits as f64 / runs as f64
    );
    Ok(())
}
