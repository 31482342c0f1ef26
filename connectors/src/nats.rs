//! The JetStream transport: one work-queue stream per stage, a dead-letter stream, and two KV
//! buckets for run state. Which subject goes to which stream, and every message id, is decided
//! in [`ticketflow_schemas::topology`]; this module creates what it names.
//!
//! ```text
//!  subject               stream        durable consumer   retention
//!  tf.shards.raw         TF_RAW        cleaner            work queue
//!  tf.shards.clean       TF_CLEAN      embedder           work queue
//!  tf.shards.embedded    TF_EMBEDDED   indexer            work queue
//!  tf.runs.completed     TF_RUNS       trainer            work queue
//!  tf.dlq.<stage>        TF_DLQ        (operators)        limits, kept 14 days
//!  KV tf_runs            run manifests (written once)
//!  KV tf_progress        run progress (compare-and-set)
//!  KV tf_shards          one record per shard, `<run>.<shard>` (compare-and-set)
//! ```
//!
//! A stream per stage keeps each stage's backlog a separate number, which is what an autoscaler
//! (KEDA's JetStream trigger) scales a Deployment on. Work-queue retention deletes a message once
//! it is acknowledged, so the streams hold only outstanding work.

mod kv_record;
mod security;
mod settling;
mod shard_records;
mod streams;

pub use streams::{StreamReplicas, TopologyReport};

use std::time::{Duration, Instant};

pub use crate::redact::redact_url;
pub use security::{
    ENV_CA_FILE, ENV_CERT_FILE, ENV_CREDS_FILE, ENV_KEY_FILE, ENV_NKEY_FILE, ENV_PASSWORD,
    ENV_PASSWORD_FILE, ENV_TLS_REQUIRED, ENV_TOKEN, ENV_TOKEN_FILE, ENV_URL, ENV_USER,
    NatsSecurity, Secret,
};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, kv};
use bytes::Bytes;
use kv_record::{create_record, read_record, update_record};
use ticketflow_schemas::{Message, Routed, RunManifest, RunProgress, SchemaError, Stage};
use ticketflow_telemetry::internal_events::ProgressRecordWritten;

pub use ticketflow_schemas::topology::{DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM};
pub const BUCKET_RUNS: &str = "tf_runs";
pub const BUCKET_PROGRESS: &str = "tf_progress";
pub const BUCKET_SHARDS: &str = "tf_shards";

/// How often the client pings its server. A server cut off the network sends no reset: the
/// connection only looks idle. Three unanswered pings (the client's limit) mark it stale and the
/// client moves to another server of `NATS_URL`, so a partition costs about 15 s, not the 2+
/// minutes of the default 60 s interval (measured: tests/cluster_faults.rs, scenario 2).
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

/// How long JetStream remembers a `Nats-Msg-Id` to drop a republished duplicate. Longer than
/// any retry loop of ours, so a coordinator or worker that republishes after a crash is
/// de-duplicated.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(30 * 60);

/// Connection settings. Authentication and TLS are in [`NatsSecurity`], given to
/// [`Bus::connect_with`].
#[derive(Clone)]
pub struct NatsConfig {
    /// `nats://host:port` (comma-separated for a cluster); `tls://` requires TLS. May carry
    /// `user:password@` or `token@`, which is never shown (see [`redact_url`]).
    pub url: String,
    /// Keep retrying the first connection while the server is unreachable (workers started
    /// before NATS). Authentication and TLS failures are never retried.
    pub wait_for_server: bool,
    /// Servers that keep a copy of every stream and KV bucket (1 for one server, 3 for the
    /// usual cluster). Applied when they are created; see [`streams`](self) for existing ones.
    pub replicas: usize,
    /// Change the replicas of existing streams and buckets to `replicas` instead of refusing
    /// to start with another count (`ticketflow streams update`).
    pub update_replicas: bool,
}

