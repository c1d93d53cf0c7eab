//! Out-of-process extraction: a PDF that hangs, exhausts memory or crashes the extractor (an
//! abort, a stack overflow) costs one skipped file, never the indexer or the server.
//!
//! A worker is the deepvault binary itself, run as `deepvault __extract-pdf` (a hidden
//! subcommand whose body is [`worker_main`]). The parent hands it the file's **bytes**; the
//! worker never opens a path, so the vault's containment rules (symlinks, races) are applied
//! once, by the caller that read the file.
//!
//! # Protocol
//!
//! - arguments: `__extract-pdf --mem-limit-mb N --limits JSON` (the [`Limits`]);
//! - environment, set at spawn: `PDF_OXIDE_MAX_DECOMPRESS_MB` (pdf_oxide reads its only
//!   decompression bound there, and `set_var` would need `unsafe`), `RUST_BACKTRACE=0` (a
//!   backtrace takes seconds and pushes the one useful line, "memory allocation of N bytes
//!   failed", out of the captured stderr);
//! - parent → worker, per file: the length as 8 bytes little-endian, then the bytes;
//! - worker → parent, per file: one JSON line, `{"ok": PdfDocument}` or `{"err": PdfError}`.
//!
//! A worker serves files until its stdin closes: one file by default (a fresh heap and a fresh
//! memory limit per file, nothing left over from a file that panicked; a spawn costs ~3 ms
//! against ~130 ms of extraction on average), or several (`max_uses`).
//!
//! # Limits
//!
//! - memory: the worker lowers its own RLIMIT_AS (the `rlimit` crate, no `unsafe`) before it
//!   reads anything; an allocation beyond it aborts with "memory allocation of … failed";
//! - time: a reader thread forwards the worker's reply; after the file's time limit the
//!   parent kills the worker;
//! - admission: a file reserves an estimate of its peak memory (16 MB + 40 × its size in MB,
//!   the envelope measured on 1712 real PDFs) and waits until the files in flight fit
//!   `mem_budget_mb`; a file larger than the whole budget runs alone.
//!
//! A worker that closes stdout without a reply died on the file: its stderr and exit status
//! say how ([`PdfSkip::OutOfMemory`], [`PdfSkip::Crashed`] with "stack overflow", a signal or an
//! exit code).
//!
//! Every call blocks: call [`PdfExtractor::extract`] from the parse pool or `spawn_blocking`,
//! never on the async runtime.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Limits, PdfDocument, PdfError, extract_owned};

/// The hidden subcommand that runs [`worker_main`].
pub const WORKER_SUBCOMMAND: &str = "__extract-pdf";

/// Test-only argument of the worker: read the file, then never answer (no CPU used), so that
/// a test can see the time limit work without a slow PDF. It is an argument, which only the
/// parent's [`ExtractorConfig::args`] can pass: no file content can trigger it.
const TEST_STALL_ARG: &str = "--test-stall";

/// The worker's reply, one JSON line per file.
#[derive(Serialize, Deserialize)]
enum Reply {
    #[serde(rename = "ok")]
    Ok(Box<PdfDocument>),
    #[serde(rename = "err")]
    Err(PdfError),
}

/// Why a PDF gave no text for the index. `Display` is the reason a user reads (the caller adds
/// the document's id): "encrypted (a password is needed)", "the PDF extractor took longer
/// than 60s".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PdfSkip {
    /// The extractor read the file and says why it has no text: encrypted, no text layer,
    /// malformed, too large.
    #[error(transparent)]
    Rejected(#[from] PdfError),
    /// Killed after the file's time limit.
    #[error("the PDF extractor took longer than {}s", .0.as_secs())]
    Timeout(Duration),
    /// The worker hit its memory limit.
    #[error("the PDF extractor ran out of memory (limit {limit_mb} MB)")]
    OutOfMemory { limit_mb: u64 },
    /// The worker died without a reply: a signal (6 with "stack overflow" for a stack overflow)
    /// or an exit code.
    #[error("{}", crash_reason(*.signal, *.code, .detail))]
    Crashed {
        signal: Option<i32>,
        code: Option<i32>,
        detail: String,
    },
    /// No worker could be started or talked to (the binary is gone, no processes left).
    #[error("the PDF extractor could not run: {0}")]
    Unavailable(String),
}

