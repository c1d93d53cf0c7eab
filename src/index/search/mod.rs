//! Search: from a query string to ranked hits, each with its best passage and section.
//!
//! Ranking is BM25 over title, aliases, headings, tags, path and body, summed with per-field
//! boosts, with OR semantics (a note that matches more query terms scores higher; none is
//! required). Stop words are dropped from the ranked terms unless nothing else is left; a few
//! unknown words (typos) are expanded to their nearest indexed spellings, within a budget per
//! search ([`fuzzy`]). The best candidates are then
//! re-scored: a proximity bonus rewards query terms that appear next to each other, and a
//! coordination factor rewards notes whose body (which holds the title and aliases too) has
//! more of the query's weight. Quoted phrases, `title:` and `-excluded` words are honoured, and
//! `tag:`/`path:` filter, and so do `key:value` filters on properties and inline fields (when some
//! note has the key; otherwise the words are ranked like any others).
//!
//! A hit's citation points at the section of its best passage, or at the block (`^id`) that
//! holds most of the passage's matches when it lies in one.
//!
//! # Layout
//!
//! - this file: the planner (query string → tantivy query) and the re-scoring.
//! - [`query`]: the query language; [`fuzzy`]: bounded typo expansion; [`snippet`]: the best
//!   passage of a hit.
//! - [`hybrid`]: with semantic search on, the chunk vectors nearest to the query (among the notes
//!   the filters allow) fused with these candidates; a note the vector side found takes its
//!   passage and anchor from its best chunk.

pub(crate) mod fuzzy;
pub(crate) mod hybrid;
pub mod query;
pub(crate) mod snippet;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, Order, Searcher, Term};

use crate::config::SearchMode;
use crate::index::analysis::tokenizer::{analyze, is_bigram_script};
use crate::index::vectors::Semantic;
use crate::index::vectors::store::ChunkRef;
use crate::index::{NoteDoc, VaultIndex};
use fuzzy::{Expander, Expansion, FuzzyBudget, SharedFuzzyQuery};
use hybrid::Fusion;
use query::{ParsedQuery, is_stop_word, parse_query};
use snippet::{Passage, best_passage, chunk_passage};

use crate::error::{Error, Result};

/// Tunable ranking parameters. `DEEPVAULT_RANKING` (a JSON object of these fields) overrides
/// them at start-up: a knob for tuning with the relevance harness, not a stable interface.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Ranking {
    pub(crate) title: f32,
    pub(crate) aliases: f32,
    pub(crate) headings: f32,
    pub(crate) tags: f32,
    pub(crate) path: f32,
    pub(crate) props: f32,
    pub(crate) body: f32,
    /// Boost of the "adjacent query terms" phrase clauses.
    pub(crate) proximity: f32,
    /// Slop of those clauses.
    pub(crate) proximity_slop: u32,
    /// Coordination: the best candidates' scores are multiplied by `1 + coordination × share`,
    /// where `share` is the part of the query's IDF weight whose terms the note holds.
    pub(crate) coordination: f32,
    /// Boost of fuzzy expansions of unknown terms.
    pub(crate) fuzzy: f32,
    /// The most distinct terms a query is ranked on.
    pub(crate) max_terms: usize,
    /// Results whose SimHash is at most this many bits from a better result are collapsed
    /// into it (near-identical copies); `-1` keeps every copy.
    pub(crate) duplicate_bits: i32,
    /// How hybrid search fuses the lexical and semantic candidates (`"rrf"` or `"linear"`).
    pub(crate) fusion: Fusion,
    /// RRF's `k`: larger values flatten the difference between ranks.
    pub(crate) rrf_k: f32,
    /// Weight of the lexical side in the fusion.
    pub(crate) lexical_weight: f32,
    /// Weight of the semantic side in the fusion.
    pub(crate) semantic_weight: f32,
}

impl Ranking {
    /// The defaults, overridden by `DEEPVAULT_RANKING` when set.
    pub(crate) fn from_env() -> crate::Result<Ranking> {
        match std::env::var("DEEPVAULT_RANKING") {
            Ok(json) if !json.trim().is_empty() => {
                serde_json::from_str(&json).map_err(|err| crate::Error::Config {
                    message: format!("DEEPVAULT_RANKING is not a valid ranking object: {err}"),
                })
            }
            _ => Ok(Ranking::default()),
        }
    }
}

impl Default for Ranking {
    /// Tuned on the SciFact train split and the question sets (docs/relevance.md): the body
    /// (which also holds the title and aliases) carries the score; the short fields add a little.
    fn default() -> Self {
        Ranking {
            title: 0.2,
            aliases: 0.5,
            headings: 0.2,
            tags: 0.2,
            path: 0.2,
            props: 0.2,
            body: 1.0,
            proximity: 0.1,
            proximity_slop: 2,
            coordination: 0.1,
            fuzzy: 0.6,
            max_terms: 256,
            duplicate_bits: 6,
            fusion: Fusion::Rrf,
            // Chosen on SciFact train and the paraphrase set's half a (docs/relevance.md):
            // 20 over the customary 60 gave +0.006 nDCG@10 on train, half a unchanged.
            rrf_k: 20.0,
            lexical_weight: 1.0,
            semantic_weight: 1.0,
        }
    }
}

