//! Lexical features: hashed word and character n-grams, weighted by TF-IDF.
//!
//! This is the classic text-classification representation, and on ticket type it is strong: words
//! such as "outage", "request", "since yesterday" say a lot about Incident vs Request.
//!
//! **Which words.** [`LexicalSource`] picks the word sequence the n-grams are built from:
//!
//! - [`Tokens`](LexicalSource::Tokens): the cleaned tokens
//!   ([`PreparedText::tokens`](ticketflow_text::text::PreparedText::tokens)): lowercased,
//!   punctuation and the language's stop words removed;
//! - [`Text`](LexicalSource::Text): the ticket's text ([`Example::text`]) split into lowercase
//!   words by the same [`tokenize`](ticketflow_text::text::tokenize), but with the stop words
//!   *kept*. Words such as "not", "since", "again", "please" and "can you" are stop words, yet
//!   they are exactly what tells a recurring Problem from an Incident or a Request; and a
//!   stop-word list applied in the wrong language (a ticket labelled `de` but written in
//!   English) cannot strip the wrong words.
//!
//! **Which n-grams.** Two views of those words are used:
//!
//! - **word n-grams**: unigrams and bigrams (`printer`, `printer offline`);
//! - **character n-grams** of 2–5 characters inside each word, padded with a space on both sides
//!   (scikit-learn's `char_wb`): ` d`, ` druc`, `cker `. They match inflections and German
//!   compounds (`Druckerproblem` shares n-grams with `Drucker`) and survive typos.
//!
//! Each n-gram is **hashed** into one of `2^hash_bits` buckets (FNV-1a, a fixed function, so
//! bucket numbers never change between runs, machines or Rust versions). Hashing means no
//! vocabulary has to be built before counting, and memory is bounded whatever the input. Fitting
//! then keeps only the buckets that occur in at least `min_df` training documents, with their
//! document frequency: a bucket never seen in training would get a zero weight anyway, so dropping
//! it changes no prediction and keeps the serialised model small.
//!
//! **Weights** are TF × smoothed IDF, as scikit-learn's `TfidfVectorizer`: TF is sublinear,
//! `1 + ln tf`, or the raw count ([`LexicalConfig::sublinear_tf`]); IDF is
//! `ln((1 + n) / (1 + df)) + 1`, or 1 when [`LexicalConfig::idf`] is off. Words and characters
//! are each L2-normalised and scaled by `1/√2`, so the lexical block as a whole has unit length
//! and neither view drowns the other (a ticket has many more character n-grams than words).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::Example;
use ticketflow_text::text::tokenize;

/// Where the lexical features take their words from (see the [module docs](self)).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum LexicalSource {
    /// [`Example::tokens`]: the cleaned tokens, stop words removed. What every model stored
    /// before the choice existed used, hence the serde default.
    #[default]
    Tokens,
    /// [`Example::text`], lowercased and split into words with the stop words kept. An example
    /// without text falls back to its tokens.
    Text,
}

impl LexicalSource {
    /// `"tokens"` or `"text"`, as serialised.
    pub fn name(self) -> &'static str {
        match self {
            LexicalSource::Tokens => "tokens",
            LexicalSource::Text => "text",
        }
    }
}

