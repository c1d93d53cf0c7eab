//! Semantic search end to end on a tiny random BERT (no real weights): loading, embedding,
//! chunking through the real index, storage, incremental re-embedding across restarts, and the
//! vector side of a search.

use std::sync::{Arc, Mutex};

use super::embedder::{BatchOptions, EmbedPool, Embedder};
use super::indexer::VectorIndexer;
use super::models::{ModelDir, Pooling, from_folder};
use super::testutil::{TinyBert, write_tiny_bert};
use super::{Semantic, State};
use crate::index::writer::{Changes, CommitTrigger, Indexer, IndexerSettings};
use crate::vault::Vault;

fn tiny_model(t: TinyBert) -> (tempfile::TempDir, ModelDir) {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("tiny-model");
    write_tiny_bert(&folder, t).unwrap();
    let model = from_folder(&folder).unwrap();
    (dir, model)
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    super::kernels::dot(a, b)
}

#[test]
fn a_tiny_model_loads_and_embeds_unit_vectors() {
    let (_dir, model) = tiny_model(TinyBert::default());
    assert_eq!(model.name, "tiny-model");
    assert_eq!(model.pooling, Some(Pooling::Mean));
    let embedder = Embedder::load(&model).unwrap();
    assert_eq!(embedder.dim(), 32);
    assert_eq!(embedder.max_len(), 64);
    assert_eq!(embedder.passage_budget(), 62, "[CLS] and [SEP] take two");
    assert!(
        !embedder.multilingual(),
        "a 100-token vocabulary is not multilingual"
    );
    let pool = EmbedPool::new(1, "test-embed", false).unwrap();
    let (vectors, tokens) = pool
        .install(|| embedder.embed_inputs(&["the cat sat on the mat", "a dog"]))
        .unwrap();
    assert_eq!(tokens, 8 + 4);
    for v in &vectors {
        assert_eq!(v.len(), 32);
        assert!((cos(v, v) - 1.0).abs() < 1e-5);
    }
    assert!(cos(&vectors[0], &vectors[1]) < 0.9999);
    let again = embedder
        .embed_query("the cat sat on the mat", &pool)
        .unwrap();
    assert!(cos(&vectors[0], &again) > 0.99999, "deterministic");

    // CLS pooling from 1_Pooling/config.json gives other vectors.
    let (_dir, cls) = tiny_model(TinyBert {
        cls_pooling: true,
        ..TinyBert::default()
    });
    assert_eq!(cls.pooling, Some(Pooling::Cls));
    let cls = Embedder::load(&cls).unwrap();
    let v = cls.embed_query("the cat sat on the mat", &pool).unwrap();
    assert!(cos(&v, &again) < 0.999);
}

#[test]
fn batching_and_padding_do_not_change_vectors_and_inputs_are_cut_to_the_window() {
    let (_dir, model) = tiny_model(TinyBert::default());
    let mut embedder = Embedder::load(&model).unwrap();
    let pool = EmbedPool::new(2, "test-embed", false).unwrap();
    let texts = [
        "one",
        "the cat sat on the mat with the dog",
        "search the vault index for notes on this heading and that section",
        "fetch a note",
        "two words",
    ];
    let alone: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| {
            pool.install(|| embedder.embed_inputs(&[t]))
                .unwrap()
                .0
                .remove(0)
        })
        .collect();
    embedder.batch = BatchOptions {
        max_batch: 64,
        max_batch_tokens: 1 << 20,
    };
    let batched = pool.install(|| embedder.embed_inputs(&texts)).unwrap().0;
    for (a, b) in alone.iter().zip(&batched) {
        assert!(cos(a, b) > 0.99999, "{}", cos(a, b));
    }
    embedder.batch = BatchOptions {
        max_batch: 2,
        max_batch_tokens: 32,
    };
    let small = pool.install(|| embedder.embed_inputs(&texts)).unwrap().0;
    for (a, b) in alone.iter().zip(&small) {
        assert!(cos(a, b) > 0.99999);
    }
    let long = "the cat sat on the mat . ".repeat(40);
    let encoded = embedder.encode(&long).unwrap();
    assert_eq!(encoded.ids.len(), 64);
    assert_eq!(encoded.ids[0], 2, "[CLS] first");
    assert_eq!(*encoded.ids.last().unwrap(), 3, "[SEP] kept after the cut");
}

