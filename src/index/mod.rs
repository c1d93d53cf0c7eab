//! The persistent index of a vault: opening (with schema checks and automatic rebuilds), the
//! writer lock, the manifest, documents in and notes out.
//!
//! - [`schema`]: fields and the schema version.
//! - [`tokenizer`]: the one analyzer for text and queries; [`spelling`]: British → American.
//! - [`writer`]: the [`writer::Indexer`], sole owner of the `IndexWriter`.
//! - [`queue`]: a byte budget on parsed documents waiting for tantivy's indexing threads.
//! - [`query`], [`search`], [`snippet`]: from a query string to ranked hits with passages.
//! - [`fetch`]: one note (or one section) by id, with its links and backlinks resolved.
//! - [`pdf_skips`]: PDFs the extractor gave up on, remembered so they are not tried again.
//! - [`vectors`]: semantic search: the embedding model, chunk vectors, the vector side of a
//!   search (the [`vectors::Semantic`] handle) and their writer.
//!
//! On disk, an index folder holds `tantivy/` (the index itself, replaced wholesale on a rebuild),
//! `vectors/` (the chunk vectors, rebuilt on their own when the model or chunker changes),
//! `pdf-skips.json` (see [`pdf_skips`]) and `writer.lock` (held by the one process allowed to
//! write, with its pid inside).

pub mod analysis;
pub(crate) mod fetch;
pub(crate) mod pdf_skips;
pub(crate) mod queue;
pub mod schema;
pub mod search;
pub mod vectors;
pub mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tantivy::directory::MmapDirectory;
use tantivy::schema::{FieldType, IndexRecordOption, Schema};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::error::{Error, Result};
use crate::vault::note::{
    Block, Callout, DocumentInfo, DocumentKind, Heading, Link, Note, Section,
};
use analysis::tokenizer::{ANALYZER, VaultTokenizer};
use schema::{Fields, SCHEMA_VERSION, build_schema};

/// What is stored per note besides its body and plain text: everything `fetch` and `search`
/// return, so they answer from the index alone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredNote {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) kind: DocumentKind,
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    #[serde(default)]
    pub(crate) frontmatter: Map<String, Value>,
    #[serde(default)]
    pub(crate) headings: Vec<Heading>,
    #[serde(default)]
    pub(crate) sections: Vec<Section>,
    #[serde(default)]
    pub(crate) links: Vec<Link>,
    #[serde(default)]
    pub(crate) callouts: Vec<Callout>,
    #[serde(default)]
    pub(crate) blocks: Vec<Block>,
    /// Dataview inline fields.
    #[serde(default)]
    pub(crate) fields: Map<String, Value>,
    pub(crate) body_line: u32,
    pub(crate) size: u64,
    /// Nanoseconds since the epoch.
    pub(crate) mtime: i64,
    #[serde(default)]
    pub(crate) created: Option<i64>,
    pub(crate) hash: u64,
    /// A PDF's page count and Info dictionary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) info: Option<DocumentInfo>,
}

/// File facts that parsing does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileFacts {
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) created: Option<i64>,
    pub(crate) hash: u64,
}

/// A note read back from the index.
#[derive(Clone, Debug)]
pub(crate) struct NoteDoc {
    pub(crate) meta: StoredNote,
    pub(crate) body: String,
    pub(crate) plain: String,
}

impl NoteDoc {
    /// The plain text of one section.
    pub(crate) fn section_plain(&self, section: &Section) -> &str {
        self.plain
            .get(section.plain_start as usize..section.plain_end as usize)
            .unwrap_or("")
    }
}

/// What the manifest knows about one indexed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub size: u64,
    pub mtime: i64,
    pub hash: u64,
}

/// id → state of every indexed note.
pub type Manifest = HashMap<String, FileState>;

/// The commit payload: what this index is.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema: u32,
    /// [`analysis::ANALYZER_VERSION`]: terms made by another analyzer do not match this one's.
    #[serde(default)]
    analyzer: String,
    vault: PathBuf,
    /// [`crate::vault::ingest::Ingest::stamp`]: notes read with other redaction patterns or
    /// privacy settings may hold what these would keep out; with other parse options (comments
    /// kept or not), they must be read again.
    #[serde(default)]
    ingest: String,
    /// False from creation until the first full reconcile is committed: a follower (another
    /// process serving the same index) is not ready before that, or it would answer from a
    /// half-built index. Indexes stamped before this field existed were complete.
    #[serde(default = "complete_by_default")]
    complete: bool,
}

fn complete_by_default() -> bool {
    true
}

/// Why an existing index was not opened.
#[derive(Debug)]
enum OpenError {
    /// It must be rebuilt: another schema, analyzer or vault, or verified corrupt. The reason is
    /// for the log.
    Rebuild(String),
    /// It was made with other redaction or privacy settings: a writer rebuilds it; a reader
    /// refuses it rather than serve what its own settings would keep out.
    OtherSettings(String),
    /// It could not be read just now (too many open files, a passing I/O error). It may be
    /// perfectly good, so it is kept.
    Unavailable(tantivy::TantivyError),
}

