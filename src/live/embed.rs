//! The embedding thread: keeps the vectors in line with the lexical index, behind it.
//!
//! ```text
//! Indexer commit ─changed ids─▶ embedding thread: VectorIndexer.changed ─▶ embed a batch ─▶ store
//!                                (edits first, then the backlog; one batch between messages)
//! ```
//!
//! It loads the model, compares the committed index with the stored vectors, and embeds what is
//! missing on its own pool (`embedding_threads`, at a lower scheduling priority). Lexical search
//! never waits for it; a failure here (a model that does not load, a full disk) turns semantic
//! search off with the reason in `/readyz`, and leaves lexical search as it was.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::index::VaultIndex;
use crate::index::vectors::Semantic;
use crate::index::vectors::indexer::VectorIndexer;
use crate::index::writer::Changes;

/// A message to the embedding thread.
#[derive(Debug)]
pub(crate) enum EmbedMsg {
    /// Commit number `.1` (see `Semantic::commit_coming`) changed these notes.
    Changed(Changes, u64),
    /// Write what is pending and stop.
    Shutdown,
}

/// The running embedding thread.
pub(crate) struct EmbedHandle {
    tx: Sender<EmbedMsg>,
    thread: Option<JoinHandle<()>>,
}

impl EmbedHandle {
    /// A sender for commit notifications.
    pub(crate) fn sender(&self) -> Sender<EmbedMsg> {
        self.tx.clone()
    }

    /// Asks the thread to stop after its current batch, and waits for it.
    pub(crate) fn shutdown(mut self) {
        let _ = self.tx.send(EmbedMsg::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the embedding thread for the index this process writes.
pub(crate) fn start(semantic: Arc<Semantic>, index: VaultIndex, threads: usize) -> EmbedHandle {
    let (tx, rx) = crossbeam_channel::unbounded();
    let thread = std::thread::Builder::new()
        .name("deepvault-embed".into())
        .spawn(move || run(&rx, semantic, index, threads))
        .expect("spawn the embedding thread");
    EmbedHandle {
        tx,
        thread: Some(thread),
    }
}

fn run(rx: &Receiver<EmbedMsg>, semantic: Arc<Semantic>, index: VaultIndex, threads: usize) {
    crate::index::vectors::embedder::lower_priority();
    let opened = VectorIndexer::open(Arc::clone(&semantic), index, threads, true)
        .and_then(|(mut vectors, _)| vectors.scan().map(|_| vectors));
    let mut vectors = match opened {
        Ok(vectors) => vectors,
        Err(err) => {
            semantic.failed(&err.to_string());
            // Nothing to do but wait to be stopped.
            while let Ok(msg) = rx.recv() {
                if matches!(msg, EmbedMsg::Shutdown) {
                    return;
                }
            }
            return;
        }
    };
    // When the current burst of embedding began, and the report's counts then.
    let mut session: Option<(Instant, usize, usize, usize)> = None;
    loop {
        let mut messages = Vec::new();
        if !vectors.has_work() {
            match rx.recv() {
                Ok(msg) => messages.push(msg),
                Err(_) => break,
            }
        }
        messages.extend(rx.try_iter());
        for msg in messages {
            let result = match msg {
                EmbedMsg::Changed(changes, number) => {
                    read_commit(&mut vectors, &semantic, changes, number)
                }
                EmbedMsg::Shutdown => {
                    if let Err(err) = vectors.settle() {
                        tracing::warn!("cannot write the vectors: {err}");
                    }
                    return;
                }
            };
            if let Err(err) = result {
                tracing::warn!("cannot read what a commit changed for embedding: {err}");
            }
        }
        if !vectors.has_work() {
            continue;
        }
        session.get_or_insert_with(|| {
            (
                Instant::now(),
                vectors.report.notes,
                vectors.report.chunks,
                vectors.report.tokens,
            )
        });
        if let Err(err) = vectors.embed_next() {
            semantic.failed(&err.to_string());
            // Wait for the next change before trying again (a full disk, say).
            match rx.recv() {
                Ok(EmbedMsg::Shutdown) | Err(_) => return,
                Ok(EmbedMsg::Changed(changes, number)) => {
                    let _ = read_commit(&mut vectors, &semantic, changes, number);
                }
            }
            continue;
        }
        if !vectors.has_work() {
            if let Err(err) = vectors.settle() {
                tracing::warn!("cannot write the vectors: {err}");
            }
            if let Some((started, notes, chunks, tokens)) = session.take() {
                let (embedded, total) = vectors.counts();
                tracing::info!(
                    notes = vectors.report.notes - notes,
                    chunks = vectors.report.chunks - chunks,
                    tokens = vectors.report.tokens - tokens,
                    embedded,
                    total,
                    took_ms = started.elapsed().as_millis() as u64,
                    "embedding caught up"
                );
            }
        }
    }
}

/// Queues what commit `number` changed, then counts it as read.
fn read_commit(
    vectors: &mut VectorIndexer,
    semantic: &Semantic,
    changes: Changes,
    number: u64,
) -> crate::error::Result<()> {
    let result = match changes {
        Changes::Ids(ids) => vectors.changed(ids),
        Changes::All => vectors.scan(),
    };
    semantic.commit_read(number);
    result
}
