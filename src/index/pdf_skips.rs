//! Remembered PDF verdicts: a PDF the extractor could not read (encrypted, no text layer,
//! malformed, a crash, a time or memory limit) is not handed to it again while its bytes and the
//! extractor's settings stay the same.
//!
//! Notes need no such memory: a skipped note costs a read and a parse. A skipped PDF costs a
//! worker process and up to its time limit, at every start (26 s of a restart over the TeX Live
//! PDFs, which have 126 without text). The verdicts live in `pdf-skips.json` in the index
//! folder, keyed by document id with the file's size, mtime and content hash: an unchanged file
//! is skipped without being read, a touched one after a read and a hash. The file is stamped
//! with the extractor's settings ([`ExtractorConfig::stamp`]): another deepvault version or other
//! limits try every PDF again. Losing the file loses nothing but time.

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::FileState;
use super::writer::SkipKind;
use crate::durable::write_atomic;
use crate::vault::pdf::ExtractorConfig;

/// The file's name in the index folder.
const FILE_NAME: &str = "pdf-skips.json";

/// One PDF's verdict, with the state of the file it was reached on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Verdict {
    #[serde(flatten)]
    pub(crate) state: FileState,
    pub(crate) kind: SkipKind,
    pub(crate) message: String,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    stamp: String,
    verdicts: FxHashMap<String, Verdict>,
}

/// The verdicts of one index, loaded when the writer opens it.
#[derive(Debug, Default)]
pub(crate) struct PdfSkips {
    path: PathBuf,
    stamp: String,
    verdicts: FxHashMap<String, Verdict>,
    dirty: bool,
}

impl PdfSkips {
    /// The verdicts kept in `index_dir` under this extractor's stamp; none when there are none,
    /// when the file is unreadable or when the extractor's settings changed.
    pub(crate) fn load(index_dir: &Path, extractor: Option<&ExtractorConfig>) -> PdfSkips {
        let path = index_dir.join(FILE_NAME);
        let stamp = extractor.map(ExtractorConfig::stamp).unwrap_or_default();
        let verdicts = std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<OnDisk>(&bytes).ok())
            .filter(|kept| !stamp.is_empty() && kept.stamp == stamp)
            .map(|kept| kept.verdicts)
            .unwrap_or_default();
        PdfSkips {
            path,
            stamp,
            verdicts,
            dirty: false,
        }
    }

    /// The verdict on `id` if the file is as it was (same size and mtime): no read needed.
    pub(crate) fn unchanged(&self, id: &str, size: u64, mtime: i64) -> Option<&Verdict> {
        self.verdicts
            .get(id)
            .filter(|v| v.state.size == size && v.state.mtime == mtime)
    }

    /// The verdict on `id` if its bytes are the ones it was reached on (a touched file).
    pub(crate) fn same_bytes(&self, id: &str, state: &FileState) -> Option<&Verdict> {
        self.verdicts
            .get(id)
            .filter(|v| v.state.size == state.size && v.state.hash == state.hash)
    }

    pub(crate) fn remember(&mut self, id: &str, verdict: Verdict) {
        if self.stamp.is_empty() {
            return;
        }
        if self.verdicts.get(id) != Some(&verdict) {
            self.verdicts.insert(id.to_string(), verdict);
            self.dirty = true;
        }
    }

    /// `id` was indexed, removed or made private: its verdict no longer holds.
    pub(crate) fn forget(&mut self, id: &str) {
        if self.verdicts.remove(id).is_some() {
            self.dirty = true;
        }
    }

    /// Keeps only the verdicts on files a full walk still saw.
    pub(crate) fn retain_seen(&mut self, seen: impl Fn(&str) -> bool) {
        let before = self.verdicts.len();
        self.verdicts.retain(|id, _| seen(id));
        self.dirty |= self.verdicts.len() != before;
    }

    /// Writes the verdicts if they changed (with the commit that made them hold). A failure
    /// costs only time at the next start, so it is logged, not raised.
    pub(crate) fn save(&mut self) {
        if !self.dirty || self.stamp.is_empty() {
            return;
        }
        let on_disk = OnDisk {
            stamp: self.stamp.clone(),
            verdicts: std::mem::take(&mut self.verdicts),
        };
        let written = serde_json::to_vec(&on_disk)
            .map_err(|e| e.to_string())
            .and_then(|bytes| write_atomic(&self.path, &bytes).map_err(|e| e.to_string()));
        self.verdicts = on_disk.verdicts;
        match written {
            Ok(()) => self.dirty = false,
            Err(err) => tracing::warn!(
                "cannot remember the skipped PDFs (they will be tried again at the next start): {err}"
            ),
        }
    }
}