impl OpenError {
    /// Sorts a tantivy error: only what proves the index unusable leads to a rebuild.
    fn classify(context: &str, err: tantivy::TantivyError) -> OpenError {
        use tantivy::TantivyError as T;
        use tantivy::directory::error::OpenReadError;
        match err {
            T::DataCorruption(_)
            | T::IncompatibleIndex(_)
            | T::SchemaError(_)
            | T::DeserializeError(_)
            | T::OpenReadError(OpenReadError::FileDoesNotExist(_))
            | T::OpenReadError(OpenReadError::IncompatibleIndex(_)) => {
                OpenError::Rebuild(format!("{context} ({err})"))
            }
            other => OpenError::Unavailable(other),
        }
    }
}

/// How often an index that cannot be read just now is tried again before giving up.
const OPEN_ATTEMPTS: u32 = 3;

/// How opening went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenOutcome {
    Opened,
    Created,
    /// The old index was discarded; the reason is for the log.
    Rebuilt(String),
}

/// An open index: the tantivy index, its fields and one reader for the program's lifetime.
#[derive(Clone)]
pub struct VaultIndex {
    dir: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
}

/// Holds the right to write an index folder; released on drop (and by the OS if killed).
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

fn tantivy_dir(index_dir: &Path) -> PathBuf {
    index_dir.join("tantivy")
}

/// Takes the writer lock of an index folder, or says who holds it.
pub(crate) fn lock_for_writing(index_dir: &Path) -> Result<WriterLock> {
    std::fs::create_dir_all(index_dir).map_err(|source| Error::IndexDir {
        path: index_dir.to_path_buf(),
        source,
    })?;
    let path = index_dir.join("writer.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| Error::IndexDir {
            path: index_dir.to_path_buf(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(Error::IndexLocked {
                path: index_dir.to_path_buf(),
                holder: if holder.is_empty() {
                    String::new()
                } else {
                    format!(" ({holder})")
                },
            });
        }
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(Error::IndexDir {
                path: index_dir.to_path_buf(),
                source,
            });
        }
    }
    let command: Vec<String> = std::env::args().take(2).collect();
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(
        file,
        "pid {}, `{}`",
        std::process::id(),
        command.join(" ").rsplit('/').next().unwrap_or("")
    );
    let _ = file.flush();
    Ok(WriterLock { _file: file })
}

/// True when another process holds the writer lock of this index folder.
pub(crate) fn is_locked(index_dir: &Path) -> bool {
    let Ok(file) = File::open(index_dir.join("writer.lock")) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}

impl VaultIndex {
    /// Opens the index of `vault_root` in `index_dir` for writing, creating it, or rebuilding it
    /// when it is unreadable, of another schema version, or of another vault. The caller must
    /// hold the [`WriterLock`].
    pub(crate) fn open_for_writing(
        index_dir: &Path,
        vault_root: &Path,
        ingest: &str,
        _lock: &WriterLock,
    ) -> Result<(VaultIndex, OpenOutcome)> {
        let dir = tantivy_dir(index_dir);
        Self::open_or_rebuild(&dir, vault_root, ingest, || {
            Self::try_open(&dir, vault_root, ingest)
        })
    }

