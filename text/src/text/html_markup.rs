//! The bits of HTML that ticket bodies carry: tag names and character entities.
//!
//! Ticket exports are not HTML documents. They are plain text that picked up
//! fragments of HTML on the way: `<br>` from a web form, `&amp;` from an
//! escaping layer, the odd `<p>` or `<span style="…">` pasted from a mail
//! client. We therefore do not parse HTML; we only recognise *known* tag
//! names, so that anything else in angle brackets (such as the data's `<name>`
//! placeholders) survives.

/// What a recognised HTML tag turns into when it is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagKind {
    /// A line break or block boundary (`<br>`, `<p>`, `<div>` …). Replaced by
    /// whitespace, because the text on either side belongs to different
    /// words: `Hello<br>World` is two words, not `HelloWorld`.
    Break,
    /// Inline markup (`<b>`, `<span>`, `<a href=…>` …). Removed without a
    /// trace, because it may sit inside a word: `un<b>break</b>able`.
    Inline,
}

/// Classifies a tag name, or returns `None` when it is not an HTML element we
/// know. `name` must already be ASCII-lowercased.
///
/// The list is deliberately limited to elements that turn up in e-mail and
/// rich-text bodies. It is a `match` rather than a set because the compiler
/// turns it into a cheap decision tree and there is nothing to initialise.
pub(crate) fn tag_kind(name: &str) -> Option<TagKind> {
    match name {
        "address" | "article" | "aside" | "blockquote" | "body" | "br" | "caption" | "center"
        | "col" | "colgroup" | "dd" | "details" | "dialog" | "div" | "dl" | "dt" | "fieldset"
        | "figcaption" | "figure" | "footer" | "form" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        | "head" | "header" | "hr" | "html" | "iframe" | "img" | "input" | "legend" | "li"
        | "link" | "main" | "menu" | "meta" | "nav" | "ol" | "option" | "p" | "pre" | "script"
        | "section" | "select" | "style" | "summary" | "table" | "tbody" | "td" | "textarea"
        | "tfoot" | "th" | "thead" | "title" | "tr" | "ul" | "wbr" => Some(TagKind::Break),
        "a" | "abbr" | "b" | "bdi" | "bdo" | "big" | "button" | "cite" | "code" | "data"
        | "del" | "dfn" | "em" | "font" | "i" | "ins" | "kbd" | "label" | "mark" | "object"
        | "output" | "picture" | "q" | "s" | "samp" | "small" | "source" | "span" | "strike"
        | "strong" | "sub" | "sup" | "svg" | "template" | "time" | "tt" | "u" | "var" => {
            Some(TagKind::Inline)
        }
        _ => None,
    }
}

/// Whether a *bare* tag (`<address>`: no attributes, no `/`) with this name
/// is more likely a placeholder than markup.
///
/// Some element names are also ordinary words that ticket templates put in
/// angle brackets (the multi-language export has `<Address>`). A real element
/// of this kind almost always comes with a closing tag or attributes, and
/// those forms are still stripped as HTML; only the bare form is kept.
pub(crate) fn could_be_placeholder(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "caption"
            | "code"
            | "data"
            | "details"
            | "label"
            | "menu"
            | "object"
            | "option"
            | "output"
            | "picture"
            | "source"
            | "summary"
            | "template"
            | "time"
            | "title"
    )
}

/// Whether `name` (lowercase) is an HTML element that can never be a
/// placeholder, such as `br` or `div`.
pub(crate) fn is_markup_only(name: &str) -> bool {
    tag_kind(name).is_some() && !could_be_placeholder(name)
}

/// The longest entity we try to decode, `&` and `;` included. Bounding it keeps
/// a lone `&` from making us scan the rest of the text.
const MAX_ENTITY_LEN: usize = 12;

/// Decodes the character entity at the start of `text` (which begins with
/// `&`). Returns the character and how many bytes the entity spans, or `None`
/// when `text` does not start with an entity we know; the caller then keeps
/// the `&` as literal text, which is what a browser does too.
pub(crate) fn decode_entity(text: &str) -> Option<(char, usize)> {
    let bytes = text.as_bytes();
    let window = &bytes[..bytes.len().min(MAX_ENTITY_LEN)];
    let end = window.iter().position(|&b| b == b';')?;
    // `text` starts with the ASCII `&` and `end` indexes an ASCII `;`, so both
    // slice boundaries are char boundaries.
    let body = text.get(1..end)?;
    let c = if let Some(number) = body.strip_prefix('#') {
        decode_numeric(number)?
    } else {
        named_entity(body)?
    };
    Some((c, end + 1))
}

