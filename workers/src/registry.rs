//! The model registry: trained classifiers in the object store, and which one is `latest`.
//!
//! ```text
//! models/<run>/model.msgpack            the Classifier (featurizer + weights + routing threshold)
//! models/<run>/card.json                what it was trained on and how well it did (ModelCard)
//! models/<run>/evaluation.json          the held-out evaluation
//! models/<run>/evaluation.md            the same for people, with the champion comparison
//! models/<run>/precision_coverage.svg   precision against auto-routing coverage
//! models/<run>/trained_ids.bin          the ids it was fitted on (sorted 8-byte BLAKE3 prefixes)
//! datasets/<dataset>/latest.json        the model predictions of that data set use by default
//! datasets/<dataset>/reference.json     the run drift is measured against, when an operator set one
//! datasets/<dataset>/routing.json       whether automatic routing is suspended, since when, why
//! ```
//!
//! **Data sets.** Every run belongs to a data set (`--dataset`, default `default`), and `latest`
//! and the drift reference are kept per data set: the demo's synthetic tickets live in `demo`,
//! so they can never become the model or the reference of anyone's real tickets.
//!
//! **Champion and challenger on tickets neither trained on.** `latest` moves only through the
//! [quality gate](QualityGate). Which tickets a model trains on is decided by a hash of the
//! ticket id ([`SplitRule`]), so a cumulative export keeps yesterday's held-out tickets held
//! out, and every model stores the ids it was fitted on (`trained_ids.bin`, a [`TicketSet`]).
//! The challenger and the current `latest` (the champion) are both scored on the challenger's
//! held-out tickets *minus* those the champion trained on: tickets neither model ever saw. The
//! challenger is promoted when it is above the floor and no worse than the champion there by
//! more than the tolerance. With fewer such tickets than the gate's minimum, the verdict says
//! so and the floor alone decides. Scores measured on different data are never compared.
//! When the two cannot be compared row for row (another embedding model, embedding precision,
//! embedder input or label set: the champion could not serve the challenger's data as it is),
//! the challenger starts a new lineage and is judged by the floor alone; the card says why.
//! A rejected model is kept with both scores and the reason, so nobody loses the evidence.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use ticketflow_analytics::classify::routing::{CurvePoint, curve_svg};
use ticketflow_analytics::classify::{
    Classifier, Evaluation, RoutingReport, SplitRule, TicketSet, TrainConfig, TrainReport,
};
use ticketflow_analytics::sample::SampleInfo;
use ticketflow_connectors::store::{Expected, Store, StoreError, keys};
use ticketflow_schemas::Dataset;

/// Identifies the embedding model the classifier's features came from; a classifier is only
/// valid on vectors of the same model.
pub const EMBEDDING_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// `models/reference.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub run_id: String,
    pub set_at_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no model of data set {dataset:?} has passed the quality gate yet: train on a labelled run of it first (`ticketflow run --dataset {dataset}` on labelled tickets)"
    )]
    NoLatest { dataset: Dataset },
    #[error("model {run_id} not found in the registry")]
    NotFound { run_id: String },
    #[error("model {key} is unreadable: {detail}")]
    Corrupt { key: String, detail: String },
    /// The id already holds another model: model ids are written once.
    #[error("model {model_id} already holds another model; a retrain is registered under a new id")]
    ModelExists { model_id: String },
    /// Another trainer moved the data set's `latest` while this model was judged against the
    /// one before: promoting it would skip the comparison with the new one. Nothing was moved;
    /// judging again (the trainer retries) compares it with the new `latest`.
    #[error(
        "the latest model of data set {dataset:?} moved from {} to {} while model {model_id} was judged; not promoted (judge it again against the new latest)",
        judged_against.as_deref().unwrap_or("(none)"),
        now.as_deref().unwrap_or("(changed)")
    )]
    LatestMoved {
        dataset: Dataset,
        model_id: String,
        judged_against: Option<String>,
        now: Option<String>,
    },
}

impl RegistryError {
    /// Outages of the store, and a `latest` that moved (judging again is the fix).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Store(e) => e.is_transient(),
            RegistryError::LatestMoved { .. } => true,
            RegistryError::NoLatest { .. }
            | RegistryError::NotFound { .. }
            | RegistryError::Corrupt { .. }
            | RegistryError::ModelExists { .. } => false,
        }
    }
}

impl ticketflow_connectors::retry::Retryable for RegistryError {
    fn is_transient(&self) -> bool {
        RegistryError::is_transient(self)
    }
}