/// Every thread the model uses is ours: candle's own element-wise pool (`candle-bp-N`, sized
/// by nothing we control) never starts, even for activations far over its 64 Ki threshold.
#[test]
fn the_model_starts_no_thread_of_its_own() {
    let (_dir, model) = tiny_model(TinyBert::default());
    let embedder = Embedder::load(&model).unwrap();
    let pool = EmbedPool::new(2, "test-embed", false).unwrap();
    let text = "the cat sat on the mat with the dog and the note ".repeat(5);
    let inputs: Vec<&str> = std::iter::repeat_n(text.as_str(), 64).collect();
    // 64 inputs × 64 tokens: 4,096 tokens, FFN activations of 262,144 values.
    let (vectors, tokens) = pool.install(|| embedder.embed_inputs(&inputs)).unwrap();
    assert_eq!(vectors.len(), 64);
    assert!(tokens >= 64 * 60, "{tokens}");
    let names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(!names.is_empty() || !cfg!(target_os = "linux"));
    assert!(
        !names.iter().any(|n| n.starts_with("candle")),
        "candle started threads of its own: {names:?}"
    );
}

/// A vault, its lexical index and a commit listener.
struct Fixture {
    vault: tempfile::TempDir,
    index_dir: tempfile::TempDir,
    indexer: Indexer,
    changes: Arc<Mutex<Vec<Changes>>>,
}

impl Fixture {
    fn new(notes: &[(&str, &str)]) -> Fixture {
        let vault = tempfile::tempdir().unwrap();
        for (id, text) in notes {
            std::fs::write(vault.path().join(id), text).unwrap();
        }
        let index_dir = tempfile::tempdir().unwrap();
        let (mut indexer, _) = Indexer::open(
            Vault::open(vault.path(), &[]).unwrap(),
            index_dir.path(),
            IndexerSettings::default(),
        )
        .unwrap();
        let changes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&changes);
        indexer.set_on_changes(move |c| sink.lock().unwrap().push(c));
        indexer.reconcile(None).unwrap();
        indexer.commit(CommitTrigger::Command).unwrap();
        Fixture {
            vault,
            index_dir,
            indexer,
            changes,
        }
    }

    /// Writes (or with `None` deletes) a note, reconciles and commits; returns the ids the
    /// commit reported.
    fn edit(&mut self, id: &str, text: Option<&str>) -> Vec<String> {
        let path = self.vault.path().join(id);
        match text {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
        // A later mtime even on coarse file systems.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        if text.is_some() {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(later).unwrap();
        }
        self.indexer.reconcile(None).unwrap();
        self.indexer.commit(CommitTrigger::Command).unwrap();
        match self.changes.lock().unwrap().pop() {
            Some(Changes::Ids(ids)) => ids,
            other => panic!("expected listed changes, got {other:?}"),
        }
    }

    fn vectors(&self, model: &ModelDir) -> (Arc<Semantic>, VectorIndexer) {
        let semantic = Semantic::new(model.clone(), self.index_dir.path()).unwrap();
        let (mut vectors, _) = VectorIndexer::open(
            Arc::clone(&semantic),
            self.indexer.index().clone(),
            1,
            false,
        )
        .unwrap();
        vectors.scan().unwrap();
        while vectors.has_work() {
            vectors.embed_next().unwrap();
        }
        vectors.settle().unwrap();
        (semantic, vectors)
    }
}

const GARDEN: &str = "# Garden\nthe tomato sat in the garden . the dog sat on the mat . the cat sat in the garden .\n## Soil\nthe dog sat on the mat .\n";
const COFFEE: &str = "# Coffee\nthe coffee is in the cat .\n";
const NOTES: &str = "# Notes\nsearch the vault index for notes .\n";

#[test]
fn each_text_is_embedded_once_across_restarts_edits_and_deletions() {
    let (_model_dir, model) = tiny_model(TinyBert::default());
    let mut f = Fixture::new(&[
        ("garden.md", GARDEN),
        ("coffee.md", COFFEE),
        ("notes.md", NOTES),
    ]);
    let (semantic, vectors) = f.vectors(&model);
    assert_eq!(vectors.counts(), (3, 3));
    let first = vectors.report.clone();
    assert_eq!(first.notes, 3);
    assert!(first.chunks >= 3, "{first:?}");
    assert!(first.tokens > 0);
    let progress = semantic.progress(None);
    assert_eq!(
        (progress.embedded, progress.total, progress.state),
        (3, 3, State::Ready)
    );
    drop(vectors);

    // A restart: nothing to embed.
    let (_, vectors) = f.vectors(&model);
    assert_eq!(vectors.counts(), (3, 3));
    assert_eq!(vectors.report.chunks, 0, "{:?}", vectors.report);
    assert_eq!(vectors.report.notes, 0);
    let mut vectors = vectors;

    // An edit: only the chunks whose text changed go through the model.
    let long_section = format!("## Water\n{}\n", "the water is on the tomato . ".repeat(12));
    let ids = f.edit("garden.md", Some(&format!("{GARDEN}{long_section}")));
    assert_eq!(ids, vec!["garden.md".to_string()]);
    vectors.changed(ids).unwrap();
    assert!(vectors.has_work());
    while vectors.has_work() {
        vectors.embed_next().unwrap();
    }
    assert_eq!(vectors.counts(), (3, 3));
    assert_eq!(vectors.report.notes, 1);
    assert!(vectors.report.chunks >= 1);
    assert!(
        vectors.report.reused >= 1,
        "the first chunk is unchanged: {:?}",
        vectors.report
    );

    // A deletion: its vectors go.
    let before = vectors.stored_notes();
    let ids = f.edit("coffee.md", None);
    vectors.changed(ids).unwrap();
    assert!(!vectors.has_work());
    assert_eq!(vectors.counts(), (2, 2));
    assert_eq!(vectors.stored_notes(), before - 1);
    vectors.settle().unwrap();
    drop(vectors);

    // And after another restart the store holds exactly the two notes left.
    let (_, vectors) = f.vectors(&model);
    assert_eq!(vectors.counts(), (2, 2));
    assert_eq!(vectors.report.chunks, 0);
    assert_eq!(vectors.stored_notes(), 2);
}