/// Options of one search.
#[derive(Clone, Debug)]
pub(crate) struct SearchOptions {
    pub(crate) limit: usize,
    pub(crate) snippet_chars: usize,
    /// Longer queries are cut here before analysis.
    pub(crate) max_query_chars: usize,
    pub(crate) ranking: Ranking,
    /// Lexical, semantic or both (semantic and hybrid need `semantic`).
    pub(crate) mode: SearchMode,
    /// The vectors and the model, when semantic search is on.
    pub(crate) semantic: Option<std::sync::Arc<Semantic>>,
    /// What typo expansion may cost in one search.
    pub(crate) fuzzy: FuzzyBudget,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            limit: 10,
            snippet_chars: 300,
            max_query_chars: 16 * 1024,
            ranking: Ranking::default(),
            mode: SearchMode::Lexical,
            semantic: None,
            fuzzy: FuzzyBudget::default(),
        }
    }
}

/// The section a hit points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SectionRef {
    pub(crate) anchor: String,
    pub(crate) heading: String,
    pub(crate) line: u32,
}

/// One result.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub(crate) id: String,
    pub(crate) title: String,
    /// The ranking score (the fused score in a hybrid search).
    pub(crate) score: f32,
    /// The best-matching passage, plain text.
    pub(crate) text: String,
    pub(crate) section: Option<SectionRef>,
}

/// A query analyzed against the index: what ranking and snippets need.
pub(crate) struct Analysis {
    /// Distinct ranked terms with their body IDF weight.
    pub(crate) weights: rustc_hash::FxHashMap<String, f32>,
}

/// A query ready to run.
struct Plan {
    query: Box<dyn Query>,
    /// Boosted phrase queries whose scores are added to the best candidates of `query`.
    proximity: Vec<Box<dyn Query>>,
    analysis: Analysis,
    /// False when only filters remain: results are ordered by recency instead of score.
    scored: bool,
    /// The unknown words expanded to their near spellings (read by the tests).
    #[cfg_attr(not(test), expect(dead_code))]
    expansions: Vec<Expansion>,
}

/// Runs a search. An empty query gives no hits.
pub(crate) fn search(
    index: &VaultIndex,
    searcher: &Searcher,
    query: &str,
    options: &SearchOptions,
) -> Result<Vec<Hit>> {
    let parsed = parse_query(query, options.max_query_chars);
    if parsed.is_empty() || options.limit == 0 {
        return Ok(Vec::new());
    }
    let planner = Planner::new(index, searcher, options);
    // Room for near-duplicates to be collapsed away.
    let depth = if options.ranking.duplicate_bits >= 0 {
        options.limit * 5
    } else {
        options.limit
    };
    // The lexical side: strict first; quoted phrases and `title:` narrow the results while
    // something matches them, and when nothing does, the ranking falls back to their words.
    // `skip`: a semantic search that has its vector needs only the plan (for passages).
    let lexical = |skip: bool| -> Result<LexicalSide> {
        let plan = planner.build(&parsed, true)?;
        if skip {
            return Ok((plan, Vec::new(), true));
        }
        let top = planner.run(&plan, depth)?;
        if top.is_empty() && (!parsed.phrases.is_empty() || !parsed.titles.is_empty()) {
            let plan = planner.build(&parsed, false)?;
            let top = planner.run(&plan, depth)?;
            return Ok((plan, top, false));
        }
        Ok((plan, top, true))
    };
    let (semantic, lexical) = if options.mode == SearchMode::Hybrid && options.semantic.is_some() {
        // A hybrid search needs both sides, and they do not depend on each other: the query is
        // embedded on another thread while the lexical side runs on this one.
        std::thread::scope(|scope| {
            let embedding = scope.spawn(|| hybrid::query_vector(options, &parsed));
            let lexical = lexical(false);
            let semantic = embedding.join().unwrap_or_else(|_| {
                tracing::warn!("embedding a query failed; lexical results only");
                None
            });
            (semantic, lexical)
        })
    } else {
        let semantic = hybrid::query_vector(options, &parsed);
        let semantic_only = semantic.is_some() && options.mode == SearchMode::Semantic;
        (semantic, lexical(semantic_only))
    };
    let (plan, mut top, strict) = lexical?;
    let semantic_only = semantic.is_some() && options.mode == SearchMode::Semantic;
    let mut chunks: rustc_hash::FxHashMap<DocAddress, ChunkRef> = Default::default();
    if let Some((semantic, vector)) = &semantic {
        let mut hits = hybrid::vector_side(&planner, semantic, vector, &parsed, strict, depth)?;
        if semantic_only
            && hits.is_empty()
            && (!parsed.phrases.is_empty() || !parsed.titles.is_empty())
        {
            hits = hybrid::vector_side(&planner, semantic, vector, &parsed, false, depth)?;
        }
        chunks = hits.iter().map(|h| (h.address, h.chunk)).collect();
        top = if semantic_only {
            hits.iter().map(|h| (h.score, h.address)).collect()
        } else {
            hybrid::fuse(&top, &hits, &options.ranking)
        };
    }
    if options.ranking.duplicate_bits >= 0 {
        top = planner.collapse_duplicates(top, options.ranking.duplicate_bits as u32)?;
    }
    top.truncate(options.limit);
    let mut hits = Vec::with_capacity(top.len());
    for (score, address) in top {
        let doc = index.load_for_hit(searcher, address)?;
        let chunk = chunks.get(&address).copied();
        hits.push(make_hit(
            doc,
            score,
            &plan.analysis,
            options.snippet_chars,
            chunk,
        ));
    }
    Ok(hits)
}

