//! Anonymisation placeholders such as `<name>`, `<acc_num>` and `<tel_num>`.
//!
//! The ticket exports replace personal data with a word in angle brackets.
//! The spelling drifts between exports (`<Name>`, `< name >`,
//! `<Company Name>`, `<company_name>`), so we rewrite every variant to one
//! canonical form: `<` + lowercase snake_case identifier + `>`. A placeholder
//! is then a single token that stop-word removal never drops, which lets the
//! classifier learn that "a ticket mentioning an account number" is a signal
//! while the account number itself never reaches it.

use super::html_markup;

/// Longest identifier accepted inside a placeholder. Real ones are short;
/// the bound keeps `a < b … > c` in a long sentence from becoming one.
const MAX_NAME_LEN: usize = 40;

/// Most words a spaced placeholder (`<Contact Information>`) may have.
const MAX_WORDS: usize = 3;

/// Whether `token` is a canonical placeholder, as produced by
/// [`normalize`](super::normalize) and kept by [`tokenize`](super::tokenize).
///
/// Only the canonical form counts: `<acc_num>` is a placeholder, `<Acc_Num>`
/// and `< acc_num >` are raw text that `normalize` has not seen yet. HTML
/// elements such as `<br>` are never placeholders.
///
/// ```
/// use ticketflow_text::text::is_placeholder;
///
/// assert!(is_placeholder("<acc_num>"));
/// assert!(!is_placeholder("<br>"));
/// assert!(!is_placeholder("<Name>"));
/// assert!(!is_placeholder("name"));
/// ```
pub fn is_placeholder(token: &str) -> bool {
    canonical_len(token) == Some(token.len())
}

/// If `text` starts with a canonical placeholder, returns its length in
/// bytes. This is how the tokenizer finds placeholders in normalised text.
pub(crate) fn canonical_len(text: &str) -> Option<usize> {
    let rest = text.strip_prefix('<')?;
    let mut chars = rest.char_indices();
    let (_, first) = chars.next()?;
    if !is_lower_letter(first) {
        return None;
    }
    for (i, c) in chars {
        if c == '>' {
            let name = &rest[..i];
            let ok = i <= MAX_NAME_LEN && !html_markup::is_markup_only(name);
            return ok.then_some(i + 2);
        }
        if !(is_lower_letter(c) || c.is_numeric() || c == '_') || i > MAX_NAME_LEN {
            return None;
        }
    }
    None
}

/// A letter with no uppercase form left, so that the canonical form is stable
/// under lowercasing.
fn is_lower_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_uppercase()
}

/// Parses a placeholder in any of its raw spellings at the start of `text`
/// (which begins with `<`). Returns the canonical form and the number of
/// bytes consumed, or `None` when the brackets hold something else: an HTML
/// element, a comparison (`a < b and c > d`), an e-mail address, an arrow.
pub(crate) fn parse_raw(text: &str) -> Option<(String, usize)> {
    let rest = text.strip_prefix('<')?;
    // Look no further than a short window: a placeholder is short, and the
    // bound keeps a lone `<` in a long text cheap.
    let close = rest
        .char_indices()
        .take(MAX_NAME_LEN + 8)
        .find(|&(_, c)| c == '>' || c == '<' || c == '\n')
        .filter(|&(_, c)| c == '>')
        .map(|(i, _)| i)?;
    let inner = &rest[..close];
    let trimmed = inner.trim();
    let padded = trimmed.len() != inner.len();
    let words: Vec<&str> = trimmed.split_whitespace().collect();
    // `< name >` is a placeholder; `< b and c >` is an inequality.
    if words.is_empty() || words.len() > MAX_WORDS || (padded && words.len() > 1) {
        return None;
    }
    let first = words.first().and_then(|w| w.chars().next())?;
    if !first.is_alphabetic() {
        return None;
    }
    let mut name = String::with_capacity(trimmed.len());
    for (n, word) in words.iter().enumerate() {
        if n > 0 {
            name.push('_');
        }
        for c in word.chars() {
            match c {
                '-' | '_' => name.push('_'),
                c if c.is_alphanumeric() => name.extend(c.to_lowercase()),
                _ => return None,
            }
        }
    }
    let canonical = format!("<{name}>");
    // Re-check the result: this rejects `<br>` (markup) and anything whose
    // lowercase form is not a clean identifier.
    is_placeholder(&canonical).then_some((canonical, close + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_placeholders() {
        for p in [
            "<name>",
            "<acc_num>",
            "<tel_num>",
            "<email_address>",
            "<nome>",
            "<x2>",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for p in [
            "<Name>", "< name >", "<br>", "<div>", "<p>", "<>", "<_x>", "<1st>", "name", "<name",
            "name>", "<na me>", "<name>>", "<a-b>",
        ] {
            assert!(!is_placeholder(p), "{p}");
        }
        // A bare `<address>` is a template word, not markup.
        assert!(is_placeholder("<address>"));
    }

    #[test]
    fn canonical_len_stops_at_the_bracket() {
        assert_eq!(canonical_len("<name>, thanks"), Some(6));
        assert_eq!(canonical_len("<name"), None);
        assert_eq!(
            canonical_len(&format!("<{}>", "a".repeat(MAX_NAME_LEN + 1))),
            None
        );
        assert_eq!(
            canonical_len(&format!("<{}>", "a".repeat(MAX_NAME_LEN))),
            Some(42)
        );
    }

    fn parsed(text: &str) -> Option<String> {
        parse_raw(text).map(|(canonical, _)| canonical)
    }

    #[test]
    fn raw_spellings_become_canonical() {
        assert_eq!(parsed("<name>"), Some("<name>".into()));
        assert_eq!(parsed("<Name>"), Some("<name>".into()));
        assert_eq!(parsed("< name >"), Some("<name>".into()));
        assert_eq!(parsed("<ACC_NUM>"), Some("<acc_num>".into()));
        assert_eq!(parsed("<Company Name>"), Some("<company_name>".into()));
        assert_eq!(
            parsed("<Contact Information>"),
            Some("<contact_information>".into())
        );
        assert_eq!(parsed("<tel-num>"), Some("<tel_num>".into()));
        assert_eq!(parsed("<Address>"), Some("<address>".into()));
        assert_eq!(parse_raw("<name> rest"), Some(("<name>".into(), 6)));
        assert_eq!(parse_raw("< name >x"), Some(("<name>".into(), 8)));
    }

    #[test]
    fn other_brackets_are_not_placeholders() {
        for text in [
            "<br>",
            "<BR>",
            "< br >",
            "<div>",
            "<>",
            "< >",
            "<3",
            "<-",
            "< b and c > d",
            "<1234>",
            "<name@example.com>",
            "<https://example.com>",
            "<one two three four>",
            "<name",
            "<na\nme>",
            "<<name>>",
        ] {
            assert_eq!(parsed(text), None, "{text:?}");
        }
        let long = format!("<{}>", "a".repeat(200));
        assert_eq!(parsed(&long), None);
    }
}