fn crash_reason(signal: Option<i32>, code: Option<i32>, detail: &str) -> String {
    match (signal, code) {
        (Some(signal), _) if detail.is_empty() => {
            format!("the PDF extractor crashed (signal {signal})")
        }
        (Some(signal), _) => format!("the PDF extractor crashed (signal {signal}: {detail})"),
        (None, Some(code)) => format!("the PDF extractor exited unexpectedly (code {code})"),
        (None, None) => format!("the PDF extractor failed: {detail}"),
    }
}

/// What a skip counts as in a summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipKind {
    Encrypted,
    NoTextLayer,
    Malformed,
    TooLarge,
    Timeout,
    OutOfMemory,
    Crashed,
    Unavailable,
}

impl SkipKind {
    /// A short stable key: `encrypted`, `no_text_layer`, `malformed`, `too_large`, `timeout`,
    /// `out_of_memory`, `crashed`, `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipKind::Encrypted => "encrypted",
            SkipKind::NoTextLayer => "no_text_layer",
            SkipKind::Malformed => "malformed",
            SkipKind::TooLarge => "too_large",
            SkipKind::Timeout => "timeout",
            SkipKind::OutOfMemory => "out_of_memory",
            SkipKind::Crashed => "crashed",
            SkipKind::Unavailable => "unavailable",
        }
    }
}

impl PdfSkip {
    pub fn kind(&self) -> SkipKind {
        match self {
            PdfSkip::Rejected(PdfError::Encrypted) => SkipKind::Encrypted,
            PdfSkip::Rejected(PdfError::NoTextLayer { .. }) => SkipKind::NoTextLayer,
            PdfSkip::Rejected(PdfError::Malformed(_)) => SkipKind::Malformed,
            PdfSkip::Rejected(PdfError::TooLarge { .. }) => SkipKind::TooLarge,
            PdfSkip::Timeout(_) => SkipKind::Timeout,
            PdfSkip::OutOfMemory { .. } => SkipKind::OutOfMemory,
            PdfSkip::Crashed { .. } => SkipKind::Crashed,
            PdfSkip::Unavailable(_) => SkipKind::Unavailable,
        }
    }

    /// Encrypted with a user password: counted apart in the index summary.
    pub fn is_encrypted(&self) -> bool {
        self.kind() == SkipKind::Encrypted
    }

    /// No text layer (a scan, or drawings only): counted apart in the index summary.
    pub fn is_no_text_layer(&self) -> bool {
        self.kind() == SkipKind::NoTextLayer
    }
}

/// How the workers run. [`ExtractorConfig::for_current_exe`] gives the defaults.
#[derive(Clone, Debug)]
pub struct ExtractorConfig {
    /// The program that starts a worker: deepvault itself (`std::env::current_exe()`; in
    /// integration tests `env!("CARGO_BIN_EXE_deepvault")`).
    pub program: PathBuf,
    /// Its arguments before the worker's own: `["__extract-pdf"]`.
    pub args: Vec<OsString>,
    /// At most this many workers at once, so files in flight (default 2: the parse pool).
    pub max_workers: usize,
    /// Time limit of a file: `timeout_base + timeout_per_mb × size in MB`, at most
    /// `timeout_max` (see [`ExtractorConfig::timeout_for`]).
    pub timeout_base: Duration,
    pub timeout_per_mb: Duration,
    pub timeout_max: Duration,
    /// The address-space limit (RLIMIT_AS) each worker sets on itself, in MB.
    pub mem_limit_mb: u64,
    /// Admission: the estimated peak memory of the files in flight stays under this, in MB.
    pub mem_budget_mb: u64,
    /// Files one worker serves before it is replaced (1: a process per file).
    pub max_uses: usize,
    /// The bounds the extraction enforces; set `max_file_bytes` to the vault's.
    pub limits: Limits,
}

