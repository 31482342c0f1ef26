//! Text preparation: from a raw ticket to the text the models see.
//!
//! A ticket arrives as a subject, a body and (usually) a language label. Two
//! consumers want different things from it:
//!
//! - the **embedder** (all-MiniLM-L6-v2) wants readable prose. Its tokenizer
//!   handles case and punctuation itself, and stop words carry meaning for a
//!   transformer, so it gets the lightly [`normalize`]d text;
//! - **bag-of-words models** (the TF-IDF baseline, drift statistics on the
//!   vocabulary) want a clean token list: lowercase, no punctuation, no stop
//!   words. That is [`PreparedText::tokens`].
//!
//! [`prepare`] does both in one call and is what the loader, the CLI and the
//! cleaner worker use:
//!
//! ```
//! use ticketflow_text::text::{EmbedInput, LanguageSource, prepare};
//!
//! let prepared = prepare(
//!     "Login Problem",
//!     "Hello,\\n\\nmy account <ACC_NUM> is locked.<br>Thanks, <Name>",
//!     Some("EN"),
//! );
//! assert_eq!(prepared.language.as_deref(), Some("en"));
//! assert_eq!(prepared.language_source, LanguageSource::Given);
//! assert_eq!(
//!     prepared.normalized,
//!     "Login Problem Hello, my account <acc_num> is locked. Thanks, <name>"
//! );
//! assert_eq!(
//!     prepared.tokens,
//!     ["login", "problem", "account", "<acc_num>", "locked", "<name>"]
//! );
//! assert_eq!(prepared.placeholder_count(), 2);
//! assert_eq!(prepared.embed_text(EmbedInput::Cleaned), "login problem account <acc_num> locked <name>");
//! ```
//!
//! The steps are also public on their own, for tools that need only one:
//! [`normalize`], [`tokenize`], [`remove_stop_words`], [`detect_language`].
//!
//! Everything here is pure and total: no I/O, no panics on any input, and
//! nothing is rejected. A ticket that cleans down to nothing yields an empty
//! text and no tokens; what to do with it is the caller's decision.

mod html_markup;
mod language;
mod language_code;
mod normalize;
mod placeholder;
mod stopwords;
mod tokenize;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use language::detect_language;
pub use language_code::{SUPPORTED_STOPWORD_LANGUAGES, canonical_language_code};
pub use normalize::normalize;
pub use placeholder::is_placeholder;
pub use stopwords::remove_stop_words;
pub use tokenize::tokenize;

/// Which text the embedder sees.
///
/// `Normalized` (the default) is what sentence-transformers models are
/// trained on: running text. `Cleaned` (the stop-word-free tokens joined by
/// spaces) exists for comparison runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbedInput {
    /// [`PreparedText::normalized`].
    #[default]
    Normalized,
    /// [`PreparedText::cleaned_text`].
    Cleaned,
}

impl EmbedInput {
    /// The name used in configuration, CLI flags and serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedInput::Normalized => "normalized",
            EmbedInput::Cleaned => "cleaned",
        }
    }
}

impl fmt::Display for EmbedInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when parsing an unknown [`EmbedInput`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown embed input {0:?}: expected \"normalized\" or \"cleaned\"")]
pub struct ParseEmbedInputError(String);

impl FromStr for EmbedInput {
    type Err = ParseEmbedInputError;

    /// Accepts `normalized` and `cleaned`, in any case, surrounding
    /// whitespace ignored (they come from environment variables).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "normalized" => Ok(EmbedInput::Normalized),
            "cleaned" => Ok(EmbedInput::Cleaned),
            _ => Err(ParseEmbedInputError(s.to_owned())),
        }
    }
}

/// Where [`PreparedText::language`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LanguageSource {
    /// The ticket's own label, canonicalised.
    Given,
    /// Detected from the text, because no usable label was given.
    Detected,
    /// Neither: no label and too little text to tell.
    Unknown,
}

impl LanguageSource {
    /// Lowercase name, as serialised; handy as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            LanguageSource::Given => "given",
            LanguageSource::Detected => "detected",
            LanguageSource::Unknown => "unknown",
        }
    }
}

impl fmt::Display for LanguageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A ticket's text, ready for the models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedText {
    /// ISO 639-1 code, such as `"en"`; `None` when unknown.
    pub language: Option<String>,
    /// Whether `language` was given, detected or could not be told.
    pub language_source: LanguageSource,
    /// Subject and body, lightly normalised (see [`normalize`]); case kept.
    pub normalized: String,
    /// Lowercase word tokens without stop words (see [`tokenize`] and
    /// [`remove_stop_words`]); placeholders such as `<acc_num>` included.
    pub tokens: Vec<String>,
}

impl PreparedText {
    /// The tokens joined by single spaces.
    pub fn cleaned_text(&self) -> String {
        self.tokens.join(" ")
    }

    /// The text to embed. Borrowed for [`EmbedInput::Normalized`], so the
    /// default path does not copy.
    pub fn embed_text(&self, input: EmbedInput) -> Cow<'_, str> {
        match input {
            EmbedInput::Normalized => Cow::Borrowed(&self.normalized),
            EmbedInput::Cleaned => Cow::Owned(self.cleaned_text()),
        }
    }

    /// How many tokens are placeholders (`<name>`, `<acc_num>` …): a cheap
    /// feature, and a data-quality signal when it drifts.
    pub fn placeholder_count(&self) -> usize {
        self.tokens.iter().filter(|t| is_placeholder(t)).count()
    }
}

/// Prepares a ticket: merges subject and body, normalises, settles the
/// language, tokenises and removes stop words.
///
/// `language` is used when it is a known language label (`"en"`, `"EN"`,
/// `"en-US"`, see [`canonical_language_code`]); otherwise the language is
/// detected from the text, and stays `None` if that fails. Without a language
/// no stop words are removed.
pub fn prepare(subject: &str, body: &str, language: Option<&str>) -> PreparedText {
    let normalized = normalize(&merge(subject, body));
    let (language, language_source) = match language.and_then(canonical_language_code) {
        Some(code) => (Some(code), LanguageSource::Given),
        None => match detect_language(&normalized) {
            Some(code) => (Some(code), LanguageSource::Detected),
            None => (None, LanguageSource::Unknown),
        },
    };
    let tokens = tokenize(&normalized);
    let tokens = match language {
        Some(code) => remove_stop_words(tokens, code),
        None => tokens,
    };
    PreparedText {
        language: language.map(str::to_owned),
        language_source,
        normalized,
        tokens,
    }
}

/// Subject and body as one text. A newline keeps the subject's last word
/// apart from the body's first; a missing part adds nothing.
fn merge<'a>(subject: &'a str, body: &'a str) -> Cow<'a, str> {
    match (subject.trim().is_empty(), body.trim().is_empty()) {
        (true, _) => Cow::Borrowed(body),
        (false, true) => Cow::Borrowed(subject),
        (false, false) => Cow::Owned(format!("{subject}\n{body}")),
    }
}

#[cfg(test)]
mod tests;
