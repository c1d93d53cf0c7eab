//! The [`Indexer`]: the only owner of the tantivy `IndexWriter`, and of the manifest that says
//! what the index holds.
//!
//! Everything that changes the index goes through it: the full reconcile (walk the vault, diff
//! against the manifest, re-read only what changed), and path-level updates from the watcher.
//! Files are read and parsed on a two-thread pool that feeds the one writer; tantivy's own
//! worker threads tokenize and build segments. Nothing is visible to searchers until
//! [`Indexer::commit`], which stamps the commit with the schema version and reloads the reader.
//!
//! A raised [`Cancel`] flag stops a reconcile (its walk, and its parse threads between files);
//! the work done so far stays pending for the caller's commit, and the next reconcile resumes
//! from it. Path updates from the watcher are small and always finish.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use tantivy::{IndexWriter, Term};

use super::pdf_skips::{PdfSkips, Verdict};
use super::queue::{QueueBudget, QueuedDoc};
use super::{
    FileFacts, FileState, Manifest, OpenOutcome, VaultIndex, WriterLock, lock_for_writing,
    note_document, stored_document,
};
use crate::error::{Error, Result};
use crate::vault::Vault;
use crate::vault::cancel::Cancel;
use crate::vault::contain::{Refused, RootState};
use crate::vault::ingest::{Ingest, Intake};
use crate::vault::note::{DocumentInfo, DocumentKind};
use crate::vault::pdf::{
    ExtractorConfig, Limits as PdfLimits, PdfExtractor, SkipKind as PdfSkipKind,
};
use crate::vault::rules::{NotANote, Rules, document_kind, is_rules_file};
use crate::vault::text::TextDocument;
use crate::vault::walk::{FileEntry, created_ns, mtime_ns, walk};

/// Why a commit happened (logged with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitTrigger {
    /// The start-up reconcile finished.
    Startup,
    /// A long reconcile committed part of its work so searches see it.
    Progress,
    /// No new change arrived for the quiet period.
    Quiet,
    /// The oldest pending change reached the maximum delay.
    MaxDelay,
    /// The pending batch reached its maximum size.
    BatchSize,
    /// A rescan after a watcher error, overflow or rules change.
    Rescan,
    /// The periodic light reconcile found something.
    Reconcile,
    /// The process is stopping.
    Shutdown,
    /// A one-shot `deepvault index` run.
    Command,
}

/// Settings for indexing.
#[derive(Clone, Debug)]
pub struct IndexerSettings {
    /// How documents are read: privacy, redaction and parse options (comments kept or not).
    pub(crate) ingest: Ingest,
    pub(crate) max_file_bytes: u64,
    /// Total memory budget of the tantivy writer.
    pub(crate) memory_budget: usize,
    /// Bytes of parsed documents that may wait for tantivy's indexing threads.
    pub(crate) queue_budget: u64,
    /// tantivy indexing threads.
    pub(crate) writer_threads: usize,
    /// Threads that read and parse files.
    pub(crate) parse_threads: usize,
    /// During a long reconcile, commit at least this often (so searches see progress).
    pub(crate) commit_every: Option<Duration>,
    /// Extracts PDFs' text in worker processes; without it (a library user, unit tests) PDFs
    /// are skipped with that reason.
    pub(crate) pdf: Option<Arc<PdfExtractor>>,
}

impl Default for IndexerSettings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        IndexerSettings {
            ingest: Ingest::default(),
            max_file_bytes: 64 * 1024 * 1024,
            memory_budget: 96 * 1024 * 1024,
            queue_budget: 24 * 1024 * 1024,
            writer_threads: cores.clamp(1, 4),
            parse_threads: cores.clamp(1, 8),
            commit_every: None,
            pdf: None,
        }
    }
}

impl IndexerSettings {
    /// The same, with PDFs read by worker processes of this very program
    /// (`deepvault __extract-pdf`), one per file, each with a time and memory limit.
    pub(crate) fn with_pdf_workers(mut self) -> IndexerSettings {
        let limits = PdfLimits {
            max_file_bytes: self.max_file_bytes,
            ..PdfLimits::default()
        };
        match ExtractorConfig::for_current_exe(limits) {
            Ok(config) => self.pdf = Some(Arc::new(PdfExtractor::new(config))),
            Err(err) => tracing::warn!(
                "PDFs will be skipped: the PDF extractor needs this program's path ({err})"
            ),
        }
        self
    }
}

/// Why a note was not indexed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SkipKind {
    /// Vanished between the walk and the read.
    Vanished,
    /// Larger than `max_file_bytes`.
    TooLarge,
    /// Could not be read.
    Unreadable,
    /// Read, but not a valid document of its kind (a Canvas that is not JSON).
    Invalid,
    /// Found by the walk but passed over (non-UTF-8 name, symlink out of the vault, …).
    Walk,
    /// Not a regular file inside the vault (a FIFO, a socket, a device, a symlink out of the
    /// vault or to an excluded note).
    Refused,
    /// A PDF that needs a password.
    Encrypted,
    /// A PDF without a text layer (a scan, or drawings only).
    NoTextLayer,
    /// A PDF the extractor could not read: malformed, too slow, too big in memory, or it
    /// crashed the extractor's worker process.
    PdfFailed,
}