/// Minimum quality for a model to become `latest`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default)]
pub struct QualityGate {
    /// Absolute floor on held-out macro-F1.
    pub min_macro_f1: f64,
    /// A new model may be at most this much worse (macro-F1) than the current latest.
    pub tolerance: f64,
    /// Fewest tickets neither model trained on for the comparison with the current latest to
    /// count; below it the floor alone decides, and the verdict says so.
    pub min_compare_rows: usize,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self {
            min_macro_f1: 0.6,
            tolerance: 0.02,
            min_compare_rows: 100,
        }
    }
}

/// The gate's decision, kept in the card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum GateVerdict {
    Promoted {
        previous: Option<String>,
        /// Set when the floor alone decided although there was a `latest`: why they were not
        /// compared (too few tickets neither trained on, another lineage).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Rejected {
        reason: String,
    },
}

impl QualityGate {
    /// Decides whether a challenger with held-out `macro_f1` becomes `latest`, given how it and
    /// the current `latest` scored on the same rows (`None`: there is no `latest` yet).
    pub fn judge(&self, macro_f1: f64, champion: Option<&ChampionComparison>) -> GateVerdict {
        if macro_f1 < self.min_macro_f1 {
            return GateVerdict::Rejected {
                reason: format!(
                    "macro-F1 {macro_f1:.4} is below the minimum {:.4}",
                    self.min_macro_f1
                ),
            };
        }
        let previous = champion.map(|c| c.champion.clone());
        let Some(c) = champion else {
            return GateVerdict::Promoted {
                previous,
                note: None,
            };
        };
        if !c.comparable {
            let why = c.reason.as_deref().unwrap_or("another lineage");
            return GateVerdict::Promoted {
                previous,
                note: Some(format!(
                    "not compared with {}: {why}; the floor alone decided",
                    c.champion
                )),
            };
        }
        if c.compared_rows < self.min_compare_rows {
            return GateVerdict::Promoted {
                previous,
                note: Some(format!(
                    "only {} tickets neither model trained on (the gate needs {}): not compared with {}; the floor alone decided",
                    c.compared_rows, self.min_compare_rows, c.champion
                )),
            };
        }
        if let Some(champ) = c.champion_holdout_macro_f1
            && c.challenger_holdout_macro_f1 < champ - self.tolerance
        {
            return GateVerdict::Rejected {
                reason: format!(
                    "macro-F1 {:.4} is worse than the current latest ({}) on the same {} tickets neither trained on ({champ:.4}) by more than {:.4}",
                    c.challenger_holdout_macro_f1, c.champion, c.compared_rows, self.tolerance
                ),
            };
        }
        GateVerdict::Promoted {
            previous,
            note: None,
        }
    }
}

/// The challenger and the current `latest` (the champion), scored on the same tickets of the
/// challenger's run, tickets neither of them trained on. Kept in the card, with both scores,
/// whatever the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionComparison {
    /// Run id of the model that was `latest` before this one.
    pub champion: String,
    /// Whether the two can be compared ticket for ticket (see the module doc).
    pub comparable: bool,
    /// Why not, when they cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Tickets both were scored on: the challenger's held-out tickets that the champion never
    /// trained on either. (Cards written before this rule called it `holdout_rows`, and those
    /// rows included the champion's own training tickets.)
    #[serde(alias = "holdout_rows")]
    pub compared_rows: usize,
    /// The challenger's held-out tickets, and how many of them were left out of the
    /// comparison because the champion had trained on them.
    #[serde(default)]
    pub challenger_held_out: usize,
    #[serde(default)]
    pub champion_trained_excluded: usize,
    /// Macro-F1 of each on the compared tickets.
    pub challenger_holdout_macro_f1: f64,
    #[serde(default)]
    pub champion_holdout_macro_f1: Option<f64>,
    /// Kept for cards written before the comparison left out the champion's training tickets
    /// (cross-validation folds were compared then); no longer computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenger_cv_macro_f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion_cv_macro_f1: Option<f64>,
}

/// What must match for a champion to be scored on a challenger's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Lineage<'a> {
    pub embedding_model: &'a str,
    pub embedding_precision: &'a str,
    pub embed_input: &'a str,
    pub classes: &'a [String],
}

