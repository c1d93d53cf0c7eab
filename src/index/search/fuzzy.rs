//! Fuzzy expansion of unknown query words (typos), within a budget per search.
//!
//! A word that no text field knows is probably a typo; it is matched against the indexed words
//! within a Levenshtein distance (1 for words of up to 6 characters, 2 for longer ones, a
//! transposition counting as one edit). Each expansion costs an automaton of up to several
//! hundred kilobytes and a walk of the term dictionaries, so one search expands at most
//! [`FuzzyBudget::max_words`] words, none at all in a long query (more than
//! [`FuzzyBudget::max_query_words`] distinct words: a long question has enough known words to
//! be found by), none longer than [`FuzzyBudget::max_word_chars`], and all its automata together
//! stay under [`FuzzyBudget::automaton_bytes`]. An automaton is built once per word and shared
//! by every field (and by the relaxed plan of the same search); the automaton builders, costly
//! tables, are built once per process.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::query::{AutomatonWeight, EnableScoring, Query, Weight};
use tantivy::schema::Field;

/// What fuzzy expansion may cost in one search.
#[derive(Clone, Debug)]
pub(crate) struct FuzzyBudget {
    /// The most unknown words one search expands.
    pub(crate) max_words: usize,
    /// A query with more distinct ranked words than this gets no fuzzy expansion.
    pub(crate) max_query_words: usize,
    /// Longer words (in characters) are not expanded.
    pub(crate) max_word_chars: usize,
    /// The bytes all automata of one search may take together.
    pub(crate) automaton_bytes: usize,
}

impl Default for FuzzyBudget {
    fn default() -> Self {
        FuzzyBudget {
            max_words: 3,
            max_query_words: 32,
            max_word_chars: 24,
            automaton_bytes: 6 << 20,
        }
    }
}

/// The edit distance a word of `chars` characters is expanded to, if any: none under 4
/// characters (too many neighbours), 1 up to 6, 2 beyond.
pub(crate) fn distance_for(chars: usize) -> Option<u8> {
    match chars {
        0..=3 => None,
        4..=6 => Some(1),
        _ => Some(2),
    }
}

/// The shared automaton builder for `distance` (1 or 2), transpositions costing one edit.
fn builder(distance: u8) -> &'static LevenshteinAutomatonBuilder {
    static ONE: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    static TWO: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    let cell = if distance <= 1 { &ONE } else { &TWO };
    cell.get_or_init(|| LevenshteinAutomatonBuilder::new(distance.clamp(1, 2), true))
}

/// Bytes per automaton state: a transition per byte value, and the state's distance.
const STATE_BYTES: usize = 256 * std::mem::size_of::<u32>() + std::mem::size_of::<Distance>();

/// An upper bound on the states of the automaton of `word` (measured, with a margin: see the
/// test `state_bound_holds`), so that one over budget is never built. Non-ASCII words take more
/// states: the automaton runs over UTF-8 bytes.
pub(crate) fn max_states(distance: u8, word: &str) -> usize {
    let per_char = match (distance <= 1, word.is_ascii()) {
        (true, true) => 12,
        (true, false) => 40,
        (false, true) => 40,
        (false, false) => 128,
    };
    per_char * (word.chars().count() + 1)
}

/// A word's Levenshtein automaton, over UTF-8 bytes.
pub(crate) struct Levenshtein(DFA);

impl Levenshtein {
    /// The bytes its transition table holds (the vector may have spare capacity: up to twice).
    pub(crate) fn bytes(&self) -> usize {
        self.0.num_states() * STATE_BYTES
    }
}

impl tantivy_fst::Automaton for Levenshtein {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// The terms of `field` that `automaton` accepts (a constant score, boosted by the caller).
/// Unlike tantivy's `FuzzyTermQuery`, which builds its automaton for each field it is asked
/// for, the automaton here is shared.
#[derive(Clone)]
pub(crate) struct SharedFuzzyQuery {
    field: Field,
    automaton: Arc<Levenshtein>,
}

impl SharedFuzzyQuery {
    pub(crate) fn new(field: Field, automaton: Arc<Levenshtein>) -> Self {
        SharedFuzzyQuery { field, automaton }
    }
}

impl std::fmt::Debug for SharedFuzzyQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedFuzzyQuery")
            .field("field", &self.field)
            .field("states", &self.automaton.0.num_states())
            .finish()
    }
}

impl Query for SharedFuzzyQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<Levenshtein>::new(
            self.field,
            Arc::clone(&self.automaton),
        )))
    }
}

/// One expansion a plan made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expansion {
    pub(crate) word: String,
    /// The edit distance; 0 for a CJK bigram split into its characters.
    pub(crate) distance: u8,
}

/// Why a word was not expanded (for the plan's record, and the tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Too short, digits, or CJK (which is not expanded by edits).
    NotAWord,
    /// Longer than `max_word_chars`.
    TooLong,
    /// `max_words` expansions were made already.
    NoWordsLeft,
    /// The automaton would not fit in what is left of `automaton_bytes`.
    NoBytesLeft,
}

/// The fuzzy budget of one search, spent as its plans are built. A word expanded once (by
/// the strict plan) is expanded again for free (by the relaxed plan), with the same automaton.
pub(crate) struct Expander {
    budget: FuzzyBudget,
    expanded: Vec<String>,
    automata: HashMap<String, Arc<Levenshtein>>,
    bytes: usize,
}