impl NatsConfig {
    /// One server at `url`, no waiting, one replica.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            wait_for_server: false,
            replicas: 1,
            update_replicas: false,
        }
    }
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &redact_url(&self.url))
            .field("wait_for_server", &self.wait_for_server)
            .field("replicas", &self.replicas)
            .field("update_replicas", &self.update_replicas)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to NATS at {url}: {detail}")]
    Connect { url: String, detail: String },
    /// The server refused the credentials: retrying cannot help.
    #[error("NATS at {url} {what} ({reason}): {hint}")]
    Auth {
        url: String,
        what: String,
        reason: String,
        hint: String,
    },
    /// The TLS handshake failed (untrusted or wrong certificate, no TLS on the server).
    #[error("TLS with NATS at {url} failed ({reason}): {hint}")]
    Tls {
        url: String,
        reason: String,
        hint: String,
    },
    /// A NATS setting is wrong or a file it names cannot be used; says which variable.
    #[error("{0}")]
    Config(String),
    #[error("JetStream {what}: {detail}")]
    JetStream { what: String, detail: String },
    #[error("run {run_id} not found")]
    RunNotFound { run_id: String },
    /// Existing streams or buckets have another replica count than asked for.
    #[error(
        "JetStream replicas: {wanted} asked for (TICKETFLOW_JETSTREAM_REPLICAS), but {}; run `ticketflow streams update --jetstream-replicas {wanted}` to change them in place, or ask for what they have",
        found.iter().map(|s| format!("{} has {}", s.stream, s.replicas)).collect::<Vec<_>>().join(", ")
    )]
    Replicas {
        wanted: usize,
        found: Vec<StreamReplicas>,
    },
    /// JetStream dropped a message as a repeat where a repeat is impossible: a loss, not a retry.
    #[error("JetStream dropped the message {msg_id} on {subject} as a duplicate of an earlier one")]
    UnexpectedDuplicate { subject: String, msg_id: String },
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// A connected client (no topology). Checks the configuration and reads every file first, so a
/// wrong path fails at once naming its variable. With `wait_for_server` an unreachable server
/// is waited for (retries up to every 5 s, a warning every 30 s); a refused credential or a
/// failed TLS handshake returns at once ([`BusError::Auth`], [`BusError::Tls`]).
pub async fn connect_client(
    cfg: &NatsConfig,
    security: &NatsSecurity,
) -> Result<async_nats::Client, BusError> {
    let plan = security::ConnectPlan::new(&cfg.url, security)?;
    // Even a plain URL may be upgraded to TLS when the server asks for it.
    security::ensure_crypto_provider();
    let mut delay = Duration::from_millis(250);
    let mut last_warning: Option<Instant> = None;
    loop {
        let explain = plan.clone();
        let opts = plan
            .options()?
            .name("ticketflow")
            .connection_timeout(Duration::from_secs(5))
            // After the first connection the client reconnects by itself; say so plainly when
            // that fails for a reason no retry will fix (credentials revoked, certificate
            // replaced).
            .event_callback(move |event| {
                let message = explain.explain_event(&event);
                async move {
                    if let Some(message) = message {
                        tracing::error!("{message}");
                    }
                }
            });
        match opts.connect(plan.addrs.clone()).await {
            Ok(client) => {
                tracing::debug!(nats = %plan.shown_url, tls = plan.tls, "connected to NATS");
                return Ok(client);
            }
            Err(e) => {
                if let Some(fatal) = plan.classify(&e) {
                    return Err(fatal);
                }
                if !cfg.wait_for_server {
                    return Err(BusError::Connect {
                        url: plan.shown_url.clone(),
                        detail: e.to_string(),
                    });
                }
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                    tracing::warn!(
                        nats = %plan.shown_url,
                        error = %e,
                        "NATS not reachable yet; waiting for it"
                    );
                    last_warning = Some(Instant::now());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn js_err(what: impl Into<String>) -> impl FnOnce(String) -> BusError {
    let what = what.into();
    move |detail| BusError::JetStream { what, detail }
}

/// Consumer settings for a stage.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSettings {
    /// Without an ack (or progress ack) for this long, JetStream redelivers the message.
    pub ack_wait: Duration,
    /// Attempts before a shard goes to the dead-letter stream. The server allows one delivery
    /// more, so a worker that crashes on the last attempt still leaves a delivery in which the
    /// shard is dead-lettered instead of silently dropped.
    pub max_attempts: u32,
    /// How long a worker keeps a shard and retries it in place while a dependency is down
    /// (transient errors), before handing it back as a failed attempt. Outages shorter than
    /// this cost no attempts, so they never dead-letter a shard.
    pub transient_hold: Duration,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_attempts: 5,
            transient_hold: Duration::from_secs(300),
        }
    }
}

/// A connected client with the topology in place.
impl BusError {
    /// Whether the same call may succeed later. An unreachable server and JetStream's own
    /// failures (timeouts, a stream without a leader during an election) pass; refused
    /// credentials, a failed TLS handshake, a wrong setting, a run that does not exist, a
    /// replica mismatch, a message that JetStream dropped as a duplicate and a message that does
    /// not decode are the same on every try.
    pub fn is_transient(&self) -> bool {
        match self {
            BusError::Connect { .. } | BusError::JetStream { .. } => true,
            BusError::Auth { .. }
            | BusError::Tls { .. }
            | BusError::Config(_)
            | BusError::RunNotFound { .. }
            | BusError::Replicas { .. }
            | BusError::UnexpectedDuplicate { .. }
            | BusError::Schema(_) => false,
        }
    }
}

impl From<crate::secret::SecretError> for BusError {
    /// A password or token file that cannot be used is a configuration error, never retried.
    fn from(e: crate::secret::SecretError) -> Self {
        BusError::Config(e.to_string())
    }
}

/// JetStream's answer to a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a duplicate means JetStream dropped the message: check it where a repeat is impossible"]
pub struct Published {
    /// JetStream already had a message with this id (within the de-duplication window) and
    /// dropped this one. Expected for a republish after a crash; a loss anywhere a repeat is
    /// impossible (a redrive, whose id carries a new generation).
    pub duplicate: bool,
    /// The stream sequence of the kept message (of the earlier one, for a duplicate).
    pub sequence: u64,
}

#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    runs: kv::Store,
    progress: kv::Store,
    shards: kv::Store,
    topology: std::sync::Arc<TopologyReport>,
}

