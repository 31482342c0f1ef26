//! The [`Registry`] over the object store: models under `models/<id>/`, the data sets' pointer
//! files, registering with the gate's verdict, and loading a model back.

use bytes::Bytes;
use serde::Serialize;
use ticketflow_analytics::classify::routing::{CurvePoint, curve_svg};
use ticketflow_analytics::classify::{Classifier, SplitRule, TicketSet, TrainConfig, TrainReport};
use ticketflow_analytics::sample::SampleInfo;
use ticketflow_connectors::store::{Expected, Store, StoreError, keys};
use ticketflow_schemas::Dataset;

use super::card::{
    EMBEDDING_MODEL_ID, HoldoutSummary, Latest, ModelCard, Reference, RoutingState, TrainedOn,
};
use super::champion::Champion;
use super::error::RegistryError;
use super::gate::{ChampionComparison, GateVerdict, QualityGate};
use super::markdown::evaluation_markdown;

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