fn make_hit(
    doc: NoteDoc,
    score: f32,
    analysis: &Analysis,
    snippet_chars: usize,
    chunk: Option<ChunkRef>,
) -> Hit {
    let Passage {
        text,
        section,
        block,
    } = match chunk {
        Some(chunk) => chunk_passage(
            &doc,
            chunk.start as usize..chunk.end as usize,
            (chunk.section != u32::MAX).then_some(chunk.section as usize),
            &analysis.weights,
            snippet_chars,
        ),
        None => best_passage(&doc, &analysis.weights, snippet_chars),
    };
    let heading = section.and_then(|index| {
        let section = doc.meta.sections.get(index)?;
        Some((
            doc.meta.headings.get(section.heading? as usize)?,
            section.line,
        ))
    });
    let section = match block.and_then(|b| doc.meta.blocks.get(b)) {
        Some(block) => Some(SectionRef {
            anchor: format!("^{}", block.id),
            heading: heading.map(|(h, _)| h.text.clone()).unwrap_or_default(),
            line: block.line,
        }),
        None => heading.map(|(heading, line)| SectionRef {
            anchor: heading.anchor.clone(),
            heading: heading.text.clone(),
            line,
        }),
    };
    Hit {
        id: doc.meta.id,
        title: doc.meta.title,
        score,
        text,
        section,
    }
}

/// Candidates that are re-scored (proximity, coordination). Both are small (a tenth of a term's
/// weight, a tenth of the score), so a note further down than this would rarely climb into the
/// first results; the relevance benchmarks came out the same with the proximity bonus computed
/// for every note.
const RERANK_DEPTH: usize = 200;

struct Planner<'a> {
    index: &'a VaultIndex,
    searcher: &'a Searcher,
    ranking: &'a Ranking,
    /// The search's fuzzy budget, shared by its plans.
    fuzzy: RefCell<Expander>,
}

/// The lexical side of a search: its plan, its candidates, and whether quoted phrases and
/// `title:` were required (`strict`).
type LexicalSide = (Plan, Vec<(f32, DocAddress)>, bool);

/// A query's `key:value` filters, sorted by whether some note has the key.
#[derive(Default)]
struct Properties {
    clauses: Vec<(Occur, Box<dyn Query>)>,
    as_text: Vec<String>,
    as_excluded: Vec<String>,
}

/// One analyzed query token.
struct QueryToken {
    term: String,
    position: usize,
    stop: bool,
}

impl<'a> Planner<'a> {
    fn new(index: &'a VaultIndex, searcher: &'a Searcher, options: &'a SearchOptions) -> Self {
        Planner {
            index,
            searcher,
            ranking: &options.ranking,
            fuzzy: RefCell::new(Expander::new(options.fuzzy.clone())),
        }
    }

    fn field_boosts(&self) -> [(Field, f32); 7] {
        let f = self.index.fields();
        let r = self.ranking;
        [
            (f.title, r.title),
            (f.aliases, r.aliases),
            (f.headings, r.headings),
            (f.tags, r.tags),
            (f.path, r.path),
            (f.props, r.props),
            (f.body_text, r.body),
        ]
    }

    fn text_fields(&self) -> [Field; 7] {
        self.field_boosts().map(|(field, _)| field)
    }

