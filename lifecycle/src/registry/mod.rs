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
//!
//! | file | what |
//! | --- | --- |
//! | [`storage`] | the [`Registry`] over the object store: register, claim an id, pointers, load |
//! | [`gate`] | the [`QualityGate`] and its verdict, the champion comparison, lineages |
//! | [`champion`] | the current `latest` loaded and scored on the challenger's rows |
//! | [`card`] | the [`ModelCard`] and the data set's pointer files (`latest`, reference, routing) |
//! | [`markdown`] | `evaluation.md`, the card and evaluation for people |
//! | [`error`] | [`RegistryError`], transient or not |

mod card;
mod champion;
mod error;
mod gate;
mod markdown;
mod storage;

pub use card::{
    EMBEDDING_MODEL_ID, HoldoutSummary, Latest, ModelCard, Reference, RoutingState, TrainedOn,
};
pub use champion::Champion;
pub use error::RegistryError;
pub use gate::{ChampionComparison, GateVerdict, Lineage, QualityGate};
pub use markdown::evaluation_markdown;
pub use storage::{MAX_MODEL_VERSIONS, ModelClaim, Registration, Registry};

#[cfg(test)]
mod tests;