/// `&#233;` and `&#xE9;`. Invalid code points (surrogates, values past
/// U+10FFFF such as `&#99999999;`) are not decoded.
fn decode_numeric(number: &str) -> Option<char> {
    let value = match number.strip_prefix(['x', 'X']) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
            number.parse().ok()?
        }
        None => return None,
    };
    char::from_u32(value)
}

/// The named entities seen in exported tickets: the XML five, the non-breaking
/// space, typographic punctuation, and the accented letters of the pipeline's
/// main languages (HTML mail from German or French clients is full of them).
fn named_entity(name: &str) -> Option<char> {
    let c = match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "shy" => '\u{ad}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        "pound" => '£',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "szlig" => 'ß',
        "aacute" => 'á',
        "eacute" => 'é',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "Aacute" => 'Á',
        "Eacute" => 'É',
        "Iacute" => 'Í',
        "Oacute" => 'Ó',
        "Uacute" => 'Ú',
        "agrave" => 'à',
        "egrave" => 'è',
        "igrave" => 'ì',
        "ograve" => 'ò',
        "ugrave" => 'ù',
        "Agrave" => 'À',
        "Egrave" => 'È',
        "acirc" => 'â',
        "ecirc" => 'ê',
        "icirc" => 'î',
        "ocirc" => 'ô',
        "ucirc" => 'û',
        "atilde" => 'ã',
        "otilde" => 'õ',
        "ntilde" => 'ñ',
        "Ntilde" => 'Ñ',
        "ccedil" => 'ç',
        "Ccedil" => 'Ç',
        "euml" => 'ë',
        "iuml" => 'ï',
        "iexcl" => '¡',
        "iquest" => '¿',
        _ => return None,
    };
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_tags() {
        assert_eq!(tag_kind("br"), Some(TagKind::Break));
        assert_eq!(tag_kind("div"), Some(TagKind::Break));
        assert_eq!(tag_kind("span"), Some(TagKind::Inline));
        assert_eq!(tag_kind("name"), None);
        assert_eq!(tag_kind("acc_num"), None);
        assert!(is_markup_only("br"));
        assert!(!is_markup_only("address"));
        assert!(!is_markup_only("name"));
    }

    #[test]
    fn every_placeholder_like_name_is_a_known_tag() {
        // Otherwise `could_be_placeholder` would be dead weight for that name.
        for name in [
            "address", "caption", "code", "data", "details", "label", "menu", "object", "option",
            "output", "picture", "source", "summary", "template", "time", "title",
        ] {
            assert!(could_be_placeholder(name), "{name}");
            assert!(tag_kind(name).is_some(), "{name}");
        }
    }

    #[test]
    fn decodes_named_and_numeric_entities() {
        assert_eq!(decode_entity("&amp; rest"), Some(('&', 5)));
        assert_eq!(decode_entity("&lt;"), Some(('<', 4)));
        assert_eq!(decode_entity("&nbsp;"), Some(('\u{a0}', 6)));
        assert_eq!(decode_entity("&#39;"), Some(('\'', 5)));
        assert_eq!(decode_entity("&#xE9;"), Some(('é', 6)));
        assert_eq!(decode_entity("&#XE9;"), Some(('é', 6)));
        assert_eq!(decode_entity("&auml;"), Some(('ä', 6)));
    }

    #[test]
    fn leaves_non_entities_alone() {
        assert_eq!(decode_entity("&"), None);
        assert_eq!(decode_entity("& b;"), None);
        assert_eq!(decode_entity("&unknown;"), None);
        assert_eq!(decode_entity("&#99999999;"), None);
        assert_eq!(decode_entity("&#xD800;"), None); // a surrogate is not a char
        assert_eq!(decode_entity("&#;"), None);
        assert_eq!(decode_entity("&#x;"), None);
        assert_eq!(decode_entity("&#12a;"), None);
        assert_eq!(decode_entity("&ampersand-without-semicolon"), None);
        assert_eq!(decode_entity("&é;"), None);
    }
}