/// How tickets become lexical features.
///
/// `Default` is the configuration chosen on the dev data (`analytics/examples/accuracy`). Fields added
/// after models were first stored (`source`, `sublinear_tf`, `idf`) deserialise, when missing,
/// to the behaviour those models were trained with, not to today's default: a stored model must
/// featurise exactly as it did when it was fitted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct LexicalConfig {
    /// The words the n-grams are built from.
    #[serde(default = "LexicalSource::default")]
    pub source: LexicalSource,
    /// Buckets per view are `2^hash_bits`. 18 bits (262,144) keeps collisions rare for the few
    /// hundred thousand distinct n-grams of a ticket corpus.
    pub hash_bits: u8,
    /// Longest word n-gram: 1 = unigrams, 2 = unigrams and bigrams.
    pub word_ngram_max: usize,
    /// Character n-gram lengths `(min, max)` inside words; `None` uses words only (the classic
    /// TF-IDF baseline).
    pub char_ngrams: Option<(usize, usize)>,
    /// Buckets seen in fewer training documents than this are dropped (noise, typos, ids).
    pub min_df: u32,
    /// Term frequency as `1 + ln(count)` (true) or the raw count (false). Sublinear TF stops a
    /// word repeated five times from counting five times as much.
    #[serde(default = "yes")]
    pub sublinear_tf: bool,
    /// Multiply by the smoothed inverse document frequency (true), or weigh every n-gram alike.
    #[serde(default = "yes")]
    pub idf: bool,
}

fn yes() -> bool {
    true
}

impl Default for LexicalConfig {
    /// The winner of the sweep in `analytics/examples/accuracy` on the dev data (5-fold CV, seed 13,
    /// with embeddings and metadata): the raw text instead of the cleaned tokens is the one
    /// change that matters (+1.0 point of macro-F1); `min_df` 3 and character 2–5-grams add
    /// 0.3 together; raw TF, no IDF, word trigrams or no character n-grams all score lower.
    fn default() -> Self {
        Self {
            source: LexicalSource::Text,
            hash_bits: 18,
            word_ngram_max: 2,
            char_ngrams: Some((2, 5)),
            min_df: 3,
            sublinear_tf: true,
            idf: true,
        }
    }
}

/// A document's raw n-gram counts, by bucket, before any fitting. Computing these is the costly
/// part of lexical featurisation, and they do not depend on the training data, so cross-validation
/// computes them once and reuses them in every fold.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NgramCounts {
    /// `(bucket, count)` sorted by bucket.
    pub words: Vec<(u32, f32)>,
    pub chars: Vec<(u32, f32)>,
}

/// Counts the hashed n-grams of one example, from the words its `config.source` names.
pub(crate) fn count_example(example: &Example, config: &LexicalConfig) -> NgramCounts {
    match config.source {
        LexicalSource::Text if !example.text.trim().is_empty() => {
            count_ngrams(&tokenize(&example.text), config)
        }
        _ => count_ngrams(&example.tokens, config),
    }
}

/// Counts the hashed n-grams of one document's words.
pub(crate) fn count_ngrams(tokens: &[String], config: &LexicalConfig) -> NgramCounts {
    let mask = bucket_mask(config.hash_bits);
    let mut words = HashMap::new();
    let max_n = config.word_ngram_max.max(1);
    for start in 0..tokens.len() {
        let mut h = Fnv::new(b'w');
        for (n, token) in tokens[start..].iter().take(max_n).enumerate() {
            if n > 0 {
                // A separator byte that no token contains keeps "ab c" apart from "a bc".
                h.write(&[0x1f]);
            }
            h.write(token.as_bytes());
            *words.entry(h.bucket(mask)).or_insert(0.0) += 1.0;
        }
    }

    let mut chars = HashMap::new();
    if let Some((lo, hi)) = config.char_ngrams {
        let lo = lo.max(1);
        let mut padded: Vec<char> = Vec::new();
        let mut buf = [0u8; 4];
        for token in tokens {
            padded.clear();
            padded.push(' ');
            padded.extend(token.chars());
            padded.push(' ');
            for start in 0..padded.len() {
                // FNV is incremental: the hash of a 3-gram extends to the 4- and 5-gram.
                let mut h = Fnv::new(b'c');
                for (len, c) in padded[start..].iter().take(hi).enumerate() {
                    h.write(c.encode_utf8(&mut buf).as_bytes());
                    if len + 1 >= lo {
                        *chars.entry(h.bucket(mask)).or_insert(0.0) += 1.0;
                    }
                }
            }
        }
    }
    NgramCounts {
        words: sorted(words),
        chars: sorted(chars),
    }
}