impl SkipKind {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            SkipKind::Vanished => "vanished while indexing",
            SkipKind::TooLarge => "larger than max_file_bytes",
            SkipKind::Unreadable => "unreadable",
            SkipKind::Invalid => "not a valid document",
            SkipKind::Walk => "not a readable note path",
            SkipKind::Refused => "not a regular note file inside the vault",
            SkipKind::Encrypted => "encrypted PDF",
            SkipKind::NoTextLayer => "PDF without a text layer",
            SkipKind::PdfFailed => "PDF the extractor could not read",
        }
    }
}

/// What a reconcile or an update did.
#[derive(Clone, Debug, Default)]
pub struct ChangeReport {
    /// Notes new to the index.
    pub added: usize,
    /// Notes re-indexed because their content changed.
    pub updated: usize,
    /// Notes whose file was touched but whose content hash is unchanged (not re-parsed).
    pub touched: usize,
    /// Notes removed (deleted, moved away, newly excluded or newly private).
    pub removed: usize,
    /// Notes checked and found unchanged.
    pub unchanged: usize,
    /// Notes kept out because they are private.
    pub(crate) private: usize,
    /// Files not indexed, with the reason.
    pub(crate) skipped: Vec<(String, SkipKind, String)>,
    /// Notes indexed with a parse warning (invalid UTF-8, bad frontmatter).
    pub(crate) warnings: Vec<(String, String)>,
    /// Bytes read from disk.
    pub(crate) bytes_read: u64,
    /// Pages of the PDFs extracted.
    pub(crate) pdf_pages: u64,
    /// Skipped PDFs not handed to the extractor again: unchanged since it gave up on them.
    pub(crate) pdf_skips_remembered: usize,
    /// Files seen by the walk (for a reconcile).
    pub(crate) files_seen: usize,
    /// Folders the walk entered (for a reconcile): what the watcher must watch.
    pub(crate) folders: Vec<std::path::PathBuf>,
    /// The vault folder had been replaced by a new one (a reconcile): watches must be renewed.
    pub(crate) root_reopened: bool,
    /// Stopped by the [`Cancel`] flag before it was done; the rest waits for the next run.
    pub(crate) cancelled: bool,
}

impl ChangeReport {
    /// True when the index changed.
    pub(crate) fn changed(&self) -> bool {
        self.added + self.updated + self.touched + self.removed > 0
    }

    fn absorb(&mut self, other: ChangeReport) {
        self.added += other.added;
        self.updated += other.updated;
        self.touched += other.touched;
        self.removed += other.removed;
        self.unchanged += other.unchanged;
        self.private += other.private;
        self.skipped.extend(other.skipped);
        self.warnings.extend(other.warnings);
        self.bytes_read += other.bytes_read;
        self.pdf_pages += other.pdf_pages;
        self.pdf_skips_remembered += other.pdf_skips_remembered;
        self.files_seen += other.files_seen;
        self.folders.extend(other.folders);
        self.root_reopened |= other.root_reopened;
        self.cancelled |= other.cancelled;
    }
}

/// What a commit changed, for a listener such as the vector indexer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Changes {
    /// These notes were added, changed or removed.
    Ids(Vec<String>),
    /// Too many to list: look at the whole index.
    All,
}

/// More changed ids than this between two commits are reported as [`Changes::All`].
const MAX_LISTED_CHANGES: usize = 10_000;

/// Progress of a long operation: `(done, total)`.
pub(crate) type ProgressFn<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// What happened to one file.
enum Outcome {
    Indexed {
        state: FileState,
        new: bool,
        warning: Option<String>,
        /// A PDF's pages.
        pages: u64,
    },
    Touched {
        state: FileState,
    },
    Unchanged,
    Private {
        was_indexed: bool,
    },
    Skipped {
        kind: SkipKind,
        message: String,
        was_indexed: bool,
        /// A PDF verdict the bytes decide, to keep (see [`PdfSkips`]), with the file's state.
        remember: Option<FileState>,
    },
    /// Not started: the work was cancelled.
    Cancelled,
}

/// The sole writer of an index.
pub struct Indexer {
    vault: Vault,
    rules: Rules,
    index: VaultIndex,
    writer: IndexWriter<QueuedDoc>,
    queue: Arc<QueueBudget>,
    /// Loaded on first use, so that opening (and a server's start) stays fast.
    manifest: Manifest,
    /// PDFs the extractor gave up on, not to be tried again while unchanged.
    pdf_skips: PdfSkips,
    manifest_loaded: bool,
    settings: IndexerSettings,
    pool: rayon::ThreadPool,
    last_commit: Instant,
    uncommitted: bool,
    /// Whether a full reconcile has completed on this index (stamped on each commit).
    complete: bool,
    /// [`Ingest::stamp`], stamped on each commit.
    ingest_stamp: String,
    /// Called after each commit with the number of notes, e.g. to update a status page.
    on_commit: Option<Box<dyn Fn(usize) + Send + Sync>>,
    /// Called after each commit with what it changed (when set, changes are collected).
    on_changes: Option<Box<dyn Fn(Changes) + Send + Sync>>,
    changed: Vec<String>,
    changed_overflow: bool,
    /// Called for every file read: a sign of life for a status page.
    heartbeat: Option<Box<dyn Fn() + Send + Sync>>,
    /// Raised to stop a reconcile between files.
    cancel: Cancel,
    _lock: WriterLock,
}

