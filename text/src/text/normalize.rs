//! Light normalisation of raw ticket text.
//!
//! The output is still prose a person can read (case and punctuation are
//! kept, because the embedder sees it), minus the noise the exports carry:
//! HTML fragments, entities, escaped newlines, control characters and ragged
//! whitespace. Placeholders are rewritten to their canonical form.
//!
//! It is a single left-to-right pass. Every construct is recognised by
//! looking a bounded distance ahead, so hostile input (a thousand unclosed
//! `<`, a lone `&`) costs linear time, and anything not recognised is kept as
//! literal text rather than rejected: a ticket is never lost to cleaning.

use super::{html_markup, placeholder};

/// Longest HTML tag we look for, attributes included. Mail clients write long
/// `style` attributes; anything longer than this is treated as text.
const MAX_TAG_LEN: usize = 1024;

/// Normalises raw ticket text.
///
/// - HTML line breaks and block tags (`<br>`, `<br/>`, `<p>`, `</div>` …)
///   become whitespace; other known tags (`<b>`, `<a href="…">`) are removed;
///   HTML comments are removed.
/// - Entities are decoded: `&amp;`, `&lt;`, `&nbsp;`, `&#39;`, `&#xE9;` ….
///   Decoded text is never re-read as markup: `&lt;b&gt;` stays `<b>`.
/// - Escaped line breaks written out literally as `\n`, `\r`, `\t` become
///   whitespace.
/// - Placeholders are canonicalised: `<Name>`, `< name >` and `<name>` all
///   become `<name>`.
/// - Control and invisible formatting characters (NUL, BOM, soft hyphen,
///   zero-width space) are removed.
/// - Whitespace runs collapse to one space; the result is trimmed.
///
/// ```
/// use ticketflow_text::text::normalize;
///
/// let raw = "Dear < Name >,<br/>my account &amp; invoice\\n\\nfail.";
/// assert_eq!(normalize(raw), "Dear <name>, my account & invoice fail.");
/// ```
pub fn normalize(text: &str) -> String {
    let mut out = Output::with_capacity(text.len());
    // If there is no `>` (or `-->`) after a position, no tag (or comment) can
    // start there. Knowing the last one lets us reject a lone `<` in O(1).
    let last_gt = text.rfind('>');
    let last_comment_end = text.rfind("-->");
    let mut i = 0;
    // `i` only moves past whole characters or constructs that end in an ASCII
    // delimiter, so it is always a char boundary; `get` keeps a broken
    // invariant from becoming a panic.
    while let Some(rest) = text.get(i..) {
        let Some(c) = rest.chars().next() else { break };
        let consumed = match c {
            '<' if last_gt.is_some_and(|gt| gt > i) => {
                markup(rest, i, last_comment_end, &mut out).unwrap_or_else(|| out.char(c))
            }
            '&' => match html_markup::decode_entity(rest) {
                Some((decoded, len)) => {
                    out.char(decoded);
                    len
                }
                None => out.char(c),
            },
            '\\' => match rest.as_bytes().get(1) {
                Some(b'n' | b'r' | b't') => {
                    out.space();
                    2
                }
                _ => out.char(c),
            },
            _ => out.char(c),
        };
        i += consumed;
    }
    out.finish()
}

/// Handles a `<` at the start of `rest` (byte offset `at` in the whole text):
/// a comment, a known HTML tag or a placeholder. Returns the number of bytes
/// consumed, or `None` to keep the `<` as text.
fn markup(
    rest: &str,
    at: usize,
    last_comment_end: Option<usize>,
    out: &mut Output,
) -> Option<usize> {
    if let Some(comment) = rest.strip_prefix("<!--") {
        // Only search when a `-->` exists further on, so that an unclosed
        // comment opener costs nothing.
        last_comment_end.filter(|&end| end > at)?;
        let len = comment
            .find("-->")
            .map(|n| "<!--".len() + n + "-->".len())?;
        out.space();
        return Some(len);
    }
    if let Some((kind, len)) = html_tag(rest) {
        match kind {
            html_markup::TagKind::Break => out.space(),
            html_markup::TagKind::Inline => {}
        }
        return Some(len);
    }
    let (canonical, len) = placeholder::parse_raw(rest)?;
    out.str(&canonical);
    Some(len)
}

