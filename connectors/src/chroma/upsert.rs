//! Writing records: [`ChromaClient::upsert`], its batches written a bounded number at a time,
//! and the count of requests in flight that shows the bound holds.
//!
//! # Why concurrent batches
//!
//! One request at a time leaves a Chroma node idle while the client serializes the next batch
//! and while each answer travels back, and it leaves the node's other cores idle while one
//! batch is linked into the HNSW graph. Writing a few batches at once keeps the node busy; the
//! gain is measured in `connectors/benches/chroma_scale.rs` (`make bench-chroma-scale`) and
//! written up in `docs/benchmarks.md`, "Chroma at a million records".
//!
//! # Why it stays correct
//!
//! - **No id is in two batches.** A call keeps the last record of each id *before* cutting
//!   batches ([`last_of_each_id`]), so concurrent batches never race on one record: the
//!   outcome is the same as writing the batches in order.
//! - **Each batch decides alone** whether its vectors changed (its own `get`, then `upsert`
//!   and/or `update`), exactly as a sequential call does, so the unchanged-vector shortcut
//!   holds batch by batch.
//! - **Errors are today's errors.** The first batch to fail ends the call with its
//!   [`ChromaError`], untouched, so [`is_transient`](ChromaError::is_transient) (and every
//!   retry decision built on it) sees what it saw before. Batches not yet started are not
//!   started; batches in flight are abandoned, and may or may not have been applied by the
//!   server. Either way the whole call can be repeated: upserts are keyed by id.
//! - **The bound is a hard one**: `futures`' `buffer_unordered(n)` starts (polls) at most `n`
//!   batch futures at once, the next only when one has finished, and each batch sends its
//!   requests one after the other, so a call never has more than `n` requests in flight. [`ChromaClient::requests_in_flight_peak`] lets a test or a
//!   benchmark check it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use reqwest::Method;
use serde_json::Value;

use super::*;

/// What one [`ChromaClient::upsert_counted`] call wrote: records whose vector was new or changed
/// (sent with `upsert`), and records whose stored vector was kept (only their document and
/// metadata sent, with `update`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Records written with their vector (new ids, or a changed vector).
    pub vectors_written: usize,
    /// Records whose stored vector was the same: document and metadata only.
    pub vectors_unchanged: usize,
}

impl std::ops::Add for UpsertCounts {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            vectors_written: self.vectors_written + other.vectors_written,
            vectors_unchanged: self.vectors_unchanged + other.vectors_unchanged,
        }
    }
}

/// A gauge of requests in flight with its high-water mark, shared by a client and its clones.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One request in flight; dropping it (the answer came, or the request was abandoned) ends it.
pub(super) struct InFlightGuard<'a>(&'a InFlight);

