//! Connection settings for the services the pipeline uses, shared by `run`, `worker`, `runs`
//! and `search`. Names match docker-compose, Kubernetes and Helm.
//!
//! This is the one place the environment is read: every setting is a clap argument with its
//! variable (so `--help` lists them all, and the deployment tests check compose, kustomize and
//! Helm against it), and the two secret values (`NATS_PASSWORD`/`NATS_TOKEN`,
//! `TICKETFLOW_CHROMA_TOKEN`) are read here rather than taken as flags, which would show them
//! in process listings. The connectors get typed values and read nothing themselves, except
//! object_store's AWS credential chain (`AWS_ACCESS_KEY_ID`, web identity, instance metadata),
//! which is the library's and is not ours to re-implement.

use std::path::PathBuf;

use clap::Args;
use clap::builder::BoolishValueParser;
use ticketflow_connectors::chroma::{self, ChromaClient, ChromaConfig};
use ticketflow_connectors::nats::{self, Bus, NatsConfig, NatsSecurity, Secret};
use ticketflow_connectors::store::{S3Options, Store, StoreConfig};

#[derive(Clone, Args)]
pub struct ServiceArgs {
    /// NATS server(s) with JetStream enabled; `tls://` requires TLS. Credentials are better
    /// given by NATS_USER + NATS_PASSWORD(_FILE) than in the URL (shown redacted in logs).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Servers that keep a copy of every JetStream stream and KV bucket: 1 for one server, 3
    /// for a 3-node cluster (so losing a node loses no queued shard and no run state). Existing
    /// streams with another count stop the process with the fix: `ticketflow streams update`.
    #[arg(long, env = "TICKETFLOW_JETSTREAM_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub jetstream_replicas: u8,
    /// Object store for shards, tensors and results: `file://DIR` or `s3://bucket/prefix`
    /// (S3 endpoint, region and credentials from the standard AWS_* variables).
    #[arg(long, env = "TICKETFLOW_STORE", default_value = "file://var/store")]
    pub store: String,
    #[command(flatten)]
    pub s3: S3Args,
    /// Chroma server (1.x, v2 API). Token, if any, from TICKETFLOW_CHROMA_TOKEN.
    #[arg(
        long,
        env = "TICKETFLOW_CHROMA_URL",
        default_value = "http://127.0.0.1:8000"
    )]
    pub chroma_url: String,
    /// Chroma collection holding the ticket vectors.
    #[arg(long, env = "TICKETFLOW_CHROMA_COLLECTION", default_value = "tickets")]
    pub collection: String,
    /// File holding the Chroma token (used when TICKETFLOW_CHROMA_TOKEN is unset).
    #[arg(long, env = chroma::TOKEN_FILE_ENV, value_parser = optional_path())]
    pub chroma_token_file: Option<PathBuf>,
}

/// Where the S3-compatible server is, for `s3://` stores and inputs. The standard AWS names;
/// credentials are object_store's business (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …).
#[derive(Debug, Clone, Args)]
pub struct S3Args {
    /// S3 endpoint of a self-hosted server, e.g. `http://minio:9000`; unset = AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    pub s3_endpoint: Option<String>,
    /// The generic AWS endpoint, used when AWS_ENDPOINT_URL_S3 is unset.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// S3 region.
    #[arg(long, env = "AWS_REGION")]
    pub s3_region: Option<String>,
    /// The region used when AWS_REGION is unset.
    #[arg(long, env = "AWS_DEFAULT_REGION")]
    pub aws_default_region: Option<String>,
    /// Path-style bucket addressing (default: on when an endpoint is set).
    #[arg(long, env = "TICKETFLOW_S3_PATH_STYLE", value_parser = OptionalBoolParser)]
    pub s3_path_style: Option<OptionalBool>,
}

