//! Stop-word removal with the stopwords-iso lists.
//!
//! The word lists come from the `stop-words` crate (its `iso` feature, the
//! stopwords-iso collection). They are static slices, so each language's
//! slice is turned into a `HashSet` the first time that language is needed
//! and cached for the life of the process: a worker cleaning a shard of
//! German tickets pays for German once and never for Vietnamese.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::is_placeholder;
use super::language_code::{STOPWORD_LANGUAGES, canonical_language_code};

/// One lazily built set per entry of [`STOPWORD_LANGUAGES`], same index.
static SETS: [OnceLock<HashSet<String>>; STOPWORD_LANGUAGES.len()] =
    [const { OnceLock::new() }; STOPWORD_LANGUAGES.len()];

/// Words the stopwords-iso lists contain that carry signal in support
/// tickets, so we keep them.
///
/// The English list is generous (1,298 entries, built from web text): it
/// drops `problem`, `changes`, `system`, `fix` and `test`, which are close to
/// the ticket-type labels themselves (Problem, Change, Incident). The other
/// lists have a few of the same kind (`cuenta` = account, `apoio` = support).
const KEPT_WORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "auth",
            "bill",
            "changes",
            "click",
            "computer",
            "copy",
            "date",
            "empty",
            "fix",
            "group",
            "groups",
            "homepage",
            "html",
            "http",
            "index",
            "information",
            "line",
            "member",
            "members",
            "microsoft",
            "null",
            "open",
            "opened",
            "order",
            "ordered",
            "orders",
            "page",
            "pages",
            "problem",
            "problems",
            "run",
            "site",
            "system",
            "test",
            "text",
            "value",
            "web",
            "webpage",
            "website",
            "www",
        ],
    ),
    ("de", &["startseite"]),
    ("es", &["cuenta", "trabajo", "valor"]),
    ("fr", &["clic", "essai", "valeur"]),
    ("it", &["registrazione"]),
    (
        "pt",
        &[
            "apoio",
            "desligado",
            "ligado",
            "número",
            "sistema",
            "trabalho",
            "valor",
        ],
    ),
];

/// Removes the stop words of `language` (an ISO 639-1 code such as `"de"`;
/// `"DE"` and `"de-AT"` work too) from `tokens`.
///
/// Tokens must be lowercase, as [`tokenize`](super::tokenize) makes them.
/// Placeholders are never removed. For a language without a list the tokens
/// come back unchanged: losing a few stop words is better than losing a
/// ticket.
///
/// ```
/// use ticketflow_text::text::{remove_stop_words, tokenize};
///
/// let tokens = tokenize("Ich kann mich nicht bei <name> anmelden");
/// assert_eq!(remove_stop_words(tokens, "de"), ["<name>", "anmelden"]);
/// ```
pub fn remove_stop_words(mut tokens: Vec<String>, language: &str) -> Vec<String> {
    if let Some(stop_words) = stop_word_set(language) {
        tokens.retain(|token| is_placeholder(token) || !stop_words.contains(token.as_str()));
    }
    tokens
}

/// For each of `languages`, how many of `tokens` are stop words of that
/// language and of no other in `languages`. Languages without a list get 0.
/// Language detection uses it to tell languages apart.
pub(crate) fn distinctive_votes(tokens: &[String], languages: &[&str]) -> Vec<usize> {
    let sets: Vec<_> = languages.iter().map(|code| stop_word_set(code)).collect();
    let mut votes = vec![0; languages.len()];
    for token in tokens {
        let mut owners = sets
            .iter()
            .enumerate()
            .filter(|(_, set)| set.is_some_and(|set| set.contains(token.as_str())));
        if let (Some((only, _)), None) = (owners.next(), owners.next())
            && let Some(count) = votes.get_mut(only)
        {
            *count += 1;
        }
    }
    votes
}