impl Indexer {
    /// Takes the writer lock, opens (or creates, or rebuilds) the index and reads the manifest.
    pub fn open(
        vault: Vault,
        index_dir: &Path,
        settings: IndexerSettings,
    ) -> Result<(Indexer, OpenOutcome)> {
        let lock = lock_for_writing(index_dir)?;
        let ingest_stamp = settings.ingest.stamp();
        let (index, outcome) =
            VaultIndex::open_for_writing(index_dir, vault.root(), &ingest_stamp, &lock)?;
        let writer = index
            .index()
            .writer_with_num_threads::<QueuedDoc>(
                settings.writer_threads.max(1),
                settings.memory_budget,
            )
            .map_err(|e| Error::tantivy(index.dir(), e))?;
        let complete = index.is_complete();
        let rules = Rules::load(&vault)?;
        for warning in &rules.warnings {
            tracing::warn!("{warning}");
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(settings.parse_threads.max(1))
            .thread_name(|i| format!("deepvault-parse-{i}"))
            .build()
            .map_err(|e| Error::io(index_dir, std::io::Error::other(e)))?;
        Ok((
            Indexer {
                vault,
                rules,
                index,
                complete,
                ingest_stamp,
                writer,
                queue: QueueBudget::new(settings.queue_budget),
                manifest: Manifest::new(),
                manifest_loaded: false,
                pdf_skips: PdfSkips::load(index_dir, settings.pdf.as_deref().map(|p| p.config())),
                settings,
                pool,
                last_commit: Instant::now(),
                uncommitted: false,
                on_commit: None,
                on_changes: None,
                changed: Vec::new(),
                changed_overflow: false,
                heartbeat: None,
                cancel: Cancel::new(),
                _lock: lock,
            },
            outcome,
        ))
    }

    /// Makes each commit visible through `served` (the index a follower has been serving from,
    /// whose reader otherwise follows commits with a delay) as it is made: both share one reader.
    pub(crate) fn publish_through(&mut self, served: &VaultIndex) {
        debug_assert_eq!(self.index.dir, served.dir, "the same index folder");
        self.index.reader = served.reader.clone();
    }

    pub fn index(&self) -> &VaultIndex {
        &self.index
    }

    pub(crate) fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Number of notes in the index (committed or not).
    pub(crate) fn note_count(&self) -> usize {
        if self.manifest_loaded {
            self.manifest.len()
        } else {
            self.index.searcher().num_docs() as usize
        }
    }

    fn ensure_manifest(&mut self) -> Result<()> {
        if !self.manifest_loaded {
            self.manifest = self.index.load_manifest(&self.index.searcher())?;
            self.manifest_loaded = true;
        }
        Ok(())
    }

    /// Commit at least this often during a long reconcile, so searches see progress.
    pub(crate) fn set_commit_every(&mut self, every: Option<Duration>) {
        self.settings.commit_every = every;
    }

    /// Makes reconciles stop when `cancel` is raised (a shutdown).
    pub(crate) fn set_cancel(&mut self, cancel: Cancel) {
        self.cancel = cancel;
    }

    /// True when changes wait for a commit.
    pub(crate) fn has_uncommitted(&self) -> bool {
        self.uncommitted
    }

    /// Registers a function called after every commit with the number of notes.
    pub(crate) fn set_on_commit(&mut self, on_commit: impl Fn(usize) + Send + Sync + 'static) {
        self.on_commit = Some(Box::new(on_commit));
    }

    /// Registers a function called after every commit with the notes it changed.
    pub(crate) fn set_on_changes(&mut self, on_changes: impl Fn(Changes) + Send + Sync + 'static) {
        self.on_changes = Some(Box::new(on_changes));
    }

    /// Remembers a changed note for the `on_changes` listener.
    fn note_change(&mut self, id: &str) {
        if self.on_changes.is_none() || self.changed_overflow {
            return;
        }
        if self.changed.len() < MAX_LISTED_CHANGES {
            self.changed.push(id.to_string());
        } else {
            self.changed.clear();
            self.changed_overflow = true;
        }
    }

    /// Registers a function called for every file read (from the parse threads).
    pub(crate) fn set_heartbeat(&mut self, heartbeat: impl Fn() + Send + Sync + 'static) {
        self.heartbeat = Some(Box::new(heartbeat));
    }

    /// Reloads the exclusion rules (after a `.gitignore` or `app.json` change).
    pub(crate) fn reload_rules(&mut self) -> Result<()> {
        self.rules = Rules::load(&self.vault)?;
        for warning in &self.rules.warnings {
            tracing::warn!("{warning}");
        }
        Ok(())
    }

    /// Walks the whole vault and brings the index in line with it: new and changed files are
    /// read, deleted or excluded ones removed. Unchanged files (same size and mtime) are not read.
    /// When cancelled, it returns what it did so far (`cancelled` set); a cancelled walk removes
    /// nothing, since it has not seen every file.
    pub fn reconcile(&mut self, progress: Option<ProgressFn<'_>>) -> Result<ChangeReport> {
        self.ensure_manifest()?;
        // The folder must still be the vault opened at start: a vault that is gone is not
        // emptied from the index (a drive unmounted for a moment), and one that now leads
        // elsewhere is never followed.
        let root = self.vault.dir().check();
        match &root {
            RootState::Same => {}
            RootState::Reopened => {
                tracing::info!(vault = %self.vault.root().display(), "the vault folder was replaced by a new one; reading it");
            }
            RootState::Missing(reason) | RootState::Moved(reason) => {
                return Err(Error::VaultChanged {
                    path: self.vault.root().to_path_buf(),
                    reason: reason.clone(),
                });
            }
        }
        self.rules.refresh_ignore_files();
        let walked = walk(&self.vault, &self.rules, &self.cancel);
        let mut report = ChangeReport {
            root_reopened: root == RootState::Reopened,
            files_seen: walked.files.len(),
            folders: walked.dirs,
            cancelled: walked.cancelled,
            ..ChangeReport::default()
        };
        if walked.cancelled {
            return Ok(report);
        }
        for (path, reason) in walked.skipped {
            report
                .skipped
                .push((path, SkipKind::Walk, reason.to_string()));
        }
        let seen: HashSet<&str> = walked.files.iter().map(|f| f.id.as_str()).collect();
        self.pdf_skips.retain_seen(|id| seen.contains(id));
        let gone: Vec<String> = self
            .manifest
            .keys()
            .filter(|id| !seen.contains(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            self.remove(&id);
            report.removed += 1;
        }
        let mut changed = Vec::new();
        for file in walked.files {
            match self.manifest.get(&file.id) {
                // A note that `private_paths` now covers is read again, to be removed.
                Some(state)
                    if state.size == file.size
                        && state.mtime == file.mtime
                        && !self.rules.leads_to_private(&file.id) =>
                {
                    report.unchanged += 1
                }
                _ => changed.push(file),
            }
        }
        let cancel = self.cancel.clone();
        let upserts = self.upsert(changed, progress, &cancel)?;
        report.absorb(upserts);
        if !self.complete && !report.cancelled {
            self.complete = true;
            self.uncommitted = true;
        }
        Ok(report)
    }

    /// Brings the index in line with the files at these paths (absolute), as reported by the
    /// watcher. Returns `Ok(None)` when the change needs a full reconcile instead (a folder
    /// appeared, or an ignore rule changed); the caller then calls [`Indexer::reconcile`].
    pub(crate) fn update_paths(
        &mut self,
        paths: &HashSet<std::path::PathBuf>,
    ) -> Result<Option<ChangeReport>> {
        self.ensure_manifest()?;
        let mut report = ChangeReport::default();
        let mut candidates = Vec::new();
        for path in paths {
            let Some(id) = self.vault.id_for(path) else {
                continue;
            };
            if is_rules_file(&id) {
                return Ok(None);
            }
            match std::fs::metadata(path) {
                Ok(metadata) if metadata.is_dir() => {
                    if !self.rules.is_excluded(&id, true) {
                        return Ok(None);
                    }
                    report.removed += self.remove_prefix(&id);
                }
                Ok(metadata) if !metadata.is_file() => {
                    // A FIFO, a socket or a device: never opened.
                    if document_kind(&id).is_some() && !self.rules.is_excluded(&id, false) {
                        let kind = crate::vault::contain::kind_name(&metadata.file_type());
                        tracing::warn!(note = %id, "skipped: {kind}, not a regular file");
                        report.skipped.push((
                            id.clone(),
                            SkipKind::Refused,
                            format!("{kind}, not a regular file"),
                        ));
                    }
                    if self.manifest.contains_key(&id) {
                        self.remove(&id);
                        report.removed += 1;
                    }
                }
                Ok(metadata) => {
                    // The symlink part of the rule (target inside, not excluded) is applied
                    // when the file is read, for the walk's files and these alike.
                    if document_kind(&id).is_some() && !self.rules.is_excluded(&id, false) {
                        let unchanged = self.manifest.get(&id).is_some_and(|s| {
                            s.size == metadata.len() && s.mtime == mtime_ns(&metadata)
                        });
                        if unchanged {
                            report.unchanged += 1;
                        } else {
                            candidates.push(FileEntry {
                                id,
                                size: metadata.len(),
                                mtime: mtime_ns(&metadata),
                            });
                        }
                    } else if self.manifest.contains_key(&id) {
                        self.remove(&id);
                        report.removed += 1;
                    }
                }
                Err(_) => {
                    if self.manifest.contains_key(&id) {
                        self.remove(&id);
                        report.removed += 1;
                    } else {
                        // Perhaps a folder that was deleted or moved away.
                        report.removed += self.remove_prefix(&id);
                    }
                }
            }
        }
        let upserts = self.upsert(candidates, None, &Cancel::new())?;
        report.absorb(upserts);
        Ok(Some(report))
    }

    fn remove(&mut self, id: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.index.fields().id, id));
        self.manifest.remove(id);
        self.pdf_skips.forget(id);
        self.uncommitted = true;
        self.note_change(id);
    }