fn sorted(map: HashMap<u32, f32>) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = map.into_iter().collect();
    v.sort_unstable_by_key(|&(bucket, _)| bucket);
    v
}

fn bucket_mask(bits: u8) -> u64 {
    // 32 bits is the most a u32 bucket can hold; 1 bit the least that makes sense.
    (1u64 << bits.clamp(1, 32)) - 1
}

/// 64-bit FNV-1a with a one-byte namespace, so word and character n-grams that spell the same
/// bytes land in unrelated buckets.
struct Fnv(u64);

impl Fnv {
    fn new(namespace: u8) -> Self {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(&[namespace]);
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// FNV's low bits mix poorly; a final avalanche step (from SplitMix64) spreads them before
    /// masking.
    fn bucket(&self, mask: u64) -> u32 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z & mask) as u32
    }
}

/// The fitted lexical featuriser: which buckets exist and their IDF, per view.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct LexicalEncoder {
    pub config: LexicalConfig,
    words: Vocabulary,
    chars: Vocabulary,
}

/// Buckets kept after fitting (sorted) and their IDF weights.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
struct Vocabulary {
    buckets: Vec<u32>,
    idf: Vec<f32>,
}

impl Vocabulary {
    /// Keeps the buckets in at least `min_df` of the `n_docs` documents, with their smoothed IDF
    /// (or 1 for all when `use_idf` is false).
    fn fit<'a>(
        docs: impl Iterator<Item = &'a [(u32, f32)]>,
        n_docs: usize,
        min_df: u32,
        use_idf: bool,
    ) -> Self {
        let mut df: HashMap<u32, u32> = HashMap::new();
        for doc in docs {
            for &(bucket, _) in doc {
                *df.entry(bucket).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(u32, u32)> = df
            .into_iter()
            .filter(|&(_, d)| d >= min_df.max(1))
            .collect();
        kept.sort_unstable();
        let n = n_docs as f64;
        Vocabulary {
            buckets: kept.iter().map(|&(b, _)| b).collect(),
            idf: kept
                .iter()
                .map(|&(_, d)| {
                    if use_idf {
                        (((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) as f32
                    } else {
                        1.0
                    }
                })
                .collect(),
        }
    }

    /// Appends the document's TF-IDF entries, L2-normalised then scaled, with indices offset.
    fn transform(
        &self,
        doc: &[(u32, f32)],
        offset: u32,
        scale: f32,
        sublinear_tf: bool,
        out: &mut Vec<(u32, f32)>,
    ) {
        let start = out.len();
        for &(bucket, count) in doc {
            if let Ok(i) = self.buckets.binary_search(&bucket) {
                let tf = if sublinear_tf {
                    1.0 + count.ln()
                } else {
                    count
                };
                out.push((offset + i as u32, tf * self.idf[i]));
            }
        }
        let norm = out[start..].iter().map(|&(_, v)| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            for entry in &mut out[start..] {
                entry.1 *= scale / norm;
            }
        }
    }
}

impl LexicalEncoder {
    /// Fits document frequencies on the training documents.
    pub fn fit(docs: &[&NgramCounts], config: &LexicalConfig) -> Self {
        let n = docs.len();
        LexicalEncoder {
            config: config.clone(),
            words: Vocabulary::fit(
                docs.iter().map(|d| d.words.as_slice()),
                n,
                config.min_df,
                config.idf,
            ),
            chars: Vocabulary::fit(
                docs.iter().map(|d| d.chars.as_slice()),
                n,
                config.min_df,
                config.idf,
            ),
        }
    }

    /// Number of sparse columns: kept word buckets, then kept character buckets.
    pub fn width(&self) -> usize {
        self.words.buckets.len() + self.chars.buckets.len()
    }

    /// The document's sparse features `(column, value)`, columns ascending; empty for a document
    /// with no known n-grams.
    pub fn transform(&self, doc: &NgramCounts) -> Vec<(u32, f32)> {
        let views = usize::from(!self.words.buckets.is_empty())
            + usize::from(!self.chars.buckets.is_empty());
        let scale = 1.0 / (views.max(1) as f32).sqrt();
        let mut out = Vec::with_capacity(doc.words.len() + doc.chars.len());
        let sublinear = self.config.sublinear_tf;
        self.words
            .transform(&doc.words, 0, scale, sublinear, &mut out);
        self.chars.transform(
            &doc.chars,
            self.words.buckets.len() as u32,
            scale,
            sublinear,
            &mut out,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn words_only() -> LexicalConfig {
        LexicalConfig {
            char_ngrams: None,
            min_df: 1,
            ..LexicalConfig::default()
        }
    }

    #[test]
    fn counts_unigrams_and_bigrams() {
        let c = count_ngrams(&tokens("printer offline printer"), &words_only());
        // printer ×2, offline, "printer offline", "offline printer"
        assert_eq!(c.words.len(), 4);
        assert_eq!(c.words.iter().map(|&(_, n)| n).sum::<f32>(), 5.0);
        assert!(c.chars.is_empty());
    }

    #[test]
    fn counts_padded_character_ngrams() {
        let config = LexicalConfig {
            char_ngrams: Some((3, 5)),
            ..words_only()
        };
        // " ab " has 4 chars: 3-grams " ab", "ab "; 4-gram " ab ". "über" padded has 6 chars:
        // 4 + 3 + 2 n-grams. Distinct strings, so (barring a collision) distinct buckets.
        let c = count_ngrams(&tokens("ab über"), &config);
        assert_eq!(c.chars.iter().map(|&(_, n)| n).sum::<f32>(), 3.0 + 9.0);
    }

    #[test]
    fn hashing_is_stable() {
        // A fixed function: these buckets must never change, or saved models silently break.
        // (Values from an independent Python re-implementation.)
        let bucket = |namespace: u8, bytes: &[u8]| {
            let mut h = Fnv::new(namespace);
            h.write(bytes);
            h.bucket(bucket_mask(18))
        };
        assert_eq!(bucket(b'w', b"printer"), 95463);
        assert_eq!(bucket(b'c', b"printer"), 150594);
        assert_eq!(bucket(b'w', b"printer\x1foffline"), 156360);
    }

    #[test]
    fn tfidf_is_unit_length_and_downweights_common_terms() {
        let config = words_only();
        let config = LexicalConfig {
            word_ngram_max: 1,
            ..config
        };
        let docs: Vec<NgramCounts> = ["issue printer", "issue network", "issue login"]
            .iter()
            .map(|s| count_ngrams(&tokens(s), &config))
            .collect();
        let refs: Vec<&NgramCounts> = docs.iter().collect();
        let enc = LexicalEncoder::fit(&refs, &config);
        assert_eq!(enc.width(), 4);
        let x = enc.transform(&docs[0]);
        assert_eq!(x.len(), 2);
        let norm: f32 = x.iter().map(|&(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let issue = enc.transform(&count_ngrams(&tokens("issue"), &config))[0].0;
        let weight_of = |col: u32| x.iter().find(|&&(c, _)| c == col).map(|&(_, v)| v);
        let issue_w = weight_of(issue).unwrap_or(f32::NAN);
        let other_w = x
            .iter()
            .find(|&&(c, _)| c != issue)
            .map(|&(_, v)| v)
            .unwrap_or(f32::NAN);
        assert!(issue_w < other_w, "a term in every document weighs less");
    }

    #[test]
    fn unseen_and_empty_documents_give_no_features() {
        let config = LexicalConfig::default();
        let docs = [count_ngrams(&tokens("printer broken"), &config)];
        let refs: Vec<&NgramCounts> = docs.iter().collect();
        let enc = LexicalEncoder::fit(
            &refs,
            &LexicalConfig {
                min_df: 1,
                ..config.clone()
            },
        );
        assert!(enc.transform(&count_ngrams(&[], &config)).is_empty());
        assert!(
            enc.transform(&count_ngrams(&tokens("zzzqqq"), &config))
                .is_empty()
        );
    }

    #[test]
    fn min_df_drops_rare_buckets() {
        let config = LexicalConfig {
            word_ngram_max: 1,
            char_ngrams: None,
            min_df: 2,
            ..LexicalConfig::default()
        };
        let docs: Vec<NgramCounts> = ["a b", "a c"]
            .iter()
            .map(|s| count_ngrams(&tokens(s), &config))
            .collect();
        let refs: Vec<&NgramCounts> = docs.iter().collect();
        assert_eq!(
            LexicalEncoder::fit(&refs, &config).width(),
            1,
            "only `a` is in two documents"
        );
    }

    #[test]
    fn text_source_keeps_stop_words_and_falls_back_to_tokens() {
        let config = LexicalConfig {
            source: LexicalSource::Tokens,
            word_ngram_max: 1,
            ..words_only()
        };
        let text = Example {
            tokens: tokens("printer broken"),
            text: "The printer is NOT broken!".into(),
            ..Example::default()
        };
        let from_tokens = count_example(&text, &config);
        assert_eq!(
            from_tokens,
            count_ngrams(&tokens("printer broken"), &config)
        );
        let text_config = LexicalConfig {
            source: LexicalSource::Text,
            ..config.clone()
        };
        // Lowercased, punctuation dropped, stop words kept.
        assert_eq!(
            count_example(&text, &text_config),
            count_ngrams(&tokens("the printer is not broken"), &config)
        );
        let no_text = Example {
            text: "  ".into(),
            ..text.clone()
        };
        assert_eq!(count_example(&no_text, &text_config), from_tokens);
    }

    #[test]
    fn raw_tf_and_no_idf_change_the_weights() {
        let base = LexicalConfig {
            word_ngram_max: 1,
            ..words_only()
        };
        let docs: Vec<NgramCounts> = ["a a a a b", "b c"]
            .iter()
            .map(|s| count_ngrams(&tokens(s), &base))
            .collect();
        let refs: Vec<&NgramCounts> = docs.iter().collect();
        // Values of document 0 sorted ascending: `b` (in both documents) below `a`.
        let weights = |config: &LexicalConfig| {
            let mut v: Vec<f32> = LexicalEncoder::fit(&refs, config)
                .transform(&docs[0])
                .iter()
                .map(|&(_, v)| v)
                .collect();
            v.sort_by(f32::total_cmp);
            v
        };
        let ratio = |v: Vec<f32>| v[1] / v[0];
        let idf_a = ((3.0f32 / 2.0).ln() + 1.0) / ((3.0f32 / 3.0).ln() + 1.0);
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        assert!(close(ratio(weights(&base)), (1.0 + 4f32.ln()) * idf_a));
        let raw = LexicalConfig {
            sublinear_tf: false,
            ..base.clone()
        };
        assert!(close(ratio(weights(&raw)), 4.0 * idf_a));
        let raw_no_idf = LexicalConfig { idf: false, ..raw };
        assert!(close(ratio(weights(&raw_no_idf)), 4.0));
    }

    #[test]
    fn configs_stored_before_the_new_fields_keep_their_behaviour() {
        // A lexical config as serialised before `source`, `sublinear_tf` and `idf` existed.
        let old = r#"{"hash_bits":18,"word_ngram_max":2,"char_ngrams":[3,5],"min_df":2}"#;
        let config: LexicalConfig = serde_json::from_str(old).unwrap();
        assert_eq!(config.source, LexicalSource::Tokens);
        assert!(config.sublinear_tf);
        assert!(config.idf);
        let round_trip: LexicalConfig =
            serde_json::from_str(&serde_json::to_string(&LexicalConfig::default()).unwrap())
                .unwrap();
        assert_eq!(round_trip, LexicalConfig::default());
    }
}