    /// The query plan. `strict`: quoted phrases and `title:` are required.
    fn build(&self, parsed: &ParsedQuery, strict: bool) -> Result<Plan> {
        let fields = self.index.fields();
        // `key:value` filters on keys some note has; the others are text (or excluded words).
        let properties = self.properties(parsed)?;
        let mut text = parsed.text.clone();
        for raw in &properties.as_text {
            text.push(' ');
            text.push_str(raw);
        }
        let mut excluded = parsed.excluded.clone();
        excluded.extend(properties.as_excluded);
        let tokens = analyze_query(&text);
        let meaningful: Vec<&QueryToken> = tokens.iter().filter(|t| !t.stop).collect();
        let ranked: Vec<&QueryToken> = if meaningful.is_empty() {
            tokens.iter().collect()
        } else {
            meaningful
        };
        let mut seen = HashSet::new();
        let distinct: Vec<&str> = ranked
            .iter()
            .map(|t| t.term.as_str())
            .filter(|t| seen.insert(*t))
            .take(self.ranking.max_terms)
            .collect();

        let mut weights = rustc_hash::FxHashMap::default();
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut unknown = HashSet::new();
        let mut expansions = Vec::new();
        let may_expand = self.fuzzy.borrow().allows_query(distinct.len());
        let num_docs = self.searcher.num_docs().max(1) as f32;
        for term in &distinct {
            let body_term = Term::from_field_text(fields.body_text, term);
            let doc_freq = self.doc_freq(&body_term)?;
            let idf = (1.0 + (num_docs - doc_freq as f32 + 0.5) / (doc_freq as f32 + 0.5)).ln();
            weights.insert(term.to_string(), idf);
            if !self.is_unknown(term)? {
                should.push((Occur::Should, self.term_clause(term)));
                continue;
            }
            // An unknown word's own clause could match nothing: only its expansion is searched.
            unknown.insert(*term);
            if may_expand && let Some((fuzzy, expansion)) = self.fuzzy_clause(term) {
                should.push((Occur::Should, fuzzy));
                expansions.push(expansion);
            }
        }
        // Proximity: consecutive meaningful query words (stop words skipped, their gap allowed
        // for) appearing near each other in the body; only ranked words the index knows (a
        // phrase with an unknown word matches nothing).
        let words: Vec<&QueryToken> = tokens.iter().filter(|t| !t.stop).collect();
        let mut proximity: Vec<Box<dyn Query>> = Vec::new();
        if self.ranking.proximity > 0.0 {
            for pair in words.windows(2) {
                let searchable = |t: &QueryToken| {
                    weights.contains_key(t.term.as_str()) && !unknown.contains(t.term.as_str())
                };
                if pair[0].term == pair[1].term || !searchable(pair[0]) || !searchable(pair[1]) {
                    continue;
                }
                let gap = (pair[1].position - pair[0].position).saturating_sub(1) as u32;
                let mut phrase = PhraseQuery::new(vec![
                    Term::from_field_text(fields.body_text, &pair[0].term),
                    Term::from_field_text(fields.body_text, &pair[1].term),
                ]);
                phrase.set_slop(self.ranking.proximity_slop + gap);
                proximity.push(Box::new(BoostQuery::new(
                    Box::new(phrase),
                    self.ranking.proximity,
                )));
            }
        }

        // The whole query as a file name: finds `c++.md` for "c++" and `[[.md` for "[[", whose
        // names have no words.
        let whole = crate::vault::note::link_key(&text);
        if !whole.is_empty() {
            should.push((
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(fields.name_key, &whole),
                        IndexRecordOption::Basic,
                    )),
                    self.ranking.title * 2.0,
                )),
            ));
        }

        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let has_ranked = !should.is_empty();
        if has_ranked {
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        for phrase in &parsed.phrases {
            if let Some(query) = self.phrase_any_field(phrase) {
                let occur = if strict { Occur::Must } else { Occur::Should };
                clauses.push((occur, Box::new(BoostQuery::new(query, 2.0))));
            }
        }
        for title in &parsed.titles {
            if let Some(query) = self.phrase_in(fields.title, title) {
                let occur = if strict { Occur::Must } else { Occur::Should };
                clauses.push((occur, query));
            }
        }
        clauses.extend(self.tag_and_path_clauses(parsed));
        clauses.extend(properties.clauses);
        for excluded in &excluded {
            if let Some(query) = self.phrase_any_field(excluded) {
                clauses.push((Occur::MustNot, query));
            }
        }
        let analysis = Analysis { weights };
        if !has_ranked && !clauses.iter().any(|(o, _)| *o != Occur::MustNot) {
            if clauses.is_empty() {
                return Ok(Plan {
                    query: Box::new(EmptyQuery),
                    proximity,
                    analysis,
                    scored: false,
                    expansions,
                });
            }
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Plan {
            query: Box::new(BooleanQuery::new(clauses)),
            proximity,
            analysis,
            scored: has_ranked,
            expansions,
        })
    }

    fn run(&self, plan: &Plan, limit: usize) -> Result<Vec<(f32, DocAddress)>> {
        let err = |e| Error::tantivy(self.index.dir(), e);
        if plan.scored {
            if plan.proximity.is_empty() && !self.coordinates(plan) {
                let collector = tantivy::collector::TopDocs::with_limit(limit).order_by_score();
                return self.searcher.search(&*plan.query, &collector).map_err(err);
            }
            let depth = limit.max(RERANK_DEPTH);
            let collector = tantivy::collector::TopDocs::with_limit(depth).order_by_score();
            let top = self
                .searcher
                .search(&*plan.query, &collector)
                .map_err(err)?;
            let mut top = self.rerank(top, plan)?;
            top.truncate(limit);
            return Ok(top);
        }
        // Only filters: newest first.
        let collector = tantivy::collector::TopDocs::with_limit(limit)
            .order_by_fast_field::<i64>(crate::index::schema::names::MTIME, Order::Desc);
        let docs = self
            .searcher
            .search(&*plan.query, &collector)
            .map_err(err)?;
        Ok(docs
            .into_iter()
            .map(|(_, address)| (0.0, address))
            .collect())
    }

    /// Adds the proximity phrases' scores to the candidates, applies the coordination factor
    /// and re-sorts them. The proximity sum is what a boolean query with the phrases as further
    /// `Should` clauses would score; computing it for the candidates only, by seeking each
    /// phrase scorer to them, avoids matching phrases in every note that holds two query words
    /// (at a million notes that was most of a search).
    fn rerank(
        &self,
        mut top: Vec<(f32, DocAddress)>,
        plan: &Plan,
    ) -> Result<Vec<(f32, DocAddress)>> {
        let mut candidates: Vec<(usize, DocAddress)> =
            top.iter().enumerate().map(|(i, hit)| (i, hit.1)).collect();
        candidates.sort_by_key(|&(_, address)| address);
        for phrase in &plan.proximity {
            self.for_each_candidate_match(&candidates, &**phrase, |i, score| top[i].0 += score)?;
        }
        if self.coordinates(plan) {
            let weights = &plan.analysis.weights;
            let total: f32 = weights.values().sum();
            let mut matched = vec![0.0f32; top.len()];
            for (term, idf) in weights {
                let body_term = Term::from_field_text(self.index.fields().body_text, term);
                let query = TermQuery::new(body_term, IndexRecordOption::Basic);
                self.for_each_candidate_match(&candidates, &query, |i, _| matched[i] += idf)?;
            }
            if total > 0.0 {
                for (hit, matched) in top.iter_mut().zip(matched) {
                    hit.0 *= 1.0 + self.ranking.coordination * matched / total;
                }
            }
        }
        top.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(top)
    }

    /// Whether the coordination factor applies: it is on, and the query ranks on more than one
    /// term (the ranked terms are the keys of `analysis.weights`).
    fn coordinates(&self, plan: &Plan) -> bool {
        self.ranking.coordination > 0.0 && plan.analysis.weights.len() > 1
    }

    /// Calls `on_match(i, score)` for each candidate `(i, address)` that `query` matches.
    /// `candidates` are in document order, so each segment's scorer only moves forward.
    fn for_each_candidate_match(
        &self,
        candidates: &[(usize, DocAddress)],
        query: &dyn Query,
        mut on_match: impl FnMut(usize, f32),
    ) -> Result<()> {
        use tantivy::DocSet as _;
        use tantivy::query::{EnableScoring, Scorer as _};
        let err = |e| Error::tantivy(self.index.dir(), e);
        let weight = query
            .weight(EnableScoring::enabled_from_searcher(self.searcher))
            .map_err(err)?;
        let mut segment = None;
        let mut scorer = None;
        for &(i, address) in candidates {
            if segment != Some(address.segment_ord) {
                segment = Some(address.segment_ord);
                let reader = self.searcher.segment_reader(address.segment_ord);
                scorer = Some(weight.scorer(reader, 1.0).map_err(err)?);
            }
            let scorer = scorer.as_mut().expect("set with the segment");
            if scorer.doc() < address.doc_id {
                scorer.seek(address.doc_id);
            }
            if scorer.doc() == address.doc_id {
                on_match(i, scorer.score());
            }
        }
        Ok(())
    }

    /// Drops results that are near-identical copies of a better one (SimHash within `bits`).
    fn collapse_duplicates(
        &self,
        top: Vec<(f32, DocAddress)>,
        bits: u32,
    ) -> Result<Vec<(f32, DocAddress)>> {
        let mut kept: Vec<((f32, DocAddress), Option<u64>)> = Vec::with_capacity(top.len());
        let mut columns = HashMap::new();
        for (score, address) in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => entry.insert(
                    self.searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .u64(crate::index::schema::names::SIMHASH)
                        .map_err(|e| Error::tantivy(self.index.dir(), e))?,
                ),
            };
            let signature = column.first(address.doc_id).filter(|s| *s != 0);
            let duplicate = signature.is_some_and(|s| {
                kept.iter()
                    .any(|(_, other)| other.is_some_and(|o| (o ^ s).count_ones() <= bits))
            });
            if !duplicate {
                kept.push(((score, address), signature));
            }
        }
        Ok(kept.into_iter().map(|(hit, _)| hit).collect())
    }

    fn doc_freq(&self, term: &Term) -> Result<u64> {
        self.searcher
            .doc_freq(term)
            .map_err(|e| Error::tantivy(self.index.dir(), e))
    }

    /// A term that no text field knows: probably a typo.
    fn is_unknown(&self, term: &str) -> Result<bool> {
        for field in self.text_fields() {
            if self.doc_freq(&Term::from_field_text(field, term))? > 0 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The term in every text field, each with its boost.
    fn term_clause(&self, term: &str) -> Box<dyn Query> {
        let clauses: Vec<(Occur, Box<dyn Query>)> = self
            .field_boosts()
            .into_iter()
            .map(|(field, boost)| {
                let query = TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::WithFreqs,
                );
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(query), boost)) as Box<dyn Query>,
                )
            })
            .collect();
        Box::new(BooleanQuery::new(clauses))
    }

    /// The near spellings of an unknown word, if the search's fuzzy budget allows: one
    /// automaton shared by the title, body and headings.
    fn fuzzy_clause(&self, term: &str) -> Option<(Box<dyn Query>, Expansion)> {
        let mut fuzzy = self.fuzzy.borrow_mut();
        let length = term.chars().count();
        if length == 2 && term.chars().all(is_bigram_script) {
            // A CJK bigram no note has (群祖, a typo of 群组): its two characters, as unigrams.
            fuzzy.take_word(term).ok()?;
            let clauses: Vec<(Occur, Box<dyn Query>)> = term
                .chars()
                .map(|c| {
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(
                            self.term_clause(&c.to_string()),
                            self.ranking.fuzzy,
                        )) as Box<dyn Query>,
                    )
                })
                .collect();
            let expansion = Expansion {
                word: term.to_string(),
                distance: 0,
            };
            return Some((Box::new(BooleanQuery::new(clauses)), expansion));
        }
        if term.chars().any(is_bigram_script) || term.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (distance, automaton) = fuzzy.automaton(term).ok()?;
        let fields = self.index.fields();
        let clauses: Vec<(Occur, Box<dyn Query>)> = [
            (fields.title, 2.0),
            (fields.body_text, 1.0),
            (fields.headings, 1.0),
        ]
        .into_iter()
        .map(|(field, boost)| {
            let fuzzy = SharedFuzzyQuery::new(field, std::sync::Arc::clone(&automaton));
            (
                Occur::Should,
                Box::new(BoostQuery::new(Box::new(fuzzy), boost * self.ranking.fuzzy))
                    as Box<dyn Query>,
            )
        })
        .collect();
        let expansion = Expansion {
            word: term.to_string(),
            distance,
        };
        Some((Box::new(BooleanQuery::new(clauses)), expansion))
    }

    /// The analyzed text as a phrase (or a term) in one field.
    fn phrase_in(&self, field: Field, text: &str) -> Option<Box<dyn Query>> {
        let tokens = analyze(text);
        match tokens.len() {
            0 => None,
            1 => Some(Box::new(TermQuery::new(
                Term::from_field_text(field, &tokens[0].term),
                IndexRecordOption::WithFreqs,
            ))),
            _ => {
                let base = tokens[0].position;
                let terms = tokens
                    .iter()
                    .map(|t| (t.position - base, Term::from_field_text(field, &t.term)))
                    .collect();
                Some(Box::new(PhraseQuery::new_with_offset(terms)))
            }
        }
    }

    /// The phrase in any text field.
    fn phrase_any_field(&self, text: &str) -> Option<Box<dyn Query>> {
        let clauses: Vec<(Occur, Box<dyn Query>)> = self
            .text_fields()
            .into_iter()
            .filter_map(|field| self.phrase_in(field, text).map(|q| (Occur::Should, q)))
            .collect();
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
    }

    /// The query's filters alone, for the semantic side: `tag:` and `path:` required, `-words`
    /// excluded, and (when `strict`) quoted phrases and `title:` required. `None` when the query
    /// has no filter.
    fn filter_query(&self, parsed: &ParsedQuery, strict: bool) -> Result<Option<Box<dyn Query>>> {
        let fields = self.index.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if strict {
            for phrase in &parsed.phrases {
                if let Some(query) = self.phrase_any_field(phrase) {
                    clauses.push((Occur::Must, query));
                }
            }
            for title in &parsed.titles {
                if let Some(query) = self.phrase_in(fields.title, title) {
                    clauses.push((Occur::Must, query));
                }
            }
        }
        clauses.extend(self.tag_and_path_clauses(parsed));
        // A `key:value` on a key no note has is text, which the vector side ranks anyway.
        let properties = self.properties(parsed)?;
        clauses.extend(properties.clauses);
        for excluded in parsed.excluded.iter().chain(&properties.as_excluded) {
            if let Some(query) = self.phrase_any_field(excluded) {
                clauses.push((Occur::MustNot, query));
            }
        }
        if clauses.is_empty() {
            return Ok(None);
        }
        if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    /// `tag:` and `path:`: required by every plan, lexical or semantic.
    fn tag_and_path_clauses(&self, parsed: &ParsedQuery) -> Vec<(Occur, Box<dyn Query>)> {
        let fields = self.index.fields();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for tag in &parsed.tags {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(fields.tag_key, tag),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        for path in &parsed.paths {
            clauses.push((Occur::Must, self.path_filter(path)));
        }
        clauses
    }

    /// The `key:value` filters: a clause for each key some note has; the others are text to
    /// rank, or (negated) words to exclude.
    fn properties(&self, parsed: &ParsedQuery) -> Result<Properties> {
        let field = self.index.fields().property;
        let mut properties = Properties::default();
        for filter in &parsed.properties {
            let key = crate::index::property_key(&filter.key);
            if self.doc_freq(&Term::from_field_text(field, &key))? > 0 {
                let occur = if filter.negated {
                    Occur::MustNot
                } else {
                    Occur::Must
                };
                properties
                    .clauses
                    .push((occur, self.property_filter(&key, &filter.value)));
            } else if filter.negated {
                properties.as_excluded.push(filter.raw.clone());
            } else {
                properties.as_text.push(filter.raw.clone());
            }
        }
        Ok(properties)
    }

    /// `key:value` (the key normalised): notes whose property or inline field `key` has the
    /// value, whole, or all of its words.
    fn property_filter(&self, key: &str, value: &str) -> Box<dyn Query> {
        let field = self.index.fields().property;
        let sep = crate::index::schema::PROPERTY_SEPARATOR;
        let term = |text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, &format!("{key}{sep}{text}")),
                IndexRecordOption::Basic,
            ))
        };
        let mut clauses = vec![(Occur::Should, term(&value.trim().to_lowercase()))];
        let words: Vec<(Occur, Box<dyn Query>)> = crate::index::property_words(value)
            .map(|word| (Occur::Must, term(&word)))
            .collect();
        if !words.is_empty() {
            clauses.push((Occur::Should, Box::new(BooleanQuery::new(words))));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// `path:x`: notes under folder `x/`, or whose path contains the words of `x`.
    fn path_filter(&self, path: &str) -> Box<dyn Query> {
        let fields = self.index.fields();
        let folder = format!("{}/", path.trim().trim_matches('/').to_lowercase());
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Should,
            Box::new(TermQuery::new(
                Term::from_field_text(fields.folder, &folder),
                IndexRecordOption::Basic,
            )),
        )];
        if let Some(phrase) = self.phrase_in(fields.path, path) {
            clauses.push((Occur::Should, phrase));
        }
        Box::new(BooleanQuery::new(clauses))
    }
}

