//! `deepvault index`: build or update the index once, with a progress bar and a summary.
//!
//! Ctrl-C stops it between files: what is indexed is committed (the next run resumes from it)
//! and it exits with status 130; a second Ctrl-C exits at once.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use super::CommonArgs;
use super::output::{Progress, group, human_bytes};
use crate::config::Config;
use crate::index::VaultIndex;
use crate::index::vectors::Semantic;
use crate::index::vectors::indexer::{EmbedReport, VectorIndexer};
use crate::index::writer::{ChangeReport, CommitTrigger, Indexer, IndexerSettings};
use crate::vault::cancel::Cancel;
use crate::vault::ingest::Ingest;
use crate::vault::note::DocumentKind;

#[derive(Debug, Args)]
pub(crate) struct IndexArgs {
    /// The vault folder (default: the current directory, or `vault` from the config)
    pub(crate) vault: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// Settings for a one-shot indexing run.
pub(crate) fn indexer_settings(config: &Config, ingest: &Ingest) -> IndexerSettings {
    IndexerSettings {
        ingest: ingest.clone(),
        max_file_bytes: config.max_file_bytes,
        commit_every: Some(Duration::from_secs(30)),
        ..IndexerSettings::default()
    }
    .with_pdf_workers()
}

pub(crate) fn run(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.common.overrides(args.vault))?;
    let vault = config.open_vault()?;
    let started = Instant::now();
    let ingest = config.ingest()?;
    let (mut indexer, outcome) =
        Indexer::open(vault, &config.index_dir, indexer_settings(&config, &ingest))?;
    if let crate::index::OpenOutcome::Rebuilt(reason) = &outcome {
        tracing::warn!("rebuilding the index: {reason}");
    }
    let semantic = Semantic::from_config(&config)?;
    let cancel = Cancel::new();
    indexer.set_cancel(cancel.clone());
    crate::server::shutdown::watch_in_background(cancel);
    let progress = Progress::new(std::io::stderr().is_terminal());
    let report = indexer.reconcile(Some(&|done, total| progress.update(done, total)))?;
    progress.finish();
    if report.cancelled && indexer.has_uncommitted() {
        eprintln!("finishing the current commit…");
    }
    indexer.commit(CommitTrigger::Command)?;
    let notes = indexer.note_count();
    let kinds = indexer.index().kind_counts();
    let root = indexer.vault().root().to_path_buf();
    let no_notes =
        (report.files_seen == 0 && !report.cancelled).then(|| indexer.vault().no_notes_message());
    if report.cancelled {
        // Background merges are not waited for: they resume with the next writer. Nothing is
        // embedded: the next run embeds what is new.
        drop(indexer);
        print_summary(
            &root,
            &config.index_dir,
            notes,
            &kinds,
            &report,
            started.elapsed(),
        );
        eprintln!(
            "stopped before the end: {} notes are committed; run `deepvault index` again to resume",
            group(notes)
        );
        return Ok(ExitCode::from(130));
    }
    let elapsed = started.elapsed();
    // The vectors, behind the lexical index and under the same writer lock.
    let vectors = match &semantic {
        Some(semantic) => Some(update_vectors(
            semantic,
            indexer.index(),
            config.semantic.as_ref().map_or(1, |s| s.threads),
            std::io::stderr().is_terminal(),
        )?),
        None => None,
    };
    indexer.close()?;
    print_summary(&root, &config.index_dir, notes, &kinds, &report, elapsed);
    print_vectors(semantic.as_deref(), vectors.as_ref());
    if let Some(message) = no_notes {
        eprintln!(
            "warning: {message}\n\nhint: pass the folder that holds your notes, e.g. `deepvault index ~/Notes`"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `update_vectors` did and where the vectors stand.
pub(crate) struct VectorSummary {
    pub(crate) report: EmbedReport,
    pub(crate) embedded: usize,
    pub(crate) total: usize,
    pub(crate) threads: usize,
}

/// Embeds every indexed note that has no vectors yet, with a progress bar; the caller holds the
/// index's writer lock.
pub(crate) fn update_vectors(
    semantic: &std::sync::Arc<Semantic>,
    index: &VaultIndex,
    threads: usize,
    show_progress: bool,
) -> anyhow::Result<VectorSummary> {
    let (mut vectors, _) = VectorIndexer::open(
        std::sync::Arc::clone(semantic),
        index.clone(),
        threads,
        false,
    )?;
    vectors.scan()?;
    let (embedded, total) = vectors.counts();
    let progress = Progress::doing(show_progress && vectors.has_work(), "embedding");
    progress.update(embedded, total);
    while vectors.has_work() {
        vectors.embed_next()?;
        let (embedded, total) = vectors.counts();
        progress.update(embedded, total);
    }
    progress.finish();
    vectors.settle()?;
    let (embedded, total) = vectors.counts();
    Ok(VectorSummary {
        report: vectors.report.clone(),
        embedded,
        total,
        threads: vectors.threads(),
    })
}

fn print_vectors(semantic: Option<&Semantic>, summary: Option<&VectorSummary>) {
    let mut err = std::io::stderr().lock();
    let (Some(semantic), Some(summary)) = (semantic, summary) else {
        let _ = writeln!(
            err,
            "  semantic search: off (to turn it on: `deepvault models pull`, then --embedding-model all-MiniLM-L6-v2)"
        );
        return;
    };
    let r = &summary.report;
    let _ = writeln!(
        err,
        "  semantic search: {}: {} of {} notes have vectors",
        semantic.model().name,
        group(summary.embedded),
        group(summary.total)
    );
    if r.chunks == 0 && r.notes == 0 {
        let _ = writeln!(
            err,
            "    nothing to embed: every note's text was embedded before"
        );
    } else {
        let seconds = r.seconds.max(1e-9);
        let _ = writeln!(
            err,
            "    embedded {} notes: {} chunks, {} tokens in {:.1} s ({} tokens/s on {} thread{}); {} chunks reused",
            group(r.notes),
            group(r.chunks),
            group(r.tokens),
            r.seconds,
            group((r.tokens as f64 / seconds) as usize),
            summary.threads,
            if summary.threads == 1 { "" } else { "s" },
            group(r.reused)
        );
    }
}

/// `38,429 notes, 2 PDFs, 1 text file`: what the index holds, by kind.
fn kinds_summary(kinds: &[(DocumentKind, usize)]) -> String {
    if kinds.is_empty() {
        return "none".into();
    }
    let parts: Vec<String> = kinds
        .iter()
        .map(|&(kind, n)| {
            let (one, many) = match kind {
                DocumentKind::Markdown => ("note", "notes"),
                DocumentKind::Excalidraw => ("drawing", "drawings"),
                DocumentKind::Canvas => ("canvas", "canvases"),
                DocumentKind::Pdf => ("PDF", "PDFs"),
                DocumentKind::Text => ("text file", "text files"),
            };
            format!("{} {}", group(n), if n == 1 { one } else { many })
        })
        .collect();
    parts.join(", ")
}

fn print_summary(
    root: &std::path::Path,
    index_dir: &std::path::Path,
    notes: usize,
    kinds: &[(DocumentKind, usize)],
    report: &ChangeReport,
    elapsed: Duration,
) {
    let seconds = elapsed.as_secs_f64();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "indexed {} documents ({}) from {} in {:.2} s",
        group(notes),
        kinds_summary(kinds),
        root.display(),
        seconds
    );
    let _ = writeln!(
        err,
        "  {} new, {} changed, {} touched, {} removed, {} unchanged",
        group(report.added),
        group(report.updated),
        group(report.touched),
        group(report.removed),
        group(report.unchanged)
    );
    let rate = if seconds > 0.0 {
        report.bytes_read as f64 / seconds
    } else {
        0.0
    };
    let _ = writeln!(
        err,
        "  read {} at {}/s",
        human_bytes(report.bytes_read as f64),
        human_bytes(rate)
    );
    if report.pdf_pages > 0 {
        let _ = writeln!(
            err,
            "  extracted {} PDF pages ({:.0} pages/s)",
            group(report.pdf_pages as usize),
            report.pdf_pages as f64 / seconds.max(1e-9)
        );
    }
    let mut reasons: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    if report.private > 0 {
        reasons.insert("private".into(), report.private);
    }
    for (_, kind, _) in &report.skipped {
        *reasons.entry(kind.label().to_string()).or_default() += 1;
    }
    let skipped: usize = reasons.values().sum();
    if skipped == 0 {
        let _ = writeln!(err, "  skipped 0");
    } else {
        let list: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let _ = writeln!(err, "  skipped {}: {}", group(skipped), list.join(", "));
        for (path, kind, message) in report.skipped.iter().take(20) {
            let _ = writeln!(err, "    {path}: {} ({message})", kind.label());
        }
        if report.skipped.len() > 20 {
            let _ = writeln!(
                err,
                "    … and {} more (see the log)",
                report.skipped.len() - 20
            );
        }
        if report.pdf_skips_remembered > 0 {
            let _ = writeln!(
                err,
                "    ({} of these PDFs are unchanged since the extractor gave up on them: not tried again)",
                group(report.pdf_skips_remembered)
            );
        }
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(
            err,
            "  {} notes indexed with warnings (see the log above)",
            report.warnings.len()
        );
    }
    let _ = writeln!(err, "  index: {}", index_dir.display());
}