    /// The decision behind [`VaultIndex::open_for_writing`], with the opening attempt given so
    /// that tests can inject failures: open; rebuild only when the index is proven unusable;
    /// otherwise try again a few times and then fail, leaving the index on disk as it is.
    fn open_or_rebuild(
        dir: &Path,
        vault_root: &Path,
        ingest: &str,
        open: impl Fn() -> std::result::Result<VaultIndex, OpenError>,
    ) -> Result<(VaultIndex, OpenOutcome)> {
        if !dir.join("meta.json").exists() {
            if dir.exists() {
                // A folder without meta.json holds no commit: nothing to keep.
                std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            return Ok((Self::create(dir, vault_root, ingest)?, OpenOutcome::Created));
        }
        let mut attempt = 1;
        loop {
            match open() {
                Ok(index) => return Ok((index, OpenOutcome::Opened)),
                Err(OpenError::Rebuild(reason) | OpenError::OtherSettings(reason)) => {
                    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                    let index = Self::create(dir, vault_root, ingest)?;
                    return Ok((index, OpenOutcome::Rebuilt(reason)));
                }
                Err(OpenError::Unavailable(source)) if attempt >= OPEN_ATTEMPTS => {
                    return Err(Error::IndexUnavailable {
                        path: dir.to_path_buf(),
                        source,
                    });
                }
                Err(OpenError::Unavailable(source)) => {
                    tracing::warn!(
                        "cannot read the index at {} ({source}); trying again",
                        dir.display()
                    );
                    std::thread::sleep(std::time::Duration::from_millis(250 << attempt));
                    attempt += 1;
                }
            }
        }
    }

    /// Opens an existing index read-only (no lock, never rebuilt). `Ok(None)` when there is none
    /// or it is not usable by this version; an error when it was made with other redaction or
    /// privacy settings (`ingest`, see [`crate::vault::ingest::Ingest::stamp`]).
    pub fn open_for_reading(
        index_dir: &Path,
        vault_root: &Path,
        ingest: &str,
    ) -> Result<Option<VaultIndex>> {
        let dir = tantivy_dir(index_dir);
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        match Self::try_open(&dir, vault_root, ingest) {
            Ok(index) => Ok(Some(index)),
            Err(OpenError::Rebuild(_)) => Ok(None),
            Err(OpenError::OtherSettings(_)) => Err(Error::IndexSettings {
                path: index_dir.to_path_buf(),
            }),
            Err(OpenError::Unavailable(source)) => {
                Err(Error::IndexUnavailable { path: dir, source })
            }
        }
    }

    /// Like [`VaultIndex::open_for_reading`], with a reader that follows the commits of the
    /// process that writes the index (tantivy watches `meta.json`).
    pub(crate) fn open_following(
        index_dir: &Path,
        vault_root: &Path,
        ingest: &str,
    ) -> Result<Option<VaultIndex>> {
        let Some(mut index) = Self::open_for_reading(index_dir, vault_root, ingest)? else {
            return Ok(None);
        };
        index.reader = index
            .index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(|e| Error::tantivy(&index.dir, e))?;
        Ok(Some(index))
    }

    /// Opens and checks an index.
    fn try_open(
        dir: &Path,
        vault_root: &Path,
        ingest: &str,
    ) -> std::result::Result<VaultIndex, OpenError> {
        let index = Index::open_in_dir(dir)
            .map_err(|e| OpenError::classify("the index cannot be opened", e))?;
        let metas = index
            .load_metas()
            .map_err(|e| OpenError::classify("the index metadata cannot be read", e))?;
        let payload: Payload = metas
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .ok_or_else(|| OpenError::Rebuild("the index has no deepvault version stamp".into()))?;
        if payload.schema != SCHEMA_VERSION {
            return Err(OpenError::Rebuild(format!(
                "the index has schema version {} and this deepvault uses {}",
                payload.schema, SCHEMA_VERSION
            )));
        }
        if payload.analyzer != analysis::ANALYZER_VERSION {
            return Err(OpenError::Rebuild(format!(
                "the index was made by analyzer `{}` and this deepvault uses `{}`",
                payload.analyzer,
                analysis::ANALYZER_VERSION
            )));
        }
        if payload.vault != vault_root {
            return Err(OpenError::Rebuild(format!(
                "the index belonged to another vault ({})",
                payload.vault.display()
            )));
        }
        if payload.ingest != ingest {
            return Err(OpenError::OtherSettings(
                "the index was made with other redaction patterns or privacy settings".into(),
            ));
        }
        let (expected, fields) = build_schema();
        if !same_schema(&index.schema(), &expected) {
            return Err(OpenError::Rebuild(
                "the index schema differs from this version's".to_string(),
            ));
        }
        let index = Self::from_index(dir, index, fields).map_err(|e| match e {
            Error::Tantivy { source, .. } => {
                OpenError::classify("the index cannot be read", source)
            }
            other => {
                OpenError::Unavailable(tantivy::TantivyError::InternalError(other.to_string()))
            }
        })?;
        // Touch every segment's store and postings headers once, so corruption shows up now.
        let searcher = index.searcher();
        for segment in searcher.segment_readers() {
            segment
                .inverted_index(index.fields.body_text)
                .map_err(|e| OpenError::classify("a segment is unreadable", e))?;
            segment
                .get_store_reader(1)
                .map_err(|e| OpenError::classify("a segment's store is unreadable", e.into()))?;
        }
        Ok(index)
    }

    fn create(dir: &Path, vault_root: &Path, ingest: &str) -> Result<VaultIndex> {
        std::fs::create_dir_all(dir).map_err(|source| Error::IndexDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let (schema, fields) = build_schema();
        let directory = MmapDirectory::open(dir).map_err(|e| Error::IndexDir {
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let index = Index::create(directory, schema, tantivy::IndexSettings::default())
            .map_err(|e| Error::tantivy(dir, e))?;
        register_analyzer(&index);
        // Stamp the empty index with our version right away.
        let mut writer = index
            .writer_with_num_threads::<TantivyDocument>(1, 15_000_000)
            .map_err(|e| Error::tantivy(dir, e))?;
        let mut prepared = writer
            .prepare_commit()
            .map_err(|e| Error::tantivy(dir, e))?;
        prepared.set_payload(&payload_json(vault_root, false, ingest));
        prepared.commit().map_err(|e| Error::tantivy(dir, e))?;
        writer
            .wait_merging_threads()
            .map_err(|e| Error::tantivy(dir, e))?;
        Self::from_index(dir, index, fields)
    }

    fn from_index(dir: &Path, index: Index, fields: Fields) -> Result<VaultIndex> {
        register_analyzer(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| Error::tantivy(dir, e))?;
        Ok(VaultIndex {
            dir: dir.to_path_buf(),
            index,
            fields,
            reader,
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn fields(&self) -> &Fields {
        &self.fields
    }

    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// One consistent snapshot; take one per request.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Everything the index holds as text, for checks that nothing secret went in (the fuzz
    /// target `secret_boundary`): every live document's stored fields as JSON, then every term
    /// of every indexed text field (deleted documents' terms included until a merge drops them).
    pub fn every_text(&self) -> Result<Vec<String>> {
        let searcher = self.searcher();
        let schema = self.index.schema();
        let tantivy = |e| Error::tantivy(&self.dir, e);
        let mut out = Vec::new();
        for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
            for doc in segment.doc_ids_alive() {
                let stored: TantivyDocument = searcher
                    .doc(DocAddress::new(ordinal as u32, doc))
                    .map_err(tantivy)?;
                out.push(tantivy::Document::to_json(&stored, &schema));
            }
            for (field, entry) in schema.fields() {
                if !entry.is_indexed() || !matches!(entry.field_type(), FieldType::Str(_)) {
                    continue;
                }
                let inverted = segment.inverted_index(field).map_err(tantivy)?;
                let mut terms = inverted.terms().stream().map_err(|e| tantivy(e.into()))?;
                while terms.advance() {
                    out.push(String::from_utf8_lossy(terms.key()).into_owned());
                }
            }
        }
        Ok(out)
    }

    /// Makes the last commit visible to new searchers.
    pub(crate) fn reload(&self) -> Result<()> {
        self.reader
            .reload()
            .map_err(|e| Error::tantivy(&self.dir, e))
    }

    /// The payload to stamp commits with.
    pub(crate) fn payload(vault_root: &Path, complete: bool, ingest: &str) -> String {
        payload_json(vault_root, complete, ingest)
    }

    /// For a follower: whether the last commit on disk holds the complete first index, and if
    /// so, that commit loaded for new searchers. `is_complete` reads `meta.json` afresh while the
    /// reader may still hold an earlier, half-built commit (it follows with a delay): a follower
    /// that said "ready" on the word of the file alone answered its first search from that.
    pub(crate) fn catch_up_if_complete(&self) -> bool {
        self.is_complete() && self.reload().is_ok()
    }

    /// Whether the last commit says the first full index is done (see `Payload::complete`).
    pub(crate) fn is_complete(&self) -> bool {
        self.index
            .load_metas()
            .ok()
            .and_then(|metas| metas.payload)
            .and_then(|payload| serde_json::from_str::<Payload>(&payload).ok())
            .is_some_and(|payload| payload.complete)
    }

    /// Reads the manifest (id, size, mtime, hash of every note) from the fast fields.
    pub fn load_manifest(&self, searcher: &Searcher) -> Result<Manifest> {
        let mut manifest = Manifest::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let err = |e| Error::tantivy(&self.dir, e);
            let Some(ids) = fast.str(schema::names::ID).map_err(err)? else {
                continue;
            };
            let sizes = fast.u64(schema::names::SIZE).map_err(err)?;
            let mtimes = fast.i64(schema::names::MTIME).map_err(err)?;
            let hashes = fast.u64(schema::names::HASH).map_err(err)?;
            // Decode the dictionary once, in order, instead of one lookup per document.
            let mut terms = Vec::with_capacity(ids.num_rows() as usize);
            let mut stream = ids
                .dictionary()
                .stream()
                .map_err(|e| Error::io(&self.dir, e))?;
            while stream.advance() {
                terms.push(String::from_utf8_lossy(stream.key()).into_owned());
            }
            for doc in segment.doc_ids_alive() {
                let Some(ord) = ids.term_ords(doc).next() else {
                    continue;
                };
                let Some(id) = terms.get(ord as usize) else {
                    continue;
                };
                manifest.insert(
                    id.clone(),
                    FileState {
                        size: sizes.first(doc).unwrap_or(0),
                        mtime: mtimes.first(doc).unwrap_or(0),
                        hash: hashes.first(doc).unwrap_or(0),
                    },
                );
            }
        }
        Ok(manifest)
    }

    /// The address of the note with this exact id, if indexed.
    pub(crate) fn address_of(&self, searcher: &Searcher, id: &str) -> Result<Option<DocAddress>> {
        let term = Term::from_field_text(self.fields.id, id);
        for (segment_ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment
                .inverted_index(self.fields.id)
                .map_err(|e| Error::tantivy(&self.dir, e))?;
            let Some(mut postings) = inverted
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(|e| Error::io(&self.dir, e))?
            else {
                continue;
            };
            let mut doc = tantivy::DocSet::doc(&postings);
            while doc != tantivy::TERMINATED {
                if !segment.is_deleted(doc) {
                    return Ok(Some(DocAddress::new(segment_ord as u32, doc)));
                }
                doc = tantivy::DocSet::advance(&mut postings);
            }
        }
        Ok(None)
    }

    /// Reads a stored note.
    pub(crate) fn load(&self, searcher: &Searcher, address: DocAddress) -> Result<NoteDoc> {
        let (doc, meta) = self.read_stored::<StoredNote>(searcher, address)?;
        Ok(NoteDoc {
            body: stored_text(&doc, self.fields.body),
            plain: stored_text(&doc, self.fields.body_text),
            meta,
        })
    }

    /// The stored document at `address` and its note JSON, read as `M` (all of [`StoredNote`], or
    /// the part a caller needs: serde skips the other fields without building values).
    fn read_stored<M: serde::de::DeserializeOwned>(
        &self,
        searcher: &Searcher,
        address: DocAddress,
    ) -> Result<(TantivyDocument, M)> {
        use tantivy::schema::Value as _;
        let doc: TantivyDocument = searcher
            .doc(address)
            .map_err(|e| Error::tantivy(&self.dir, e))?;
        let meta_json = doc
            .get_first(self.fields.meta)
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let meta = serde_json::from_str(meta_json).map_err(|e| {
            Error::tantivy(
                &self.dir,
                tantivy::TantivyError::InternalError(format!("stored note is corrupt: {e}")),
            )
        })?;
        Ok((doc, meta))
    }

    /// Reads what a search hit needs: id, title, headings, sections and the plain text. Cheaper
    /// than [`VaultIndex::load`]: the stored JSON's other fields are skipped unparsed into values
    /// and the Markdown body is not copied (the search profile spent a fifth of its time here).
    pub(crate) fn load_for_hit(&self, searcher: &Searcher, address: DocAddress) -> Result<NoteDoc> {
        #[derive(Deserialize)]
        struct HitMeta {
            id: String,
            title: String,
            #[serde(default)]
            headings: Vec<Heading>,
            #[serde(default)]
            sections: Vec<Section>,
            #[serde(default)]
            blocks: Vec<Block>,
        }

        let (doc, meta) = self.read_stored::<HitMeta>(searcher, address)?;
        Ok(NoteDoc {
            meta: StoredNote {
                id: meta.id,
                title: meta.title,
                headings: meta.headings,
                sections: meta.sections,
                blocks: meta.blocks,
                ..StoredNote::default()
            },
            body: String::new(),
            plain: stored_text(&doc, self.fields.body_text),
        })
    }

    /// How many documents of each kind the index holds, kinds with none left out.
    pub(crate) fn kind_counts(&self) -> Vec<(DocumentKind, usize)> {
        let searcher = self.searcher();
        DocumentKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let term = Term::from_field_text(self.fields.kind, kind.as_str());
                let query =
                    tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic);
                let count = searcher.search(&query, &tantivy::collector::Count).ok()?;
                (count > 0).then_some((kind, count))
            })
            .collect()
    }

    /// Reads the note with this id, if indexed.
    pub(crate) fn load_by_id(&self, searcher: &Searcher, id: &str) -> Result<Option<NoteDoc>> {
        match self.address_of(searcher, id)? {
            Some(address) => self.load(searcher, address).map(Some),
            None => Ok(None),
        }
    }
}

/// A stored text field's value, or empty.
fn stored_text(doc: &TantivyDocument, field: tantivy::schema::Field) -> String {
    use tantivy::schema::Value as _;
    doc.get_first(field)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

fn payload_json(vault_root: &Path, complete: bool, ingest: &str) -> String {
    serde_json::to_string(&Payload {
        schema: SCHEMA_VERSION,
        analyzer: analysis::ANALYZER_VERSION.to_string(),
        vault: vault_root.to_path_buf(),
        ingest: ingest.to_string(),
        complete,
    })
    .expect("payload serializes")
}

fn register_analyzer(index: &Index) {
    index
        .tokenizers()
        .register(ANALYZER, TextAnalyzer::from(VaultTokenizer::for_indexing()));
}

fn same_schema(a: &Schema, b: &Schema) -> bool {
    let names = |s: &Schema| {
        s.fields()
            .map(|(_, entry)| {
                (
                    entry.name().to_string(),
                    format!("{:?}", entry.field_type()),
                )
            })
            .collect::<Vec<_>>()
    };
    names(a) == names(b)
}

/// A SimHash over the lines of a text: each non-blank line votes with its hash, weighted by its
/// length (capped). Copies of a page that differ in a line or two (the PowerShell docs repeat
/// each page for four Windows Server versions) land a few bits apart.
///
/// Short texts (under 256 bytes) get 0, which means "no signature": two short notes are not
/// copies just because they say little.
pub(crate) fn simhash(text: &str) -> u64 {
    if text.trim().len() < 256 {
        return 0;
    }
    let mut votes = [0i64; 64];
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let hash = xxhash_rust::xxh3::xxh3_64(line.as_bytes());
        let weight = line.len().min(200) as i64;
        for (bit, vote) in votes.iter_mut().enumerate() {
            if hash >> bit & 1 == 1 {
                *vote += weight;
            } else {
                *vote -= weight;
            }
        }
    }
    votes
        .iter()
        .enumerate()
        .filter(|(_, vote)| **vote > 0)
        .fold(0u64, |acc, (bit, _)| acc | 1 << bit)
        .max(1)
}

/// The key of a note's vectors: a hash of everything the chunker reads (title, headings,
/// sections and plain text), so that the same text is never embedded twice and any change to it
/// is.
pub(crate) fn text_hash(stored: &StoredNote, plain: &str) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut part = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(stored.title.as_bytes());
    part(plain.as_bytes());
    for heading in &stored.headings {
        part(&[heading.level]);
        part(heading.text.as_bytes());
    }
    for section in &stored.sections {
        let heading = section.heading.map_or(u32::MAX, |h| h);
        part(&heading.to_le_bytes());
        part(&section.plain_start.to_le_bytes());
        part(&section.plain_end.to_le_bytes());
    }
    hasher.digest()
}

/// Adds the text inside a frontmatter value (strings, and strings in lists and maps).
fn add_property_text(doc: &mut TantivyDocument, field: tantivy::schema::Field, value: &Value) {
    match value {
        Value::String(text) if !text.is_empty() => doc.add_text(field, text),
        Value::Array(items) => items.iter().for_each(|v| add_property_text(doc, field, v)),
        Value::Object(map) => map.values().for_each(|v| add_property_text(doc, field, v)),
        _ => {}
    }
}

/// The most property terms one note adds, and the longest whole value that gets its own term
/// (the words of longer values still do).
const MAX_PROPERTY_TERMS: usize = 4096;
const MAX_PROPERTY_VALUE: usize = 256;

/// A property key as `key:value` filters match it: lowercase, whitespace runs as `-` (as
/// Dataview writes keys), no control characters.
pub(crate) fn property_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for (i, part) in key.split_whitespace().enumerate() {
        if i > 0 {
            out.push('-');
        }
        if part.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) {
            push_lowercase(&mut out, part);
        } else {
            out.extend(
                part.chars()
                    .filter(|c| !c.is_control())
                    .flat_map(char::to_lowercase),
            );
        }
    }
    out
}

