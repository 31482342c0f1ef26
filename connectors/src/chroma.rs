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

mod filter;
mod wire;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use url::Url;

pub use filter::parse_where;

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
/// The environment variable holding the Chroma token.
pub const TOKEN_ENV: &str = "TICKETFLOW_CHROMA_TOKEN";
/// The environment variable naming a file that holds the Chroma token (a mounted secret).
pub const TOKEN_FILE_ENV: &str = "TICKETFLOW_CHROMA_TOKEN_FILE";

/// The header Chroma reads a token from (Chroma Cloud and token-authenticated servers).
const TOKEN_HEADER: &str = "x-chroma-token";
/// How long establishing a TCP connection may take: short, so a dead host fails fast.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// What `get` and `query` ask Chroma to return besides the ids.
const INCLUDE_RECORD: &[&str] = &["embeddings", "documents", "metadatas"];
const INCLUDE_NEIGHBOUR: &[&str] = &["distances", "documents", "metadatas"];

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
    /// Token sent as `x-chroma-token`; see [`ChromaConfig::token_from_env`].
    pub auth_token: Option<String>,
    /// Limit on every request, from connecting to reading the whole answer.
    pub request_timeout: Duration,
    /// Upper bound on records per request, applied on top of the server's own limit; `None`
    /// uses the server's limit alone. Smaller batches mean smaller requests and finer progress.
    pub max_batch_size: Option<usize>,
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

    /// Reads the token the way deployments provide it: the value of [`TOKEN_ENV`] if set and
    /// non-empty, else the contents of the file named by [`TOKEN_FILE_ENV`] (surrounding
    /// whitespace trimmed, as secrets mounted from Kubernetes often end in a newline), else
    /// `None`. An unreadable token file is an error rather than a silent anonymous connection.
    pub fn token_from_env() -> Result<Option<String>, ChromaError> {
        if let Some(token) = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            return Ok(Some(token.trim().to_owned()));
        }
        match std::env::var_os(TOKEN_FILE_ENV).filter(|p| !p.is_empty()) {
            Some(path) => Self::token_from_file(PathBuf::from(path)).map(Some),
            None => Ok(None),
        }
    }

    /// Reads a token from a file, trimming surrounding whitespace; an empty file is an error.
    pub fn token_from_file(path: impl Into<PathBuf>) -> Result<String, ChromaError> {
        let path = path.into();
        let text = std::fs::read_to_string(&path).map_err(|source| ChromaError::TokenFile {
            path: path.clone(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ChromaError::TokenFile {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"),
            });
        }
        Ok(token.to_owned())
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
            .finish()
    }
}

/// One record of the collection: a ticket's embedding, its text and its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorRecord {
    /// Stable id (the ticket id): upserting the same id again replaces the record.
    pub id: String,
    /// The embedding; every record of a collection has the same dimension.
    pub embedding: Vec<f32>,
    /// The text the embedding was computed from (empty when Chroma holds none).
    pub document: String,
    /// Metadata used for filtering and analysis (type, queue, language, run id, …).
    ///
    /// Before sending, values are made storable by Chroma: `null` and `[]` remove the key;
    /// integers beyond `i64` become floats; objects and mixed lists become their JSON text.
    pub metadata: Map<String, Value>,
}

/// One result of a nearest-neighbour [`query`](ChromaClient::query).
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Id of the stored record.
    pub id: String,
    /// Cosine distance to the query, `1 − cos`: 0 is the same direction.
    pub distance: f32,
    /// The stored document, if any.
    pub document: Option<String>,
    /// The stored metadata (empty if none).
    pub metadata: Map<String, Value>,
}