    /// Removes every note under a folder id; returns how many.
    fn remove_prefix(&mut self, folder: &str) -> usize {
        let prefix = format!("{folder}/");
        let ids: Vec<String> = self
            .manifest
            .keys()
            .filter(|id| id.starts_with(&prefix))
            .cloned()
            .collect();
        for id in &ids {
            self.remove(id);
        }
        self.pdf_skips.retain_seen(|id| !id.starts_with(&prefix));
        ids.len()
    }

    /// Reads, parses and indexes the given files in parallel, committing along the way when
    /// `commit_every` says so, and stopping between files when `cancel` is raised.
    fn upsert(
        &mut self,
        files: Vec<FileEntry>,
        progress: Option<ProgressFn<'_>>,
        cancel: &Cancel,
    ) -> Result<ChangeReport> {
        let mut report = ChangeReport::default();
        let total = files.len();
        let done = AtomicUsize::new(0);
        // Chunks bound the time between intermediate commits; size them by bytes so a chunk of
        // huge notes does not run for long. Small chunks when progress must become searchable.
        let (max_files, max_bytes) = if self.settings.commit_every.is_some() {
            (1024, 8u64 << 20)
        } else {
            (4096, 64u64 << 20)
        };
        let mut chunk: Vec<FileEntry> = Vec::new();
        let mut files = files.into_iter().peekable();
        while files.peek().is_some() {
            if cancel.is_cancelled() {
                report.cancelled = true;
                break;
            }
            chunk.clear();
            let mut chunk_bytes = 0u64;
            while let Some(file) =
                files.next_if(|_| chunk.len() < max_files && chunk_bytes < max_bytes)
            {
                chunk_bytes += file.size;
                chunk.push(file);
            }
            let outcomes = self.process_chunk(&chunk, &done, total, progress, cancel);
            for (file, outcome) in chunk.iter().zip(outcomes) {
                self.record(file, outcome, &mut report);
            }
            if let Some(every) = self.settings.commit_every
                && files.peek().is_some()
                && self.last_commit.elapsed() >= every
            {
                self.commit(CommitTrigger::Progress)?;
            }
        }
        Ok(report)
    }