impl Lineage<'_> {
    /// `None` when `self` (the champion) can be scored on `challenger`'s data, else the reason.
    pub fn mismatch(&self, challenger: &Lineage<'_>) -> Option<String> {
        if self.embedding_model != challenger.embedding_model {
            return Some(format!(
                "embedding model changed ({} -> {})",
                self.embedding_model, challenger.embedding_model
            ));
        }
        if self.embedding_precision != challenger.embedding_precision {
            return Some(format!(
                "embedding precision changed ({} -> {})",
                self.embedding_precision, challenger.embedding_precision
            ));
        }
        if self.embed_input != challenger.embed_input {
            return Some(format!(
                "embedder input changed ({} -> {})",
                self.embed_input, challenger.embed_input
            ));
        }
        if self.classes != challenger.classes {
            return Some(format!(
                "label set changed ({} -> {})",
                self.classes.join("/"),
                challenger.classes.join("/")
            ));
        }
        None
    }
}

/// `models/latest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latest {
    /// The model's id (its folder under `models/`): the training run's id, or the id given to
    /// `ticketflow train --model-id` for a retrain.
    pub run_id: String,
    /// The run the model was trained on, when it differs from `run_id` (a retrain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_run: Option<String>,
    pub macro_f1: f64,
    pub promoted_at_ms: u64,
    #[serde(default)]
    pub dataset: Dataset,
}

/// What a model is, where it came from and how good it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    /// The model's id (its folder under `models/`).
    pub run_id: String,
    /// The run whose tickets it was trained on (the same as `run_id` unless retrained by hand).
    #[serde(default)]
    pub training_run: String,
    pub trained_at_ms: u64,
    /// BLAKE3 of the training run's input file.
    pub data_digest: String,
    pub input: String,
    pub rows_total: usize,
    pub rows_train: usize,
    pub rows_test: usize,
    pub classes: Vec<String>,
    pub class_counts: Vec<(String, usize)>,
    pub embedding_model: String,
    /// `fp32` or `int8`: the precision of the vectors it was trained on.
    #[serde(default = "fp32")]
    pub embedding_precision: String,
    pub embed_input: String,
    /// The data set whose `latest` it may become.
    #[serde(default)]
    pub dataset: Dataset,
    pub feature_set: String,
    pub model: String,
    pub train_config: TrainConfig,
    pub cross_validation: serde_json::Value,
    pub holdout: HoldoutSummary,
    pub gate: QualityGate,
    pub verdict: GateVerdict,
    /// The challenger against the previous `latest` on the same rows; `None` for the first
    /// model of a data set.
    #[serde(default)]
    pub champion: Option<ChampionComparison>,
    /// The auto-routing threshold and its coverage and precision (out-of-fold and held-out).
    #[serde(default)]
    pub routing: Option<RoutingReport>,
    /// Set when the run had more labelled tickets than the trainer's `--train-max-rows`: the
    /// model was trained and evaluated on this seeded sample, stratified by type, and
    /// `rows_total` counts the sample.
    #[serde(default)]
    pub sample: Option<SampleInfo>,
    /// How tickets were split into trained on and held out; `None` on models trained with a
    /// seeded split by position (before roles were stable across runs).
    #[serde(default)]
    pub split: Option<SplitRule>,
    /// The tickets the model was fitted on, stored beside it; `None` on older models.
    #[serde(default)]
    pub trained_on: Option<TrainedOn>,
}

/// Where a model's training ids are and what they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedOn {
    pub tickets: usize,
    /// BLAKE3 of `trained_ids.bin`.
    pub digest: String,
    /// Store key of `trained_ids.bin`.
    pub key: String,
}

/// `datasets/<dataset>/routing.json`: whether automatic routing is suspended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingState {
    pub suspended: bool,
    /// Why it was suspended or resumed.
    pub reason: String,
    /// The run whose drift suspended it, or the model whose promotion resumed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `drift`, `operator` or `promotion`.
    pub by: String,
    pub changed_at_ms: u64,
}

impl RoutingState {
    /// The reason as predictions show it: `<reason> (run <id>)`.
    pub fn suspension(&self) -> Option<String> {
        self.suspended.then(|| match &self.run_id {
            Some(run) => format!("{} (run {run})", self.reason),
            None => self.reason.clone(),
        })
    }
}

fn fp32() -> String {
    "fp32".into()
}