/// The cached stop-word set of `language`, built on first use.
fn stop_word_set(language: &str) -> Option<&'static HashSet<String>> {
    let code = canonical_language_code(language)?;
    let index = STOPWORD_LANGUAGES.iter().position(|&l| l == code)?;
    let words = stop_words::lookup(code)?;
    let set = SETS.get(index)?;
    Some(set.get_or_init(|| build_set(code, words)))
}

fn build_set(code: &str, words: &[&str]) -> HashSet<String> {
    let kept = KEPT_WORDS
        .iter()
        .find(|(language, _)| *language == code)
        .map_or(&[][..], |(_, words)| *words);
    words
        .iter()
        // Same spelling as the tokenizer produces: lowercase, ASCII apostrophe.
        .map(|word| word.to_lowercase().replace('\u{2019}', "'"))
        .filter(|word| !kept.contains(&word.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::SUPPORTED_STOPWORD_LANGUAGES;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn every_supported_language_has_a_list() {
        for code in SUPPORTED_STOPWORD_LANGUAGES {
            assert!(stop_words::lookup(code).is_some(), "{code}");
            assert!(
                stop_word_set(code).is_some_and(|set| !set.is_empty()),
                "{code}"
            );
        }
        for code in ["en", "de", "es", "fr", "pt", "it", "nl"] {
            assert!(SUPPORTED_STOPWORD_LANGUAGES.contains(&code), "{code}");
        }
    }

    #[test]
    fn the_iso_lists_are_in_effect() {
        // If another crate in the build enables `stop-words/nltk`, Cargo's
        // feature unification silently swaps in NLTK's much shorter lists for
        // the languages both collections have.
        let english = stop_words::lookup("en").map_or(0, <[_]>::len);
        assert!(
            english > 1000,
            "English list has {english} words: is the `nltk` feature on?"
        );
    }

    #[test]
    fn removes_stop_words_and_keeps_content() {
        let tokens = strings(&["the", "vpn", "is", "not", "connecting", "for", "me"]);
        assert_eq!(remove_stop_words(tokens, "en"), ["vpn", "connecting"]);
    }

    #[test]
    fn language_code_is_canonicalised() {
        let tokens = strings(&["the", "vpn"]);
        assert_eq!(remove_stop_words(tokens.clone(), "EN"), ["vpn"]);
        assert_eq!(remove_stop_words(tokens.clone(), " en-US "), ["vpn"]);
        assert_eq!(remove_stop_words(tokens, "English"), ["vpn"]);
    }

    #[test]
    fn unknown_language_leaves_tokens_unchanged() {
        let tokens = strings(&["the", "vpn", "is", "down"]);
        assert_eq!(remove_stop_words(tokens.clone(), "xx"), tokens);
        assert_eq!(remove_stop_words(tokens.clone(), ""), tokens);
        // Known language, but stopwords-iso has no list for it.
        assert_eq!(remove_stop_words(tokens.clone(), "cy"), tokens);
    }

    #[test]
    fn placeholders_are_never_removed() {
        let tokens = strings(&["<name>", "the", "<acc_num>"]);
        assert_eq!(remove_stop_words(tokens, "en"), ["<name>", "<acc_num>"]);
    }

    #[test]
    fn ticket_vocabulary_survives_the_generous_english_list() {
        for word in [
            "problem",
            "problems",
            "changes",
            "system",
            "fix",
            "test",
            "information",
        ] {
            assert!(
                stop_words::lookup("en").is_some_and(|l| l.contains(&word)),
                "{word}"
            );
            assert_eq!(remove_stop_words(strings(&[word]), "en"), [word]);
        }
        assert_eq!(
            remove_stop_words(strings(&["la", "cuenta"]), "es"),
            ["cuenta"]
        );
        assert_eq!(
            remove_stop_words(strings(&["o", "sistema"]), "pt"),
            ["sistema"]
        );
    }

    #[test]
    fn kept_words_are_real_list_entries() {
        // A kept word that the list does not contain is a typo.
        for (code, words) in KEPT_WORDS {
            let list = stop_words::lookup(code).unwrap_or_default();
            for word in *words {
                assert!(list.contains(word), "{code}: {word}");
            }
        }
    }
}
