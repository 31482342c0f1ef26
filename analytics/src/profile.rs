//! Exploratory profile of a ticket export: what the original notebook's first look at the data
//! did, as numbers ([`profile`]) and one self-contained HTML page ([`render_profile_html`]).
//!
//! The profile covers row counts (accepted, quarantined by reason, duplicated texts), the
//! distributions of type, queue, priority and language, missing values per column, length
//! statistics of subject and body (overall and per language) and how many tickets are longer
//! than the embedding model reads ([`MODEL_MAX_TOKENS`]). Token counts come from the model's own
//! tokenizer ([`count_tokens`]), so they are the numbers the embedder sees before truncation.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use ticketflow_schemas::Ticket;
use tokenizers::Tokenizer;

use ticketflow_text::dataset::{QuarantineReason, Quarantined};
use ticketflow_text::text::{LanguageSource, prepare};

pub use html::render_profile_html;

/// all-MiniLM-L6-v2 reads at most this many tokens ([CLS] and [SEP] included); the rest of a
/// longer ticket is cut off before embedding.
pub const MODEL_MAX_TOKENS: usize = 256;
/// Bins of every length histogram (fewer when the range is narrow).
pub const HISTOGRAM_BINS: usize = 20;
/// Label for tickets without a (given or detected) language in the per-language lengths.
pub const UNKNOWN_LANGUAGE: &str = "unknown";

/// Everything the profile reports; `profile.json` is this struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub rows: RowCounts,
    /// type, queue, priority and language (as given), in that order.
    pub distributions: Vec<Distribution>,
    /// Where each ticket's language came from: given, detected (no usable label) or unknown.
    pub language_source: Vec<Count>,
    /// Languages detected for tickets without a usable label.
    pub detected_languages: Vec<Count>,
    /// Empty or absent values per column (subject, body, answer, type, queue, priority, language).
    pub missing: Vec<Count>,
    /// Subject and body lengths in characters and words.
    pub lengths: Vec<LengthProfile>,
    pub tokens: TokenProfile,
}

/// How many rows the export had and what became of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowCounts {
    /// accepted + quarantined.
    pub total: usize,
    pub accepted: usize,
    pub quarantined: usize,
    /// Quarantined rows per reason kind (`field_count`, `empty_text`, …).
    pub quarantine_reasons: Vec<Count>,
    /// Accepted tickets whose subject and body repeat an earlier accepted ticket's exactly.
    pub duplicates: usize,
    /// `duplicates / accepted`.
    pub duplicate_share: f64,
}

/// A value, how often it occurs and its share (of accepted tickets unless said otherwise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Count {
    pub value: String,
    pub count: usize,
    pub share: f64,
}

/// The values of one column, most frequent first; empty values are counted in `missing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub column: String,
    pub values: Vec<Count>,
    pub missing: usize,
}

/// Lengths of one field in one unit, overall and per language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthProfile {
    /// `subject` or `body`.
    pub field: String,
    /// `chars` or `words`.
    pub unit: String,
    pub overall: LengthStats,
    /// Per language (given or detected; [`UNKNOWN_LANGUAGE`] when neither), largest first.
    pub by_language: Vec<LanguageLengths>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageLengths {
    pub language: String,
    pub stats: LengthStats,
}

/// Summary statistics of a list of lengths. Percentiles interpolate linearly between the closest
/// ranks (NumPy's default), so `median` of `[1, 2, 3, 4]` is 2.5. All zero when `n` is 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthStats {
    pub n: usize,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
    pub histogram: Vec<Bin>,
}

/// Values in `[lo, hi)` (whole numbers, so `hi - 1` is the largest value in the bin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    pub lo: usize,
    pub hi: usize,
    pub count: usize,
}

/// Model tokens per ticket (the embedder's text, [CLS]/[SEP] included, not truncated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenProfile {
    pub limit: usize,
    /// Tickets with a token count (all accepted tickets, when counts were given).
    pub counted: usize,
    /// Tickets longer than `limit`: their end is cut off before embedding.
    pub over_limit: usize,
    /// `over_limit / counted`.
    pub over_limit_share: f64,
    pub stats: LengthStats,
}

/// The text the embedder sees for a ticket: subject and body, lightly normalised
/// (`prepare(...).normalized`).
pub fn embed_text(ticket: &Ticket) -> String {
    prepare(&ticket.subject, &ticket.body, ticket.language.as_deref()).normalized
}

