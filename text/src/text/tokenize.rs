//! Splitting normalised text into lowercase word tokens.
//!
//! Word boundaries come from the Unicode word-segmentation rules (UAX #29,
//! via `unicode-segmentation`), which already do the right thing for most of
//! what tickets contain: `Zugriffsprobleme`, `não` and `naïve` are one word,
//! `3.5` and `10,000` are one number, `z.B.` keeps its inner dot. On top of
//! that we add three rules the standard leaves to the application:
//!
//! 1. canonical placeholders (`<acc_num>`) are single tokens;
//! 2. hyphenated compounds (`e-mail`, `E-Mail-Adresse`, `wi-fi`) stay whole,
//!    since their parts alone (`e`, `mail`) mean something else;
//! 3. French and Italian elisions are split (`l'ordinateur` → `l`,
//!    `ordinateur`; `dell'account` → `dell`, `account`), so that the article
//!    can be dropped as a stop word and the noun matches its plain form.

use unicode_segmentation::UnicodeSegmentation;

use super::placeholder;

/// Splits normalised text into tokens.
///
/// Tokens are lowercase words and numbers; punctuation, symbols and emoji are
/// dropped; canonical placeholders are kept whole. Stop words are *not*
/// removed here (see [`remove_stop_words`](super::remove_stop_words)).
///
/// ```
/// use ticketflow_text::text::tokenize;
///
/// assert_eq!(
///     tokenize("Hi <name>, my E-Mail fails!"),
///     ["hi", "<name>", "my", "e-mail", "fails"]
/// );
/// ```
pub fn tokenize(normalized: &str) -> Vec<String> {
    // One apostrophe, so that `don’t` and `don't` are the same token and the
    // stop-word lists (which use `'`) match both.
    let lower = normalized.to_lowercase().replace('\u{2019}', "'");
    let mut tokens = Vec::new();
    let mut words = Words::new(&mut tokens);
    let mut rest = lower.as_str();
    while let Some(open) = rest.find('<') {
        let (before, from_open) = rest.split_at(open);
        words.feed(before);
        match placeholder::canonical_len(from_open) {
            Some(len) => {
                let (token, after) = from_open.split_at(len);
                words.placeholder(token);
                rest = after;
            }
            None => {
                // A `<` that opens nothing: a word boundary, like any other
                // punctuation. It is one byte, so `1` is a char boundary.
                words.flush();
                rest = &from_open[1..];
            }
        }
    }
    words.feed(rest);
    words.flush();
    tokens
}

/// Accumulates word segments into tokens, joining hyphenated compounds.
struct Words<'a> {
    tokens: &'a mut Vec<String>,
    /// The token being built; it may still grow by `-word`.
    current: Option<String>,
    /// `current` was just followed by a hyphen.
    after_hyphen: bool,
}

impl<'a> Words<'a> {
    fn new(tokens: &'a mut Vec<String>) -> Self {
        Words {
            tokens,
            current: None,
            after_hyphen: false,
        }
    }

    /// Feeds a stretch of text that holds no placeholder.
    fn feed(&mut self, text: &str) {
        for segment in text.split_word_bounds() {
            if is_word(segment) {
                match self.current.as_mut() {
                    Some(current) if self.after_hyphen => {
                        current.push('-');
                        current.push_str(segment);
                    }
                    _ => {
                        self.flush();
                        self.current = Some(segment.to_owned());
                    }
                }
                self.after_hyphen = false;
            } else if is_hyphen(segment) && self.current.is_some() && !self.after_hyphen {
                self.after_hyphen = true;
            } else {
                self.flush();
            }
        }
    }

    fn placeholder(&mut self, token: &str) {
        self.flush();
        self.tokens.push(token.to_owned());
    }

    /// Ends the current token; a dangling hyphen (`pre- and post-`) is dropped.
    fn flush(&mut self) {
        self.after_hyphen = false;
        if let Some(token) = self.current.take() {
            push_split_elision(self.tokens, token);
        }
    }
}

/// A segment is a word if it holds a letter or a digit. This drops
/// whitespace, punctuation, symbols and emoji.
fn is_word(segment: &str) -> bool {
    segment.chars().any(char::is_alphanumeric)
}

/// ASCII hyphen-minus and the Unicode hyphens people paste from Word.
fn is_hyphen(segment: &str) -> bool {
    matches!(segment, "-" | "\u{2010}" | "\u{2011}")
}

