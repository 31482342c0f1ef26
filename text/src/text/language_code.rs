//! Language codes.
//!
//! The pipeline speaks ISO 639-1 (`"en"`, `"de"`): that is what the exports'
//! `language` column holds and what the stop-word lists are keyed by.
//! `whatlang`, the detector, speaks ISO 639-3 (`Lang::Deu`), so this module
//! owns the mapping between the two, the labels people write for a language,
//! and the codes that have a stop-word list. Detection ([`super::language`])
//! and stop words ([`super::stopwords`]) both build on it.

use whatlang::Lang;

/// The ISO 639-1 codes that have a stop-word list: every language of the
/// stopwords-iso collection.
pub const SUPPORTED_STOPWORD_LANGUAGES: &[&str] = &STOPWORD_LANGUAGES;

pub(super) const STOPWORD_LANGUAGES: [&str; 58] = [
    "af", "ar", "bg", "bn", "br", "ca", "cs", "da", "de", "el", "en", "eo", "es", "et", "eu", "fa",
    "fi", "fr", "ga", "gl", "gu", "ha", "he", "hi", "hr", "hu", "hy", "id", "it", "ja", "ko", "ku",
    "la", "lt", "lv", "mr", "ms", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "so", "st", "sv",
    "sw", "th", "tl", "tr", "uk", "ur", "vi", "yo", "zh", "zu",
];

/// Every language `whatlang` can detect, with its ISO 639-1 code.
///
/// Norwegian Bokmål maps to `no` (the macrolanguage) because that is the code
/// the stop-word lists and most exports use.
const ISO_639_1: &[(Lang, &str)] = &[
    (Lang::Afr, "af"),
    (Lang::Aka, "ak"),
    (Lang::Amh, "am"),
    (Lang::Ara, "ar"),
    (Lang::Aze, "az"),
    (Lang::Bel, "be"),
    (Lang::Ben, "bn"),
    (Lang::Bul, "bg"),
    (Lang::Cat, "ca"),
    (Lang::Ces, "cs"),
    (Lang::Cmn, "zh"),
    (Lang::Cym, "cy"),
    (Lang::Dan, "da"),
    (Lang::Deu, "de"),
    (Lang::Ell, "el"),
    (Lang::Eng, "en"),
    (Lang::Epo, "eo"),
    (Lang::Est, "et"),
    (Lang::Fin, "fi"),
    (Lang::Fra, "fr"),
    (Lang::Guj, "gu"),
    (Lang::Heb, "he"),
    (Lang::Hin, "hi"),
    (Lang::Hrv, "hr"),
    (Lang::Hun, "hu"),
    (Lang::Hye, "hy"),
    (Lang::Ind, "id"),
    (Lang::Ita, "it"),
    (Lang::Jav, "jv"),
    (Lang::Jpn, "ja"),
    (Lang::Kan, "kn"),
    (Lang::Kat, "ka"),
    (Lang::Khm, "km"),
    (Lang::Kor, "ko"),
    (Lang::Lat, "la"),
    (Lang::Lav, "lv"),
    (Lang::Lit, "lt"),
    (Lang::Mal, "ml"),
    (Lang::Mar, "mr"),
    (Lang::Mkd, "mk"),
    (Lang::Mya, "my"),
    (Lang::Nep, "ne"),
    (Lang::Nld, "nl"),
    (Lang::Nob, "no"),
    (Lang::Ori, "or"),
    (Lang::Pan, "pa"),
    (Lang::Pes, "fa"),
    (Lang::Pol, "pl"),
    (Lang::Por, "pt"),
    (Lang::Ron, "ro"),
    (Lang::Rus, "ru"),
    (Lang::Sin, "si"),
    (Lang::Slk, "sk"),
    (Lang::Slv, "sl"),
    (Lang::Sna, "sn"),
    (Lang::Spa, "es"),
    (Lang::Srp, "sr"),
    (Lang::Swe, "sv"),
    (Lang::Tam, "ta"),
    (Lang::Tel, "te"),
    (Lang::Tgl, "tl"),
    (Lang::Tha, "th"),
    (Lang::Tuk, "tk"),
    (Lang::Tur, "tr"),
    (Lang::Ukr, "uk"),
    (Lang::Urd, "ur"),
    (Lang::Uzb, "uz"),
    (Lang::Vie, "vi"),
    (Lang::Yid, "yi"),
    (Lang::Zul, "zu"),
];

/// Codes people write that mean a language in the table under another code.
const ALIASES: &[(&str, &str)] = &[("nb", "no"), ("iw", "he"), ("in", "id"), ("ji", "yi")];

/// The ISO 639-1 code of a `whatlang` language.
pub(super) fn iso_code(lang: Lang) -> Option<&'static str> {
    ISO_639_1
        .iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, code)| *code)
}

/// Turns a language label as it appears in data or on a command line into a
/// canonical ISO 639-1 code, or `None` when it names no language we know.
///
/// Accepted: ISO 639-1 in any case with a region or script suffix (`"en"`,
/// `" EN "`, `"en-US"`, `"pt_BR"`), ISO 639-3 (`"deu"`), and English or
/// native language names (`"German"`, `"Deutsch"`).
///
/// ```
/// use ticketflow_text::text::canonical_language_code;
///
/// assert_eq!(canonical_language_code("EN"), Some("en"));
/// assert_eq!(canonical_language_code("pt-BR"), Some("pt"));
/// assert_eq!(canonical_language_code("Deutsch"), Some("de"));
/// assert_eq!(canonical_language_code("xx"), None);
/// ```
pub fn canonical_language_code(label: &str) -> Option<&'static str> {
    let label = label.trim();
    let primary = label.split(['-', '_']).next().unwrap_or_default();
    let primary = primary.to_ascii_lowercase();
    match primary.len() {
        2 => {
            let code = ALIASES
                .iter()
                .find(|(alias, _)| *alias == primary)
                .map_or(primary.as_str(), |(_, code)| *code);
            ISO_639_1
                .iter()
                .map(|(_, c)| *c)
                .chain(SUPPORTED_STOPWORD_LANGUAGES.iter().copied())
                .find(|c| *c == code)
        }
        3 => Lang::from_code(primary.as_str()).and_then(iso_code),
        _ => {
            let lower = label.to_lowercase();
            Lang::all()
                .iter()
                .find(|l| l.eng_name().to_lowercase() == lower || l.name().to_lowercase() == lower)
                .copied()
                .and_then(iso_code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whatlang_language_has_a_code() {
        for lang in Lang::all() {
            let code = iso_code(*lang);
            assert!(code.is_some_and(|c| c.len() == 2), "{lang:?}");
        }
        // And no code is used twice.
        let mut codes: Vec<_> = ISO_639_1.iter().map(|(_, c)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ISO_639_1.len());
    }

    #[test]
    fn canonicalises_codes() {
        for (label, code) in [
            ("en", "en"),
            ("EN", "en"),
            (" de ", "de"),
            ("en-US", "en"),
            ("pt_BR", "pt"),
            ("zh-Hant-TW", "zh"),
            ("nb", "no"),
            ("deu", "de"),
            ("ENG", "en"),
            ("German", "de"),
            ("français", "fr"),
            // In the stop-word lists but not in whatlang.
            ("eu", "eu"),
        ] {
            assert_eq!(canonical_language_code(label), Some(code), "{label:?}");
        }
    }

    #[test]
    fn rejects_unknown_labels() {
        for label in ["", "  ", "xx", "e", "-", "english-ish", "zzz", "12", "ü"] {
            assert_eq!(canonical_language_code(label), None, "{label:?}");
        }
    }
}