impl Bus {
    /// Connects without authentication or TLS beyond what the URL carries, and creates any
    /// missing stream or bucket (idempotent: existing ones are kept).
    pub async fn connect(cfg: &NatsConfig) -> Result<Self, BusError> {
        Self::connect_with(cfg, &NatsSecurity::default()).await
    }

    /// [`connect`](Self::connect) with authentication and TLS.
    pub async fn connect_with(cfg: &NatsConfig, security: &NatsSecurity) -> Result<Self, BusError> {
        let client = connect_client(cfg, security).await?;
        let js = jetstream::new(client.clone());
        let (
            streams::Buckets {
                runs,
                progress,
                shards,
            },
            report,
        ) = streams::ensure_topology(&js, cfg.replicas, cfg.update_replicas).await?;
        for changed in &report.updated {
            tracing::warn!(stream = %changed.stream, replicas = changed.replicas, "replicas updated in place");
        }
        Ok(Self {
            client,
            js,
            runs,
            progress,
            shards,
            topology: std::sync::Arc::new(report),
        })
    }

    /// The streams and buckets as connecting found (or updated) them.
    pub fn topology(&self) -> &TopologyReport {
        &self.topology
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Publishes `msg` and waits for JetStream's acknowledgement, which says whether JetStream
    /// kept it or dropped it as a duplicate of an earlier message with the same `msg_id`
    /// ([`Published::duplicate`]): callers for whom a repeat is impossible must check. `msg_id` makes a republish
    /// within [`DUPLICATE_WINDOW`] a no-op. With tracing on, the headers also carry the current
    /// span's W3C trace context (`traceparent`), so the consumer's span joins the same trace.
    pub async fn publish<T: Message>(
        &self,
        subject: &str,
        msg: &T,
        msg_id: &str,
        headers: Option<HeaderMap>,
    ) -> Result<Published, BusError> {
        let payload = Bytes::from(ticketflow_schemas::encode(msg)?);
        self.publish_bytes(subject, payload, msg_id, headers).await
    }

    /// Publishes a pipeline message on its own subject under its own de-duplication id.
    pub async fn publish_routed<T: Routed>(
        &self,
        msg: &T,
        headers: Option<HeaderMap>,
    ) -> Result<Published, BusError> {
        self.publish(msg.subject(), msg, &msg.msg_id(), headers)
            .await
    }

    /// [`publish_bytes`](Self::publish_bytes) for a message whose id is new by construction (a
    /// redrive's, which carries a new generation): a duplicate is an error, not a success.
    pub async fn publish_new_bytes(
        &self,
        subject: &str,
        payload: Bytes,
        msg_id: &str,
    ) -> Result<Published, BusError> {
        let published = self.publish_bytes(subject, payload, msg_id, None).await?;
        if published.duplicate {
            return Err(BusError::UnexpectedDuplicate {
                subject: subject.to_string(),
                msg_id: msg_id.to_string(),
            });
        }
        Ok(published)
    }

    /// [`publish`](Self::publish) for an already encoded payload.
    pub async fn publish_bytes(
        &self,
        subject: &str,
        payload: Bytes,
        msg_id: &str,
        headers: Option<HeaderMap>,
    ) -> Result<Published, BusError> {
        let mut headers = headers.unwrap_or_default();
        headers.insert("Nats-Msg-Id", msg_id);
        ticketflow_telemetry::trace_context::inject_current(&mut headers);
        // A stream the cluster created a moment ago may be unknown to this server yet; the
        // message id makes the retry safe.
        let ack = settling::until_settled("publish", || {
            let (headers, payload) = (headers.clone(), payload.clone());
            async move {
                self.js
                    .publish_with_headers(subject.to_string(), headers, payload)
                    .await
                    .map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())
            }
        })
        .await
        .map_err(js_err(format!("publishing to {subject}")))?;
        Ok(Published {
            duplicate: ack.duplicate,
            sequence: ack.sequence,
        })
    }