/// Recognises a known HTML tag at the start of `rest`: `<br>`, `</p>`,
/// `<br />`, `<a href="x>y">`, also `<!DOCTYPE html>`. Returns its kind and
/// its length in bytes.
fn html_tag(rest: &str) -> Option<(html_markup::TagKind, usize)> {
    let bytes = rest.as_bytes();
    if bytes.get(1) == Some(&b'!') {
        // A declaration such as <!DOCTYPE html>: drop it like a block tag.
        let len = tag_end(bytes, 2)?;
        return Some((html_markup::TagKind::Break, len));
    }
    let closing = bytes.get(1) == Some(&b'/');
    let name_start = if closing { 2 } else { 1 };
    let name_len = bytes
        .get(name_start..)?
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let name_end = name_start + name_len;
    if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
        return None;
    }
    // Tag names are ASCII; checked just above, so the slice is valid.
    let name = rest.get(name_start..name_end)?.to_ascii_lowercase();
    let kind = html_markup::tag_kind(&name)?;
    let next = *bytes.get(name_end)?;
    let bare = !closing && next == b'>';
    if !(next == b'>' || next == b'/' || next.is_ascii_whitespace()) {
        return None; // `<bravo>` is not `<br>`
    }
    // A bare `<address>` is left to the placeholder rules.
    if bare && html_markup::could_be_placeholder(&name) {
        return None;
    }
    Some((kind, tag_end(bytes, name_end)?))
}

/// Finds the `>` that closes a tag whose attributes start at `from`, skipping
/// quoted attribute values. Returns the tag's length, `>` included.
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().take(MAX_TAG_LEN).skip(from) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(i + 1),
            // A new `<` outside quotes: this was never a tag.
            (None, b'<') => return None,
            (None, _) => {}
        }
    }
    None
}

/// The normalised text under construction. It owns the whitespace policy:
/// runs collapse to one space, and no space is written at either end.
struct Output {
    text: String,
    pending_space: bool,
}

impl Output {
    fn with_capacity(capacity: usize) -> Self {
        Output {
            text: String::with_capacity(capacity),
            pending_space: false,
        }
    }

    /// Records a word boundary; written only if more text follows.
    fn space(&mut self) {
        self.pending_space = true;
    }

    /// Writes one character through the whitespace and control-character
    /// rules. Returns its UTF-8 length, which is what the caller consumed.
    fn char(&mut self, c: char) -> usize {
        if c.is_whitespace() {
            self.pending_space = true;
        } else if !is_invisible(c) {
            if self.pending_space && !self.text.is_empty() {
                self.text.push(' ');
            }
            self.pending_space = false;
            self.text.push(c);
        }
        c.len_utf8()
    }

    fn str(&mut self, s: &str) {
        for c in s.chars() {
            self.char(c);
        }
    }

    fn finish(self) -> String {
        self.text
    }
}

