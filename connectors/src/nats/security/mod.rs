//! Authentication and TLS for the NATS connection, and the failures that must not be retried.
//!
//! Three parts: the settings ([`NatsSecurity`], here), the connection plan built and checked
//! from them before connecting (`plan.rs`), and the sorting of connection failures into
//! retryable outages and final configuration errors (`classify.rs`).
//!
//! Every part is optional and comes from configuration (the CLI fills [`NatsSecurity`] from
//! flags and the environment variables named by the `ENV_*` constants):
//!
//! | what | variables |
//! | --- | --- |
//! | user/password | `NATS_USER` + `NATS_PASSWORD` / `NATS_PASSWORD_FILE`, or `nats://user:password@host` |
//! | token | `NATS_TOKEN` / `NATS_TOKEN_FILE`, or `nats://token@host` |
//! | NKey | `NATS_NKEY_FILE` (a user seed, `SU…`) |
//! | credentials (JWT + seed) | `NATS_CREDS_FILE` (the standard `.creds` file) |
//! | TLS | `NATS_CA_FILE` (PEM), `NATS_CERT_FILE` + `NATS_KEY_FILE` (mutual TLS), `NATS_TLS_REQUIRED` or a `tls://` URL |
//!
//! Files are read and checked before connecting, so a wrong path fails at once and names its
//! variable. Secrets never reach a log line or an error message: [`Secret`] and
//! [`NatsSecurity`] print redacted, URLs are shown through [`redact_url`], and the credentials
//! in a URL are taken out of it before the URL is handed to the client library (whose debug
//! logs print server addresses).
//!
//! An authorization violation, a failed TLS handshake or a certificate the client does not
//! trust is a configuration error, not an outage: `classify` turns it into a
//! [`BusError::Auth`] or [`BusError::Tls`] with a hint naming the variables to check, and
//! [`super::Bus::connect`] returns it instead of retrying.

mod classify;
mod plan;

use std::path::PathBuf;

#[cfg(doc)]
use crate::redact::redact_url;
pub use crate::secret::Secret;

pub(crate) use classify::{classify, ensure_crypto_provider};
#[cfg(test)]
use plan::Auth;
pub(crate) use plan::ConnectPlan;

pub const ENV_URL: &str = "NATS_URL";
pub const ENV_USER: &str = "NATS_USER";
pub const ENV_PASSWORD: &str = "NATS_PASSWORD";
pub const ENV_PASSWORD_FILE: &str = "NATS_PASSWORD_FILE";
pub const ENV_TOKEN: &str = "NATS_TOKEN";
pub const ENV_TOKEN_FILE: &str = "NATS_TOKEN_FILE";
pub const ENV_NKEY_FILE: &str = "NATS_NKEY_FILE";
pub const ENV_CREDS_FILE: &str = "NATS_CREDS_FILE";
pub const ENV_CA_FILE: &str = "NATS_CA_FILE";
pub const ENV_CERT_FILE: &str = "NATS_CERT_FILE";
pub const ENV_KEY_FILE: &str = "NATS_KEY_FILE";
pub const ENV_TLS_REQUIRED: &str = "NATS_TLS_REQUIRED";

/// Authentication and TLS settings; every part optional. See the module documentation for the
/// variables. `Debug` shows which secrets are set, never their values.
#[derive(Debug, Clone, Default)]
pub struct NatsSecurity {
    /// `NATS_USER`; overrides a user name in the URL.
    pub user: Option<String>,
    /// `NATS_PASSWORD` / `NATS_PASSWORD_FILE`; overrides a password in the URL.
    pub password: Option<Secret>,
    /// `NATS_TOKEN` / `NATS_TOKEN_FILE`.
    pub token: Option<Secret>,
    /// `NATS_NKEY_FILE`: a file holding a user NKey seed (`SU…`).
    pub nkey_file: Option<PathBuf>,
    /// `NATS_CREDS_FILE`: a `.creds` file (user JWT + NKey seed).
    pub creds_file: Option<PathBuf>,
    /// `NATS_CA_FILE`: PEM certificate(s) of the CA that signed the server's certificate. Used
    /// instead of the system's roots. Implies TLS.
    pub ca_file: Option<PathBuf>,
    /// `NATS_CERT_FILE`: the client certificate (PEM) for mutual TLS. Implies TLS.
    pub cert_file: Option<PathBuf>,
    /// `NATS_KEY_FILE`: the client certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// `NATS_TLS_REQUIRED`: refuse to talk to the server without TLS.
    pub tls_required: bool,
}

#[cfg(test)]
mod tests;