impl ExtractorConfig {
    /// The defaults, with this executable as the worker.
    ///
    /// - time: 20 s + 6 s per MB, at most 10 min. A fixed limit is wrong both ways: measured on
    ///   TeX Live, pgfmanual.pdf (10 MB, 1321 pages) needs ~45 s of CPU, more than a minute
    ///   of wall time on a loaded 2-core machine, while the median file needs 0.1 s; a small
    ///   file that runs 20 s is pathological (miniplot.pdf: 160 KB, 86 s of CPU).
    /// - memory: 1024 MB of address space per worker; the largest peak measured was 262 MB
    ///   (a 7.3 MB, 1611-page manual), and address space runs above resident memory.
    /// - budget: 300 MB of estimated peak in flight. Measured, a budget of 400 MB kept the
    ///   workers under ~320 MB while indexing 1 GB of PDFs (3688 files); 300 MB leaves room
    ///   for the indexer (its 96 MB tantivy writer) under the 500 MB target.
    pub fn for_current_exe(limits: Limits) -> std::io::Result<Self> {
        Ok(ExtractorConfig::new(
            std::env::current_exe()?,
            vec![WORKER_SUBCOMMAND.into()],
            limits,
        ))
    }

    /// The defaults (see [`ExtractorConfig::for_current_exe`]) with a given worker program.
    pub fn new(program: PathBuf, args: Vec<OsString>, limits: Limits) -> Self {
        ExtractorConfig {
            program,
            args,
            max_workers: 2,
            timeout_base: Duration::from_secs(20),
            timeout_per_mb: Duration::from_secs(6),
            timeout_max: Duration::from_secs(600),
            mem_limit_mb: 1024,
            mem_budget_mb: 300,
            max_uses: 1,
            limits,
        }
    }

    /// What decides a verdict besides the file: this program's version (its extractor) and
    /// every limit. A verdict reached under another stamp is not kept (see
    /// `index::pdf_skips`).
    pub fn stamp(&self) -> String {
        let l = &self.limits;
        format!(
            "deepvault {}; limits file {} stream {} pages {} chars {}; time {:?}+{:?}/MB<={:?}; mem {} MB",
            env!("CARGO_PKG_VERSION"),
            l.max_file_bytes,
            l.max_stream_bytes,
            l.max_pages,
            l.max_total_chars,
            self.timeout_base,
            self.timeout_per_mb,
            self.timeout_max,
            self.mem_limit_mb,
        )
    }

    /// The time limit of a file of `bytes` bytes.
    pub fn timeout_for(&self, bytes: u64) -> Duration {
        let mb = u32::try_from(bytes.div_ceil(1 << 20)).unwrap_or(u32::MAX);
        self.timeout_base
            .saturating_add(self.timeout_per_mb.saturating_mul(mb))
            .min(self.timeout_max)
    }
}

/// The estimated peak memory of extracting a file of `bytes` bytes, in MB: the envelope
/// measured on real PDFs (peak RSS ≈ 16 MB + up to 40 × the file size).
fn estimate_mb(bytes: u64) -> u64 {
    16 + 40 * bytes.div_ceil(1 << 20)
}

/// A running worker and the threads that read its output.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    /// Reply lines; disconnected once stdout closes.
    replies: Receiver<String>,
    /// Disconnected once stderr closes, i.e. when the worker has exited.
    stderr_closed: Receiver<()>,
    /// The first and the last 2 KiB of stderr (where "memory allocation of …" or "has
    /// overflowed its stack" is).
    stderr: Arc<Mutex<Vec<u8>>>,
    uses: usize,
}

/// Files in flight, for admission.
struct Slots {
    free_workers: usize,
    mb_in_flight: u64,
    files_in_flight: usize,
}

/// The pool of PDF workers. Blocking; shared by the parse threads (`&self`).
pub struct PdfExtractor {
    config: ExtractorConfig,
    idle: Mutex<Vec<Worker>>,
    slots: Mutex<Slots>,
    freed: Condvar,
}