/// Tokens per text with the model's tokenizer (`<model_dir>/tokenizer.json`), special tokens
/// included, without truncation or padding.
pub fn count_tokens(model_dir: &Path, texts: &[String]) -> Result<Vec<usize>, String> {
    let path = model_dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(format!(
            "{} not found: run make setup (or point --model-dir / TICKETFLOW_MODEL_DIR at the model)",
            path.display()
        ));
    }
    let mut tokenizer =
        Tokenizer::from_file(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    tokenizer
        .with_truncation(None)
        .map_err(|e| format!("disabling truncation: {e}"))?;
    tokenizer.with_padding(None);
    let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encodings = tokenizer
        .encode_batch(inputs, true)
        .map_err(|e| format!("tokenizing: {e}"))?;
    Ok(encodings.iter().map(|e| e.get_ids().len()).collect())
}

/// Profiles the accepted `tickets` and the `quarantined` rows. `token_counts[i]` is the model
/// token count of `tickets[i]` (see [`count_tokens`]); pass an empty slice to skip tokens.
pub fn profile(tickets: &[Ticket], quarantined: &[Quarantined], token_counts: &[usize]) -> Profile {
    let accepted = tickets.len();
    let share = |count: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        }
    };
    let counts = |map: HashMap<String, usize>, of: usize| -> Vec<Count> {
        let mut v: Vec<Count> = map
            .into_iter()
            .map(|(value, count)| Count {
                value,
                count,
                share: share(count, of),
            })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        v
    };

    // Rows.
    let mut reasons = HashMap::new();
    for q in quarantined {
        *reasons
            .entry(reason_kind(&q.reason).to_string())
            .or_insert(0) += 1;
    }
    let mut seen = std::collections::HashSet::new();
    let duplicates = tickets
        .iter()
        .filter(|t| !seen.insert((t.subject.as_str(), t.body.as_str())))
        .count();
    let rows = RowCounts {
        total: accepted + quarantined.len(),
        accepted,
        quarantined: quarantined.len(),
        quarantine_reasons: counts(reasons, quarantined.len()),
        duplicates,
        duplicate_share: share(duplicates, accepted),
    };

    // Categorical columns and missing values.
    let columns: [(&str, Field); 4] = [
        ("type", |t| &t.ticket_type),
        ("queue", |t| &t.queue),
        ("priority", |t| &t.priority),
        ("language", |t| &t.language),
    ];
    let distributions = columns
        .iter()
        .map(|(column, get)| {
            let mut map = HashMap::new();
            let mut missing = 0;
            for t in tickets {
                match present(get(t)) {
                    Some(v) => *map.entry(v.to_string()).or_insert(0) += 1,
                    None => missing += 1,
                }
            }
            Distribution {
                column: column.to_string(),
                values: counts(map, accepted),
                missing,
            }
        })
        .collect();
    let blank = |s: &str| s.trim().is_empty();
    let missing_of = |column: &str, count: usize| Count {
        value: column.to_string(),
        count,
        share: share(count, accepted),
    };
    let mut missing = vec![
        missing_of(
            "subject",
            tickets.iter().filter(|t| blank(&t.subject)).count(),
        ),
        missing_of("body", tickets.iter().filter(|t| blank(&t.body)).count()),
        missing_of(
            "answer",
            tickets
                .iter()
                .filter(|t| present(&t.answer).is_none())
                .count(),
        ),
    ];
    for (column, get) in &columns {
        let n = tickets.iter().filter(|t| present(get(t)).is_none()).count();
        missing.push(missing_of(column, n));
    }

    // Languages as the pipeline settles them.
    let prepared: Vec<_> = tickets
        .iter()
        .map(|t| prepare(&t.subject, &t.body, t.language.as_deref()))
        .collect();
    let mut sources = HashMap::new();
    let mut detected = HashMap::new();
    for p in &prepared {
        *sources
            .entry(p.language_source.as_str().to_string())
            .or_insert(0) += 1;
        if p.language_source == LanguageSource::Detected {
            let code = p
                .language
                .clone()
                .unwrap_or_else(|| UNKNOWN_LANGUAGE.into());
            *detected.entry(code).or_insert(0) += 1;
        }
    }
    let detected_total = detected.values().sum();
    let languages: Vec<&str> = prepared
        .iter()
        .map(|p| p.language.as_deref().unwrap_or(UNKNOWN_LANGUAGE))
        .collect();

    // Lengths.
    let mut lengths = Vec::new();
    for field in ["subject", "body"] {
        for unit in ["chars", "words"] {
            let values: Vec<usize> = tickets
                .iter()
                .map(|t| {
                    let text = if field == "subject" {
                        &t.subject
                    } else {
                        &t.body
                    };
                    if unit == "chars" {
                        text.chars().count()
                    } else {
                        text.split_whitespace().count()
                    }
                })
                .collect();
            let mut per_language: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (lang, v) in languages.iter().zip(&values) {
                per_language.entry(lang).or_default().push(*v);
            }
            let mut by_language: Vec<LanguageLengths> = per_language
                .into_iter()
                .map(|(language, v)| LanguageLengths {
                    language: language.to_string(),
                    stats: length_stats(&v),
                })
                .collect();
            by_language.sort_by_key(|b| std::cmp::Reverse(b.stats.n));
            lengths.push(LengthProfile {
                field: field.to_string(),
                unit: unit.to_string(),
                overall: length_stats(&values),
                by_language,
            });
        }
    }

    // Tokens.
    let over_limit = token_counts
        .iter()
        .filter(|&&n| n > MODEL_MAX_TOKENS)
        .count();
    let tokens = TokenProfile {
        limit: MODEL_MAX_TOKENS,
        counted: token_counts.len(),
        over_limit,
        over_limit_share: share(over_limit, token_counts.len()),
        stats: length_stats(token_counts),
    };

    Profile {
        rows,
        distributions,
        language_source: counts(sources, accepted),
        detected_languages: counts(detected, detected_total),
        missing,
        lengths,
        tokens,
    }
}

