//! The [`VectorIndexer`]: keeps the vectors in line with the committed lexical index, embedding
//! nothing twice.
//!
//! It reads notes from the index (the same title, headings, sections and plain text that
//! searches see, after redaction), so it needs only to be told which ids a commit changed. It
//! knows every indexed note's text hash (`text_hash` fast field): a note whose hash has a note
//! record in the store is done; otherwise it is chunked, and only the chunks whose text was
//! never embedded go to the model. Edited notes go before the backlog. Work is done in batches
//! of about [`BATCH_TOKENS`] tokens, each written (and published to searches) before the next,
//! so a large first embedding shows progress, an edit waits at most one batch, and a crash
//! loses at most one batch.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::{FxHashMap, FxHashSet};

use super::chunk::{TokenCounter, chunk_note};
use super::embedder::{EmbedPool, Embedder, Encoded};
use super::store::{ChunkSpec, Opened, StoreWriter};
use super::{Semantic, State, TEXT_HASH, text_hashes};
use crate::error::Result;
use crate::index::VaultIndex;

/// Tokens per batch: about one forward pass (see `embedder::BatchOptions`).
pub(crate) const BATCH_TOKENS: usize = 2048;

/// What one session of embedding did.
#[derive(Clone, Debug, Default)]
pub struct EmbedReport {
    /// Notes that got their vectors.
    pub notes: usize,
    /// Chunks that went through the model.
    pub chunks: usize,
    /// Chunks whose vector was already stored (same text elsewhere or before).
    pub reused: usize,
    /// Tokens that went through the model.
    pub tokens: usize,
    /// Seconds spent embedding.
    pub seconds: f64,
}

/// A note chunked and ready: what is still to embed.
struct Prepared {
    id: String,
    key: u64,
    specs: Vec<ChunkSpec>,
    missing: Vec<(u64, Encoded)>,
}

impl Prepared {
    fn tokens(&self) -> usize {
        self.missing.iter().map(|(_, e)| e.ids.len()).sum()
    }
}

/// The model's tokenizer as the chunker sees it.
struct Counter<'a>(&'a Embedder);