impl ModelCard {
    /// What must match for this model to be compared with another row for row.
    pub fn lineage(&self) -> Lineage<'_> {
        Lineage {
            embedding_model: &self.embedding_model,
            embedding_precision: &self.embedding_precision,
            embed_input: &self.embed_input,
            classes: &self.classes,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldoutSummary {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub weighted_precision: f64,
    pub weighted_f1: f64,
    pub expected_calibration_error: f64,
}

impl HoldoutSummary {
    pub fn of(e: &Evaluation) -> Self {
        Self {
            accuracy: e.accuracy,
            macro_f1: e.macro_avg.f1,
            weighted_precision: e.weighted_avg.precision,
            weighted_f1: e.weighted_avg.f1,
            expected_calibration_error: e.expected_calibration_error,
        }
    }
}

/// The registry over a store.
#[derive(Clone)]
pub struct Registry {
    store: Store,
}

/// What [`Registry::register`] needs besides the model.
pub struct Registration<'a> {
    /// The training run.
    pub run_id: &'a str,
    /// The model's id, the folder it is stored in: the run id for the trainer's model of a run.
    pub model_id: &'a str,
    pub dataset: &'a Dataset,
    pub input: &'a str,
    pub data_digest: &'a str,
    pub embed_input: &'a str,
    pub embedding_precision: &'a str,
    pub labels: &'a [String],
    pub config: &'a TrainConfig,
    pub report: &'a TrainReport,
    /// The challenger against the current `latest` on the same rows (see [`Champion::compare`]).
    pub champion: Option<ChampionComparison>,
    /// The run id `latest` named when this model was judged: `latest` moves only if it still
    /// does (compare-and-set), so two trainers judged against the same champion cannot both
    /// promote.
    pub latest_seen: Option<&'a str>,
    /// The sample trained on, when the run was larger than the trainer's limit.
    pub sample: Option<SampleInfo>,
    /// Out-of-fold precision-coverage curve of the train part, for the evaluation page's plot.
    pub curve: &'a [CurvePoint],
    /// How the run's tickets were split, and the ids the model was fitted on.
    pub split: Option<&'a SplitRule>,
    pub trained_ids: Option<&'a TicketSet>,
    pub now_ms: u64,
}

/// Models one run may register (`R`, `R.2` … `R.100`): a run retrained more often than this
/// is a loop, not a workflow.
pub const MAX_MODEL_VERSIONS: u32 = 100;

/// The id a trained model was registered under ([`Registry::claim_model_id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelClaim {
    pub id: String,
    /// The id already held these very bytes: the same model, registered before.
    pub existing: bool,
}

/// The current `latest` of a data set, loaded to be compared with a challenger.
pub struct Champion {
    pub run_id: String,
    pub classifier: Classifier,
    pub card: ModelCard,
    /// The ids it was fitted on; `None` for models trained before they were stored, which
    /// therefore cannot be scored fairly on anyone's tickets.
    pub trained: Option<TicketSet>,
}