impl std::fmt::Debug for PdfExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfExtractor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PdfExtractor {
    pub fn new(config: ExtractorConfig) -> Self {
        let workers = config.max_workers.max(1);
        PdfExtractor {
            config,
            idle: Mutex::new(Vec::new()),
            slots: Mutex::new(Slots {
                free_workers: workers,
                mb_in_flight: 0,
                files_in_flight: 0,
            }),
            freed: Condvar::new(),
        }
    }

    pub fn config(&self) -> &ExtractorConfig {
        &self.config
    }

    /// Extracts one PDF (`id` is for the log) in a worker. Blocks while the workers are busy or
    /// the memory budget is spent, and for at most the file's time limit after that.
    pub fn extract(&self, id: &str, bytes: &[u8]) -> Result<PdfDocument, PdfSkip> {
        let limit = self.config.limits.max_file_bytes;
        if bytes.len() as u64 > limit {
            return Err(PdfError::TooLarge {
                bytes: bytes.len() as u64,
                limit,
            }
            .into());
        }
        let estimate = estimate_mb(bytes.len() as u64);
        let _slot = self.admit(estimate);
        let result = self.extract_in_slot(id, bytes);
        if let Err(skip) = &result {
            tracing::debug!(id, reason = %skip, "pdf skipped");
        }
        result
    }

    /// Waits for a worker slot and room in the memory budget (a file larger than the whole
    /// budget waits until it is alone).
    fn admit(&self, estimate: u64) -> SlotGuard<'_> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        while slots.free_workers == 0
            || (slots.files_in_flight > 0
                && slots.mb_in_flight + estimate > self.config.mem_budget_mb)
        {
            slots = self.freed.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
        slots.free_workers -= 1;
        slots.mb_in_flight += estimate;
        slots.files_in_flight += 1;
        SlotGuard {
            extractor: self,
            estimate,
        }
    }