/// Characters that carry no text: C0/C1 controls (NUL, BEL, DEL …) and
/// invisible format characters that would silently split or join words.
/// Zero-width joiners stay: some scripts and emoji need them.
fn is_invisible(c: char) -> bool {
    c.is_control() || matches!(c, '\u{ad}' | '\u{200b}' | '\u{2060}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that each `(input, expected)` pair normalises as expected.
    fn assert_normalizes(cases: &[(&str, &str)]) {
        for (input, expected) in cases {
            assert_eq!(normalize(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn collapses_and_trims_whitespace() {
        assert_normalizes(&[
            ("  a \t\r\n b\u{a0}\u{2003}c  ", "a b c"),
            ("", ""),
            (" \n\t ", ""),
        ]);
    }

    #[test]
    fn keeps_case_and_punctuation() {
        assert_normalizes(&[("Hello, World! (VPN)", "Hello, World! (VPN)")]);
    }

    #[test]
    fn html_breaks_become_whitespace() {
        for br in [
            "<br>", "<br/>", "<br />", "<BR>", "<Br >", "<p>", "</p>", "<div>", "</DIV>",
        ] {
            assert_eq!(normalize(&format!("one{br}two")), "one two", "{br}");
        }
        assert_normalizes(&[
            ("<p>Hello</p><p>World</p>", "Hello World"),
            ("a<br><br><br>b", "a b"),
        ]);
    }

    #[test]
    fn inline_tags_with_attributes_are_stripped() {
        assert_normalizes(&[
            (
                r#"see <a href="https://x.io/?a=1&b=2">this</a> link"#,
                "see this link",
            ),
            (
                r#"<span style='color:red' class="x">urgent</span>"#,
                "urgent",
            ),
            ("un<b>break</b>able", "unbreakable"),
            (r#"<img src="a.png" alt="a > b"/>done"#, "done"),
            (
                r#"<div class="x"
            id="y">block</div>"#,
                "block",
            ),
        ]);
    }

    #[test]
    fn comments_and_declarations_are_stripped() {
        assert_normalizes(&[
            ("<!DOCTYPE html><html><body>Hi</body></html>", "Hi"),
            ("a<!-- hidden <b> -->b", "a b"),
            ("a <!-- never closed", "a <!-- never closed"),
        ]);
    }

    #[test]
    fn unknown_tags_and_comparisons_stay() {
        assert_normalizes(&[
            // canonical placeholder shape
            ("<bravo>", "<bravo>"),
            ("if a < b and c > d", "if a < b and c > d"),
            ("x <3 y", "x <3 y"),
            ("Bob <bob@example.com>", "Bob <bob@example.com>"),
            ("a <br b", "a <br b"),
        ]);
    }

    #[test]
    fn entities_are_decoded_once() {
        assert_normalizes(&[
            (
                "Tom &amp; Jerry &lt;3 &quot;hi&quot; it&#39;s &apos;ok&apos;",
                "Tom & Jerry <3 \"hi\" it's 'ok'",
            ),
            ("a&nbsp;&nbsp;b", "a b"),
            ("caf&#233; &#xE9;t&#xe9;", "café été"),
            ("Gr&uuml;&szlig;e", "Grüße"),
            // Decoded brackets are text, not markup, and `&amp;lt;` decodes once.
            ("&lt;br&gt;", "<br>"),
            ("&amp;lt;", "&lt;"),
            // Not entities: kept verbatim.
            (
                "R&D & Q&A &#99999999; &bogus;",
                "R&D & Q&A &#99999999; &bogus;",
            ),
            // A decoded control character is dropped like any other.
            ("a&#0;b&#7;c", "abc"),
        ]);
    }

    #[test]
    fn escaped_newlines_become_whitespace() {
        assert_normalizes(&[
            (
                r"Hello,\n\nI am writing\r\nabout\tthis.",
                "Hello, I am writing about this.",
            ),
            (r"trailing\n", "trailing"),
            // Other backslashes are ordinary text.
            (r"C:\Users\x", r"C:\Users\x"),
            (r"end\", r"end\"),
        ]);
    }

    #[test]
    fn real_newlines_become_spaces() {
        assert_normalizes(&[("line one\r\nline two\n\nthree", "line one line two three")]);
    }

    #[test]
    fn placeholders_are_canonicalised() {
        assert_normalizes(&[
            (
                "Hi <Name>, call < tel_num > re <ACC_NUM> and <Company Name>.",
                "Hi <name>, call <tel_num> re <acc_num> and <company_name>.",
            ),
            ("Dear<name>,", "Dear<name>,"),
            ("<Address>", "<address>"),
            // The element itself, with attributes or a closing tag, is markup.
            ("<address class=\"x\">Main St</address>", "Main St"),
        ]);
    }

    #[test]
    fn control_and_invisible_characters_are_removed() {
        assert_normalizes(&[
            ("a\0b\u{7}c\u{7f}d\u{9c}", "abcd"),
            ("\u{feff}Zugriffs\u{ad}pro\u{200b}bleme", "Zugriffsprobleme"),
            // The emoji family keeps its zero-width joiners.
            ("👨\u{200d}👩\u{200d}👧", "👨\u{200d}👩\u{200d}👧"),
        ]);
    }

    #[test]
    fn non_latin_text_passes_through() {
        assert_normalizes(&[
            ("Пароль  не работает", "Пароль не работает"),
            ("密码<br>错误", "密码 错误"),
            ("مرحبا بالعالم", "مرحبا بالعالم"),
        ]);
    }
}