/// Appends `text` as [`str::to_lowercase`] gives it; ASCII in place, without a second string.
fn push_lowercase(out: &mut String, text: &str) {
    if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
    } else {
        out.push_str(&text.to_lowercase());
    }
}

/// The words of a property value, before lowercasing (see [`property_words`]).
fn raw_property_words(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= 64)
}

/// The words of a property value as filters match them: runs of letters and digits, lowercase.
pub(crate) fn property_words(value: &str) -> impl Iterator<Item = String> + '_ {
    raw_property_words(value).map(str::to_lowercase)
}

/// The terms of one property (see [`schema::Fields::property`]) for scalar values and the
/// scalars in a list; nested maps are not filterable.
///
/// Each term is built in one allocation (key, separator, lowercased text), not through
/// `format!` and a lowercased copy: on a vault whose every note has a handful of properties
/// (URLs, descriptions) this was most of what the property terms cost at indexing.
fn property_terms(key: &str, value: &Value, terms: &mut Vec<String>) {
    let key = property_key(key);
    if key.is_empty() || key.len() > 64 {
        return;
    }
    let term = |text: &str| {
        let mut term = String::with_capacity(key.len() + 1 + text.len());
        term.push_str(&key);
        term.push(schema::PROPERTY_SEPARATOR);
        push_lowercase(&mut term, text);
        term
    };
    let mut add = |text: &str| {
        let text = text.trim();
        if text.is_empty() || terms.len() >= MAX_PROPERTY_TERMS {
            return;
        }
        if text.len() <= MAX_PROPERTY_VALUE {
            terms.push(term(text));
        }
        terms.extend(raw_property_words(text).take(64).map(&term));
    };
    let mut scalar = |value: &Value| match value {
        Value::String(s) => add(s),
        Value::Number(n) => add(&n.to_string()),
        Value::Bool(b) => add(if *b { "true" } else { "false" }),
        _ => {}
    };
    match value {
        Value::Array(items) => items.iter().for_each(&mut scalar),
        value => scalar(value),
    }
    if terms.len() < MAX_PROPERTY_TERMS {
        terms.push(key);
    }
}