/// Reads one optional column of a ticket.
type Field = fn(&Ticket) -> &Option<String>;

/// The trimmed value, when there is a non-empty one.
fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The serialised `kind` of a quarantine reason (`field_count`, `empty_text`, …).
fn reason_kind(reason: &QuarantineReason) -> &'static str {
    match reason {
        QuarantineReason::FieldCount { .. } => "field_count",
        QuarantineReason::Malformed { .. } => "malformed",
        QuarantineReason::InvalidUtf8 { .. } => "invalid_utf8",
        QuarantineReason::OversizedField { .. } => "oversized_field",
        QuarantineReason::EmptyText => "empty_text",
        QuarantineReason::InvalidJson { .. } => "invalid_json",
        QuarantineReason::MissingField { .. } => "missing_field",
        QuarantineReason::OversizedRecord { .. } => "oversized_record",
        QuarantineReason::EmptyId => "empty_id",
        QuarantineReason::DuplicateId { .. } => "duplicate_id",
    }
}

/// The `q`-quantile (0–1) of sorted values, interpolating linearly between closest ranks.
fn quantile(sorted: &[usize], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * frac
}

/// Summary statistics and an equal-width histogram of whole-number lengths.
pub fn length_stats(values: &[usize]) -> LengthStats {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
        return LengthStats {
            n: 0,
            min: 0.0,
            p25: 0.0,
            median: 0.0,
            p75: 0.0,
            p95: 0.0,
            max: 0.0,
            mean: 0.0,
            histogram: Vec::new(),
        };
    };
    let width = (max - min + 1).div_ceil(HISTOGRAM_BINS).max(1);
    let bins = (max - min + 1).div_ceil(width);
    let mut histogram: Vec<Bin> = (0..bins)
        .map(|i| Bin {
            lo: min + i * width,
            hi: min + (i + 1) * width,
            count: 0,
        })
        .collect();
    for &v in &sorted {
        histogram[(v - min) / width].count += 1;
    }
    LengthStats {
        n: sorted.len(),
        min: min as f64,
        p25: quantile(&sorted, 0.25),
        median: quantile(&sorted, 0.5),
        p75: quantile(&sorted, 0.75),
        p95: quantile(&sorted, 0.95),
        max: max as f64,
        mean: sorted.iter().sum::<usize>() as f64 / sorted.len() as f64,
        histogram,
    }
}

mod html;
#[cfg(test)]
mod tests;
