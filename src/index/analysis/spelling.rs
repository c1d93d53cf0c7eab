//! British spellings of common English words, mapped to the American ones before stemming, so a
//! search for `tumor` finds `tumour`, `color` finds `colour` and `randomized` finds
//! `randomised` (and the other way round: both sides of the index go through here).
//!
//! The rules are the regular British/American differences: `-our`, `-tre`, `-ise`/`-yse`, the
//! `ae`/`oe` of medical words, and a few single words. Applied to every word, in the index and
//! in queries alike, a rule that also hits a word it was not meant for (`precise` →
//! `precize`) does no harm: both sides change the same way. Only a rule that merged two
//! different words would, which is why short words (`prise`, `rise`) are left alone.

use std::borrow::Cow;

/// Word starts, with what replaces them: the word and its inflections (`colours`, `coloured`).
const PREFIXES: &[(&str, &str)] = &[
    ("aetiolog", "etiolog"),
    ("amoeb", "ameb"),
    ("anaesth", "anesth"),
    ("ardour", "ardor"),
    ("armour", "armor"),
    ("artefact", "artifact"),
    ("behaviour", "behavior"),
    ("caesarean", "cesarean"),
    ("calibre", "caliber"),
    ("candour", "candor"),
    ("centre", "center"),
    ("clamour", "clamor"),
    ("coeliac", "celiac"),
    ("colour", "color"),
    ("encyclopaed", "encycloped"),
    ("endeavour", "endeavor"),
    ("faec", "fec"),
    ("favour", "favor"),
    ("fervour", "fervor"),
    ("fibre", "fiber"),
    ("flavour", "flavor"),
    ("foet", "fet"),
    ("gynaec", "gynec"),
    ("haem", "hem"),
    ("harbour", "harbor"),
    ("honour", "honor"),
    ("humour", "humor"),
    ("labour", "labor"),
    ("litre", "liter"),
    ("lustre", "luster"),
    ("manoeuvr", "maneuver"),
    ("metre", "meter"),
    ("mould", "mold"),
    ("neighbour", "neighbor"),
    ("odour", "odor"),
    ("oedem", "edem"),
    ("oesophag", "esophag"),
    ("oestr", "estr"),
    ("orthopaed", "orthoped"),
    ("paed", "ped"),
    ("parlour", "parlor"),
    ("rigour", "rigor"),
    ("rumour", "rumor"),
    ("saviour", "savior"),
    ("savour", "savor"),
    ("sceptic", "skeptic"),
    ("sombre", "somber"),
    ("spectre", "specter"),
    ("splendour", "splendor"),
    ("sulph", "sulf"),
    ("theatre", "theater"),
    ("tumour", "tumor"),
    ("valour", "valor"),
    ("vapour", "vapor"),
    ("vigour", "vigor"),
];

/// Whole words whose British form is not a prefix rule (`programmed` is American too).
const WORDS: &[(&str, &str)] = &[
    ("acknowledgement", "acknowledgment"),
    ("acknowledgements", "acknowledgments"),
    ("ageing", "aging"),
    ("aluminium", "aluminum"),
    ("analogue", "analog"),
    ("analogues", "analogs"),
    ("catalogue", "catalog"),
    ("catalogues", "catalogs"),
    ("defence", "defense"),
    ("defences", "defenses"),
    ("dialogue", "dialog"),
    ("dialogues", "dialogs"),
    ("grey", "gray"),
    ("greys", "grays"),
    ("jewellery", "jewelry"),
    ("judgement", "judgment"),
    ("judgements", "judgments"),
    ("licence", "license"),
    ("licences", "licenses"),
    ("offence", "offense"),
    ("offences", "offenses"),
    ("programme", "program"),
    ("programmes", "programs"),
];

/// Word ends, with the letters a word must keep in front of them for the rule to apply:
/// `organise` and `analyse` change, `rise`, `prise` and `raise` do not.
const SUFFIXES: &[(&str, &str, usize)] = &[
    ("isations", "izations", 4),
    ("isation", "ization", 4),
    ("ising", "izing", 4),
    ("isers", "izers", 4),
    ("ised", "ized", 4),
    ("iser", "izer", 4),
    ("ises", "izes", 4),
    ("ise", "ize", 4),
    ("ysing", "yzing", 4),
    ("ysed", "yzed", 4),
    ("yse", "yze", 4),
    // diarrhoea, gonorrhoea; apnoea, dyspnoea
    ("rrhoea", "rrhea", 1),
    ("pnoea", "pnea", 1),
];

/// The American spelling of a lowercase ASCII word, or the word itself.
pub(crate) fn american(word: &str) -> Cow<'_, str> {
    if let Ok(i) = WORDS.binary_search_by(|(british, _)| british.cmp(&word)) {
        return Cow::Borrowed(WORDS[i].1);
    }
    let mut word = Cow::Borrowed(word);
    if let Some((british, american)) = PREFIXES.iter().find(|(p, _)| word.starts_with(p)) {
        word = Cow::Owned(format!("{american}{}", &word[british.len()..]));
    }
    if word.contains("aemi") {
        // anaemia, leukaemia, ischaemic, septicaemia
        word = Cow::Owned(word.replace("aemi", "emi"));
    }
    if let Some((british, american, _)) = SUFFIXES
        .iter()
        .find(|(suffix, _, keep)| word.ends_with(suffix) && word.len() - suffix.len() >= *keep)
    {
        let stem = &word[..word.len() - british.len()];
        word = Cow::Owned(format!("{stem}{american}"));
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_prefixes_do_not_overlap() {
        // WORDS is binary-searched.
        assert!(WORDS.windows(2).all(|w| w[0].0 < w[1].0));
        // The first matching prefix wins, so no prefix may start another: order must not matter.
        for (a, _) in PREFIXES {
            for (b, _) in PREFIXES {
                assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
            }
        }
    }

    #[test]
    fn british_spellings_become_american() {
        for (british, american_form) in [
            ("colour", "color"),
            ("coloured", "colored"),
            ("tumours", "tumors"),
            ("behaviour", "behavior"),
            ("centre", "center"),
            ("fibres", "fibers"),
            ("organise", "organize"),
            ("randomised", "randomized"),
            ("characterisation", "characterization"),
            ("analysed", "analyzed"),
            ("anaemia", "anemia"),
            ("leukaemia", "leukemia"),
            ("ischaemic", "ischemic"),
            ("haemoglobin", "hemoglobin"),
            ("paediatric", "pediatric"),
            ("oestrogen", "estrogen"),
            ("oesophageal", "esophageal"),
            ("foetal", "fetal"),
            ("diarrhoea", "diarrhea"),
            ("dyspnoea", "dyspnea"),
            ("ageing", "aging"),
            ("programme", "program"),
            ("catalogue", "catalog"),
            ("sulphate", "sulfate"),
        ] {
            assert_eq!(american(british), american_form, "{british}");
        }
    }

    #[test]
    fn other_words_stay() {
        for word in [
            "color",
            "rise",
            "prise",
            "raise",
            "noise",
            "four",
            "hour",
            "your",
            "course",
            "programmed",
            "academia",
            "wise",
            "acre",
            "theater",
            "note",
        ] {
            assert_eq!(american(word), word);
        }
        // American words come through unchanged, so both spellings meet.
        for word in ["tumor", "organize", "anemia", "estrogen", "analyze"] {
            assert_eq!(american(word), word);
        }
    }
}
