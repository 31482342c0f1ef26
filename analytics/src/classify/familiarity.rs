//! Whether a ticket is like the ones a model learned from: the per-ticket half of "routing that
//! knows when it is out of its depth".
//!
//! The routing threshold's guarantee ([`super::routing::choose_certified_threshold`]) holds for
//! tickets from the same source as the training data. A ticket in a language the model never
//! saw, or whose embedding is far from every training ticket, is outside that promise however
//! confident the model looks: a softmax is often *most* confident far from its data. Such a
//! ticket is predicted as usual but never routed automatically, and says why.
//!
//! Two checks, both fitted at training time and stored in the model:
//!
//! - **Language**: a ticket whose language had fewer than `min_language_rows` training tickets.
//! - **Distance**: the cosine similarity of the ticket's embedding to its nearest *anchor*
//!   (a fixed sample of training embeddings). The cut-off is calibrated out of sample: it is the
//!   `quantile` (1 %) of the similarities of the **held-out** tickets, which were never anchors.
//!   So about 1 % of tickets like the training data are held back by it, and a ticket below it is
//!   less like the training data than 99 % of unseen tickets of the same source.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Example;

/// Settings of [`Familiarity::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FamiliarityConfig {
    /// A language with fewer training tickets than this is "not in training".
    pub min_language_rows: usize,
    /// Training embeddings kept as anchors (an even stride over the training rows).
    pub anchors: usize,
    /// Share of held-out tickets the distance check may hold back.
    pub quantile: f64,
    /// Fewest held-out tickets with embeddings needed to calibrate the distance check; with
    /// fewer, only the language check applies.
    pub min_calibration_rows: usize,
}

impl Default for FamiliarityConfig {
    fn default() -> Self {
        Self {
            min_language_rows: 30,
            anchors: 1_000,
            quantile: 0.01,
            min_calibration_rows: 50,
        }
    }
}

/// What a model knows about its training tickets, to tell familiar tickets from the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Familiarity {
    /// Training tickets per language (`unknown` when none was given or detected).
    pub languages: BTreeMap<String, usize>,
    pub min_language_rows: usize,
    /// L2-normalised training embeddings; empty when the model uses none.
    pub anchors: Vec<Vec<f32>>,
    /// Nearest-anchor similarity below which a ticket is unlike the training data; `None` when
    /// it could not be calibrated (no embeddings, too few held-out tickets).
    pub min_similarity: Option<f32>,
    pub quantile: f64,
    /// Held-out tickets the cut-off was calibrated on.
    pub calibration_rows: usize,
}

/// Why a ticket is not routed automatically whatever its confidence.
#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// Its language had fewer than the minimum training tickets.
    UnseenLanguage {
        language: String,
        training_rows: usize,
    },
    /// Its embedding is further from every anchor than the calibrated cut-off.
    Unfamiliar {
        similarity: f32,
        min_similarity: f32,
    },
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::UnseenLanguage {
                language,
                training_rows,
            } => write!(
                f,
                "language_not_in_training: {language} ({training_rows} training tickets)"
            ),
            Hold::Unfamiliar {
                similarity,
                min_similarity,
            } => write!(
                f,
                "unlike_training: nearest similarity {similarity:.3} < {min_similarity:.3}"
            ),
        }
    }
}

fn language_key(example: &Example) -> String {
    example
        .language
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("unknown")
        .to_ascii_lowercase()
}