impl Registry {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Reads a JSON pointer file; `None` when it does not exist. For the default data set a
    /// missing pointer falls back to where stores before data sets kept it.
    async fn pointer<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        legacy: Option<&str>,
    ) -> Result<Option<T>, RegistryError> {
        for key in std::iter::once(key).chain(legacy) {
            match self.store.get(key).await {
                Ok(bytes) => {
                    return serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                        RegistryError::Corrupt {
                            key: key.into(),
                            detail: e.to_string(),
                        }
                    });
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// The data set's `latest` pointer.
    pub async fn latest(&self, dataset: &Dataset) -> Result<Option<Latest>, RegistryError> {
        let legacy = dataset.is_default().then_some(keys::LEGACY_LATEST);
        self.pointer(&keys::dataset_latest(dataset.as_str()), legacy)
            .await
    }

    /// The data set's current `latest` with its card, ready to be scored on a challenger's
    /// rows; `None` when the data set has no model yet.
    pub async fn champion(&self, dataset: &Dataset) -> Result<Option<Champion>, RegistryError> {
        let Some(latest) = self.latest(dataset).await? else {
            return Ok(None);
        };
        self.champion_at(&latest.run_id, dataset).await.map(Some)
    }

    /// Model `run_id` with its card, as a champion (the `latest` a caller has already read).
    pub async fn champion_at(
        &self,
        run_id: &str,
        dataset: &Dataset,
    ) -> Result<Champion, RegistryError> {
        let (run_id, classifier) = self.load(run_id, dataset).await?;
        let card = self.card(&run_id).await?;
        let trained = self.trained_ids(&run_id).await?;
        Ok(Champion {
            run_id,
            classifier,
            card,
            trained,
        })
    }

    /// The ids model `model_id` was fitted on; `None` when it predates stored ids.
    pub async fn trained_ids(&self, model_id: &str) -> Result<Option<TicketSet>, RegistryError> {
        let key = keys::model_trained_ids(model_id);
        match self.store.get(&key).await {
            Ok(bytes) => {
                TicketSet::from_bytes(&bytes)
                    .map(Some)
                    .map_err(|e| RegistryError::Corrupt {
                        key,
                        detail: e.to_string(),
                    })
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether automatic routing of `dataset` is suspended; `None` when it never was.
    pub async fn routing_state(
        &self,
        dataset: &Dataset,
    ) -> Result<Option<RoutingState>, RegistryError> {
        self.pointer(&keys::dataset_routing(dataset.as_str()), None)
            .await
    }

    /// Records a change of the data set's routing state.
    pub async fn set_routing_state(
        &self,
        dataset: &Dataset,
        state: &RoutingState,
    ) -> Result<(), RegistryError> {
        self.store
            .put(
                &keys::dataset_routing(dataset.as_str()),
                Bytes::from(pretty(state)),
            )
            .await?;
        Ok(())
    }

    /// Stores the model, its card and evaluation, runs the gate and moves `latest` if it
    /// passes. The model's bytes are written once ([`claim_model_id`](Self::claim_model_id)
    /// picks a free id for a retrain); registering the same model again rewrites the same
    /// card and pages.
    pub async fn register(
        &self,
        classifier: &Classifier,
        reg: Registration<'_>,
        gate: QualityGate,
    ) -> Result<ModelCard, RegistryError> {
        let run_id = reg.model_id;
        let holdout = &reg.report.holdout;
        // A re-registration of the current latest is never judged against itself.
        let champion = reg.champion.filter(|c| c.champion != run_id);
        let trained_on = reg.trained_ids.map(|ids| TrainedOn {
            tickets: ids.len(),
            digest: ids.digest(),
            key: keys::model_trained_ids(run_id),
        });
        let verdict = gate.judge(holdout.macro_avg.f1, champion.as_ref());
        let mut class_counts: Vec<(String, usize)> = classifier
            .classes
            .iter()
            .map(|c| (c.clone(), reg.labels.iter().filter(|l| *l == c).count()))
            .collect();
        class_counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let card = ModelCard {
            run_id: run_id.to_string(),
            training_run: reg.run_id.to_string(),
            trained_at_ms: reg.now_ms,
            data_digest: reg.data_digest.to_string(),
            input: reg.input.to_string(),
            rows_total: reg.labels.len(),
            rows_train: reg.report.train_rows,
            rows_test: reg.report.test_rows,
            classes: classifier.classes.clone(),
            class_counts,
            embedding_model: EMBEDDING_MODEL_ID.to_string(),
            embedding_precision: reg.embedding_precision.to_string(),
            embed_input: reg.embed_input.to_string(),
            dataset: reg.dataset.clone(),
            feature_set: classifier.features.name(),
            model: format!("{:?}", classifier.kind),
            train_config: reg.config.clone(),
            cross_validation: serde_json::to_value(&reg.report.cv).unwrap_or_default(),
            holdout: HoldoutSummary::of(holdout),
            gate,
            verdict: verdict.clone(),
            champion,
            routing: Some(reg.report.routing.clone()),
            sample: reg.sample.clone(),
            split: reg.split.cloned(),
            trained_on,
        };
        if let Some(ids) = reg.trained_ids {
            self.store
                .put(
                    &keys::model_trained_ids(run_id),
                    Bytes::from(ids.to_bytes()),
                )
                .await?;
        }
        let bytes = model_bytes(classifier, run_id).map_err(|e| *e)?;
        if !self.write_model_once(run_id, &bytes).await? {
            return Err(RegistryError::ModelExists {
                model_id: run_id.to_string(),
            });
        }
        self.store
            .put(
                &keys::model_evaluation(run_id, "json"),
                Bytes::from(pretty(holdout)),
            )
            .await?;
        let svg = curve_svg(
            reg.curve,
            reg.report.routing.target_precision,
            reg.report.routing.threshold,
        );
        self.store
            .put(
                &keys::model_curve_svg(run_id),
                Bytes::from(svg.into_bytes()),
            )
            .await?;
        // `latest` moves before the card and the evaluation page are written: if another
        // trainer moved it first, nothing here claims a promotion that did not happen (a retry
        // judges again and rewrites every file of this model).
        if let GateVerdict::Promoted { .. } = verdict {
            let latest = Latest {
                run_id: run_id.to_string(),
                training_run: (reg.run_id != run_id).then(|| reg.run_id.to_string()),
                macro_f1: holdout.macro_avg.f1,
                promoted_at_ms: reg.now_ms,
                dataset: reg.dataset.clone(),
            };
            self.move_latest(reg.dataset, &latest, reg.latest_seen)
                .await?;
            // A model trained on the data that suspended routing takes over: routing resumes.
            if let Some(state) = self.routing_state(reg.dataset).await?
                && state.suspended
            {
                let resumed = RoutingState {
                    suspended: false,
                    reason: format!(
                        "model {run_id}, trained on run {}, was promoted",
                        reg.run_id
                    ),
                    run_id: Some(run_id.to_string()),
                    by: "promotion".into(),
                    changed_at_ms: reg.now_ms,
                };
                self.set_routing_state(reg.dataset, &resumed).await?;
            }
        }
        self.store
            .put(
                &keys::model_evaluation(run_id, "md"),
                Bytes::from(evaluation_markdown(&card, holdout).into_bytes()),
            )
            .await?;
        self.store
            .put(&keys::model_card(run_id), Bytes::from(pretty(&card)))
            .await?;
        Ok(card)
    }

    /// Writes `models/<id>/model.msgpack` if nothing is there yet. `true` when the id now holds
    /// exactly `bytes` (written now, or by an earlier attempt), `false` when it holds another
    /// model: a model id is written once and never changes.
    async fn write_model_once(&self, model_id: &str, bytes: &Bytes) -> Result<bool, RegistryError> {
        let key = keys::model(model_id);
        match self
            .store
            .put_if(&key, bytes.clone(), &Expected::Absent)
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(self.store.get(&key).await? == *bytes),
            Err(e) => Err(e.into()),
        }
    }

    /// The id a trained model is registered under: `base` (the run id for the trainer's model),
    /// or, when `base` already holds another model, the first free `base.2`, `base.3`, …
    /// The model's bytes are written here, once. `existing` is true when the id already held
    /// these very bytes: the same model, trained again (a retry).
    pub async fn claim_model_id(
        &self,
        base: &str,
        classifier: &Classifier,
    ) -> Result<ModelClaim, RegistryError> {
        let bytes = model_bytes(classifier, base).map_err(|e| *e)?;
        for n in 1..=MAX_MODEL_VERSIONS {
            let id = if n == 1 {
                base.to_string()
            } else {
                format!("{base}.{n}")
            };
            let key = keys::model(&id);
            match self
                .store
                .put_if(&key, bytes.clone(), &Expected::Absent)
                .await
            {
                Ok(()) => {
                    return Ok(ModelClaim {
                        id,
                        existing: false,
                    });
                }
                Err(StoreError::Conflict { .. }) => {
                    if self.store.get(&key).await? == bytes {
                        return Ok(ModelClaim { id, existing: true });
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(RegistryError::ModelExists {
            model_id: format!("{base}.{MAX_MODEL_VERSIONS}"),
        })
    }

    /// Points the data set's `latest` at `latest`, but only if it still names `seen` (what the
    /// model was judged against): a compare-and-set on the pointer object.
    async fn move_latest(
        &self,
        dataset: &Dataset,
        latest: &Latest,
        seen: Option<&str>,
    ) -> Result<(), RegistryError> {
        let key = keys::dataset_latest(dataset.as_str());
        let moved = |now: Option<String>| RegistryError::LatestMoved {
            dataset: dataset.clone(),
            model_id: latest.run_id.clone(),
            judged_against: seen.map(str::to_string),
            now,
        };
        let (now, expected) = match self.store.get_versioned(&key).await? {
            Some((bytes, version)) => {
                let current: Latest =
                    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                        key: key.clone(),
                        detail: e.to_string(),
                    })?;
                (Some(current.run_id), Expected::Version(version))
            }
            // Not moved since data sets: the legacy pointer (default data set) is what was seen.
            None => (
                self.latest(dataset).await?.map(|l| l.run_id),
                Expected::Absent,
            ),
        };
        if now.as_deref() != seen {
            return Err(moved(now));
        }
        match self
            .store
            .put_if(&key, Bytes::from(pretty(latest)), &expected)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(moved(None)),
            Err(e) => Err(e.into()),
        }
    }

    /// Loads a model: `latest` (of `dataset`) or a run id.
    pub async fn load(
        &self,
        which: &str,
        dataset: &Dataset,
    ) -> Result<(String, Classifier), RegistryError> {
        let run_id = if which == "latest" {
            self.latest(dataset)
                .await?
                .ok_or_else(|| RegistryError::NoLatest {
                    dataset: dataset.clone(),
                })?
                .run_id
        } else {
            which.to_string()
        };
        let key = keys::model(&run_id);
        let bytes = match self.store.get(&key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Err(RegistryError::NotFound { run_id }),
            Err(e) => return Err(e.into()),
        };
        let model = rmp_serde::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
            key,
            detail: e.to_string(),
        })?;
        Ok((run_id, model))
    }

    /// Marks `run_id` as the drift reference of `dataset` (`ticketflow runs set-reference`).
    pub async fn set_reference(
        &self,
        dataset: &Dataset,
        run_id: &str,
        now_ms: u64,
    ) -> Result<(), RegistryError> {
        let r = Reference {
            run_id: run_id.to_string(),
            set_at_ms: now_ms,
        };
        self.store
            .put(
                &keys::dataset_reference(dataset.as_str()),
                Bytes::from(pretty(&r)),
            )
            .await?;
        Ok(())
    }

    /// The data set's drift reference: the run an operator set, else the run that produced its
    /// `latest`; `None` while the data set has neither.
    pub async fn reference(&self, dataset: &Dataset) -> Result<Option<String>, RegistryError> {
        let legacy = dataset.is_default().then_some(keys::LEGACY_REFERENCE);
        match self
            .pointer::<Reference>(&keys::dataset_reference(dataset.as_str()), legacy)
            .await?
        {
            Some(r) => Ok(Some(r.run_id)),
            None => Ok(self
                .latest(dataset)
                .await?
                .map(|l| l.training_run.unwrap_or(l.run_id))),
        }
    }

    pub async fn card(&self, run_id: &str) -> Result<ModelCard, RegistryError> {
        let key = keys::model_card(run_id);
        let bytes = match self.store.get(&key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                return Err(RegistryError::NotFound {
                    run_id: run_id.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
            key,
            detail: e.to_string(),
        })
    }
}

impl Champion {
    /// Scores the champion on the challenger's held-out tickets that it never trained on
    /// either (rows of `report.split.test`, indices into `examples`, `labels` and `ids`),
    /// beside the challenger's own scores on them. When the two are of different lineages, or
    /// the champion's training tickets are unknown, nothing is scored and the reason is kept.
    pub fn compare(
        &self,
        challenger: &Lineage<'_>,
        report: &TrainReport,
        examples: &[ticketflow_analytics::classify::Example],
        labels: &[String],
        ids: &[String],
    ) -> ChampionComparison {
        let held_out = &report.split.test;
        let mut comparison = ChampionComparison {
            champion: self.run_id.clone(),
            comparable: false,
            reason: self.card.lineage().mismatch(challenger),
            compared_rows: 0,
            challenger_held_out: held_out.len(),
            champion_trained_excluded: 0,
            challenger_holdout_macro_f1: report.holdout.macro_avg.f1,
            champion_holdout_macro_f1: None,
            challenger_cv_macro_f1: None,
            champion_cv_macro_f1: None,
        };
        if comparison.reason.is_some() {
            return comparison;
        }
        let Some(trained) = &self.trained else {
            comparison.reason = Some(format!(
                "the tickets {} trained on are not recorded (trained before models kept them), so it cannot be scored on tickets it never saw",
                self.run_id
            ));
            return comparison;
        };
        let rows: Vec<usize> = held_out
            .iter()
            .copied()
            .filter(|&r| ids.get(r).is_some_and(|id| !trained.contains(id)))
            .collect();
        comparison.comparable = true;
        comparison.compared_rows = rows.len();
        comparison.champion_trained_excluded = held_out.len() - rows.len();
        if rows.is_empty() {
            return comparison;
        }
        let classes = challenger.classes;
        let truth: Vec<usize> = rows
            .iter()
            .map(|&r| classes.iter().position(|c| *c == labels[r]).unwrap_or(0))
            .collect();
        let picked: Vec<ticketflow_analytics::classify::Example> =
            rows.iter().map(|&r| examples[r].clone()).collect();
        let champion_probs = self.classifier.predict_proba_batch(&picked);
        let challenger_probs: Vec<Vec<f32>> = rows
            .iter()
            .map(|&r| report.out_of_fold[r].clone())
            .collect();
        let f1 = |probs: &[Vec<f32>]| {
            ticketflow_analytics::classify::evaluate(classes, &truth, probs)
                .macro_avg
                .f1
        };
        comparison.challenger_holdout_macro_f1 = f1(&challenger_probs);
        comparison.champion_holdout_macro_f1 = Some(f1(&champion_probs));
        comparison
    }
}

/// `evaluation.md`: the held-out evaluation, the comparison with the previous `latest` on the
/// same rows, and auto-routing with its precision-coverage plot.
pub fn evaluation_markdown(card: &ModelCard, holdout: &Evaluation) -> String {
    use std::fmt::Write;
    let mut md = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        md,
        "# Model {} ({} on {}, data set `{}`)\n",
        card.run_id, card.model, card.feature_set, card.dataset
    );
    let verdict = match &card.verdict {
        GateVerdict::Promoted { previous, note } => format!(
            "**promoted** to `latest` (previous: {}){}",
            previous.as_deref().unwrap_or("none"),
            note.as_deref()
                .map(|n| format!("; {n}"))
                .unwrap_or_default()
        ),
        GateVerdict::Rejected { reason } => format!("**rejected**: {reason}"),
    };
    let _ = writeln!(md, "Quality gate: {verdict}\n");
    if let (Some(split), Some(trained)) = (&card.split, &card.trained_on) {
        let _ = writeln!(
            md,
            "Trained on {} tickets ({}, `{}`); held out: {}.\n",
            trained.tickets,
            &trained.digest[..16.min(trained.digest.len())],
            trained.key,
            split.describe()
        );
    }
    let _ = writeln!(
        md,
        "## Against the previous latest, on tickets neither trained on\n"
    );
    match &card.champion {
        None => {
            let _ = writeln!(
                md,
                "The first model of this data set: there was no `latest` to compare with.\n"
            );
        }
        Some(c) if !c.comparable => {
            let _ = writeln!(
                md,
                "Not compared with {}: {}. A new lineage starts; the gate checked the floor only.\n",
                c.champion,
                c.reason.as_deref().unwrap_or("different lineage")
            );
        }
        Some(c) => {
            let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
            let _ = writeln!(
                md,
                "| tickets | challenger ({}) | champion ({}) |\n| --- | ---: | ---: |",
                card.run_id, c.champion
            );
            let _ = writeln!(
                md,
                "| {} held out, neither trained on, macro-F1 | {:.4} | {} |\n",
                c.compared_rows,
                c.challenger_holdout_macro_f1,
                f(c.champion_holdout_macro_f1)
            );
            let _ = writeln!(
                md,
                "Of the challenger's {} held-out tickets, {} were left out: the champion trained on them.\n",
                c.challenger_held_out, c.champion_trained_excluded
            );
        }
    }
    if let Some(r) = &card.routing {
        let _ = writeln!(
            md,
            "## Auto-routing at {:.2} precision\n",
            r.target_precision
        );
        match r.threshold {
            Some(t) => {
                let guarantee = match (r.confidence, r.lower_bound) {
                    (Some(c), Some(lb)) => format!(
                        "It is the lowest threshold whose precision is at least {:.2} with {:.0} % confidence, certified on the {} held-out tickets with this model (one-sided Clopper–Pearson lower bound {lb:.3}, thresholds tested in fixed sequence from the most confident down: Learn-then-Test). ",
                        r.target_precision,
                        c * 100.0,
                        r.holdout_rows
                    ),
                    _ => "It was chosen on out-of-fold predictions of the training part (a point estimate, no confidence bound). ".to_string(),
                };
                let _ = writeln!(
                    md,
                    "Tickets whose top-class probability is at least **{t:.4}** are routed automatically (`auto = true`), unless they are unlike the training data (another language, or far from every training ticket) or routing is suspended; the rest go to people. {guarantee}Precision is the share of routed tickets whose type is right.\n\n| tickets | routed | coverage | precision |\n| --- | ---: | ---: | ---: |\n| held out ({} tickets, {} held back as unfamiliar; where certified) | {} | {:.3} | {:.3} |\n| train part, fold models out of fold (for comparison) | {} | {:.3} | {:.3} |\n",
                    r.holdout_rows,
                    r.holdout_held,
                    r.holdout_routed,
                    r.holdout_coverage,
                    r.holdout_precision,
                    r.oof_routed,
                    r.oof_coverage,
                    r.oof_precision
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "No confidence threshold could be certified at the target on the held-out tickets: every ticket goes to people (`auto = false`).\n"
                );
            }
        }
        let _ = writeln!(
            md,
            "![precision against coverage](precision_coverage.svg)\n"
        );
    }
    let _ = writeln!(md, "## Held-out evaluation\n");
    md.push_str(&holdout.to_markdown());
    md
}

/// The classifier as stored (`model.msgpack`).
fn model_bytes(classifier: &Classifier, model_id: &str) -> Result<Bytes, Box<RegistryError>> {
    rmp_serde::to_vec_named(classifier)
        .map(Bytes::from)
        .map_err(|e| {
            Box::new(RegistryError::Corrupt {
                key: keys::model(model_id),
                detail: e.to_string(),
            })
        })
}

/// Pretty JSON. Our own types always serialise; should one ever fail, the stored file says so
/// instead of the worker panicking.
fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes())
}

#[cfg(test)]
mod tests;