    fn extract_in_slot(&self, id: &str, bytes: &[u8]) -> Result<PdfDocument, PdfSkip> {
        let reused = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut worker = match reused {
            Some(worker) => worker,
            None => self.spawn()?,
        };
        let timeout = self.config.timeout_for(bytes.len() as u64);
        let deadline = Instant::now() + timeout;
        // Written from a second thread: a worker that stops reading (dead, stalled) cannot
        // hold this one past the deadline; the kill below ends the write with EPIPE.
        let reply = std::thread::scope(|scope| {
            let stdin = &mut worker.stdin;
            let writer = scope.spawn(move || {
                stdin.write_all(&(bytes.len() as u64).to_le_bytes())?;
                stdin.write_all(bytes)?;
                stdin.flush()
            });
            let reply = worker.replies.recv_timeout(timeout);
            let kill = match &reply {
                Ok(_) => false,
                Err(RecvTimeoutError::Timeout) => true,
                // stdout closed without a reply: the worker is dying. Its stderr closes once it
                // has exited; a worker still alive at the deadline is killed.
                Err(RecvTimeoutError::Disconnected) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    matches!(
                        worker.stderr_closed.recv_timeout(remaining),
                        Err(RecvTimeoutError::Timeout)
                    )
                }
            };
            if kill {
                let _ = worker.child.kill();
            }
            let _ = writer.join();
            reply
        });
        worker.uses += 1;
        match reply {
            Ok(line) => {
                let result = decode_reply(&line);
                if result
                    .as_ref()
                    .is_err_and(|skip| matches!(skip, PdfSkip::Crashed { .. }))
                {
                    let _ = worker.child.kill();
                    let _ = worker.child.wait();
                } else {
                    self.retire_or_keep(worker);
                }
                result
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = worker.child.wait();
                Err(PdfSkip::Timeout(timeout))
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = worker.child.wait().ok();
                let stderr = worker.stderr.lock().unwrap_or_else(|e| e.into_inner());
                let stderr = String::from_utf8_lossy(&stderr);
                tracing::debug!(id, stderr = %stderr, "pdf worker died");
                Err(classify_death(status, &stderr, self.config.mem_limit_mb))
            }
        }
    }

    /// After a reply: back to the idle list, or (one file per process, or used up) let it go.
    fn retire_or_keep(&self, mut worker: Worker) {
        if worker.uses < self.config.max_uses {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(worker);
            return;
        }
        drop(worker.stdin); // end of input: the worker exits by itself
        let _ = worker.child.wait();
    }

    fn spawn(&self) -> Result<Worker, PdfSkip> {
        let limits = serde_json::to_string(&self.config.limits)
            .map_err(|e| PdfSkip::Unavailable(e.to_string()))?;
        let mut child = Command::new(&self.config.program)
            .args(&self.config.args)
            .arg("--mem-limit-mb")
            .arg(self.config.mem_limit_mb.to_string())
            .arg("--limits")
            .arg(limits)
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .env(
                "PDF_OXIDE_MAX_DECOMPRESS_MB",
                (self.config.limits.max_stream_bytes >> 20)
                    .max(1)
                    .to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PdfSkip::Unavailable(format!("{}: {e}", self.config.program.display())))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(PdfSkip::Unavailable(
                "the worker's pipes were not set up".into(),
            ));
        };
        let (reply_tx, replies) = channel();
        std::thread::Builder::new()
            .name("pdf-worker-out".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if reply_tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| PdfSkip::Unavailable(e.to_string()))?;
        let captured = Arc::new(Mutex::new(Vec::new()));
        let (closed_tx, stderr_closed) = channel::<()>();
        let sink = captured.clone();
        std::thread::Builder::new()
            .name("pdf-worker-err".into())
            .spawn(move || {
                let _closed = closed_tx; // dropped when stderr closes
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stderr.read(&mut buf) {
                    let mut kept = sink.lock().unwrap_or_else(|e| e.into_inner());
                    kept.extend_from_slice(&buf[..n]);
                    let len = kept.len();
                    if len > 4096 {
                        kept.drain(2048..len - 2048);
                    }
                }
            })
            .map_err(|e| PdfSkip::Unavailable(e.to_string()))?;
        Ok(Worker {
            child,
            stdin,
            replies,
            stderr_closed,
            stderr: captured,
            uses: 0,
        })
    }
}

impl Drop for PdfExtractor {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for mut worker in idle {
            drop(worker.stdin);
            let _ = worker.child.wait();
        }
    }
}

/// Gives the slot and its memory estimate back, even if the extraction panicked.
struct SlotGuard<'a> {
    extractor: &'a PdfExtractor,
    estimate: u64,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut slots = self
            .extractor
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        slots.free_workers += 1;
        slots.mb_in_flight -= self.estimate;
        slots.files_in_flight -= 1;
        drop(slots);
        self.extractor.freed.notify_all();
    }
}

/// The worker died without a reply: what its stderr and exit status say.
pub(super) fn classify_death(
    status: Option<ExitStatus>,
    stderr: &str,
    mem_limit_mb: u64,
) -> PdfSkip {
    if stderr.contains("memory allocation of") {
        return PdfSkip::OutOfMemory {
            limit_mb: mem_limit_mb,
        };
    }
    let detail = if stderr.contains("has overflowed its stack") {
        "stack overflow".to_string()
    } else {
        String::new()
    };
    PdfSkip::Crashed {
        signal: status.and_then(|s| s.signal()),
        code: status.and_then(|s| s.code()),
        detail,
    }
}

