//! End-to-end indexing and search latency on the 94 MB windows-powershell-docs corpus, which is
//! not in the repository: see `corpus()` for where it is looked for.
//!
//! - `index/full`: a fresh full index (walk, read, parse, index, commit) into an empty folder.
//!   Target on the 2-core machine: ≤ 2.3 s (qmd takes 23.0 s).
//! - `index/noop`: reconcile an unchanged index (walk and stat only).
//! - `search/*`: `Tools::search` (the MCP tool's path: query, ranking, passages, URLs) on a warm
//!   searcher.

use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use deepvault::config::{Config, Overrides};
use deepvault::index::writer::{CommitTrigger, Indexer, IndexerSettings};
use deepvault::service::citations::Citations;
use deepvault::service::tools::Tools;
use deepvault::vault::Vault;

const NOTES: usize = 14_145;

/// The corpus: `$DEEPVAULT_EVAL/corpora/windows-powershell-docs`, where `DEEPVAULT_EVAL` defaults
/// to the evaluation folder beside the checkout (`../shared/eval`). Not in the repository.
fn corpus() -> PathBuf {
    let eval = std::env::var_os("DEEPVAULT_EVAL").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval"),
        PathBuf::from,
    );
    let corpus = eval.join("corpora/windows-powershell-docs");
    assert!(
        corpus.is_dir(),
        "this bench needs the windows-powershell-docs corpus at {}; set DEEPVAULT_EVAL to the \
         folder that holds corpora/",
        corpus.display()
    );
    corpus
}

fn full_index(index_dir: &Path) -> Indexer {
    let vault = Vault::open(&corpus(), &[]).expect("corpus present");
    let (mut indexer, _) =
        Indexer::open(vault, index_dir, IndexerSettings::default()).expect("open index");
    let report = indexer.reconcile(None).expect("reconcile");
    indexer.commit(CommitTrigger::Command).expect("commit");
    assert_eq!(report.added + report.unchanged, NOTES);
    indexer
}

fn bench_index(c: &mut Criterion) {
    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.bench_function("full", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir().unwrap();
            let indexer = full_index(dir.path());
            indexer.close().unwrap();
            dir
        })
    });
    let dir = tempfile::tempdir().unwrap();
    full_index(dir.path()).close().unwrap();
    group.bench_function("noop", |b| {
        b.iter(|| {
            let vault = Vault::open(&corpus(), &[]).unwrap();
            let (mut indexer, _) =
                Indexer::open(vault, dir.path(), IndexerSettings::default()).unwrap();
            let report = indexer.reconcile(None).unwrap();
            assert_eq!(report.unchanged, NOTES);
            indexer.close().unwrap();
        })
    });
    group.finish();
}

fn bench_search(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let indexer = full_index(dir.path());
    let config =
        Config::load_with_env(&Overrides::for_vault(corpus()), &Default::default()).unwrap();
    let citations = Citations::from_config(&config, "windows-powershell-docs").unwrap();
    let tools = Tools::new(&config, indexer.index().clone(), citations).unwrap();
    let mut group = c.benchmark_group("search");
    for (name, query) in [
        ("keywords", "Get-ADUser filter properties"),
        (
            "question",
            "how do I add a printer driver to a remote print server",
        ),
        ("phrase", "\"network adapter\" rename"),
        ("typo", "dhcp scopee reservaton"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let result = tools.search(query).unwrap();
                assert!(!result.results.is_empty(), "{query} finds notes");
                result
            })
        });
    }
    group.finish();
    drop(indexer);
}

criterion_group!(benches, bench_index, bench_search);
criterion_main!(benches);
