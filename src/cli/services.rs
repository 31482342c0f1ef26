//! Connection settings for the services the pipeline uses, shared by `run`, `worker`, `runs`
//! and `search`. Names match docker-compose, Kubernetes and Helm.

use clap::Args;
use ticketflow_connectors::chroma::{ChromaClient, ChromaConfig};
use ticketflow_connectors::nats::{Bus, NatsConfig};
use ticketflow_connectors::store::{S3Options, Store, StoreConfig};

#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// NATS server(s) with JetStream enabled.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Object store for shards, tensors and results: `file://DIR` or `s3://bucket/prefix`
    /// (S3 endpoint, region and credentials from the standard AWS_* variables).
    #[arg(long, env = "TICKETFLOW_STORE", default_value = "file://var/store")]
    pub store: String,
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
}

impl ServiceArgs {
    pub async fn bus(&self, wait_for_server: bool) -> anyhow::Result<Bus> {
        Ok(Bus::connect(&NatsConfig {
            url: self.nats_url.clone(),
            wait_for_server,
        })
        .await?)
    }

    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&StoreConfig {
            url: self.store.clone(),
            s3: S3Options::from_env(),
        })?)
    }

    pub async fn chroma(&self) -> anyhow::Result<ChromaClient> {
        let mut cfg = ChromaConfig::new(&self.chroma_url, &self.collection);
        cfg.auth_token = ChromaConfig::token_from_env()?;
        Ok(ChromaClient::connect(&cfg).await?)
    }
}

/// Where a long-running process exposes and pushes its metrics.
#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Address for `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "TICKETFLOW_METRICS_ADDR", default_value = "0.0.0.0:9464")]
    pub metrics_addr: std::net::SocketAddr,
    #[command(flatten)]
    pub push: PushArgs,
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