impl S3Args {
    pub fn options(&self) -> S3Options {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        S3Options::new(
            set(&self.s3_endpoint).or_else(|| set(&self.aws_endpoint_url)),
            set(&self.s3_region).or_else(|| set(&self.aws_default_region)),
            self.s3_path_style.and_then(|b| b.0),
        )
    }
}

// By hand: the NATS URL may carry a password.
impl std::fmt::Debug for ServiceArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceArgs")
            .field("nats_url", &self.nats_url_redacted())
            .field("nats", &self.nats)
            .field("store", &self.store)
            .field("chroma_url", &nats::redact_url(&self.chroma_url))
            .field("collection", &self.collection)
            .finish()
    }
}

/// NATS authentication and TLS. Each is optional; the password and the token themselves are
/// read from the environment only (NATS_PASSWORD, NATS_TOKEN), never from a flag, so they stay
/// out of process listings.
#[derive(Debug, Clone, Args)]
pub struct NatsArgs {
    /// NATS user name, with the password from NATS_PASSWORD or --nats-password-file.
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,
    /// File holding the NATS password (used when NATS_PASSWORD is unset).
    #[arg(long, env = "NATS_PASSWORD_FILE", value_parser = optional_path())]
    pub nats_password_file: Option<PathBuf>,
    /// File holding the NATS token (used when NATS_TOKEN is unset).
    #[arg(long, env = "NATS_TOKEN_FILE", value_parser = optional_path())]
    pub nats_token_file: Option<PathBuf>,
    /// File holding a NATS user NKey seed (`SU…`).
    #[arg(long, env = "NATS_NKEY_FILE", value_parser = optional_path())]
    pub nats_nkey_file: Option<PathBuf>,
    /// NATS credentials file (`.creds`: user JWT + NKey seed).
    #[arg(long, env = "NATS_CREDS_FILE", value_parser = optional_path())]
    pub nats_creds_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) that signed the NATS server's certificate; implies TLS.
    #[arg(long, env = "NATS_CA_FILE", value_parser = optional_path())]
    pub nats_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS with NATS; implies TLS.
    #[arg(long, env = "NATS_CERT_FILE", value_parser = optional_path())]
    pub nats_cert_file: Option<PathBuf>,
    /// Private key (PEM) of --nats-cert-file.
    #[arg(long, env = "NATS_KEY_FILE", value_parser = optional_path())]
    pub nats_key_file: Option<PathBuf>,
    /// Require TLS with NATS (also implied by a tls:// URL, a CA or a client certificate).
    #[arg(long, env = "NATS_TLS_REQUIRED", value_parser = OptionalBoolParser)]
    pub nats_tls_required: Option<OptionalBool>,
}

/// A path that may be given empty (`NATS_CA_FILE=""`, as templated manifests often set unused
/// settings): empty means unset.
fn optional_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// A yes/no setting in clap's vocabulary ([`BoolishValueParser`]: true/false, yes/no, on/off,
/// y/n, t/f, 1/0, any case), where an empty value means unset: templated manifests (the Helm
/// chart's `s3.pathStyle: ""`) set unused settings to the empty string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalBool(pub Option<bool>);

impl clap::builder::ValueParserFactory for OptionalBool {
    type Parser = OptionalBoolParser;
    fn value_parser() -> OptionalBoolParser {
        OptionalBoolParser
    }
}

#[derive(Clone)]
pub struct OptionalBoolParser;

impl clap::builder::TypedValueParser for OptionalBoolParser {
    type Value = OptionalBool;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<OptionalBool, clap::Error> {
        if value.to_string_lossy().trim().is_empty() {
            return Ok(OptionalBool(None));
        }
        BoolishValueParser::new()
            .parse_ref(cmd, arg, value)
            .map(|b| OptionalBool(Some(b)))
    }
}

/// A secret from its variable, else from its file: read here, at the edge, once.
fn secret(
    value_env: &'static str,
    file: Option<&std::path::Path>,
    file_env: &'static str,
) -> anyhow::Result<Option<Secret>> {
    Ok(Secret::from_value_or_file(
        std::env::var(value_env).ok(),
        value_env,
        file,
        file_env,
    )?)
}