impl InFlight {
    /// Counts one more request in flight until the guard is dropped.
    pub(super) fn enter(&self) -> InFlightGuard<'_> {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self)
    }

    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn reset_peak(&self) {
        self.peak
            .store(self.now.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ChromaClient {
    /// Inserts the records, replacing any with the same id (Chroma merges their metadata; see
    /// the [module documentation](super)).
    ///
    /// The records are checked first (non-empty ids, one embedding dimension, finite values),
    /// so bad input fails before anything is written. A repeated id keeps its last record.
    /// They are then written in batches of at most [`max_batch_size`](Self::max_batch_size),
    /// up to [`concurrent_batches`](Self::concurrent_batches) at a time (1: one after the other,
    /// in order). If one fails, the call ends with that batch's error; batches already written
    /// stay written, which is harmless because the whole call can simply be repeated.
    ///
    /// # Redelivery is cheap
    ///
    /// Re-writing the vector of an existing record makes Chroma re-link it in its HNSW graph,
    /// about 5 ms a record on one core — roughly 8× the cost of a first insert (measured on
    /// Chroma 1.5.9: 2,500 × 384-d, 1.9 s new, 14.8 s again). A redelivered shard or a re-run
    /// would pay that for vectors that did not change. So each batch first fetches the stored
    /// vectors of its ids (one `get`); records whose vector is unchanged (within
    /// [`same_vector`]'s tolerance) get only their document and metadata written, with
    /// `update`, and only new or changed vectors go through `upsert`. The result is the same
    /// as a plain upsert.
    pub async fn upsert(&self, records: &[VectorRecord]) -> Result<(), ChromaError> {
        self.upsert_counted(records).await.map(|_| ())
    }

    /// [`upsert`](Self::upsert), telling how many records needed their vector written and how
    /// many kept the stored one.
    pub async fn upsert_counted(
        &self,
        records: &[VectorRecord],
    ) -> Result<UpsertCounts, ChromaError> {
        validate_records(OP, records)?;
        let records = last_of_each_id(records);
        // The batch futures are built first (they do nothing until polled) and the stream
        // holds only them: a stream holding a closure over `self` makes the call's future
        // `Send` only for one borrow, not for every one, which `async_trait` callers need.
        let batches: Vec<_> = records
            .chunks(self.max_batch_size)
            .enumerate()
            .map(|(i, batch)| self.upsert_batch(i, batch))
            .collect();
        let mut writes = futures::stream::iter(batches).buffer_unordered(self.concurrent_batches);
        let mut total = UpsertCounts::default();
        while let Some(counts) = writes.next().await {
            total = total + counts?;
        }
        Ok(total)
    }

    /// One batch: fetch the stored vectors of its ids, then `upsert` the new or changed
    /// records and `update` the unchanged ones. Its requests go one after the other.
    async fn upsert_batch(
        &self,
        i: usize,
        batch: &[&VectorRecord],
    ) -> Result<UpsertCounts, ChromaError> {
        let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
        let stored = self.stored_vectors(&ids).await?;
        let (unchanged, to_write): (Vec<&VectorRecord>, Vec<&VectorRecord>) =
            batch.iter().copied().partition(|r| {
                stored
                    .get(&r.id)
                    .is_some_and(|v| same_vector(v, &r.embedding))
            });
        if !to_write.is_empty() {
            let body = wire::Upsert::of(&to_write);
            self.call::<Value>(OP, Method::POST, self.collection_url("upsert"), Some(&body))
                .await?;
        }
        if !unchanged.is_empty() {
            let body = wire::UpdateRecords::of(&unchanged);
            self.call::<Value>(OP, Method::POST, self.collection_url("update"), Some(&body))
                .await?;
        }
        tracing::debug!(
            batch = i,
            vectors_written = to_write.len(),
            vectors_unchanged = unchanged.len(),
            "chroma upsert batch written"
        );
        Ok(UpsertCounts {
            vectors_written: to_write.len(),
            vectors_unchanged: unchanged.len(),
        })
    }

    /// The stored vectors of those of `ids` that exist.
    async fn stored_vectors(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<f32>>, ChromaError> {
        let body = wire::Get {
            ids: Some(ids),
            filter: None,
            limit: None,
            include: &["embeddings"],
        };
        let resp: wire::GetResponse = self.post_to_collection(OP, "get", &body).await?;
        let n = resp.ids.len();
        let embeddings =
            resp.embeddings
                .filter(|e| e.len() == n)
                .ok_or_else(|| ChromaError::Protocol {
                    op: OP,
                    detail: format!("embeddings missing or not one per id ({n} ids)"),
                })?;
        Ok(resp
            .ids
            .into_iter()
            .zip(embeddings)
            .filter_map(|(id, e)| Some((id, e?)))
            .collect())
    }

    /// The batches of one [`upsert`](Self::upsert) call in flight at once:
    /// [`ChromaConfig::concurrent_batches`].
    pub fn concurrent_batches(&self) -> usize {
        self.concurrent_batches
    }

    /// The most requests this client and its clones have had in flight at once, since
    /// [`connect`](Self::connect) or the last [`reset_requests_in_flight_peak`](Self::reset_requests_in_flight_peak).
    /// One [`upsert`](Self::upsert) call alone never takes it above
    /// [`concurrent_batches`](Self::concurrent_batches); tasks sharing the client add theirs.
    pub fn requests_in_flight_peak(&self) -> usize {
        self.in_flight.peak()
    }

    /// Starts a new high-water mark for [`requests_in_flight_peak`](Self::requests_in_flight_peak)
    /// from the requests in flight now.
    pub fn reset_requests_in_flight_peak(&self) {
        self.in_flight.reset_peak();
    }
}

/// The operation name upserts are timed, counted and reported under.
const OP: &str = "upsert";