/// A boxed error from the HTTP stack, kept as the `source` of our errors without making
/// reqwest's types part of this crate's API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong talking to Chroma, split by whether trying again later can help.
///
/// [`is_transient`](ChromaError::is_transient) is the question a worker asks: a transient error
/// (server down, timeout, overload, a 5xx) means "redeliver this shard later"; a permanent one
/// (bad request, wrong dimension, bad data, bad config) means retrying would fail the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChromaError {
    /// The configuration cannot work (malformed URL, token with invalid characters, …).
    #[error("invalid Chroma configuration: {0}")]
    Config(String),
    /// No connection could be made: refused, DNS failure, unreachable network.
    #[error("Chroma at {url} is unreachable during {op} (is the server running?): {source}")]
    Unreachable {
        /// The server's base URL, without credentials.
        url: String,
        /// The operation that was attempted.
        op: &'static str,
        /// The underlying connection error.
        #[source]
        source: BoxError,
    },
    /// The request did not complete within the configured timeout.
    #[error("Chroma {op} timed out after {timeout:?}")]
    Timeout {
        /// The operation that was attempted.
        op: &'static str,
        /// The limit that was exceeded.
        timeout: Duration,
    },
    /// The connection failed mid-request (reset, closed early, broken body).
    #[error("Chroma {op} failed in transit: {source}")]
    Transport {
        /// The operation that was attempted.
        op: &'static str,
        /// The underlying I/O error.
        #[source]
        source: BoxError,
    },
    /// The server answered with an error status. Transient for 408, 429 and 5xx.
    #[error("Chroma {op} failed with HTTP {status} ({kind}): {message}")]
    Http {
        /// The operation that was attempted.
        op: &'static str,
        /// The HTTP status code.
        status: u16,
        /// Chroma's error class, e.g. `InvalidArgumentError`, `NotFoundError`.
        kind: String,
        /// Chroma's message, or the start of the body if it was not Chroma's JSON.
        message: String,
    },
    /// The server answered 2xx with a body this client cannot read.
    #[error("Chroma {op} returned an unexpected response: {detail}")]
    Protocol {
        /// The operation that was attempted.
        op: &'static str,
        /// What did not fit.
        detail: String,
    },
    /// The caller's data cannot be sent (mismatched lengths, NaN in an embedding, …).
    #[error("invalid input to Chroma {op}: {detail}")]
    InvalidInput {
        /// The operation that was attempted.
        op: &'static str,
        /// What is wrong, naming the record where possible.
        detail: String,
    },
    /// The collection already exists with another distance function; its distances would not
    /// mean what the pipeline assumes, and Chroma cannot change it in place.
    #[error(
        "collection {collection:?} uses distance space {found:?}, not \"cosine\"; \
         delete it or choose another collection name"
    )]
    SpaceMismatch {
        /// The collection name.
        collection: String,
        /// The space it was created with.
        found: String,
    },
    /// A command-line filter could not be parsed (see [`parse_where`]).
    #[error("invalid filter {expr:?}: {reason}")]
    Where {
        /// The condition as written.
        expr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The token file could not be read.
    #[error("cannot read the Chroma token file {}: {source}", path.display())]
    TokenFile {
        /// The file named by the configuration.
        path: PathBuf,
        /// Why reading it failed.
        #[source]
        source: std::io::Error,
    },
}

impl ChromaError {
    /// Whether the same call may succeed later: unreachable server, timeout, broken
    /// connection, or HTTP 408, 429 or 5xx. Everything else is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            ChromaError::Unreachable { .. }
            | ChromaError::Timeout { .. }
            | ChromaError::Transport { .. } => true,
            ChromaError::Http { status, .. } => {
                *status == 408 || *status == 429 || (500..600).contains(status)
            }
            ChromaError::Config(_)
            | ChromaError::Protocol { .. }
            | ChromaError::InvalidInput { .. }
            | ChromaError::SpaceMismatch { .. }
            | ChromaError::Where { .. }
            | ChromaError::TokenFile { .. } => false,
        }
    }

    /// The HTTP status, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ChromaError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A connected handle to one Chroma collection. Cheap to clone; clones share one connection
/// pool, so give every task its own clone rather than wrapping it in a lock.
#[derive(Clone)]
pub struct ChromaClient {
    http: reqwest::Client,
    /// `{url}/api/v2`, the root every endpoint hangs off.
    api: Url,
    /// `url` without credentials, for messages.
    display_url: String,
    tenant: String,
    database: String,
    collection: String,
    collection_id: String,
    max_batch_size: usize,
    timeout: Duration,
}

impl fmt::Debug for ChromaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChromaClient")
            .field("server", &self.display_url)
            .field("tenant", &self.tenant)
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field("collection_id", &self.collection_id)
            .field("max_batch_size", &self.max_batch_size)
            .finish_non_exhaustive()
    }
}