#[test]
fn vectors_are_not_called_ready_until_the_latest_commit_is_read() {
    let (_model_dir, model) = tiny_model(TinyBert::default());
    let mut f = Fixture::new(&[("garden.md", GARDEN)]);
    let (semantic, mut vectors) = f.vectors(&model);
    assert_eq!(semantic.progress(None).state, State::Ready);

    // The lexical index commits a new note: between that commit becoming visible and the
    // vector indexer reading it, the counts (1 of 1) are of the older index.
    let first = semantic.commit_coming();
    let ids = f.edit("coffee.md", Some(COFFEE));
    let progress = semantic.progress(None);
    assert_eq!(
        (progress.embedded, progress.total, progress.state),
        (1, 1, State::Embedding)
    );
    // A second commit before the first is read: reading the first is not enough.
    let second = semantic.commit_coming();
    semantic.commit_read(first);
    assert_eq!(semantic.progress(None).state, State::Embedding);

    vectors.changed(ids).unwrap();
    semantic.commit_read(second);
    while vectors.has_work() {
        vectors.embed_next().unwrap();
    }
    let progress = semantic.progress(None);
    assert_eq!(
        (progress.embedded, progress.total, progress.state),
        (2, 2, State::Ready)
    );
}

#[test]
fn a_new_model_or_chunker_rebuilds_only_the_vectors() {
    let (_d1, model) = tiny_model(TinyBert::default());
    let (_d2, other) = tiny_model(TinyBert {
        seed: 7,
        ..TinyBert::default()
    });
    let f = Fixture::new(&[("garden.md", GARDEN), ("coffee.md", COFFEE)]);
    let (_, vectors) = f.vectors(&model);
    assert_eq!(vectors.report.notes, 2);
    drop(vectors);
    let docs_before = f.indexer.index().searcher().num_docs();
    // Other weights under the same name: another identity, so everything is embedded again.
    let (_, vectors) = f.vectors(&other);
    assert_eq!(vectors.report.notes, 2);
    assert_eq!(f.indexer.index().searcher().num_docs(), docs_before);
}

#[test]
fn a_note_is_found_by_the_vector_of_its_own_chunk_with_filters_applied() {
    let (_model_dir, model) = tiny_model(TinyBert::default());
    let f = Fixture::new(&[
        (
            "garden.md",
            "---\ntags: [green]\n---\n# Garden\nthe tomato sat in the garden .\n",
        ),
        ("coffee.md", COFFEE),
        ("notes.md", NOTES),
    ]);
    let (semantic, _vectors) = f.vectors(&model);
    let index = f.indexer.index();
    let searcher = index.searcher();
    // The exact text the chunk was embedded from: cosine 1 with its vector.
    let query = semantic
        .embed_query("Garden\nthe tomato sat in the garden .")
        .unwrap();
    let hits = semantic.search(&searcher, &query, None, 10);
    assert_eq!(hits.len(), 3);
    let top = index.load_for_hit(&searcher, hits[0].address).unwrap();
    assert_eq!(top.meta.id, "garden.md");
    assert!(hits[0].score > 0.99, "{}", hits[0].score);
    assert!(hits[0].score > hits[1].score);
    let chunk = &top.plain[hits[0].chunk.start as usize..hits[0].chunk.end as usize];
    assert_eq!(chunk, "the tomato sat in the garden .");
    // Only the allowed notes are considered.
    let coffee = index.address_of(&searcher, "coffee.md").unwrap().unwrap();
    let allowed = std::collections::HashSet::from([coffee]);
    let hits = semantic.search(&searcher, &query, Some(&allowed), 10);
    assert_eq!(
        hits.iter().map(|h| h.address).collect::<Vec<_>>(),
        vec![coffee]
    );
}
