//! Semantic search: a local sentence-embedding model (pure Rust), chunk vectors stored beside
//! the index, and the vector side of a search.
//!
//! Lexical search never waits for any of it. The model loads in the background; notes are
//! embedded behind the lexical index, edits first; until a note has vectors it is found by its
//! words alone.
//!
//! # Layout
//!
//! - [`models`]: the models deepvault knows, and resolving `embedding_model` to a folder.
//! - [`hub`]: `deepvault models pull`: download from the Hugging Face hub, verified.
//! - `bert`, `kernels`: the BERT forward pass on candle tensors, and its element-wise kernels.
//! - `embedder`: tokenizer + model + pooling, batched, on a bounded pool.
//! - `chunk`: heading-aware chunks of a note's plain text.
//! - `store`: int8 vectors on disk and in memory, content-addressed and append-only.
//! - [`indexer`]: the [`indexer::VectorIndexer`], which embeds what the lexical index holds and
//!   nothing twice.
//! - this file: [`Semantic`], what searches and status pages share: the model, the current
//!   vectors, the vector side of a search, progress.
//!
//! On disk, `vectors/store.dvv` in the index folder (see `store`).

pub(crate) mod bert;
pub(crate) mod chunk;
pub(crate) mod embedder;
pub mod hub;
pub(crate) mod indexer;
pub(crate) mod kernels;
pub(crate) mod models;
pub(crate) mod store;
#[cfg(test)]
mod tests;
#[doc(hidden)]
pub mod testutil;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Serialize;
use tantivy::{DocAddress, Searcher};

use crate::error::Result;
use embedder::{EmbedPool, Embedder};
use models::ModelDir;
use store::{ChunkRef, Snapshot, Stamp, StoreReader};

/// The name of the fast field that holds each note's text hash (see `index::schema`).
pub(crate) use crate::index::schema::names::TEXT_HASH;

/// Where semantic search is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// The model is loading.
    Loading,
    /// Notes are being embedded.
    Embedding,
    /// Every note has vectors.
    Ready,
    /// Another process writes the vectors; this one reads them.
    Following,
    /// The model could not be loaded or the vectors written; lexical search goes on.
    Failed,
}

/// Progress of the vectors, for `/readyz`, the status page and the `index` summary.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Progress {
    pub(crate) model: String,
    pub(crate) state: State,
    /// Notes with vectors.
    pub(crate) embedded: usize,
    /// Notes in the index.
    pub(crate) total: usize,
    /// Chunk vectors stored.
    pub(crate) vectors: usize,
    /// Bytes of vector data in memory.
    pub(crate) vector_bytes: usize,
    /// Notes embedded per second, recently.
    pub(crate) rate: f64,
    pub(crate) eta_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// One note the vector side found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VectorHit {
    pub(crate) address: DocAddress,
    /// The cosine of its best chunk.
    pub(crate) score: f32,
    pub(crate) chunk: ChunkRef,
}

/// Where the vectors come from.
enum Source {
    /// Not loaded yet.
    None,
    /// This process writes them ([`indexer::VectorIndexer`] publishes snapshots).
    Writer,
    /// Another process writes them; read from disk now and then.
    Reader(Box<StoreReader>),
}

/// Live documents with vectors, for one searcher and one snapshot.
struct View {
    generation: u64,
    version: u64,
    docs: Vec<(DocAddress, Arc<[ChunkRef]>)>,
}

/// Semantic search over one index: shared by searches, status pages and the vector indexer.
pub struct Semantic {
    model: ModelDir,
    index_dir: PathBuf,
    embedder: RwLock<Option<Arc<Embedder>>>,
    snapshot: RwLock<Arc<Snapshot>>,
    source: Mutex<Source>,
    /// Milliseconds since `started` of the last look at the store on disk (readers).
    last_refresh: AtomicU64,
    started: Instant,
    query_pool: EmbedPool,
    view: Mutex<Option<Arc<View>>>,
    progress: Mutex<Progress>,
    /// Commits of the lexical index announced to the vector indexer, and the last one it read:
    /// until it has read the latest, its counts describe an older index, and "ready" would be
    /// a lie.
    commits_announced: AtomicU64,
    commits_read: AtomicU64,
}