/// Builds the tantivy document of a parsed note.
pub(crate) fn note_document(fields: &Fields, note: &Note, facts: FileFacts) -> TantivyDocument {
    let stored = StoredNote {
        id: note.id.clone(),
        kind: note.kind,
        title: note.title.clone(),
        aliases: note.aliases.clone(),
        tags: note.tags.clone(),
        frontmatter: note.frontmatter.clone(),
        headings: note.headings.clone(),
        sections: note.sections.clone(),
        links: note.links.clone(),
        callouts: note.callouts.clone(),
        blocks: note.blocks.clone(),
        fields: note.fields.clone(),
        body_line: note.body_line,
        size: facts.size,
        mtime: facts.mtime,
        created: facts.created,
        hash: facts.hash,
        info: note.info.clone(),
    };
    stored_document(fields, &stored, &note.body, &note.plain)
}

/// Builds the tantivy document from stored parts, for a fresh parse and for a note whose file was
/// touched but not changed (rebuilt without parsing).
pub(crate) fn stored_document(
    fields: &Fields,
    stored: &StoredNote,
    body: &str,
    plain: &str,
) -> TantivyDocument {
    use crate::vault::note::{folder_prefixes, name_keys, strip_markdown_extension, tag_keys};
    let mut doc = TantivyDocument::new();
    doc.add_text(fields.id, &stored.id);
    doc.add_text(fields.title, &stored.title);
    for alias in &stored.aliases {
        doc.add_text(fields.aliases, alias);
    }
    // A PDF's headings are its page markers (`Page 3`): not words of the document.
    if stored.kind.is_markdown() {
        for heading in &stored.headings {
            doc.add_text(fields.headings, &heading.text);
        }
    }
    for tag in &stored.tags {
        doc.add_text(fields.tags, tag.replace('/', " "));
        for key in tag_keys(tag) {
            doc.add_text(fields.tag_key, key);
        }
    }
    doc.add_text(fields.path, strip_markdown_extension(&stored.id));
    for (key, value) in &stored.frontmatter {
        if !matches!(
            key.to_lowercase().as_str(),
            "title" | "aliases" | "alias" | "tags" | "tag" | "cssclasses" | "cssclass"
        ) {
            add_property_text(&mut doc, fields.props, value);
        }
    }
    // The plain text first (the stored value), then the title and aliases: the body field holds
    // all the words of a note, so one BM25 with one IDF ranks them, and the other fields only
    // add a little. Per-field scores with high boosts over-reward common words that happen to be
    // rare in short fields (measured in docs/relevance.md).
    doc.add_text(fields.body_text, plain);
    doc.add_text(fields.body_text, &stored.title);
    for alias in &stored.aliases {
        doc.add_text(fields.body_text, alias);
    }
    for folder in folder_prefixes(&stored.id) {
        doc.add_text(fields.folder, folder);
    }
    let mut link_keys: Vec<&str> = stored
        .links
        .iter()
        .map(|l| l.key.as_str())
        .filter(|k| !k.is_empty())
        .collect();
    link_keys.sort_unstable();
    link_keys.dedup();
    for key in link_keys {
        doc.add_text(fields.link_key, key);
    }
    for key in name_keys(&stored.id) {
        doc.add_text(fields.name_key, key);
    }
    doc.add_text(fields.kind, stored.kind.as_str());
    let mut properties = Vec::new();
    for (key, value) in stored.frontmatter.iter().chain(&stored.fields) {
        property_terms(key, value, &mut properties);
    }
    properties.sort_unstable();
    properties.dedup();
    for term in properties {
        doc.add_text(fields.property, term);
    }
    doc.add_i64(fields.mtime, stored.mtime);
    doc.add_u64(fields.size, stored.size);
    doc.add_u64(fields.hash, stored.hash);
    doc.add_u64(fields.simhash, simhash(plain));
    doc.add_u64(fields.text_hash, text_hash(stored, plain));
    doc.add_text(
        fields.meta,
        serde_json::to_string(stored).expect("stored note serializes"),
    );
    doc.add_text(fields.body, body);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: &str = "ingest stamp";

    fn emfile() -> tantivy::TantivyError {
        tantivy::TantivyError::IoError(std::sync::Arc::new(std::io::Error::from_raw_os_error(
            24, // EMFILE: too many open files
        )))
    }

    /// Builds an index with one commit in `index_dir`, for `vault`.
    fn committed_index(index_dir: &Path, vault: &Path) -> PathBuf {
        let lock = lock_for_writing(index_dir).unwrap();
        let (_, outcome) = VaultIndex::open_for_writing(index_dir, vault, STAMP, &lock).unwrap();
        assert_eq!(outcome, OpenOutcome::Created);
        tantivy_dir(index_dir)
    }

    /// A passing failure (too many open files) must never cost the user their index: it is
    /// retried, then reported, and the files stay.
    #[test]
    fn a_transient_error_keeps_the_index() {
        let index_dir = tempfile::tempdir().unwrap();
        let vault = tempfile::tempdir().unwrap();
        let dir = committed_index(index_dir.path(), vault.path());
        let before: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        let attempts = std::cell::Cell::new(0);
        let err = VaultIndex::open_or_rebuild(&dir, vault.path(), STAMP, || {
            attempts.set(attempts.get() + 1);
            Err(OpenError::Unavailable(emfile()))
        })
        .err()
        .expect("an unreadable index is an error, not a rebuild");
        assert_eq!(attempts.get(), OPEN_ATTEMPTS);
        assert!(matches!(err, Error::IndexUnavailable { .. }), "{err}");
        assert!(err.to_string().contains("left as it is"), "{err}");
        let after: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(before, after, "the index files were touched");

        // The same failure once, then success: opened, not rebuilt.
        let attempts = std::cell::Cell::new(0);
        let (_, outcome) = VaultIndex::open_or_rebuild(&dir, vault.path(), STAMP, || {
            attempts.set(attempts.get() + 1);
            if attempts.get() == 1 {
                Err(OpenError::Unavailable(emfile()))
            } else {
                VaultIndex::try_open(&dir, vault.path(), STAMP)
            }
        })
        .unwrap();
        assert_eq!(outcome, OpenOutcome::Opened);
    }

    #[test]
    fn only_proof_of_damage_leads_to_a_rebuild() {
        assert!(matches!(
            OpenError::classify("x", emfile()),
            OpenError::Unavailable(_)
        ));
        let missing = tantivy::directory::error::OpenReadError::FileDoesNotExist("a.idx".into());
        assert!(matches!(
            OpenError::classify("x", missing.into()),
            OpenError::Rebuild(_)
        ));

        // A meta.json that is not JSON is damage: rebuilt, with the reason.
        let index_dir = tempfile::tempdir().unwrap();
        let vault = tempfile::tempdir().unwrap();
        let dir = committed_index(index_dir.path(), vault.path());
        std::fs::write(dir.join("meta.json"), "{ not json").unwrap();
        let lock = lock_for_writing(index_dir.path()).unwrap();
        let (_, outcome) =
            VaultIndex::open_for_writing(index_dir.path(), vault.path(), STAMP, &lock).unwrap();
        assert!(matches!(outcome, OpenOutcome::Rebuilt(_)), "{outcome:?}");
    }

    /// An index stamped by another analyzer has other terms: it is rebuilt.
    #[test]
    fn another_analyzer_version_rebuilds() {
        let index_dir = tempfile::tempdir().unwrap();
        let vault = tempfile::tempdir().unwrap();
        let dir = committed_index(index_dir.path(), vault.path());
        let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
        let stamp = serde_json::to_string(analysis::ANALYZER_VERSION).unwrap();
        let stamp = &stamp[1..stamp.len() - 1];
        assert!(
            meta.contains(stamp),
            "the payload carries the analyzer: {meta}"
        );
        std::fs::write(dir.join("meta.json"), meta.replace(stamp, "0; frostem 0")).unwrap();
        let lock = lock_for_writing(index_dir.path()).unwrap();
        let (_, outcome) =
            VaultIndex::open_for_writing(index_dir.path(), vault.path(), STAMP, &lock).unwrap();
        match outcome {
            OpenOutcome::Rebuilt(reason) => assert!(reason.contains("analyzer"), "{reason}"),
            other => panic!("expected a rebuild, got {other:?}"),
        }
    }

    /// Notes read with other redaction patterns or privacy settings may hold what these keep
    /// out: a writer rebuilds the index, a reader refuses it.
    #[test]
    fn other_redaction_or_privacy_settings_rebuild() {
        let index_dir = tempfile::tempdir().unwrap();
        let vault = tempfile::tempdir().unwrap();
        committed_index(index_dir.path(), vault.path());
        let err = VaultIndex::open_for_reading(index_dir.path(), vault.path(), "other")
            .err()
            .expect("a reader refuses an index made with other settings");
        assert!(matches!(err, Error::IndexSettings { .. }), "{err}");
        assert!(err.to_string().contains("redact"), "{err}");
        assert!(
            VaultIndex::open_for_reading(index_dir.path(), vault.path(), STAMP)
                .unwrap()
                .is_some()
        );
        let lock = lock_for_writing(index_dir.path()).unwrap();
        let (_, outcome) =
            VaultIndex::open_for_writing(index_dir.path(), vault.path(), "other", &lock).unwrap();
        match outcome {
            OpenOutcome::Rebuilt(reason) => assert!(reason.contains("redaction"), "{reason}"),
            other => panic!("expected a rebuild, got {other:?}"),
        }
    }
}