/// The query's tokens. Runs of Chinese characters are first cut into words with jieba's
/// dictionary, so the bigrams searched for lie inside words: "怎么引用另一篇笔记" asks for
/// 引用 and 笔记, not for 么引 or 篇笔, which the index also knows and which would only add noise.
/// Single characters and question words (怎么, 如何, …) count as stop words.
fn analyze_query(text: &str) -> Vec<QueryToken> {
    let segmented = segment_han(text);
    analyze(&segmented)
        .into_iter()
        .map(|token| {
            let raw = segmented[token.offsets.clone()].to_lowercase();
            let han = raw.chars().all(is_bigram_script);
            let stop = if han {
                CJK_STOP_WORDS.contains(&raw.as_str())
            } else {
                is_stop_word(&raw)
            };
            QueryToken {
                stop,
                term: token.term,
                position: token.position,
            }
        })
        .collect()
}

/// Chinese function and question words (as bigrams, or single characters).
const CJK_STOP_WORDS: &[&str] = &[
    "的", "了", "在", "是", "和", "与", "或", "吗", "呢", "吧", "啊", "把", "被", "也", "都", "就",
    "还", "又", "很", "太", "最", "我", "你", "他", "她", "它", "这", "那", "有", "个", "中", "里",
    "上", "下", "让", "给", "对", "从", "想", "能", "会", "要", "但", "而", "及", "怎么", "怎样",
    "如何", "什么", "为什", "为何", "可以", "能否", "是否", "有没", "没有", "哪些", "哪个", "一个",
    "一些", "这个", "那个", "这些", "那些", "我们", "你们", "他们", "自己", "的话", "请问", "吗？",
    "一下", "还是", "或者", "以及", "并且", "而且", "但是", "如果", "因为", "所以",
];