impl std::fmt::Debug for Semantic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semantic")
            .field("model", &self.model.name)
            .field("index_dir", &self.index_dir)
            .finish()
    }
}

/// How often a reader looks for vectors the writer added.
const REFRESH_MS: u64 = 500;

impl Semantic {
    /// Semantic search as configured: `None` when it is off; an error when the configured model
    /// cannot be found (the model itself is loaded later, see [`Semantic::load`]).
    pub fn from_config(config: &crate::config::Config) -> Result<Option<Arc<Semantic>>> {
        let Some(settings) = &config.semantic else {
            return Ok(None);
        };
        let model = models::resolve(&settings.model, &config.models_dir)?;
        Semantic::new(model, &config.index_dir).map(Some)
    }

    /// Semantic search with `model` over the index in `index_dir`; nothing is loaded yet.
    pub(crate) fn new(model: ModelDir, index_dir: &Path) -> Result<Arc<Semantic>> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Arc::new(Semantic {
            progress: Mutex::new(Progress {
                model: model.name.clone(),
                state: State::Loading,
                embedded: 0,
                total: 0,
                vectors: 0,
                vector_bytes: 0,
                rate: 0.0,
                eta_secs: None,
                error: None,
            }),
            model,
            index_dir: index_dir.to_path_buf(),
            embedder: RwLock::new(None),
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            source: Mutex::new(Source::None),
            last_refresh: AtomicU64::new(0),
            started: Instant::now(),
            query_pool: EmbedPool::new(cores.min(2), "deepvault-query", false)?,
            view: Mutex::new(None),
            commits_announced: AtomicU64::new(0),
            commits_read: AtomicU64::new(0),
        }))
    }

    pub(crate) fn model(&self) -> &ModelDir {
        &self.model
    }

    pub(crate) fn index_dir(&self) -> &Path {
        &self.index_dir
    }

    /// The model, once loaded.
    pub(crate) fn embedder(&self) -> Option<Arc<Embedder>> {
        self.embedder.read().ok().and_then(|e| e.clone())
    }

    /// Loads the model (once); about a second for a small model.
    pub(crate) fn load(&self) -> Result<Arc<Embedder>> {
        if let Some(embedder) = self.embedder() {
            return Ok(embedder);
        }
        let started = Instant::now();
        let embedder = match Embedder::load(&self.model) {
            Ok(embedder) => Arc::new(embedder),
            Err(err) => {
                self.failed(&err.to_string());
                return Err(err);
            }
        };
        tracing::info!(
            model = %self.model.name,
            dim = embedder.dim(),
            window = embedder.max_len(),
            took_ms = started.elapsed().as_millis() as u64,
            "embedding model loaded"
        );
        if let Ok(mut slot) = self.embedder.write() {
            *slot = Some(Arc::clone(&embedder));
        }
        Ok(embedder)
    }

    /// The stamp vectors made by this model carry.
    pub(crate) fn stamp(embedder: &Embedder) -> Stamp {
        Stamp::new(
            &embedder.model.name,
            embedder.id(),
            embedder.dim(),
            chunk::CHUNKER_VERSION,
        )
    }

    /// Reads the vectors another process writes (a follower, `deepvault search`). Loads the
    /// model first.
    pub(crate) fn follow(&self) -> Result<()> {
        let embedder = self.load()?;
        let reader = StoreReader::open(&self.index_dir, &Self::stamp(&embedder))?;
        if let Ok(mut source) = self.source.lock() {
            if matches!(*source, Source::Writer) {
                return Ok(());
            }
            *source = match reader {
                Some(mut reader) => {
                    self.publish(reader.snapshot());
                    Source::Reader(Box::new(reader))
                }
                None => Source::None,
            };
        }
        self.set_state(State::Following);
        Ok(())
    }

    /// This process writes the vectors from now on: snapshots come from the vector indexer.
    pub(crate) fn become_writer(&self) {
        if let Ok(mut source) = self.source.lock() {
            *source = Source::Writer;
        }
    }

    /// A new snapshot for searches.
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        if let Ok(mut slot) = self.snapshot.write() {
            *slot = Arc::new(snapshot);
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_default()
    }

    /// For a reader: reads what the writer appended, at most every [`REFRESH_MS`], and never
    /// waits for another thread doing it.
    fn refresh(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_refresh.load(Ordering::Relaxed);
        if now.saturating_sub(last) < REFRESH_MS {
            return;
        }
        self.last_refresh.store(now, Ordering::Relaxed);
        let Ok(mut source) = self.source.try_lock() else {
            return;
        };
        match &mut *source {
            Source::Reader(reader) => match reader.refresh() {
                Ok(true) => self.publish(reader.snapshot()),
                Ok(false) => {}
                Err(err) => tracing::debug!("cannot read the vector store: {err}"),
            },
            Source::None => {
                // The writer may have created the store since.
                if let Some(embedder) = self.embedder()
                    && let Ok(Some(mut reader)) =
                        StoreReader::open(&self.index_dir, &Self::stamp(&embedder))
                {
                    self.publish(reader.snapshot());
                    *source = Source::Reader(Box::new(reader));
                }
            }
            Source::Writer => {}
        }
    }

    /// The vector of a query, or `None` while the model loads (the search is then lexical).
    pub(crate) fn embed_query(&self, text: &str) -> Option<Vec<f32>> {
        let embedder = self.embedder()?;
        match embedder.embed_query(text, &self.query_pool) {
            Ok(vector) => Some(vector),
            Err(err) => {
                tracing::warn!("cannot embed a query: {err}");
                None
            }
        }
    }

    /// Whether the model reads the language of `text` (an English-only model does not read a
    /// query mostly in another script).
    pub(crate) fn reads(&self, text: &str) -> bool {
        match self.embedder() {
            Some(embedder) if !embedder.multilingual() => {
                let letters = text.chars().filter(|c| c.is_alphabetic()).count();
                let latin = text
                    .chars()
                    .filter(|c| {
                        c.is_alphabetic() && (c.is_ascii() || ('\u{00C0}'..='\u{024F}').contains(c))
                    })
                    .count();
                letters == 0 || latin * 2 >= letters
            }
            _ => true,
        }
    }

    /// The live notes with vectors for this searcher and the current snapshot (cached until
    /// either changes).
    fn view(&self, searcher: &Searcher, snapshot: &Snapshot) -> Arc<View> {
        let generation = searcher.generation().generation_id();
        if let Ok(cached) = self.view.lock()
            && let Some(view) = cached.as_ref()
            && view.generation == generation
            && view.version == snapshot.version
        {
            return Arc::clone(view);
        }
        let mut docs = Vec::new();
        if !snapshot.notes.is_empty() {
            for (ord, segment) in searcher.segment_readers().iter().enumerate() {
                let Ok(column) = segment.fast_fields().u64(TEXT_HASH) else {
                    continue;
                };
                for doc in segment.doc_ids_alive() {
                    if let Some(key) = column.first(doc)
                        && let Some(chunks) = snapshot.notes.get(&key)
                    {
                        docs.push((DocAddress::new(ord as u32, doc), Arc::clone(chunks)));
                    }
                }
            }
        }
        let view = Arc::new(View {
            generation,
            version: snapshot.version,
            docs,
        });
        if let Ok(mut cached) = self.view.lock() {
            *cached = Some(Arc::clone(&view));
        }
        view
    }

    /// The `depth` notes whose best chunk is nearest to `query`, best first; only notes in
    /// `allowed` when given (the query's filters).
    pub(crate) fn search(
        &self,
        searcher: &Searcher,
        query: &[f32],
        allowed: Option<&std::collections::HashSet<DocAddress>>,
        depth: usize,
    ) -> Vec<VectorHit> {
        self.refresh();
        let snapshot = self.snapshot();
        let view = self.view(searcher, &snapshot);
        if view.docs.is_empty() || depth == 0 {
            return Vec::new();
        }
        let scores = snapshot.score_all(query);
        let mut hits: Vec<VectorHit> = view
            .docs
            .iter()
            .filter(|(address, _)| allowed.is_none_or(|a| a.contains(address)))
            .filter_map(|(address, chunks)| {
                let best = chunks.iter().max_by(|a, b| {
                    let (sa, sb) = (scores[a.row as usize], scores[b.row as usize]);
                    sa.total_cmp(&sb).then(b.start.cmp(&a.start))
                })?;
                Some(VectorHit {
                    address: *address,
                    score: scores[best.row as usize],
                    chunk: *best,
                })
            })
            .collect();
        let order = |a: &VectorHit, b: &VectorHit| {
            b.score.total_cmp(&a.score).then(a.address.cmp(&b.address))
        };
        if hits.len() > depth {
            hits.select_nth_unstable_by(depth - 1, order);
            hits.truncate(depth);
        }
        hits.sort_unstable_by(order);
        hits
    }

    /// Progress, with the totals of a reader computed from its snapshot.
    pub(crate) fn progress(&self, searcher: Option<&Searcher>) -> Progress {
        let mut progress = self
            .progress
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        if progress.state == State::Following
            && let Some(searcher) = searcher
        {
            self.refresh();
            let snapshot = self.snapshot();
            progress.total = searcher.num_docs() as usize;
            progress.embedded = self.view(searcher, &snapshot).docs.len();
            progress.vectors = snapshot.rows();
            progress.vector_bytes = snapshot.bytes();
        }
        let read = self.commits_read.load(Ordering::Acquire);
        if progress.state == State::Ready && self.commits_announced.load(Ordering::Acquire) > read {
            progress.state = State::Embedding;
        }
        progress
    }

    /// The lexical index is about to publish a commit the vector indexer will be told of (called
    /// before anyone can see the commit, so no status page calls the older vectors complete);
    /// returns its number, for [`Semantic::commit_read`].
    pub(crate) fn commit_coming(&self) -> u64 {
        self.commits_announced.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// The latest commit announced so far.
    pub(crate) fn latest_commit(&self) -> u64 {
        self.commits_announced.load(Ordering::Acquire)
    }

    /// The vector indexer has read commit `number` (and published its counts). Numbers only
    /// grow, so a commit whose message never came (a failed reload) is covered by the next.
    pub(crate) fn commit_read(&self, number: u64) {
        self.commits_read.fetch_max(number, Ordering::AcqRel);
    }

    pub(crate) fn update_progress(&self, f: impl FnOnce(&mut Progress)) {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut progress);
    }

    pub(crate) fn set_state(&self, state: State) {
        self.update_progress(|p| p.state = state);
    }

    pub(crate) fn failed(&self, error: &str) {
        tracing::error!("semantic search is off: {error}");
        self.update_progress(|p| {
            p.state = State::Failed;
            p.error = Some(error.lines().next().unwrap_or(error).to_string());
        });
    }
}

/// id → text hash of every note in the committed index (the fast fields `id` and `text_hash`).
pub(crate) fn text_hashes(searcher: &Searcher) -> FxHashMap<String, u64> {
    let mut out = FxHashMap::default();
    for segment in searcher.segment_readers() {
        let fast = segment.fast_fields();
        let (Ok(Some(ids)), Ok(hashes)) = (
            fast.str(crate::index::schema::names::ID),
            fast.u64(TEXT_HASH),
        ) else {
            continue;
        };
        let mut terms = Vec::with_capacity(ids.num_rows() as usize);
        if let Ok(mut stream) = ids.dictionary().stream() {
            while stream.advance() {
                terms.push(String::from_utf8_lossy(stream.key()).into_owned());
            }
        }
        for doc in segment.doc_ids_alive() {
            if let (Some(ord), Some(hash)) = (ids.term_ords(doc).next(), hashes.first(doc))
                && let Some(id) = terms.get(ord as usize)
            {
                out.insert(id.clone(), hash);
            }
        }
    }
    out
}
