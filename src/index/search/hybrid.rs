//! The semantic side of a search and how it is fused with the lexical side.
//!
//! The query's words (its free text, phrases and `title:` words; not its filters) are embedded
//! and compared with every chunk vector of the notes the query's filters allow (`tag:`, `path:`,
//! `-word`, and quoted phrases and `title:` while they match something, exactly as on the
//! lexical side). A note scores its best chunk. The two ranked lists are then fused:
//!
//! - **RRF** (reciprocal rank fusion, the default): `w_lex / (k + rank_lex) + w_sem / (k +
//!   rank_sem)`, a note missing from a list adding nothing for it. Ranks only, so BM25's
//!   unbounded scores and cosines need no calibration.
//! - **linear**: `w_lex · bm25 / bm25_max + w_sem · (cos − cos_min) / (cos_max − cos_min)` over
//!   each side's candidates.
//!
//! Which one, and the weights, were measured on the SciFact train split (docs/relevance.md);
//! `DEEPVAULT_RANKING` overrides them. Everything the lexical side does before fusion stays:
//! field boosts, proximity and coordination decide its ranks; near-duplicates are collapsed
//! after fusion.

use std::collections::HashSet;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use tantivy::DocAddress;

use super::query::ParsedQuery;
use super::{Planner, Ranking, SearchOptions};
use crate::config::SearchMode;
use crate::error::{Error, Result};
use crate::index::vectors::{Semantic, VectorHit};

/// How the two sides are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Fusion {
    Rrf,
    Linear,
}

/// The query's vector, when the semantic side takes part: a semantic or hybrid search, a model
/// that is loaded, words to embed, and (for hybrid) a language the model reads.
pub(super) fn query_vector(
    options: &SearchOptions,
    parsed: &ParsedQuery,
) -> Option<(Arc<Semantic>, Vec<f32>)> {
    if options.mode == SearchMode::Lexical {
        return None;
    }
    let semantic = options.semantic.as_ref()?;
    let mut text = parsed.text.trim().to_string();
    for part in parsed.phrases.iter().chain(&parsed.titles) {
        if !text.contains(part.as_str()) {
            text.push(' ');
            text.push_str(part);
        }
    }
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if options.mode == SearchMode::Hybrid && !semantic.reads(text) {
        return None;
    }
    let vector = semantic.embed_query(text)?;
    Some((Arc::clone(semantic), vector))
}

/// The notes nearest to the query vector among those the filters allow, best first.
pub(super) fn vector_side(
    planner: &Planner<'_>,
    semantic: &Semantic,
    vector: &[f32],
    parsed: &ParsedQuery,
    strict: bool,
    depth: usize,
) -> Result<Vec<VectorHit>> {
    let allowed: Option<HashSet<DocAddress>> = match planner.filter_query(parsed, strict)? {
        Some(filter) => Some(
            planner
                .searcher
                .search(&*filter, &tantivy::collector::DocSetCollector)
                .map_err(|e| Error::tantivy(planner.index.dir(), e))?,
        ),
        None => None,
    };
    if allowed.as_ref().is_some_and(HashSet::is_empty) {
        return Ok(Vec::new());
    }
    Ok(semantic.search(planner.searcher, vector, allowed.as_ref(), depth))
}