    fn process_chunk(
        &self,
        chunk: &[FileEntry],
        done: &AtomicUsize,
        total: usize,
        progress: Option<ProgressFn<'_>>,
        cancel: &Cancel,
    ) -> Vec<Outcome> {
        let searcher = self.index.searcher();
        let bytes_read = AtomicU64::new(0);
        self.pool.install(|| {
            chunk
                .par_iter()
                .map(|file| {
                    if cancel.is_cancelled() {
                        return Outcome::Cancelled;
                    }
                    let outcome = self.process_file(file, &searcher, &bytes_read);
                    if let Some(heartbeat) = &self.heartbeat {
                        heartbeat();
                    }
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if let Some(progress) = progress
                        && (finished.is_multiple_of(256) || finished == total)
                    {
                        progress(finished, total);
                    }
                    outcome
                })
                .collect()
        })
    }

    /// A PDF's text and metadata, from a worker process (blocking: this runs on the parse
    /// pool), or why it has none.
    fn extract_pdf(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> std::result::Result<TextDocument, (SkipKind, String, bool)> {
        let Some(extractor) = &self.settings.pdf else {
            return Err((
                SkipKind::PdfFailed,
                "PDF extraction is not available in this process".into(),
                false,
            ));
        };
        match extractor.extract(id, bytes) {
            Ok(pdf) => Ok(TextDocument {
                title: pdf.title,
                info: Some(DocumentInfo {
                    pages: u32::try_from(pdf.page_count).unwrap_or(u32::MAX),
                    author: pdf.author,
                    producer: pdf.producer,
                    created: pdf.created,
                    modified: pdf.modified,
                    redacted: false,
                }),
                pages: pdf.pages,
            }),
            Err(skip) => {
                let kind = match skip.kind() {
                    PdfSkipKind::Encrypted => SkipKind::Encrypted,
                    PdfSkipKind::NoTextLayer => SkipKind::NoTextLayer,
                    PdfSkipKind::TooLarge => SkipKind::TooLarge,
                    _ => SkipKind::PdfFailed,
                };
                // An extractor that could not run says nothing about the file.
                let decided_by_bytes = skip.kind() != PdfSkipKind::Unavailable;
                Err((kind, skip.to_string(), decided_by_bytes))
            }
        }
    }

    /// Reads one file and hands its document to the writer. Runs on the parse pool.
    fn process_file(
        &self,
        file: &FileEntry,
        searcher: &tantivy::Searcher,
        bytes_read: &AtomicU64,
    ) -> Outcome {
        let previous = self.manifest.get(&file.id).copied();
        let was_indexed = previous.is_some();
        // `private_paths`: private whatever the file says, so it is not even read.
        if self.rules.leads_to_private(&file.id) {
            if was_indexed {
                let id_term = Term::from_field_text(self.index.fields().id, &file.id);
                self.writer.delete_term(id_term);
            }
            return Outcome::Private { was_indexed };
        }
        if file.size > self.settings.max_file_bytes {
            return Outcome::Skipped {
                kind: SkipKind::TooLarge,
                message: format!(
                    "{} MB is over max_file_bytes ({} MB)",
                    file.size / (1024 * 1024),
                    self.settings.max_file_bytes / (1024 * 1024)
                ),
                was_indexed,
                remember: None,
            };
        }
        // A PDF the extractor already gave up on, unchanged since: not even read.
        if let Some(verdict) = self.pdf_skips.unchanged(&file.id, file.size, file.mtime) {
            return remembered_skip(verdict, verdict.state, was_indexed);
        }
        // The one containment rule: through the root handle, symlinks followed inside the vault
        // only and to a target the rules allow, and only a regular file is read.
        let read = self.rules.check_target(&file.id, false).and_then(|target| {
            self.vault
                .dir()
                .read(&target, self.settings.max_file_bytes)
                .map_err(NotANote::Refused)
        });
        let (bytes, metadata) = match read {
            Ok(read) => read,
            Err(err) => {
                let (kind, message) = match err {
                    NotANote::Refused(err) if err.is_not_found() => {
                        (SkipKind::Vanished, err.to_string())
                    }
                    NotANote::Refused(Refused::TooLarge(size)) => (
                        SkipKind::TooLarge,
                        format!(
                            "{} MB is over max_file_bytes ({} MB)",
                            size / (1024 * 1024),
                            self.settings.max_file_bytes / (1024 * 1024)
                        ),
                    ),
                    NotANote::Refused(Refused::Io(err)) => (SkipKind::Unreadable, err.to_string()),
                    NotANote::Refused(err) => (SkipKind::Refused, err.to_string()),
                    NotANote::TargetExcluded(target) => (
                        SkipKind::Refused,
                        format!("symlink to {target}, which the exclusion rules exclude"),
                    ),
                };
                return Outcome::Skipped {
                    kind,
                    message,
                    was_indexed,
                    remember: None,
                };
            }
        };
        bytes_read.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
        // The stat after the read is what we record: if the file changed during the read, the
        // next reconcile sees a newer mtime and reads it again.
        let state = FileState {
            size: bytes.len() as u64,
            mtime: mtime_ns(&metadata),
            hash,
        };
        let facts = FileFacts {
            size: state.size,
            mtime: state.mtime,
            created: created_ns(&metadata),
            hash,
        };
        if let Some(verdict) = self.pdf_skips.same_bytes(&file.id, &state) {
            return remembered_skip(verdict, state, was_indexed);
        }
        let fields = self.index.fields();
        let id_term = Term::from_field_text(fields.id, &file.id);
        if let Some(previous) = previous
            && previous.hash == hash
            && previous.size == state.size
        {
            // Touched, not changed: rebuild the document from what is stored, no parse.
            if previous.mtime == state.mtime {
                return Outcome::Unchanged;
            }
            if let Ok(Some(mut stored)) = self.index.load_by_id(searcher, &file.id) {
                stored.meta.mtime = state.mtime;
                let doc = stored_document(fields, &stored.meta, &stored.body, &stored.plain);
                self.writer.delete_term(id_term.clone());
                let doc = QueuedDoc::new(doc, &self.queue);
                if self.writer.add_document(doc).is_ok() {
                    return Outcome::Touched { state };
                }
            }
        }
        // The parser is pure and should never panic; if it does on some input, that one note is
        // skipped with its path and indexing goes on.
        // (The reader's only state is a counter and the regex engines' scratch space, which a
        // panic leaves usable.)
        let ingest = &self.settings.ingest;
        let intake = if document_kind(&file.id) == Some(DocumentKind::Pdf) {
            match self.extract_pdf(&file.id, &bytes) {
                Ok(document) => Ok(ingest.read_text(&file.id, DocumentKind::Pdf, document)),
                Err((kind, message, decided_by_bytes)) => {
                    return Outcome::Skipped {
                        kind,
                        message,
                        was_indexed,
                        remember: decided_by_bytes.then_some(state),
                    };
                }
            }
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ingest.read(&file.id, &bytes)
            }))
        };
        let note = match intake {
            Ok(Intake::Note(note)) => *note,
            Ok(Intake::Private) => {
                if was_indexed {
                    self.writer.delete_term(id_term.clone());
                }
                return Outcome::Private { was_indexed };
            }
            Ok(Intake::Invalid(message)) => {
                return Outcome::Skipped {
                    kind: SkipKind::Invalid,
                    message,
                    was_indexed,
                    remember: None,
                };
            }
            Err(_) => {
                return Outcome::Skipped {
                    kind: SkipKind::Unreadable,
                    message: "the Markdown parser failed on this file; please report it".into(),
                    was_indexed,
                    remember: None,
                };
            }
        };
        let warning = (!note.warnings.is_empty()).then(|| note.warnings.join("; "));
        let pages = match note.kind {
            DocumentKind::Pdf => note.sections.len() as u64,
            _ => 0,
        };
        let doc = note_document(fields, &note, facts);
        let doc = QueuedDoc::new(doc, &self.queue);
        // The manifest is the committed index plus what this process added since: an id it does
        // not hold has no document to replace. A delete is not free: tantivy looks each one up
        // in every segment at the next commit (a resumed first index queued 100k of them).
        if was_indexed {
            self.writer.delete_term(id_term);
        }
        match self.writer.add_document(doc) {
            Ok(_) => Outcome::Indexed {
                state,
                new: !was_indexed,
                warning,
                pages,
            },
            Err(err) => Outcome::Skipped {
                kind: SkipKind::Unreadable,
                message: format!("the index refused it: {err}"),
                was_indexed,
                remember: None,
            },
        }
    }

    fn record(&mut self, file: &FileEntry, outcome: Outcome, report: &mut ChangeReport) {
        match outcome {
            Outcome::Indexed {
                state,
                new,
                warning,
                pages,
            } => {
                report.bytes_read += state.size;
                report.pdf_pages += pages;
                if new {
                    report.added += 1;
                } else {
                    report.updated += 1;
                }
                if let Some(warning) = warning {
                    tracing::warn!(note = %file.id, "{warning}");
                    report.warnings.push((file.id.clone(), warning));
                }
                self.manifest.insert(file.id.clone(), state);
                self.pdf_skips.forget(&file.id);
                self.uncommitted = true;
                self.note_change(&file.id);
            }
            Outcome::Touched { state } => {
                report.bytes_read += state.size;
                report.touched += 1;
                self.manifest.insert(file.id.clone(), state);
                self.uncommitted = true;
            }
            Outcome::Unchanged => report.unchanged += 1,
            Outcome::Cancelled => report.cancelled = true,
            Outcome::Private { was_indexed } => {
                report.private += 1;
                self.pdf_skips.forget(&file.id);
                if was_indexed {
                    report.removed += 1;
                    self.manifest.remove(&file.id);
                    self.uncommitted = true;
                    self.note_change(&file.id);
                }
            }
            Outcome::Skipped {
                kind,
                message,
                was_indexed,
                remember,
            } => {
                tracing::warn!(note = %file.id, "skipped: {} ({message})", kind.label());
                match remember {
                    Some(state) => {
                        if self.pdf_skips.same_bytes(&file.id, &state).is_some() {
                            report.pdf_skips_remembered += 1;
                        }
                        self.pdf_skips.remember(
                            &file.id,
                            Verdict {
                                state,
                                kind,
                                message: message.clone(),
                            },
                        )
                    }
                    // Skipped for another reason (gone, too large, refused): whatever the
                    // extractor said no longer holds.
                    None => self.pdf_skips.forget(&file.id),
                }
                if was_indexed {
                    self.remove(&file.id);
                    report.removed += 1;
                }
                report.skipped.push((file.id.clone(), kind, message));
            }
        }
    }

    /// Commits pending changes (if any) and makes them visible to searchers.
    pub fn commit(&mut self, trigger: CommitTrigger) -> Result<bool> {
        // A verdict holds whether or not the index commits (it is about the file alone).
        self.pdf_skips.save();
        if !self.uncommitted {
            return Ok(false);
        }
        let started = Instant::now();
        let dir = self.index.dir().to_path_buf();
        let mut prepared = self
            .writer
            .prepare_commit()
            .map_err(|e| Error::tantivy(&dir, e))?;
        prepared.set_payload(&VaultIndex::payload(
            self.vault.root(),
            self.complete,
            &self.ingest_stamp,
        ));
        prepared.commit().map_err(|e| Error::tantivy(&dir, e))?;
        self.uncommitted = false;
        self.last_commit = Instant::now();
        // The status learns of the commit before searchers see it: whoever sees the new
        // results and then asks /readyz must not get the previous count (a busy machine can
        // pause this thread between the two steps).
        if let Some(on_commit) = &self.on_commit {
            on_commit(self.manifest.len());
        }
        self.index.reload()?;
        if let Some(on_changes) = &self.on_changes {
            let changes = if self.changed_overflow {
                Changes::All
            } else {
                Changes::Ids(std::mem::take(&mut self.changed))
            };
            self.changed_overflow = false;
            on_changes(changes);
        }
        tracing::debug!(
            trigger = ?trigger,
            notes = self.manifest.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "committed"
        );
        Ok(true)
    }

    /// Waits for background merges, then releases the writer (and its lock).
    pub fn close(self) -> Result<()> {
        let dir = self.index.dir().to_path_buf();
        self.writer
            .wait_merging_threads()
            .map_err(|e| Error::tantivy(&dir, e))
    }
}