impl NatsArgs {
    /// The settings, with the password and token read from the environment or their files.
    pub fn security(&self) -> anyhow::Result<NatsSecurity> {
        Ok(NatsSecurity {
            user: self.nats_user.clone().filter(|u| !u.is_empty()),
            password: secret(
                nats::ENV_PASSWORD,
                self.nats_password_file.as_deref(),
                nats::ENV_PASSWORD_FILE,
            )?,
            token: secret(
                nats::ENV_TOKEN,
                self.nats_token_file.as_deref(),
                nats::ENV_TOKEN_FILE,
            )?,
            nkey_file: self.nats_nkey_file.clone(),
            creds_file: self.nats_creds_file.clone(),
            ca_file: self.nats_ca_file.clone(),
            cert_file: self.nats_cert_file.clone(),
            key_file: self.nats_key_file.clone(),
            tls_required: self.nats_tls_required.and_then(|b| b.0).unwrap_or(false),
        })
    }
}

impl ServiceArgs {
    /// Connects to NATS. With `wait_for_server`, waits for a server that is not up yet; a
    /// refused credential, a failed TLS handshake or an unusable file fails at once.
    pub async fn bus(&self, wait_for_server: bool) -> anyhow::Result<Bus> {
        self.connect(wait_for_server, false).await
    }

    /// [`bus`](Self::bus), changing existing streams and buckets to `--jetstream-replicas`
    /// (`ticketflow streams update`).
    pub async fn bus_updating_replicas(&self) -> anyhow::Result<Bus> {
        self.connect(false, true).await
    }

    async fn connect(&self, wait_for_server: bool, update_replicas: bool) -> anyhow::Result<Bus> {
        let security = self.nats.security()?;
        Ok(Bus::connect_with(
            &NatsConfig {
                url: self.nats_url.clone(),
                wait_for_server,
                replicas: usize::from(self.jetstream_replicas),
                update_replicas,
            },
            &security,
        )
        .await?)
    }

    /// The NATS URL as it may be logged: any password or token replaced by `***`.
    pub fn nats_url_redacted(&self) -> String {
        nats::redact_url(&self.nats_url)
    }

    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&StoreConfig {
            url: self.store.clone(),
            s3: self.s3.options(),
        })?)
    }

    /// The Chroma settings, checked without contacting the server (URL shape, token file).
    pub fn chroma_config(&self) -> anyhow::Result<ChromaConfig> {
        let mut cfg = ChromaConfig::new(&self.chroma_url, &self.collection);
        cfg.auth_token = secret(
            chroma::TOKEN_ENV,
            self.chroma_token_file.as_deref(),
            chroma::TOKEN_FILE_ENV,
        )?
        .map(|token| token.expose().to_owned());
        cfg.base_url()?;
        Ok(cfg)
    }

    pub async fn chroma(&self) -> anyhow::Result<ChromaClient> {
        Ok(ChromaClient::connect(&self.chroma_config()?).await?)
    }
}

/// Where a long-running process exposes its metrics.
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Address for `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "TICKETFLOW_METRICS_ADDR", default_value = "0.0.0.0:9464")]
    pub metrics_addr: std::net::SocketAddr,
}

/// Where batch results (a run, its model quality and drift) are pushed.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Prometheus Pushgateway, e.g. `http://pushgateway:9091`; unset = no push.
    #[arg(long, env = "TICKETFLOW_PUSHGATEWAY_URL")]
    pub pushgateway_url: Option<String>,
}

impl PushArgs {
    pub fn pushgateway(&self) -> anyhow::Result<Option<ticketflow_telemetry::Pushgateway>> {
        Ok(self
            .pushgateway_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .map(ticketflow_telemetry::Pushgateway::new)
            .transpose()?)
    }
}

/// A multi-threaded runtime for the async commands.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