impl TokenCounter for Counter<'_> {
    fn budget(&self) -> usize {
        self.0.passage_budget()
    }
    fn token_starts(&self, text: &str) -> Vec<usize> {
        self.0.token_starts(text).unwrap_or_default()
    }
    fn count(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

/// The one writer of an index's vectors.
pub(crate) struct VectorIndexer {
    semantic: Arc<Semantic>,
    index: VaultIndex,
    embedder: Arc<Embedder>,
    store: StoreWriter,
    pool: EmbedPool,
    /// id → text hash of every note in the committed index.
    live: FxHashMap<String, u64>,
    /// text hash → how many ids have it.
    refs: FxHashMap<u64, u32>,
    urgent: VecDeque<String>,
    backlog: VecDeque<String>,
    queued: FxHashSet<String>,
    pending: VecDeque<Prepared>,
    pub(crate) report: EmbedReport,
}

impl VectorIndexer {
    /// Loads the model (unless loaded) and opens the store; the caller holds the index's writer
    /// lock. `threads` bounds the embedding pool.
    pub(crate) fn open(
        semantic: Arc<Semantic>,
        index: VaultIndex,
        threads: usize,
        background: bool,
    ) -> Result<(VectorIndexer, Opened)> {
        let embedder = semantic.load()?;
        let (mut store, opened) =
            StoreWriter::open(semantic.index_dir(), Semantic::stamp(&embedder))?;
        match &opened {
            Opened::Rebuilt(reason) => {
                tracing::warn!("rebuilding the vectors (the lexical index is kept): {reason}")
            }
            Opened::Created => tracing::info!("creating the vector store"),
            Opened::Existing(notes) => tracing::debug!(notes, "vector store opened"),
        }
        semantic.become_writer();
        semantic.publish(store.snapshot());
        let pool = EmbedPool::new(threads, "deepvault-embed", background)?;
        Ok((
            VectorIndexer {
                semantic,
                index,
                embedder,
                store,
                pool,
                live: FxHashMap::default(),
                refs: FxHashMap::default(),
                urgent: VecDeque::new(),
                backlog: VecDeque::new(),
                queued: FxHashSet::default(),
                pending: VecDeque::new(),
                report: EmbedReport::default(),
            },
            opened,
        ))
    }

    pub(crate) fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Compares the whole committed index with the store: queues every note without vectors,
    /// forgets the vectors of notes no longer indexed.
    pub(crate) fn scan(&mut self) -> Result<()> {
        let searcher = self.index.searcher();
        let live = text_hashes(&searcher);
        let mut refs: FxHashMap<u64, u32> = FxHashMap::default();
        for key in live.values() {
            *refs.entry(*key).or_default() += 1;
        }
        let stale: Vec<u64> = self
            .store
            .keys()
            .filter(|key| !refs.contains_key(key))
            .collect();
        self.store.forget(&stale)?;
        let mut missing: Vec<&String> = live
            .iter()
            .filter(|(_, key)| !self.store.has_note(**key))
            .map(|(id, _)| id)
            .collect();
        missing.sort_unstable();
        for id in missing {
            if self.queued.insert(id.clone()) {
                self.backlog.push_back(id.clone());
            }
        }
        self.live = live;
        self.refs = refs;
        self.publish();
        Ok(())
    }

    /// A commit changed these notes (added, edited or removed): edited and added ones go first.
    pub(crate) fn changed(&mut self, ids: Vec<String>) -> Result<()> {
        let searcher = self.index.searcher();
        let mut forget = Vec::new();
        for id in ids {
            let key = self.current_key(&searcher, &id)?;
            let old = match key {
                Some(key) => self.live.insert(id.clone(), key),
                None => self.live.remove(&id),
            };
            if old == key {
                continue;
            }
            if let Some(old) = old
                && let Some(count) = self.refs.get_mut(&old)
            {
                *count -= 1;
                if *count == 0 {
                    self.refs.remove(&old);
                    forget.push(old);
                }
            }
            if let Some(key) = key {
                *self.refs.entry(key).or_default() += 1;
                if !self.store.has_note(key) {
                    self.backlog.retain(|queued| *queued != id);
                    self.queued.insert(id.clone());
                    self.urgent.push_back(id);
                }
            }
        }
        self.store.forget(&forget)?;
        self.publish();
        Ok(())
    }

    /// The text hash of the note with this id in the committed index.
    fn current_key(&self, searcher: &tantivy::Searcher, id: &str) -> Result<Option<u64>> {
        let Some(address) = self.index.address_of(searcher, id)? else {
            return Ok(None);
        };
        let segment = searcher.segment_reader(address.segment_ord);
        Ok(segment
            .fast_fields()
            .u64(TEXT_HASH)
            .ok()
            .and_then(|column| column.first(address.doc_id)))
    }

    /// Notes in the store (with vectors).
    #[cfg(test)]
    pub(crate) fn stored_notes(&self) -> usize {
        self.store.note_count()
    }

    /// Whether notes are waiting.
    pub(crate) fn has_work(&self) -> bool {
        !self.urgent.is_empty() || !self.backlog.is_empty() || !self.pending.is_empty()
    }

    /// Notes in the index, and how many have vectors.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let embedded = self
            .refs
            .iter()
            .filter(|(key, _)| self.store.has_note(**key))
            .map(|(_, n)| *n as usize)
            .sum();
        (embedded, self.live.len())
    }

    /// Chunks the next notes until about a batch of tokens waits (or nothing does).
    fn prepare(&mut self) -> Result<Vec<(u64, Vec<ChunkSpec>)>> {
        let searcher = self.index.searcher();
        let mut done = Vec::new();
        let mut waiting: usize = self.pending.iter().map(Prepared::tokens).sum();
        while waiting < BATCH_TOKENS {
            let (id, urgent) = match self.urgent.pop_front() {
                Some(id) => (id, true),
                None => match self.backlog.pop_front() {
                    Some(id) => (id, false),
                    None => break,
                },
            };
            self.queued.remove(&id);
            let Some(&key) = self.live.get(&id) else {
                continue;
            };
            if self.store.has_note(key) || self.pending.iter().any(|p| p.key == key) {
                continue;
            }
            let Some(address) = self.index.address_of(&searcher, &id)? else {
                continue;
            };
            let doc = self.index.load_for_hit(&searcher, address)?;
            let chunks = chunk_note(
                &doc.meta.title,
                &doc.meta.headings,
                &doc.meta.sections,
                &doc.plain,
                &Counter(&self.embedder),
            );
            let mut specs = Vec::with_capacity(chunks.len());
            let mut missing = Vec::new();
            let mut seen = FxHashSet::default();
            for chunk in chunks {
                let input = self.embedder.passage_input(&chunk.input);
                let hash = xxhash_rust::xxh3::xxh3_64(input.as_bytes());
                specs.push(ChunkSpec {
                    hash,
                    start: chunk.range.start as u32,
                    end: chunk.range.end as u32,
                    section: chunk.section.map_or(u32::MAX, |s| s as u32),
                });
                if self.store.has_chunk(hash) || !seen.insert(hash) {
                    self.report.reused += 1;
                    continue;
                }
                missing.push((hash, self.embedder.encode(&input)?));
            }
            if missing.is_empty() {
                done.push((key, specs));
                continue;
            }
            let prepared = Prepared {
                id,
                key,
                specs,
                missing,
            };
            waiting += prepared.tokens();
            if urgent {
                self.pending.push_front(prepared);
            } else {
                self.pending.push_back(prepared);
            }
        }
        Ok(done)
    }

    /// Embeds about one batch of tokens and stores it; returns the notes completed.
    pub(crate) fn embed_next(&mut self) -> Result<usize> {
        let started = Instant::now();
        let mut done = self.prepare()?;
        // Drop notes edited again since they were chunked.
        let live = &self.live;
        self.pending
            .retain(|p| live.get(&p.id).is_some_and(|key| *key == p.key));
        // Take chunks, front first, up to a batch of tokens (at least one chunk).
        let mut inputs: Vec<Encoded> = Vec::new();
        let mut hashes: Vec<u64> = Vec::new();
        let mut tokens = 0;
        let mut taken_hashes = FxHashSet::default();
        'notes: for note in self.pending.iter_mut() {
            while let Some((hash, encoded)) = note.missing.last() {
                if !inputs.is_empty() && tokens + encoded.ids.len() > BATCH_TOKENS {
                    break 'notes;
                }
                let hash = *hash;
                let (_, encoded) = note.missing.pop().expect("checked");
                if self.store.has_chunk(hash) || !taken_hashes.insert(hash) {
                    continue;
                }
                tokens += encoded.ids.len();
                inputs.push(encoded);
                hashes.push(hash);
            }
        }
        let vectors = if inputs.is_empty() {
            Vec::new()
        } else {
            let embedder = Arc::clone(&self.embedder);
            self.pool.install(|| embedder.embed_encoded(&inputs))?
        };
        let chunks: Vec<(u64, Vec<f32>)> = hashes.into_iter().zip(vectors).collect();
        self.report.chunks += chunks.len();
        self.report.tokens += tokens;
        // Notes whose every chunk is now embedded.
        let mut still = VecDeque::with_capacity(self.pending.len());
        for note in self.pending.drain(..) {
            if note.missing.is_empty() {
                done.push((note.key, note.specs));
            } else {
                still.push_back(note);
            }
        }
        self.pending = still;
        let completed = done.len();
        self.store.append(&chunks, &done)?;
        self.report.notes += completed;
        self.report.seconds += started.elapsed().as_secs_f64();
        self.publish();
        Ok(completed)
    }

    /// Makes the vectors durable, compacts the store when worthwhile and publishes it.
    pub(crate) fn settle(&mut self) -> Result<()> {
        self.store.sync()?;
        if self.store.compact_if_worthwhile()? {
            self.semantic.publish(self.store.snapshot());
        }
        Ok(())
    }

    /// Publishes the vectors to searches and the progress to the status.
    fn publish(&mut self) {
        self.semantic.publish(self.store.snapshot());
        let (embedded, total) = self.counts();
        let rate = if self.report.seconds > 0.5 {
            self.report.notes as f64 / self.report.seconds
        } else {
            0.0
        };
        let remaining = total.saturating_sub(embedded);
        let working = self.has_work();
        let vectors = self.store.rows();
        let vector_bytes = self.semantic.snapshot().bytes();
        self.semantic.update_progress(|p| {
            p.embedded = embedded;
            p.total = total;
            p.vectors = vectors;
            p.vector_bytes = vector_bytes;
            p.rate = (rate * 10.0).round() / 10.0;
            p.eta_secs = (working && rate > 0.0).then(|| (remaining as f64 / rate).ceil() as u64);
            p.state = if working {
                State::Embedding
            } else {
                State::Ready
            };
            p.error = None;
        });
    }
}