impl ChromaClient {
    /// Connects to the server and gets or creates the configured collection with cosine
    /// distance.
    ///
    /// In order: a heartbeat (so a down server fails here, clearly, as
    /// [`ChromaError::Unreachable`]); the server's batch limit from
    /// `/api/v2/pre-flight-checks` (falling back to [`FALLBACK_MAX_BATCH_SIZE`] if it will not
    /// say); then get-or-create of the collection with `{"hnsw": {"space": "cosine"}}`. If the
    /// collection already exists with another space, that is [`ChromaError::SpaceMismatch`]:
    /// Chroma would silently keep the old space otherwise.
    pub async fn connect(cfg: &ChromaConfig) -> Result<Self, ChromaError> {
        let base = cfg.base_url()?;
        if cfg.request_timeout.is_zero() {
            return Err(ChromaError::Config(
                "request_timeout must be positive".into(),
            ));
        }
        if cfg.max_batch_size == Some(0) {
            return Err(ChromaError::Config(
                "max_batch_size must be positive".into(),
            ));
        }
        let mut api = base;
        api.path_segments_mut()
            .map_err(|()| ChromaError::Config("url cannot hold a path".into()))?
            .pop_if_empty()
            .extend(["api", "v2"]);

        let mut headers = HeaderMap::new();
        if let Some(token) = &cfg.auth_token {
            let mut value = HeaderValue::from_str(token.trim()).map_err(|_| {
                ChromaError::Config(
                    "the auth token contains characters not allowed in an HTTP header".into(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static(TOKEN_HEADER), value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(MAX_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| ChromaError::Config(format!("cannot build the HTTP client: {e}")))?;

        let mut client = ChromaClient {
            http,
            api,
            display_url: redact_url(&cfg.url),
            tenant: cfg.tenant_or_default().to_owned(),
            database: cfg.database_or_default().to_owned(),
            collection: cfg.collection.clone(),
            collection_id: String::new(),
            max_batch_size: FALLBACK_MAX_BATCH_SIZE,
            timeout: cfg.request_timeout,
        };

        client
            .call::<Value>(
                "heartbeat",
                Method::GET,
                client.url(&["heartbeat"]),
                None::<&()>,
            )
            .await?;

        let server_max = match client
            .call::<wire::PreFlight>(
                "pre-flight-checks",
                Method::GET,
                client.url(&["pre-flight-checks"]),
                None::<&()>,
            )
            .await
        {
            Ok(wire::PreFlight {
                max_batch_size: Some(n),
            }) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Ok(_) => FALLBACK_MAX_BATCH_SIZE,
            Err(e) => {
                tracing::warn!(error = %e, fallback = FALLBACK_MAX_BATCH_SIZE, "chroma pre-flight check failed; using the fallback batch size");
                FALLBACK_MAX_BATCH_SIZE
            }
        };
        client.max_batch_size = cfg
            .max_batch_size
            .map_or(server_max, |cap| cap.min(server_max));

        let created: wire::Collection = client
            .call(
                "create collection",
                Method::POST,
                client.url(&[
                    "tenants",
                    &client.tenant,
                    "databases",
                    &client.database,
                    "collections",
                ]),
                Some(&wire::CreateCollection {
                    name: &cfg.collection,
                    get_or_create: true,
                    configuration: json!({ "hnsw": { "space": "cosine" } }),
                }),
            )
            .await?;
        match collection_space(&created) {
            Some(space) if space != "cosine" => {
                return Err(ChromaError::SpaceMismatch {
                    collection: cfg.collection.clone(),
                    found: space.to_owned(),
                });
            }
            Some(_) => {}
            None => tracing::warn!(
                collection = %cfg.collection,
                "chroma did not report the collection's distance space; assuming cosine"
            ),
        }
        client.collection_id = created.id;
        tracing::debug!(
            server = %client.display_url,
            collection = %client.collection,
            collection_id = %client.collection_id,
            max_batch_size = client.max_batch_size,
            "connected to chroma"
        );
        Ok(client)
    }

    /// Inserts the records, replacing any with the same id (Chroma merges their metadata; see
    /// the [module documentation](self)).
    ///
    /// The records are checked first (non-empty ids, one embedding dimension, finite values),
    /// so bad input fails before anything is written. A repeated id keeps its last record.
    /// They are then written in batches of at most [`max_batch_size`](Self::max_batch_size),
    /// in order; if one fails, earlier batches stay written, which is harmless because the
    /// whole call can simply be repeated.
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
        const OP: &str = "upsert";
        validate_records(OP, records)?;
        let records = last_of_each_id(records);
        let upsert_url = self.collection_url("upsert");
        let update_url = self.collection_url("update");
        for (i, batch) in records.chunks(self.max_batch_size).enumerate() {
            let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
            let stored = self.stored_vectors(OP, &ids).await?;
            let (unchanged, to_write): (Vec<&VectorRecord>, Vec<&VectorRecord>) =
                batch.iter().copied().partition(|r| {
                    stored
                        .get(&r.id)
                        .is_some_and(|v| same_vector(v, &r.embedding))
                });
            if !to_write.is_empty() {
                let body = wire::Upsert {
                    ids: to_write.iter().map(|r| r.id.as_str()).collect(),
                    embeddings: to_write.iter().map(|r| r.embedding.as_slice()).collect(),
                    documents: to_write.iter().map(|r| r.document.as_str()).collect(),
                    metadatas: to_write
                        .iter()
                        .map(|r| wire::to_chroma_metadata(&r.metadata))
                        .collect(),
                };
                self.call::<Value>(OP, Method::POST, upsert_url.clone(), Some(&body))
                    .await?;
            }
            if !unchanged.is_empty() {
                let body = wire::UpdateRecords {
                    ids: unchanged.iter().map(|r| r.id.as_str()).collect(),
                    documents: unchanged.iter().map(|r| r.document.as_str()).collect(),
                    metadatas: unchanged
                        .iter()
                        .map(|r| wire::to_chroma_metadata(&r.metadata))
                        .collect(),
                };
                self.call::<Value>(OP, Method::POST, update_url.clone(), Some(&body))
                    .await?;
            }
            tracing::debug!(
                batch = i,
                vectors_written = to_write.len(),
                vectors_unchanged = unchanged.len(),
                "chroma upsert batch written"
            );
        }
        Ok(())
    }

    /// The stored vectors of those of `ids` that exist.
    async fn stored_vectors(
        &self,
        op: &'static str,
        ids: &[String],
    ) -> Result<HashMap<String, Vec<f32>>, ChromaError> {
        let body = wire::Get {
            ids: Some(ids),
            filter: None,
            limit: None,
            include: &["embeddings"],
        };
        let resp: wire::GetResponse = self
            .call(op, Method::POST, self.collection_url("get"), Some(&body))
            .await?;
        let n = resp.ids.len();
        let embeddings =
            resp.embeddings
                .filter(|e| e.len() == n)
                .ok_or_else(|| ChromaError::Protocol {
                    op,
                    detail: format!("embeddings missing or not one per id ({n} ids)"),
                })?;
        Ok(resp
            .ids
            .into_iter()
            .zip(embeddings)
            .filter_map(|(id, e)| Some((id, e?)))
            .collect())
    }

    /// Asks the server whether it is up (the `/heartbeat` endpoint), for readiness probes.
    pub async fn heartbeat(&self) -> Result<(), ChromaError> {
        self.call::<Value>(
            "heartbeat",
            Method::GET,
            self.url(&["heartbeat"]),
            None::<&()>,
        )
        .await
        .map(|_| ())
    }

    /// The number of records in the collection.
    pub async fn count(&self) -> Result<usize, ChromaError> {
        let n: u64 = self
            .call(
                "count",
                Method::GET,
                self.collection_url("count"),
                None::<&()>,
            )
            .await?;
        usize::try_from(n).map_err(|_| ChromaError::Protocol {
            op: "count",
            detail: format!("count {n} does not fit in usize"),
        })
    }

    /// The records with these ids, with embeddings, documents and metadata, in the order the
    /// ids were given. Ids not in the collection are left out; a repeated id appears once.
    /// Long id lists are fetched in batches of at most [`max_batch_size`](Self::max_batch_size).
    pub async fn get(&self, ids: &[String]) -> Result<Vec<VectorRecord>, ChromaError> {
        const OP: &str = "get";
        let url = self.collection_url("get");
        let mut found = HashMap::with_capacity(ids.len());
        for batch in ids.chunks(self.max_batch_size) {
            let body = wire::Get {
                ids: Some(batch),
                filter: None,
                limit: None,
                include: INCLUDE_RECORD,
            };
            let resp: wire::GetResponse = self
                .call(OP, Method::POST, url.clone(), Some(&body))
                .await?;
            for record in records_from(OP, resp)? {
                found.insert(record.id.clone(), record);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Up to `limit` records whose metadata matches `filter` (a Chroma `where` clause, such as
    /// [`parse_where`] builds), in the server's storage order.
    pub async fn get_where(
        &self,
        filter: Value,
        limit: usize,
    ) -> Result<Vec<VectorRecord>, ChromaError> {
        const OP: &str = "get where";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let filter = non_empty_filter(Some(filter));
        let body = wire::Get {
            ids: None,
            filter: filter.as_ref(),
            limit: Some(u32::try_from(limit).unwrap_or(u32::MAX)),
            include: INCLUDE_RECORD,
        };
        let resp: wire::GetResponse = self
            .call(OP, Method::POST, self.collection_url("get"), Some(&body))
            .await?;
        records_from(OP, resp)
    }

    /// The `k` records nearest to `embedding` by cosine distance, nearest first, optionally
    /// only among those whose metadata matches `filter`. Fewer than `k` come back when fewer
    /// records match.
    pub async fn query(
        &self,
        embedding: &[f32],
        k: usize,
        filter: Option<Value>,
    ) -> Result<Vec<Neighbour>, ChromaError> {
        const OP: &str = "query";
        check_embedding(OP, "the query", embedding, None)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let filter = non_empty_filter(filter);
        let body = wire::Query {
            query_embeddings: [embedding],
            n_results: u32::try_from(k).unwrap_or(u32::MAX),
            filter: filter.as_ref(),
            include: INCLUDE_NEIGHBOUR,
        };
        let resp: wire::QueryResponse = self
            .call(OP, Method::POST, self.collection_url("query"), Some(&body))
            .await?;
        neighbours_from(OP, resp)
    }

    /// Sets metadata keys of existing records, e.g. the classifier's `predicted_type`.
    ///
    /// `metadatas[i]` applies to `ids[i]`. Chroma *merges*: keys given overwrite, other keys are
    /// kept, and a key given as `null` is removed. Ids not in the collection are ignored by
    /// Chroma. Values are converted as for [`VectorRecord::metadata`].
    pub async fn update_metadata(
        &self,
        ids: &[String],
        metadatas: &[Map<String, Value>],
    ) -> Result<(), ChromaError> {
        const OP: &str = "update metadata";
        if ids.len() != metadatas.len() {
            return Err(ChromaError::InvalidInput {
                op: OP,
                detail: format!("{} ids but {} metadata maps", ids.len(), metadatas.len()),
            });
        }
        if let Some(i) = ids.iter().position(|id| id.is_empty()) {
            return Err(ChromaError::InvalidInput {
                op: OP,
                detail: format!("id #{i} is empty"),
            });
        }
        let url = self.collection_url("update");
        let step = self.max_batch_size;
        for (ids, metas) in ids.chunks(step).zip(metadatas.chunks(step)) {
            let body = wire::UpdateMetadata {
                ids,
                metadatas: metas.iter().map(wire::to_chroma_metadata).collect(),
            };
            self.call::<Value>(OP, Method::POST, url.clone(), Some(&body))
                .await?;
        }
        Ok(())
    }

    /// Where this client points, for logs and summaries: server, tenant, database and
    /// collection. Never includes the token or URL credentials.
    pub fn describe(&self) -> String {
        format!(
            "chroma {} (tenant {}, database {}) collection {}",
            self.display_url, self.tenant, self.database, self.collection
        )
    }

    /// The records per request this client sends: the server's limit, lowered by
    /// [`ChromaConfig::max_batch_size`] if set.
    pub fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// The collection's server-side id (a UUID); stable for the collection's lifetime.
    pub fn collection_id(&self) -> &str {
        &self.collection_id
    }

    /// `{api}/{segments...}`, each segment percent-encoded as a path segment.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.api.clone();
        // `connect` checked that the base URL can hold a path, so this cannot fail.
        if let Ok(mut path) = url.path_segments_mut() {
            path.extend(segments);
        }
        url
    }

    /// The URL of an operation on this client's collection.
    fn collection_url(&self, op: &str) -> Url {
        self.url(&[
            "tenants",
            &self.tenant,
            "databases",
            &self.database,
            "collections",
            &self.collection_id,
            op,
        ])
    }

    /// Sends one request and decodes a 2xx JSON answer; every failure becomes a
    /// [`ChromaError`] classified by what happened. Timed and counted per `op` for the Chroma
    /// metrics.
    async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ChromaError> {
        let started = std::time::Instant::now();
        let result = self.send(op, method, url, body).await;
        ticketflow_telemetry::internal_events::ChromaRequest {
            operation: op,
            duration: started.elapsed(),
            failed: result.is_err(),
        }
        .emit();
        result
    }

    async fn send<T: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ChromaError> {
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(op, e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(op, e))?;
        if !status.is_success() {
            return Err(http_error(op, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ChromaError::Protocol {
            op,
            detail: format!("{e} in {}", snippet(&bytes)),
        })
    }

    fn transport_error(&self, op: &'static str, e: reqwest::Error) -> ChromaError {
        if e.is_timeout() {
            ChromaError::Timeout {
                op,
                timeout: self.timeout,
            }
        } else if e.is_connect() {
            ChromaError::Unreachable {
                url: self.display_url.clone(),
                op,
                source: Box::new(e.without_url()),
            }
        } else if e.is_builder() {
            ChromaError::InvalidInput {
                op,
                detail: e.without_url().to_string(),
            }
        } else {
            ChromaError::Transport {
                op,
                source: Box::new(e.without_url()),
            }
        }
    }
}

/// Builds the error for a non-2xx answer from Chroma's `{"error", "message"}` body if it has
/// one, else from the start of whatever it sent.
fn http_error(op: &'static str, status: StatusCode, body: &[u8]) -> ChromaError {
    let (kind, message) = match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            status.canonical_reason().unwrap_or("unknown").to_owned(),
            snippet(body),
        ),
    };
    ChromaError::Http {
        op,
        status: status.as_u16(),
        kind,
        message,
    }
}

/// The first few hundred characters of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// The distance space a collection was created with, from its 1.x configuration (`hnsw` on a
/// single node, `spann` on distributed Chroma) or the legacy `hnsw:space` metadata key.
fn collection_space(c: &wire::Collection) -> Option<&str> {
    let cfg = c.configuration_json.as_ref();
    ["hnsw", "spann"]
        .iter()
        .find_map(|index| cfg?.get(index)?.get("space")?.as_str())
        .or_else(|| c.metadata.as_ref()?.get("hnsw:space")?.as_str())
}

/// Checks a batch before anything is sent: non-empty ids, one dimension, finite values.
fn validate_records(op: &'static str, records: &[VectorRecord]) -> Result<(), ChromaError> {
    let dim = records.first().map(|r| r.embedding.len());
    for (i, r) in records.iter().enumerate() {
        if r.id.is_empty() {
            return Err(ChromaError::InvalidInput {
                op,
                detail: format!("record #{i} has an empty id"),
            });
        }
        check_embedding(op, &format!("record {:?}", r.id), &r.embedding, dim)?;
    }
    Ok(())
}

/// The records with each id's last occurrence only, in the order of those occurrences, so
/// that splitting into batches cannot reorder two writes of one id.
fn last_of_each_id(records: &[VectorRecord]) -> Vec<&VectorRecord> {
    let mut last = HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        last.insert(r.id.as_str(), i);
    }
    records
        .iter()
        .enumerate()
        .filter(|(i, r)| last.get(r.id.as_str()) == Some(i))
        .map(|(_, r)| r)
        .collect()
}

/// Whether a stored vector equals a new one up to Chroma's storage error.
///
/// A cosine collection stores vectors normalized and returns them rescaled, so a component
/// can come back one float step off (relative error about 1.2e-7). Differences below a
/// millionth of the vector's largest component are treated as equal; a changed model or text
/// moves embeddings by orders of magnitude more.
pub fn same_vector(stored: &[f32], new: &[f32]) -> bool {
    let scale = new.iter().fold(0f32, |m, x| m.max(x.abs()));
    let tolerance = 1e-6 * scale.max(f32::MIN_POSITIVE);
    stored.len() == new.len()
        && stored
            .iter()
            .zip(new)
            .all(|(a, b)| (a - b).abs() <= tolerance)
}

/// An embedding must be non-empty, of the expected dimension, and finite (JSON has no NaN).
fn check_embedding(
    op: &'static str,
    what: &str,
    embedding: &[f32],
    dim: Option<usize>,
) -> Result<(), ChromaError> {
    let detail = if embedding.is_empty() {
        format!("{what} has an empty embedding")
    } else if let Some(d) = dim.filter(|d| *d != embedding.len()) {
        format!(
            "{what} has dimension {}, the batch has {d}",
            embedding.len()
        )
    } else if let Some(j) = embedding.iter().position(|x| !x.is_finite()) {
        format!("{what} has a non-finite value at position {j}")
    } else {
        return Ok(());
    };
    Err(ChromaError::InvalidInput { op, detail })
}

/// `None` for an absent or empty filter (Chroma rejects `{}`), else the filter.
fn non_empty_filter(filter: Option<Value>) -> Option<Value> {
    filter.filter(|f| f.as_object().is_none_or(|m| !m.is_empty()))
}

/// The `i`-th entry of an optional parallel array, or `None`.
fn nth<T: Clone>(list: Option<&Vec<Option<T>>>, i: usize) -> Option<T> {
    list.and_then(|l| l.get(i)).cloned().flatten()
}

/// Zips a `get` answer's parallel arrays into records.
fn records_from(
    op: &'static str,
    resp: wire::GetResponse,
) -> Result<Vec<VectorRecord>, ChromaError> {
    let n = resp.ids.len();
    let Some(embeddings) = resp.embeddings.filter(|e| e.len() == n) else {
        return Err(ChromaError::Protocol {
            op,
            detail: format!("embeddings missing or not one per id ({n} ids)"),
        });
    };
    resp.ids
        .into_iter()
        .zip(embeddings)
        .enumerate()
        .map(|(i, (id, embedding))| {
            let embedding = embedding.ok_or_else(|| ChromaError::Protocol {
                op,
                detail: format!("record {id:?} came back without its embedding"),
            })?;
            Ok(VectorRecord {
                document: nth(resp.documents.as_ref(), i).unwrap_or_default(),
                metadata: nth(resp.metadatas.as_ref(), i).unwrap_or_default(),
                id,
                embedding,
            })
        })
        .collect()
}

/// Zips a single-query `query` answer into neighbours, nearest first.
fn neighbours_from(
    op: &'static str,
    resp: wire::QueryResponse,
) -> Result<Vec<Neighbour>, ChromaError> {
    let protocol = |detail: String| ChromaError::Protocol { op, detail };
    let Some(ids) = resp.ids.into_iter().next() else {
        return Ok(Vec::new());
    };
    let distances = resp
        .distances
        .and_then(|d| d.into_iter().next())
        .filter(|d| d.len() == ids.len())
        .ok_or_else(|| {
            protocol(format!(
                "distances missing or not one per id ({} ids)",
                ids.len()
            ))
        })?;
    let documents = resp.documents.and_then(|d| d.into_iter().next());
    let metadatas = resp.metadatas.and_then(|m| m.into_iter().next());
    ids.into_iter()
        .zip(distances)
        .enumerate()
        .map(|(i, (id, distance))| {
            let distance =
                distance.ok_or_else(|| protocol(format!("neighbour {id:?} has no distance")))?;
            Ok(Neighbour {
                document: nth(documents.as_ref(), i),
                metadata: nth(metadatas.as_ref(), i).unwrap_or_default(),
                id,
                distance,
            })
        })
        .collect()
}

/// The URL with any username and password removed, for messages and `Debug`.
fn redact_url(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            // Both calls only fail for URLs that cannot have credentials at all.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Ok(_) => raw.trim().to_owned(),
        Err(_) => "<unparsable url>".to_owned(),
    }
}

#[cfg(test)]
mod tests;