/// Fuses the lexical candidates (score, address; best first) with the vector hits (best first).
pub(super) fn fuse(
    lexical: &[(f32, DocAddress)],
    vector: &[VectorHit],
    ranking: &Ranking,
) -> Vec<(f32, DocAddress)> {
    let mut fused: FxHashMap<DocAddress, f32> = FxHashMap::default();
    match ranking.fusion {
        Fusion::Rrf => {
            let k = ranking.rrf_k.max(0.0);
            for (rank, (_, address)) in lexical.iter().enumerate() {
                *fused.entry(*address).or_default() +=
                    ranking.lexical_weight / (k + rank as f32 + 1.0);
            }
            for (rank, hit) in vector.iter().enumerate() {
                *fused.entry(hit.address).or_default() +=
                    ranking.semantic_weight / (k + rank as f32 + 1.0);
            }
        }
        Fusion::Linear => {
            let top = lexical.first().map_or(0.0, |(s, _)| *s);
            for (score, address) in lexical {
                let normalized = if top > 0.0 { score / top } else { 0.0 };
                *fused.entry(*address).or_default() += ranking.lexical_weight * normalized;
            }
            let high = vector.first().map_or(0.0, |h| h.score);
            let low = vector.last().map_or(0.0, |h| h.score);
            for hit in vector {
                let normalized = if high > low {
                    (hit.score - low) / (high - low)
                } else {
                    1.0
                };
                *fused.entry(hit.address).or_default() += ranking.semantic_weight * normalized;
            }
        }
    }
    let mut out: Vec<(f32, DocAddress)> = fused.into_iter().map(|(a, s)| (s, a)).collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::vectors::store::ChunkRef;

    fn address(doc: u32) -> DocAddress {
        DocAddress::new(0, doc)
    }

    fn hit(doc: u32, score: f32) -> VectorHit {
        VectorHit {
            address: address(doc),
            score,
            chunk: ChunkRef {
                row: 0,
                start: 0,
                end: 0,
                section: u32::MAX,
            },
        }
    }

    fn order(fused: &[(f32, DocAddress)]) -> Vec<u32> {
        fused.iter().map(|(_, a)| a.doc_id).collect()
    }

    #[test]
    fn rrf_adds_reciprocal_ranks_and_keeps_notes_found_by_either_side() {
        let ranking = Ranking {
            fusion: Fusion::Rrf,
            rrf_k: 60.0,
            lexical_weight: 1.0,
            semantic_weight: 1.0,
            ..Ranking::default()
        };
        // 1 is second on both sides; 0 is first lexically only; 9 first semantically only.
        let lexical = [(9.0, address(0)), (5.0, address(1)), (1.0, address(2))];
        let vector = [hit(9, 0.8), hit(1, 0.7), hit(3, 0.1)];
        let fused = fuse(&lexical, &vector, &ranking);
        assert_eq!(order(&fused), vec![1, 0, 9, 2, 3]);
        let both = 1.0 / 62.0 + 1.0 / 62.0;
        assert!((fused[0].0 - both).abs() < 1e-6);
        assert!((fused[1].0 - 1.0 / 61.0).abs() < 1e-6);
        // Weights tip the balance: the semantic side's first beats the lexical side's.
        let semantic_heavy = Ranking {
            semantic_weight: 1.5,
            ..ranking
        };
        assert_eq!(
            order(&fuse(&lexical, &vector, &semantic_heavy))[..2],
            [1, 9]
        );
        // One side empty: the other side's order.
        assert_eq!(order(&fuse(&lexical, &[], &ranking)), vec![0, 1, 2]);
        assert_eq!(order(&fuse(&[], &vector, &ranking)), vec![9, 1, 3]);
    }

    #[test]
    fn linear_fusion_normalises_each_side() {
        let ranking = Ranking {
            fusion: Fusion::Linear,
            lexical_weight: 0.5,
            semantic_weight: 0.5,
            ..Ranking::default()
        };
        let lexical = [(10.0, address(0)), (5.0, address(1))];
        let vector = [hit(1, 0.9), hit(2, 0.5), hit(0, 0.1)];
        let fused = fuse(&lexical, &vector, &ranking);
        // 0: 0.5·1 + 0.5·0 = 0.5; 1: 0.5·0.5 + 0.5·1 = 0.75; 2: 0.5·0.5 = 0.25.
        assert_eq!(order(&fused), vec![1, 0, 2]);
        assert!((fused[0].0 - 0.75).abs() < 1e-6);
        assert!((fused[1].0 - 0.5).abs() < 1e-6);
    }
}
