//! The training data as the models see it ([`Dataset`]): labels turned into class indices, the
//! per-example work (n-gram counts) every fit on the same tickets shares, and a fit on it.

use std::collections::BTreeSet;

use super::features::{Featurizer, precompute};
use super::forest::Forest;
use super::lexical::NgramCounts;
use super::logistic::SoftmaxRegression;
use super::{Classifier, ClassifyError, Example, Model, ModelKind, TrainConfig, sample_weights};

/// Labels turned into class indices, plus the per-example work shared by every fit on this data.
pub(crate) struct Dataset<'a> {
    pub examples: &'a [Example],
    pub counts: Vec<NgramCounts>,
    pub y: Vec<usize>,
    pub classes: Vec<String>,
}

impl<'a> Dataset<'a> {
    pub fn new(
        examples: &'a [Example],
        labels: &[String],
        cfg: &TrainConfig,
    ) -> Result<Self, ClassifyError> {
        if examples.len() != labels.len() {
            return Err(ClassifyError::LengthMismatch {
                examples: examples.len(),
                labels: labels.len(),
            });
        }
        if examples.is_empty() {
            return Err(ClassifyError::NoExamples);
        }
        if cfg.features.is_empty() {
            return Err(ClassifyError::EmptyFeatureSet);
        }
        let classes: Vec<String> = labels
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if classes.len() < 2 {
            return Err(ClassifyError::TooFewClasses {
                found: classes.len(),
            });
        }
        let y = labels
            .iter()
            .map(|l| classes.binary_search(l).unwrap_or(0))
            .collect();
        Ok(Dataset {
            examples,
            counts: precompute(examples, cfg.features, &cfg.lexical),
            y,
            classes,
        })
    }

    /// Fits a classifier on `rows` of this data.
    pub fn fit(
        &self,
        rows: &[usize],
        kind: ModelKind,
        cfg: &TrainConfig,
        threads: usize,
    ) -> Result<Classifier, ClassifyError> {
        if !kind.supports(cfg.features) {
            return Err(ClassifyError::UnsupportedFeatures {
                kind,
                features: cfg.features,
            });
        }
        if rows.is_empty() {
            return Err(ClassifyError::NoTrainingRows);
        }
        let featurizer = Featurizer::fit(
            self.examples,
            &self.counts,
            rows,
            (&self.y, self.classes.len()),
            cfg,
        )?;
        let x = featurizer.transform(self.examples, Some(&self.counts), rows);
        let y: Vec<usize> = rows.iter().map(|&r| self.y[r]).collect();
        let k = self.classes.len();
        let model = match kind {
            ModelKind::LogisticRegression => {
                let weights = sample_weights(&y, k, cfg.class_weight_balanced);
                let n_features = featurizer.dense_dim() + featurizer.sparse_dim();
                Model::LogisticRegression(SoftmaxRegression::fit(
                    &x,
                    n_features,
                    &y,
                    k,
                    &weights,
                    &cfg.logistic,
                )?)
            }
            ModelKind::RandomForest => Model::RandomForest(Forest::fit(
                &x,
                &y,
                k,
                cfg.class_weight_balanced,
                &cfg.forest,
                cfg.seed,
                threads,
            )?),
        };
        Ok(Classifier {
            classes: self.classes.clone(),
            kind,
            features: cfg.features,
            featurizer,
            model,
            routing: None,
            familiarity: None,
        })
    }
}