/// Puts a space between the jieba words of every run of Han characters.
fn segment_han(text: &str) -> String {
    if !text.chars().any(is_han) {
        return text.to_string();
    }
    static JIEBA: std::sync::OnceLock<jieba_rs::Jieba> = std::sync::OnceLock::new();
    let jieba = JIEBA.get_or_init(jieba_rs::Jieba::new);
    let mut out = String::with_capacity(text.len() * 2);
    let mut rest = text;
    while !rest.is_empty() {
        let start = rest.find(is_han).unwrap_or(rest.len());
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(|c: char| !is_han(c)).unwrap_or(rest.len());
        if end > 0 {
            let run = &rest[..end];
            out.push(' ');
            let words: Vec<&str> = jieba.cut(run, false).iter().map(|t| t.word).collect();
            out.push_str(&words.join(" "));
            out.push(' ');
        }
        rest = &rest[end..];
    }
    out
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::writer::{CommitTrigger, Indexer, IndexerSettings};
    use crate::vault::Vault;

    /// Scores of `query` by note id, with `ranking`.
    fn scores(index: &VaultIndex, query: &str, ranking: Ranking) -> HashMap<String, f32> {
        let options = SearchOptions {
            ranking,
            ..SearchOptions::default()
        };
        search(index, &index.searcher(), query, &options)
            .unwrap()
            .into_iter()
            .map(|hit| (hit.id, hit.score))
            .collect()
    }

    fn ids(index: &VaultIndex, query: &str) -> Vec<String> {
        let mut ids: Vec<String> =
            search(index, &index.searcher(), query, &SearchOptions::default())
                .unwrap()
                .into_iter()
                .map(|hit| hit.id)
                .collect();
        ids.sort();
        ids
    }

    #[test]
    fn property_filters_are_honoured_when_some_note_has_the_key() {
        let (indexer, _dirs) = indexed(&[
            (
                "done.md",
                "---\nstatus: done\nauthor: Ada Lovelace\n---\nbudget plan\n",
            ),
            (
                "draft.md",
                "---\nstatus: Draft\ntags: [x]\n---\nbudget draft\n",
            ),
            (
                "inline.md",
                "status:: done\n[author:: [[Grace Hopper]]]\nbudget notes\n",
            ),
            (
                "list.md",
                "---\nstatus: [done, reviewed]\n---\nother words\n",
            ),
            ("ratio.md", "brew at 1:16 ratio, colour:red\n"),
        ]);
        let index = indexer.index();
        assert_eq!(
            ids(index, "status:done"),
            vec!["done.md", "inline.md", "list.md"]
        );
        assert_eq!(
            ids(index, "Status:DONE budget"),
            vec!["done.md", "inline.md"]
        );
        assert_eq!(ids(index, "status:draft"), vec!["draft.md"]);
        assert_eq!(
            ids(index, "budget -status:draft"),
            vec!["done.md", "inline.md"]
        );
        assert_eq!(ids(index, "author:\"Ada\""), vec!["done.md"]);
        assert_eq!(ids(index, "author:\"ada lovelace\""), vec!["done.md"]);
        assert_eq!(ids(index, "author:hopper"), vec!["inline.md"]);
        assert_eq!(ids(index, "status:reviewed"), vec!["list.md"]);
        assert!(ids(index, "status:archived").is_empty());
        // Keys no note has are words: `1:16` and `colour:red` find the note that says them.
        assert_eq!(ids(index, "ratio 1:16"), vec!["ratio.md"]);
        assert_eq!(ids(index, "colour:red"), vec!["ratio.md"]);
    }

    /// An indexed vault of `notes`; the temporary folders live as long as the indexer.
    fn indexed(notes: &[(&str, &str)]) -> (Indexer, [tempfile::TempDir; 2]) {
        let vault_dir = tempfile::tempdir().unwrap();
        let index_dir = tempfile::tempdir().unwrap();
        for (id, text) in notes {
            std::fs::write(vault_dir.path().join(id), text).unwrap();
        }
        let vault = Vault::open(vault_dir.path(), &[]).unwrap();
        let (mut indexer, _) =
            Indexer::open(vault, index_dir.path(), IndexerSettings::default()).unwrap();
        indexer.reconcile(None).unwrap();
        indexer.commit(CommitTrigger::Command).unwrap();
        indexer.index().reload().unwrap();
        (indexer, [vault_dir, index_dir])
    }

    /// `count` distinct random lowercase words of 8 letters, none of them English.
    fn random_words(count: usize) -> Vec<String> {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        (0..count)
            .map(|_| {
                (0..8)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (b'a' + (seed % 26) as u8) as char
                    })
                    .collect::<String>()
                    + "q"
            })
            .collect()
    }

    const NOTES: &[(&str, &str)] = &[
        (
            "search.md",
            "# Search\nSearch your notes with regular expressions.\n",
        ),
        (
            "daily.md",
            "# Daily notes\nA template for the daily note.\n",
        ),
        ("zebra.md", "# Zebra\nzebra stripes on the savanna\n"),
        (
            "highlight.md",
            "# Highlighter\nHighlight text on web pages.\n",
        ),
    ];

    /// The expansions of the strict plan of `query`, and the bytes its automata took.
    fn expansions(index: &VaultIndex, query: &str) -> (Vec<(String, u8)>, usize) {
        let searcher = index.searcher();
        let options = SearchOptions::default();
        let planner = Planner::new(index, &searcher, &options);
        let plan = planner
            .build(&parse_query(query, options.max_query_chars), true)
            .unwrap();
        let expanded = plan
            .expansions
            .iter()
            .map(|e| (e.word.clone(), e.distance))
            .collect();
        (expanded, planner.fuzzy.borrow().bytes())
    }

    /// Issue 13 #1: a query of 256 unknown words made 3 automata at distance 2 for each (+141 MB);
    /// a long query now expands nothing, and a shorter one at most `max_words` words.
    #[test]
    fn fuzzy_expansion_is_bounded_per_search() {
        let (indexer, _dirs) = indexed(NOTES);
        let index = indexer.index();
        let budget = FuzzyBudget::default();

        let words = random_words(256);
        let (expanded, bytes) = expansions(index, &words.join(" "));
        assert!(expanded.is_empty(), "{expanded:?}");
        assert_eq!(bytes, 0);

        let (expanded, bytes) = expansions(index, &words[..budget.max_query_words].join(" "));
        assert_eq!(expanded.len(), budget.max_words, "{expanded:?}");
        assert!(bytes > 0 && bytes <= budget.automaton_bytes, "{bytes}");

        // Long natural queries with one typo: known words are enough to rank on.
        let mut long: Vec<String> = (0..budget.max_query_words)
            .map(|i| format!("zebra{i}"))
            .collect();
        long.push("serch".into());
        let (expanded, _) = expansions(index, &long.join(" "));
        assert!(expanded.is_empty(), "{expanded:?}");

        // A search still answers, and fast enough to be a unit test, with no results.
        let hits = search(
            index,
            &index.searcher(),
            &words.join(" "),
            &SearchOptions::default(),
        )
        .unwrap();
        assert!(hits.is_empty());
    }

    #[test]
    fn typos_are_expanded_at_distance_one_when_short_two_when_long() {
        let (indexer, _dirs) = indexed(NOTES);
        let index = indexer.index();
        // Words are expanded after stemming: "reguler" is "regul", "expresions" "expres".
        let (expanded, _) = expansions(index, "how to serch notes with reguler expresions");
        assert_eq!(
            expanded,
            vec![
                ("serch".to_string(), 1),
                ("regul".to_string(), 1),
                ("expres".to_string(), 1),
            ]
        );
        let (expanded, _) = expansions(index, "higlight text");
        assert_eq!(expanded, vec![("higlight".to_string(), 2)]);
        let hits = search(
            index,
            &index.searcher(),
            "higlight",
            &SearchOptions::default(),
        )
        .unwrap();
        assert_eq!(hits.first().map(|h| h.id.as_str()), Some("highlight.md"));
        let hits = search(
            index,
            &index.searcher(),
            "serch reguler expresions",
            &SearchOptions::default(),
        )
        .unwrap();
        assert_eq!(hits.first().map(|h| h.id.as_str()), Some("search.md"));
        let hits = search(
            index,
            &index.searcher(),
            "daily tempalte",
            &SearchOptions::default(),
        )
        .unwrap();
        assert_eq!(hits.first().map(|h| h.id.as_str()), Some("daily.md"));
    }

    #[test]
    fn coordination_rewards_the_share_of_query_weight_a_note_holds() {
        let (indexer, _dirs) = indexed(&[
            ("both.md", "a zebra met a quokka\n"),
            ("zebra.md", "zebra zebra stripes\n"),
            ("quokka.md", "quokka island\n"),
        ]);
        let index = indexer.index();

        let plain = scores(
            index,
            "zebra quokka",
            Ranking {
                coordination: 0.0,
                ..Ranking::default()
            },
        );
        let coordinated = scores(
            index,
            "zebra quokka",
            Ranking {
                coordination: 0.5,
                ..Ranking::default()
            },
        );
        let ratio = |id: &str| coordinated[id] / plain[id];
        // Both words: the whole query weight. One of two equally rare words: half of it.
        assert!(
            (ratio("both.md") - 1.5).abs() < 1e-4,
            "{}",
            ratio("both.md")
        );
        assert!(
            (ratio("zebra.md") - 1.25).abs() < 1e-4,
            "{}",
            ratio("zebra.md")
        );
        assert!(
            (ratio("quokka.md") - 1.25).abs() < 1e-4,
            "{}",
            ratio("quokka.md")
        );
        // A one-word query has nothing to coordinate.
        let single = |coordination| {
            scores(
                index,
                "zebra",
                Ranking {
                    coordination,
                    ..Ranking::default()
                },
            )
        };
        assert_eq!(single(0.0)["zebra.md"], single(0.5)["zebra.md"]);
    }
}
