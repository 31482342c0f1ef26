//! The HTTP client: one collection of one Chroma v2 server, with batching and retries.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use url::Url;

use super::*;

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
    pub(super) max_batch_size: usize,
    /// Batches of one upsert call in flight at once ([`ChromaConfig::concurrent_batches`]).
    pub(super) concurrent_batches: usize,
    /// Requests of this client and its clones in flight now, and the most there have been.
    pub(super) in_flight: Arc<InFlight>,
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
            .field("concurrent_batches", &self.concurrent_batches)
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
        if cfg.concurrent_batches == 0 {
            return Err(ChromaError::Config(
                "concurrent_batches must be positive".into(),
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
            concurrent_batches: cfg.concurrent_batches,
            in_flight: Arc::default(),
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
            concurrent_batches = client.concurrent_batches,
            "connected to chroma"
        );
        Ok(client)
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
        let mut found = HashMap::with_capacity(ids.len());
        for resp in self.get_by_ids(OP, ids, INCLUDE_RECORD).await? {
            for record in records_from(OP, resp)? {
                found.insert(record.id.clone(), record);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// The stored metadata of those of `ids` that exist (no embeddings or documents are
    /// transferred), fetched in batches of at most [`max_batch_size`](Self::max_batch_size).
    /// What the indexer compares a record with before deciding to write it.
    pub async fn metadata_of(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Map<String, Value>>, ChromaError> {
        let mut found = HashMap::with_capacity(ids.len());
        for resp in self.get_by_ids("get metadata", ids, &["metadatas"]).await? {
            for (i, id) in resp.ids.iter().enumerate() {
                let metadata = nth(resp.metadatas.as_ref(), i).unwrap_or_default();
                found.insert(id.clone(), metadata);
            }
        }
        Ok(found)
    }

    /// `get` of `ids` in batches of at most [`max_batch_size`](Self::max_batch_size), with
    /// `include` fields: one answer per batch.
    async fn get_by_ids(
        &self,
        op: &'static str,
        ids: &[String],
        include: &'static [&'static str],
    ) -> Result<Vec<wire::GetResponse>, ChromaError> {
        let url = self.collection_url("get");
        let mut answers = Vec::new();
        for batch in ids.chunks(self.max_batch_size) {
            let body = wire::Get {
                ids: Some(batch),
                filter: None,
                limit: None,
                include,
            };
            answers.push(
                self.call(op, Method::POST, url.clone(), Some(&body))
                    .await?,
            );
        }
        Ok(answers)
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
        let resp: wire::GetResponse = self.post_to_collection(OP, "get", &body).await?;
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
        let resp: wire::QueryResponse = self.post_to_collection(OP, "query", &body).await?;
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
    pub(super) fn collection_url(&self, op: &str) -> Url {
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

    /// POSTs `body` to the collection's endpoint `path` (`get`, `query` …): [`Self::call`].
    pub(super) async fn post_to_collection<T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, ChromaError> {
        self.call(op, Method::POST, self.collection_url(path), Some(body))
            .await
    }

    /// Sends one request and decodes a 2xx JSON answer; every failure becomes a
    /// [`ChromaError`] classified by what happened. Timed and counted per `op` for the Chroma
    /// metrics; a failure counts as transient or permanent as the error says
    /// ([`Retryable`](crate::retry::Retryable)).
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ChromaError> {
        use ticketflow_telemetry::internal_events::{ChromaRequest, ErrorType};
        let started = std::time::Instant::now();
        let in_flight = self.in_flight.enter();
        let result = self.send(op, method, url, body).await;
        drop(in_flight);
        ChromaRequest {
            operation: op,
            duration: started.elapsed(),
            failed: result
                .as_ref()
                .err()
                .map(|e| ErrorType::of(crate::retry::Retryable::is_transient(e))),
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

/// The distance space a collection was created with, from its 1.x configuration (`hnsw` on a
/// single node, `spann` on distributed Chroma) or the legacy `hnsw:space` metadata key.
pub(super) fn collection_space(c: &wire::Collection) -> Option<&str> {
    let cfg = c.configuration_json.as_ref();
    ["hnsw", "spann"]
        .iter()
        .find_map(|index| cfg?.get(index)?.get("space")?.as_str())
        .or_else(|| c.metadata.as_ref()?.get("hnsw:space")?.as_str())
}

/// `None` for an absent or empty filter (Chroma rejects `{}`), else the filter.
pub(super) fn non_empty_filter(filter: Option<Value>) -> Option<Value> {
    filter.filter(|f| f.as_object().is_none_or(|m| !m.is_empty()))
}