    /// The durable pull consumer of `stage`, created on first use.
    pub async fn consumer(
        &self,
        stage: Stage,
        settings: ConsumerSettings,
    ) -> Result<consumer::PullConsumer, BusError> {
        let route = stage.input();
        let (stream_name, subject) = (route.stream, route.subject);
        let stream = self
            .js
            .get_stream(stream_name)
            .await
            .map_err(|e| js_err(format!("opening stream {stream_name}"))(e.to_string()))?;
        stream
            .get_or_create_consumer(
                stage.as_str(),
                consumer::pull::Config {
                    durable_name: Some(stage.as_str().to_string()),
                    filter_subject: subject.to_string(),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: settings.ack_wait,
                    max_deliver: i64::from(settings.max_attempts) + 1,
                    // One shard in flight per pull: replicas share the backlog instead of one
                    // replica buffering it.
                    max_batch: 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| js_err(format!("creating consumer {stage}"))(e.to_string()))
    }

    /// Messages waiting for `stage` (not yet delivered plus delivered but unacknowledged).
    pub async fn backlog(&self, stage: Stage) -> Result<u64, BusError> {
        let stream_name = stage.input().stream;
        let mut stream = self
            .js
            .get_stream(stream_name)
            .await
            .map_err(|e| js_err(format!("opening stream {stream_name}"))(e.to_string()))?;
        let info = stream
            .info()
            .await
            .map_err(|e| js_err(format!("reading stream {stream_name}"))(e.to_string()))?;
        Ok(info.state.messages)
    }

    /// The stage consumer's `(pending, ack_pending)`: messages not yet delivered, and delivered
    /// but not yet acknowledged. Zeros before the consumer exists.
    pub async fn consumer_backlog(&self, stage: Stage) -> Result<(u64, u64), BusError> {
        let stream_name = stage.input().stream;
        let stream = self
            .js
            .get_stream(stream_name)
            .await
            .map_err(|e| js_err(format!("opening stream {stream_name}"))(e.to_string()))?;
        let mut consumer: consumer::PullConsumer = match stream.get_consumer(stage.as_str()).await {
            Ok(c) => c,
            Err(_) => return Ok((0, 0)),
        };
        let info = consumer
            .info()
            .await
            .map_err(|e| js_err(format!("reading consumer {stage}"))(e.to_string()))?;
        Ok((info.num_pending, info.num_ack_pending as u64))
    }

    /// Whether the client is connected right now (for readiness; it reconnects by itself).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Records a run's manifest unless one exists. Returns false when another coordinator got
    /// there first; this is what makes two coordinators on the same input produce one run.
    pub async fn create_manifest(&self, manifest: &RunManifest) -> Result<bool, BusError> {
        create_record(&self.runs, &manifest.run_id, manifest, "the run manifest").await
    }

    pub async fn manifest(&self, run_id: &str) -> Result<Option<RunManifest>, BusError> {
        read_record(&self.runs, run_id, "the run manifest").await
    }

    /// Ids of every recorded run.
    pub async fn run_ids(&self) -> Result<Vec<String>, BusError> {
        use futures::TryStreamExt;
        let keys = match self.runs.keys().await {
            Ok(keys) => keys,
            Err(e) => return Err(js_err("listing runs")(e.to_string())),
        };
        let mut ids: Vec<String> = keys
            .try_collect()
            .await
            .map_err(|e| js_err("listing runs")(e.to_string()))?;
        ids.sort();
        Ok(ids)
    }

    /// Creates the progress record unless it exists.
    pub async fn create_progress(&self, progress: &RunProgress) -> Result<bool, BusError> {
        create_record(&self.progress, &progress.run_id, progress, "run progress").await
    }

    pub async fn progress(&self, run_id: &str) -> Result<Option<RunProgress>, BusError> {
        read_record(&self.progress, run_id, "run progress").await
    }

    /// Applies `change` to a run's progress with compare-and-set, retrying on conflicts with
    /// other replicas, and returns what `change` returned on the attempt that was stored.
    ///
    /// `change` may run several times, so it must only compute from the record it is given.
    pub async fn update_progress<R>(
        &self,
        run_id: &str,
        change: impl FnMut(&mut RunProgress) -> R,
    ) -> Result<(R, RunProgress), BusError> {
        let (result, progress, bytes) =
            update_record(&self.progress, run_id, "run progress", || None, change)
                .await?
                .ok_or_else(|| BusError::RunNotFound {
                    run_id: run_id.to_string(),
                })?;
        ProgressRecordWritten { run_id, bytes }.emit();
        Ok((result, progress))
    }
}