/// Articles and prepositions that French and Italian elide before a vowel.
/// Only these are split off, so English `it's` or `o'clock` stay whole.
const ELISIONS: &[&str] = &[
    // French
    "c", "d", "j", "l", "m", "n", "qu", "s", "t", "jusqu", "lorsqu", "puisqu", "quoiqu",
    // Italian
    "all", "dall", "dell", "nell", "sull", "coll", "quell", "quest", "un",
];

fn push_split_elision(tokens: &mut Vec<String>, token: String) {
    if let Some((head, tail)) = token.split_once('\'')
        && ELISIONS.contains(&head)
        && tail.chars().next().is_some_and(char::is_alphabetic)
    {
        tokens.push(head.to_owned());
        tokens.push(tail.to_owned());
        return;
    }
    tokens.push(token);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_drops_punctuation() {
        assert_eq!(
            tokenize("Hello, World!!! ... (VPN) -- ok?"),
            ["hello", "world", "vpn", "ok"]
        );
        assert!(tokenize("?!... --- ,,,").is_empty());
        assert!(tokenize("").is_empty());
    }

    #[test]
    fn keeps_accents_umlauts_and_compounds() {
        assert_eq!(
            tokenize("Zugriffsprobleme ÜBER Größe, não, naïve, Ñandú"),
            ["zugriffsprobleme", "über", "größe", "não", "naïve", "ñandú"]
        );
    }

    #[test]
    fn numbers_stay_whole() {
        assert_eq!(
            tokenize("v3.5 costs 10,000 EUR on 2024-01-31"),
            ["v3.5", "costs", "10,000", "eur", "on", "2024-01-31"]
        );
        assert_eq!(tokenize("Office 365"), ["office", "365"]);
    }

    #[test]
    fn hyphenated_compounds_stay_whole() {
        assert_eq!(tokenize("E-Mail-Adresse"), ["e-mail-adresse"]);
        assert_eq!(
            tokenize("my e-mail and wi\u{2011}fi"),
            ["my", "e-mail", "and", "wi-fi"]
        );
        // Hyphens that do not join two words are punctuation.
        assert_eq!(
            tokenize("pre- and post-processing"),
            ["pre", "and", "post-processing"]
        );
        assert_eq!(tokenize("a - b -- c"), ["a", "b", "c"]);
        assert_eq!(tokenize("a--b"), ["a", "b"]);
    }

    #[test]
    fn splits_french_and_italian_elisions() {
        assert_eq!(tokenize("l'ordinateur"), ["l", "ordinateur"]);
        assert_eq!(tokenize("Qu’il y a"), ["qu", "il", "y", "a"]);
        assert_eq!(tokenize("dell'account"), ["dell", "account"]);
        // English contractions are left to the stop-word list.
        assert_eq!(
            tokenize("It’s the user's o'clock don't"),
            ["it's", "the", "user's", "o'clock", "don't"]
        );
    }

    #[test]
    fn placeholders_are_single_tokens() {
        assert_eq!(
            tokenize("Call <tel_num> or mail <email_address>, acct<acc_num>."),
            [
                "call",
                "<tel_num>",
                "or",
                "mail",
                "<email_address>",
                "acct",
                "<acc_num>"
            ]
        );
        // Lowercasing happens first, so raw `<Name>` is found too.
        assert_eq!(tokenize("Dear <Name>"), ["dear", "<name>"]);
        // Markup and other brackets are not placeholders.
        assert_eq!(
            tokenize("a <br> b <3 c < d"),
            ["a", "br", "b", "3", "c", "d"]
        );
        assert_eq!(tokenize("<<name>>"), ["<name>"]);
        assert_eq!(tokenize("e-<name>"), ["e", "<name>"]);
    }

    #[test]
    fn emoji_and_other_scripts() {
        assert_eq!(tokenize("Login 🔥🔥 fails 👍"), ["login", "fails"]);
        assert_eq!(tokenize("Пароль НЕ работает"), ["пароль", "не", "работает"]);
        // Han and kana segment per character or run; they must not vanish.
        assert!(!tokenize("密码错误").is_empty());
        assert!(!tokenize("パスワードが違います").is_empty());
        assert_eq!(tokenize("مرحبا بالعالم").len(), 2);
    }
}