fn normalised(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

impl Familiarity {
    /// Learns the training languages and anchors from `train` rows of `examples`, and calibrates
    /// the distance cut-off on `held_out` rows.
    pub fn fit(
        examples: &[Example],
        train: &[usize],
        held_out: &[usize],
        cfg: &FamiliarityConfig,
    ) -> Self {
        let mut languages = BTreeMap::new();
        for &r in train {
            *languages.entry(language_key(&examples[r])).or_insert(0) += 1;
        }
        let with_embedding: Vec<usize> = train
            .iter()
            .copied()
            .filter(|&r| !examples[r].embedding.is_empty())
            .collect();
        let stride = with_embedding.len().div_ceil(cfg.anchors.max(1)).max(1);
        let anchors: Vec<Vec<f32>> = with_embedding
            .iter()
            .step_by(stride)
            .filter_map(|&r| normalised(&examples[r].embedding))
            .collect();
        let mut familiarity = Self {
            languages,
            min_language_rows: cfg.min_language_rows,
            anchors,
            min_similarity: None,
            quantile: cfg.quantile,
            calibration_rows: 0,
        };
        if familiarity.anchors.is_empty() {
            return familiarity;
        }
        let mut similarities: Vec<f32> = held_out
            .iter()
            .filter_map(|&r| familiarity.nearest(&examples[r].embedding))
            .collect();
        familiarity.calibration_rows = similarities.len();
        if similarities.len() >= cfg.min_calibration_rows.max(1) {
            similarities.sort_by(f32::total_cmp);
            let at = ((similarities.len() as f64 * cfg.quantile).floor() as usize)
                .min(similarities.len() - 1);
            familiarity.min_similarity = Some(similarities[at]);
        }
        familiarity
    }

    /// Cosine similarity of `embedding` to its nearest anchor; `None` without anchors or with an
    /// unusable embedding.
    pub fn nearest(&self, embedding: &[f32]) -> Option<f32> {
        let v = normalised(embedding)?;
        self.anchors
            .iter()
            .filter(|a| a.len() == v.len())
            .map(|a| a.iter().zip(&v).map(|(x, y)| x * y).sum::<f32>())
            .max_by(f32::total_cmp)
    }

    /// Why `example` must not be routed automatically, or `None` when it is familiar.
    pub fn check(&self, example: &Example) -> Option<Hold> {
        let language = language_key(example);
        let training_rows = self.languages.get(&language).copied().unwrap_or(0);
        if training_rows < self.min_language_rows {
            return Some(Hold::UnseenLanguage {
                language,
                training_rows,
            });
        }
        let min_similarity = self.min_similarity?;
        let similarity = self.nearest(&example.embedding)?;
        (similarity < min_similarity).then_some(Hold::Unfamiliar {
            similarity,
            min_similarity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(language: &str, embedding: Vec<f32>) -> Example {
        Example {
            language: Some(language.into()),
            embedding,
            ..Example::default()
        }
    }

    /// Training tickets near the x axis in English and German; held out the same.
    fn fitted() -> Familiarity {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut examples = Vec::new();
        for i in 0..400 {
            let lang = if i % 3 == 0 { "de" } else { "en" };
            examples.push(example(
                lang,
                vec![1.0, 0.2 * rng.f32() - 0.1, 0.2 * rng.f32() - 0.1],
            ));
        }
        let train: Vec<usize> = (0..300).collect();
        let held_out: Vec<usize> = (300..400).collect();
        Familiarity::fit(&examples, &train, &held_out, &FamiliarityConfig::default())
    }

    #[test]
    fn a_language_without_training_tickets_is_held() {
        let f = fitted();
        assert_eq!(f.languages.get("en"), Some(&200));
        let hold = f.check(&example("es", vec![1.0, 0.0, 0.0])).expect("held");
        assert_eq!(
            hold,
            Hold::UnseenLanguage {
                language: "es".into(),
                training_rows: 0
            }
        );
        assert_eq!(
            hold.to_string(),
            "language_not_in_training: es (0 training tickets)"
        );
        assert_eq!(f.check(&example("EN", vec![1.0, 0.0, 0.0])), None);
    }

    #[test]
    fn a_ticket_far_from_the_training_data_is_held() {
        let f = fitted();
        let cut = f
            .min_similarity
            .expect("calibrated on 100 held-out tickets");
        assert_eq!(f.calibration_rows, 100);
        assert!(cut > 0.9, "{cut}");
        let far = f.check(&example("en", vec![0.0, 1.0, 0.0])).expect("held");
        assert!(
            matches!(far, Hold::Unfamiliar { similarity, .. } if similarity < 0.2),
            "{far:?}"
        );
        assert!(
            far.to_string()
                .starts_with("unlike_training: nearest similarity")
        );
    }

    #[test]
    fn without_embeddings_only_the_language_is_checked() {
        let examples: Vec<Example> = (0..100).map(|_| example("en", Vec::new())).collect();
        let rows: Vec<usize> = (0..80).collect();
        let f = Familiarity::fit(&examples, &rows, &[80, 81], &FamiliarityConfig::default());
        assert!(f.anchors.is_empty() && f.min_similarity.is_none());
        assert_eq!(f.check(&example("en", vec![0.0, 1.0])), None);
    }
}