/// The skip a remembered PDF verdict stands for, kept with the file's current state.
fn remembered_skip(verdict: &Verdict, state: FileState, was_indexed: bool) -> Outcome {
    Outcome::Skipped {
        kind: verdict.kind,
        message: verdict.message.clone(),
        was_indexed,
        remember: Some(state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vault of one-line notes named `names`, and an empty folder for its index.
    fn vault_of(names: &[&str]) -> (tempfile::TempDir, tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(dir.path().join(name), format!("# {name}\n")).unwrap();
        }
        let vault = Vault::open(dir.path(), &[]).unwrap();
        (dir, tempfile::tempdir().unwrap(), vault)
    }

    /// A cancelled reconcile has not seen every file: it must remove nothing and leave the index
    /// marked incomplete; the next one catches up.
    #[test]
    fn a_cancelled_reconcile_removes_nothing() {
        let (dir, index_dir, vault) = vault_of(&["a.md", "b.md", "c.md"]);
        let (mut indexer, _) =
            Indexer::open(vault.clone(), index_dir.path(), IndexerSettings::default()).unwrap();
        let cancel = Cancel::new();
        indexer.set_cancel(cancel.clone());
        cancel.cancel();
        let report = indexer.reconcile(None).unwrap();
        assert!(report.cancelled);
        assert_eq!(report.added, 0);
        indexer.commit(CommitTrigger::Shutdown).unwrap();
        drop(indexer);
        let stamp = IndexerSettings::default().ingest.stamp();
        let index = VaultIndex::open_for_reading(index_dir.path(), vault.root(), &stamp)
            .unwrap()
            .unwrap();
        assert!(!index.is_complete());

        let (mut indexer, _) =
            Indexer::open(vault.clone(), index_dir.path(), IndexerSettings::default()).unwrap();
        let report = indexer.reconcile(None).unwrap();
        assert_eq!((report.added, report.cancelled), (3, false));
        indexer.commit(CommitTrigger::Command).unwrap();
        std::fs::remove_file(dir.path().join("b.md")).unwrap();
        let cancel = Cancel::new();
        indexer.set_cancel(cancel.clone());
        cancel.cancel();
        let report = indexer.reconcile(None).unwrap();
        assert_eq!((report.removed, report.cancelled), (0, true));
        assert_eq!(indexer.note_count(), 3);
        assert!(indexer.index().is_complete());
    }

    /// A follower opened while the writer's first index was half built, and asked after the
    /// writer committed it, sees that commit at once: its reader is not left on the earlier one
    /// while `meta.json` already says complete (a Codex session's first search came back empty).
    #[test]
    fn a_follower_that_finds_the_index_complete_searches_that_commit() {
        let (_dir, index_dir, vault) = vault_of(&["a.md", "b.md", "c.md"]);
        let settings = IndexerSettings::default();
        let stamp = settings.ingest.stamp();
        let (mut writer, _) = Indexer::open(vault.clone(), index_dir.path(), settings).unwrap();
        let follower = VaultIndex::open_following(index_dir.path(), vault.root(), &stamp)
            .unwrap()
            .expect("the writer created the index");
        assert!(!follower.catch_up_if_complete(), "nothing is indexed yet");

        writer.reconcile(None).unwrap();
        writer.commit(CommitTrigger::Command).unwrap();
        assert!(follower.catch_up_if_complete());
        assert_eq!(follower.searcher().num_docs(), 3);
    }

    /// A follower that takes over serves from the index it followed: each commit of its new
    /// writer, and the ready flag after it, reach that index at once, not after the follower's
    /// reload delay (the first search after a takeover came back empty).
    #[test]
    fn a_takeover_publishes_its_commits_through_the_followed_index() {
        let (_dir, index_dir, vault) = vault_of(&["a.md", "b.md"]);
        let settings = IndexerSettings::default();
        let stamp = settings.ingest.stamp();
        let (first, _) = Indexer::open(vault.clone(), index_dir.path(), settings.clone()).unwrap();
        let served = VaultIndex::open_following(index_dir.path(), vault.root(), &stamp)
            .unwrap()
            .expect("the first writer created the index");
        drop(first); // it stops before its first index

        let (mut takeover, _) = Indexer::open(vault, index_dir.path(), settings).unwrap();
        takeover.publish_through(&served);
        takeover.reconcile(None).unwrap();
        takeover.commit(CommitTrigger::Command).unwrap();
        assert_eq!(served.searcher().num_docs(), 2);
    }

    /// A note under `private_paths` is private: counted so, and removed at the next start when
    /// it was indexed before (its file unchanged).
    #[test]
    fn private_paths_notes_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let index_dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Journal")).unwrap();
        std::fs::write(dir.path().join("Journal/day.md"), "# Day\nsecret day\n").unwrap();
        std::fs::write(dir.path().join("a.md"), "# A\n").unwrap();
        let vault = Vault::open(dir.path(), &[]).unwrap();
        let (mut indexer, _) =
            Indexer::open(vault.clone(), index_dir.path(), IndexerSettings::default()).unwrap();
        let report = indexer.reconcile(None).unwrap();
        assert_eq!((report.added, report.private), (2, 0));
        indexer.commit(CommitTrigger::Command).unwrap();
        drop(indexer);

        let vault = vault.with_private_paths(&["Journal/**".to_string()]);
        let (mut indexer, _) =
            Indexer::open(vault, index_dir.path(), IndexerSettings::default()).unwrap();
        let report = indexer.reconcile(None).unwrap();
        assert_eq!((report.removed, report.private), (1, 1), "{report:?}");
        assert_eq!(report.bytes_read, 0, "a private path is not read");
        indexer.commit(CommitTrigger::Command).unwrap();
        assert_eq!(indexer.note_count(), 1);
        let searcher = indexer.index().searcher();
        let found = indexer.index().load_by_id(&searcher, "Journal/day.md");
        assert!(found.unwrap().is_none());
        let report = indexer.reconcile(None).unwrap();
        assert_eq!(
            (report.removed, report.private, report.unchanged),
            (0, 1, 1)
        );
    }
}