impl Expander {
    pub(crate) fn new(budget: FuzzyBudget) -> Self {
        Expander {
            budget,
            expanded: Vec::new(),
            automata: HashMap::new(),
            bytes: 0,
        }
    }

    /// The bytes this search's automata take.
    #[cfg_attr(not(test), expect(dead_code))]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a query of `query_words` distinct ranked words may expand anything.
    pub(crate) fn allows_query(&self, query_words: usize) -> bool {
        query_words <= self.budget.max_query_words
    }

    /// Takes one word from the budget (no automaton: a CJK bigram split in two).
    pub(crate) fn take_word(&mut self, word: &str) -> Result<(), Refusal> {
        if self.expanded.iter().any(|w| w == word) {
            return Ok(());
        }
        if self.expanded.len() >= self.budget.max_words {
            return Err(Refusal::NoWordsLeft);
        }
        self.expanded.push(word.to_string());
        Ok(())
    }

    /// The automaton of `word` at the distance its length calls for, within the budget.
    pub(crate) fn automaton(&mut self, word: &str) -> Result<(u8, Arc<Levenshtein>), Refusal> {
        let chars = word.chars().count();
        let distance = distance_for(chars).ok_or(Refusal::NotAWord)?;
        if chars > self.budget.max_word_chars {
            return Err(Refusal::TooLong);
        }
        if let Some(automaton) = self.automata.get(word) {
            return Ok((distance, Arc::clone(automaton)));
        }
        if self.expanded.len() >= self.budget.max_words {
            return Err(Refusal::NoWordsLeft);
        }
        if self.bytes + max_states(distance, word) * STATE_BYTES > self.budget.automaton_bytes {
            return Err(Refusal::NoBytesLeft);
        }
        let automaton = Arc::new(Levenshtein(builder(distance).build_dfa(word)));
        self.bytes += automaton.bytes();
        self.expanded.push(word.to_string());
        self.automata
            .insert(word.to_string(), Arc::clone(&automaton));
        Ok((distance, automaton))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy_fst::Automaton as _;

    fn accepts(automaton: &Levenshtein, text: &str) -> bool {
        let mut state = automaton.start();
        for &b in text.as_bytes() {
            state = automaton.accept(&state, b);
        }
        automaton.is_match(&state)
    }

    #[test]
    fn distance_one_for_short_words_two_for_long_ones() {
        assert_eq!(distance_for(3), None);
        assert_eq!(distance_for(4), Some(1));
        assert_eq!(distance_for(6), Some(1));
        assert_eq!(distance_for(7), Some(2));
        let mut expander = Expander::new(FuzzyBudget::default());
        let (distance, serch) = expander.automaton("serch").unwrap();
        assert_eq!(distance, 1);
        assert!(accepts(&serch, "search") && accepts(&serch, "serch") && accepts(&serch, "srech"));
        assert!(!accepts(&serch, "starch"), "two edits from a 5-letter word");
        let (distance, reguler) = expander.automaton("reguler").unwrap();
        assert_eq!(distance, 2);
        assert!(accepts(&reguler, "regular") && accepts(&reguler, "regulars"));
        assert!(!accepts(&reguler, "regulate"));
    }

    #[test]
    fn the_budget_bounds_words_and_bytes() {
        let mut expander = Expander::new(FuzzyBudget {
            max_words: 2,
            ..FuzzyBudget::default()
        });
        expander.automaton("abcdefgh").unwrap();
        // The same word again is free.
        expander.automaton("abcdefgh").unwrap();
        expander.automaton("ijklmnop").unwrap();
        assert_eq!(
            expander.automaton("qrstuvwx").err(),
            Some(Refusal::NoWordsLeft)
        );
        assert_eq!(expander.take_word("群祖"), Err(Refusal::NoWordsLeft));
        assert!(expander.bytes() > 0);

        let mut tight = Expander::new(FuzzyBudget {
            automaton_bytes: max_states(2, "abcdefgh") * STATE_BYTES,
            ..FuzzyBudget::default()
        });
        tight.automaton("abcdefgh").unwrap();
        assert_eq!(
            tight.automaton("ijklmnop").err(),
            Some(Refusal::NoBytesLeft)
        );
        assert!(tight.bytes() <= max_states(2, "abcdefgh") * STATE_BYTES);

        let mut expander = Expander::new(FuzzyBudget::default());
        let long = "a".repeat(25);
        assert_eq!(expander.automaton(&long).err(), Some(Refusal::TooLong));
        assert_eq!(expander.automaton("abc").err(), Some(Refusal::NotAWord));
    }

    /// [`max_states`] bounds real automata, for ASCII and non-ASCII words of every length the
    /// budget allows, so the budget check before building is sound.
    #[test]
    fn state_bound_holds() {
        let alphabets: [&[char]; 3] = [
            &[
                'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm',
            ],
            &['é', 'ß', 'ø', 'ü', 'a', 'e', 'n'],
            &['ж', 'я', 'ю', 'щ', 'д', 'а', 'б', '🙂'],
        ];
        let mut seed = 0x9e37_79b9_u64;
        for chars in 4..=FuzzyBudget::default().max_word_chars {
            for alphabet in alphabets {
                for _ in 0..8 {
                    let word: String = (0..chars)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            alphabet[(seed % alphabet.len() as u64) as usize]
                        })
                        .collect();
                    for distance in [1, 2] {
                        let states = builder(distance).build_dfa(&word).num_states();
                        assert!(
                            states <= max_states(distance, &word),
                            "{word:?} at distance {distance}: {states} states"
                        );
                    }
                }
            }
        }
    }
}