/// Decodes one reply line of a worker, and checks it is consistent (a reply that is not is a
/// crash of the worker's, not a document).
pub fn decode_reply(line: &str) -> Result<PdfDocument, PdfSkip> {
    let garbled = |why: String| PdfSkip::Crashed {
        signal: None,
        code: None,
        detail: format!("unreadable reply: {why}"),
    };
    match serde_json::from_str::<Reply>(line) {
        Ok(Reply::Ok(doc)) => {
            let doc = *doc;
            let pages_fit = doc.pages.len() <= doc.page_count
                && (doc.truncated || doc.pages.len() == doc.page_count);
            let errors_fit = doc
                .page_errors
                .iter()
                .all(|e| (1..=doc.pages.len()).contains(&e.page));
            if pages_fit && errors_fit {
                Ok(doc)
            } else {
                Err(garbled("pages out of range".into()))
            }
        }
        Ok(Reply::Err(error)) => Err(PdfSkip::Rejected(error)),
        Err(e) => Err(garbled(e.to_string())),
    }
}

/// Encodes the worker's reply as one line (no trailing newline).
pub fn encode_reply(result: &Result<PdfDocument, PdfError>) -> String {
    let reply = match result {
        Ok(doc) => Reply::Ok(Box::new(doc.clone())),
        Err(error) => Reply::Err(error.clone()),
    };
    serde_json::to_string(&reply).unwrap_or_else(|e| {
        serde_json::to_string(&Reply::Err(PdfError::Malformed(format!(
            "the text could not be encoded: {e}"
        ))))
        .unwrap_or_default()
    })
}

/// The body of `deepvault __extract-pdf`: sets the memory limit, then extracts each file it is
/// sent on stdin and answers on stdout (see the module doc) until stdin closes.
///
/// `args` are those after the subcommand: `--mem-limit-mb N --limits JSON`.
pub fn worker_main(args: &[String]) -> ExitCode {
    let value = |key: &str| {
        args.iter()
            .position(|arg| arg == key)
            .and_then(|at| args.get(at + 1))
    };
    let limits: Limits = match value("--limits").map(|json| serde_json::from_str(json)) {
        Some(Ok(limits)) => limits,
        Some(Err(e)) => {
            eprintln!("__extract-pdf: bad --limits: {e}");
            return ExitCode::from(2);
        }
        None => Limits::default(),
    };
    if let Some(mb) = value("--mem-limit-mb") {
        let Ok(mb) = mb.parse::<u64>() else {
            eprintln!("__extract-pdf: bad --mem-limit-mb: {mb}");
            return ExitCode::from(2);
        };
        if let Err(e) = rlimit::setrlimit(rlimit::Resource::AS, mb << 20, mb << 20) {
            eprintln!("__extract-pdf: cannot set the memory limit: {e}");
            return ExitCode::from(70);
        }
    }
    let stall = args.iter().any(|arg| arg == TEST_STALL_ARG);
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    loop {
        let mut header = [0u8; 8];
        match stdin.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("__extract-pdf: reading the request: {e}");
                return ExitCode::from(74);
            }
        }
        let len = u64::from_le_bytes(header);
        if len > limits.max_file_bytes {
            // Never sent by the parent, which checks first; refused without reading it.
            let reply = encode_reply(&Err(PdfError::TooLarge {
                bytes: len,
                limit: limits.max_file_bytes,
            }));
            let _ = writeln!(stdout, "{reply}").and_then(|()| stdout.flush());
            return ExitCode::from(2);
        }
        // At most max_file_bytes (checked above), and exactly that: no doubling while it grows.
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        if let Err(e) = (&mut stdin).take(len).read_to_end(&mut bytes) {
            eprintln!("__extract-pdf: reading the file: {e}");
            return ExitCode::from(74);
        }
        if (bytes.len() as u64) < len {
            return ExitCode::SUCCESS; // the parent gave up on this file
        }
        if stall {
            loop {
                std::thread::park();
            }
        }
        let result = extract_catching_panics(bytes, &limits);
        let reply = encode_reply(&result);
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return ExitCode::SUCCESS;
        }
    }
}

/// A panic in the extractor is a verdict on the file (malformed), not a crash.
fn extract_catching_panics(bytes: Vec<u8>, limits: &Limits) -> Result<PdfDocument, PdfError> {
    std::panic::catch_unwind(|| extract_owned(bytes, limits)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(PdfError::Malformed(format!(
            "the extractor panicked: {message}"
        )))
    })
}
