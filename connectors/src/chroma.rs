//! The Chroma vector store: where the indexer puts each ticket's embedding, text and metadata,
//! and where search, training and drift read them back.
//!
//! [`ChromaClient::connect`] checks the server is alive, learns its batch limit and gets (or
//! creates) one collection in cosine space; the handle then offers the few operations the
//! pipeline needs: [`upsert`](ChromaClient::upsert) keyed by stable ticket ids (so a shard
//! delivered twice writes the same records twice, harmlessly), [`get`](ChromaClient::get),
//! [`get_where`](ChromaClient::get_where), [`query`](ChromaClient::query),
//! [`count`](ChromaClient::count) and [`update_metadata`](ChromaClient::update_metadata).
//!
//! # Why a small client of our own
//!
//! Chroma 1.x serves only its v2 HTTP API. Of the two Rust clients that speak it:
//!
//! - the official `chroma` crate (0.15) depends on `chroma-types`, whose build script compiles
//!   Chroma's internal protobuf definitions with `tonic-prost-build` — so every build needs a
//!   `protoc` binary — and it brings in tonic, prost, criterion (as a build dependency), sprs,
//!   roaring and about 240 crates in all for a handful of REST calls;
//! - `chromadb` 2.3 calls `/api/v1/heartbeat` and `/api/v1/version`, which a 1.x server answers
//!   with 410 Gone; it reports every failure as an `anyhow::Error` (so a connection refusal
//!   cannot be told from a bad request), sets no timeouts, and uses reqwest 0.11 while the
//!   object store already brings reqwest 0.13.
//!
//! The REST surface we need is eight endpoints with small JSON bodies, so this module speaks it
//! directly over the reqwest 0.13 (rustls) that `object_store` already compiles, with typed
//! errors that say whether a retry can help ([`ChromaError::is_transient`]) and a timeout on
//! every request. The bodies are in `wire`, modelled on the server's own OpenAPI document
//! (`GET /openapi.json`).
//!
//! # Chroma's semantics worth knowing
//!
//! - **Upsert and update merge metadata**: keys you send overwrite, keys you omit are kept, and
//!   a key sent as `null` is removed. Re-indexing a ticket therefore keeps a `predicted_type`
//!   written later by [`update_metadata`](ChromaClient::update_metadata) unless the new
//!   metadata names that key.
//! - **Metadata values** are strings, integers, floats, booleans and (Chroma 1.5+) non-empty
//!   lists of one of those. Other JSON is converted before sending, never rejected: see
//!   [`VectorRecord::metadata`].
//! - **Unknown ids are not errors**: `get` leaves them out, `update` ignores them.
//! - **Filters are type-strict**: `{"priority": {"$eq": "3"}}` does not match the integer `3`;
//!   [`parse_where`] infers types from what a person types.
//! - **Distances** in a cosine collection are `1 − cos(a, b)`: 0 for the same direction, up to 2.
//! - **Vectors come back within one float step**, not bit for bit: a cosine collection stores
//!   them normalized and rescales them on the way out (relative error about 1.2e-7; an `l2`
//!   collection returns them exactly). [`same_vector`] compares with that in mind.
//! - **Re-writing an existing vector is expensive** (HNSW re-linking); [`ChromaClient::upsert`]
//!   avoids it when the vector did not change.

mod client;
mod error;
mod filter;
mod upsert;
mod vector_record;
mod wire;

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::redact::redact_url;

pub use client::*;
pub use error::*;
pub use filter::parse_where;
pub use upsert::*;
pub use vector_record::*;

/// The server a fresh local stack runs (`chroma run --port 8000`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8000";
/// The collection the pipeline indexes tickets into.
pub const DEFAULT_COLLECTION: &str = "tickets";
/// Chroma's built-in tenant, used when [`ChromaConfig::tenant`] is `None`.
pub const DEFAULT_TENANT: &str = "default_tenant";
/// Chroma's built-in database, used when [`ChromaConfig::database`] is `None`.
pub const DEFAULT_DATABASE: &str = "default_database";
/// The time one request may take, connection included, unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The batch size used when the server does not say its own (`/api/v2/pre-flight-checks`).
pub const FALLBACK_MAX_BATCH_SIZE: usize = 1000;
/// How many batches of one [`ChromaClient::upsert`] call are written at once, unless
/// configured otherwise ([`ChromaConfig::concurrent_batches`]).
///
/// 4 was the best of 1, 2 and 4 in `make bench-chroma-scale` (Chroma 1.4.4, 100,000 records
/// of 500 per request, 2 shared cores): 1.16× the records/s of one batch at a time, 1.09× at
/// 2. The server's CPU per record did not change; concurrent batches only keep it busier.
/// The gain is small because a node is CPU-bound: scale out with more nodes, not more
/// requests (`docs/capacity.md`).
pub const DEFAULT_CONCURRENT_BATCHES: usize = 4;
/// The environment variable holding the Chroma token.
pub const TOKEN_ENV: &str = "TICKETFLOW_CHROMA_TOKEN";
/// The environment variable naming a file that holds the Chroma token (a mounted secret).
pub const TOKEN_FILE_ENV: &str = "TICKETFLOW_CHROMA_TOKEN_FILE";

