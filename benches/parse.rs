//! Parse throughput: `parse_note` over real notes held in memory (no I/O in the loop).
//!
//! Input (not in the repository; `$DEEPVAULT_EVAL`, default `../shared/eval`): up to 32 MB of
//! `corpora/windows-powershell-docs` (reference pages with frontmatter, code and tables) and all
//! of `corpora/pkmer-docs-zh` (CJK, callouts, wikilinks).

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use deepvault::vault::parse::parse_note;

fn load(corpus: &str, limit: usize) -> Vec<(String, Vec<u8>)> {
    // The corpora are not in the repository: `$DEEPVAULT_EVAL/corpora`, by default the
    // evaluation folder beside the checkout.
    let eval = std::env::var_os("DEEPVAULT_EVAL").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval"),
        std::path::PathBuf::from,
    );
    let root = eval.join("corpora").join(corpus);
    assert!(
        root.is_dir(),
        "this bench needs the {corpus} corpus at {}; set DEEPVAULT_EVAL to the folder that holds \
         corpora/",
        root.display()
    );
    let mut files = Vec::new();
    let mut total = 0;
    for entry in walk(&root) {
        let bytes = std::fs::read(&entry).expect("read note");
        total += bytes.len();
        let id = entry
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        files.push((id, bytes));
        if total >= limit {
            break;
        }
    }
    assert!(
        !files.is_empty(),
        "corpus {corpus} missing at {}",
        root.display()
    );
    files
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out
}

fn bench_parse(c: &mut Criterion) {
    for (corpus, limit) in [
        ("windows-powershell-docs", 32 << 20),
        ("pkmer-docs-zh", usize::MAX),
    ] {
        let files = load(corpus, limit);
        let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
        let mut group = c.benchmark_group("parse");
        group.throughput(Throughput::Bytes(bytes as u64));
        group.sample_size(10);
        group.bench_function(corpus, |b| {
            b.iter(|| {
                let mut sections = 0;
                for (id, bytes) in &files {
                    sections += parse_note(id, bytes).sections.len();
                }
                assert!(sections > files.len() / 2, "parsing produced sections");
                sections
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