/// The header Chroma reads a token from (Chroma Cloud and token-authenticated servers).
pub(super) const TOKEN_HEADER: &str = "x-chroma-token";
/// How long establishing a TCP connection may take: short, so a dead host fails fast.
pub(super) const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// What `get` and `query` ask Chroma to return besides the ids.
pub(super) const INCLUDE_RECORD: &[&str] = &["embeddings", "documents", "metadatas"];
pub(super) const INCLUDE_NEIGHBOUR: &[&str] = &["distances", "documents", "metadatas"];

/// Where the vector store is and which collection to use.
///
/// `Debug` never shows the token (nor a password embedded in the URL), so a config can be
/// logged whole.
#[derive(Clone)]
pub struct ChromaConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8000` (a trailing `/` is fine).
    pub url: String,
    /// Collection name: 3–512 characters from `[a-zA-Z0-9._-]`, starting and ending with a
    /// letter or digit (Chroma's rule, checked by the server).
    pub collection: String,
    /// Tenant; `None` means [`DEFAULT_TENANT`].
    pub tenant: Option<String>,
    /// Database within the tenant; `None` means [`DEFAULT_DATABASE`]. It must exist.
    pub database: Option<String>,
    /// Token sent as `x-chroma-token`: the value of [`TOKEN_ENV`], else the contents of the file
    /// [`TOKEN_FILE_ENV`] names (the binary reads both; see [`crate::secret::Secret`]).
    pub auth_token: Option<String>,
    /// Limit on every request, from connecting to reading the whole answer.
    pub request_timeout: Duration,
    /// Upper bound on records per request, applied on top of the server's own limit; `None`
    /// uses the server's limit alone. Smaller batches mean smaller requests and finer progress.
    pub max_batch_size: Option<usize>,
    /// How many batches of one [`upsert`](ChromaClient::upsert) call may be in flight at once
    /// (each batch is a `get` and then a write, so this also bounds the call's requests in
    /// flight). 1 writes batches one after the other, in order. It only matters when a call
    /// holds more records than [`max_batch_size`](Self::max_batch_size); must be positive.
    pub concurrent_batches: usize,
}

impl Default for ChromaConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.to_owned(),
            collection: DEFAULT_COLLECTION.to_owned(),
            tenant: None,
            database: None,
            auth_token: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_batch_size: None,
            concurrent_batches: DEFAULT_CONCURRENT_BATCHES,
        }
    }
}

impl ChromaConfig {
    /// The server URL, checked: an `http://` or `https://` address. Call it at start-up to fail
    /// on a typo before waiting for anything else.
    pub fn base_url(&self) -> Result<Url, ChromaError> {
        let base = Url::parse(self.url.trim())
            .map_err(|e| ChromaError::Config(format!("url {:?}: {e}", redact_url(&self.url))))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ChromaError::Config(format!(
                "url {:?} must be an http:// or https:// address",
                redact_url(&self.url)
            )));
        }
        Ok(base)
    }

    /// A config for `url` and `collection` with defaults for everything else.
    pub fn new(url: impl Into<String>, collection: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            collection: collection.into(),
            ..Self::default()
        }
    }

    fn tenant_or_default(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }

    fn database_or_default(&self) -> &str {
        self.database.as_deref().unwrap_or(DEFAULT_DATABASE)
    }
}

impl fmt::Debug for ChromaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChromaConfig")
            .field("url", &redact_url(&self.url))
            .field("collection", &self.collection)
            .field("tenant", &self.tenant)
            .field("database", &self.database)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("request_timeout", &self.request_timeout)
            .field("max_batch_size", &self.max_batch_size)
            .field("concurrent_batches", &self.concurrent_batches)
            .finish()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod upsert_tests;
