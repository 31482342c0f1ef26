//! The connection plan: URL(s) parsed and stripped of credentials, credentials chosen, TLS
//! files read and checked, all before the first connection attempt, so a wrong setting fails
//! at once and names its variable.

use std::path::{Path, PathBuf};

use async_nats::rustls;
use async_nats::rustls::pki_types::pem::PemObject;
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use async_nats::{ConnectOptions, ServerAddr};
use percent_encoding::percent_decode_str;

use super::*;
use crate::nats::BusError;
use crate::redact::redact_url;

/// How the client proves who it is.
#[derive(Clone)]
pub(crate) enum Auth {
    None,
    UserPassword {
        user: String,
        user_source: &'static str,
        password: Secret,
    },
    Token(Secret),
    NKey {
        seed: String,
    },
    Creds {
        contents: String,
    },
}

impl Auth {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Auth::None => "no credentials",
            Auth::UserPassword { .. } => "user/password",
            Auth::Token(_) => "token",
            Auth::NKey { .. } => "NKey",
            Auth::Creds { .. } => "credentials file",
        }
    }

    /// What to check when the server refuses these credentials.
    pub(super) fn hint(&self) -> String {
        match self {
            Auth::None => format!(
                "set {ENV_USER} and {ENV_PASSWORD}, {ENV_TOKEN}, {ENV_NKEY_FILE} or \
                 {ENV_CREDS_FILE}"
            ),
            Auth::UserPassword {
                user_source,
                password,
                ..
            } => {
                if *user_source == password.source() {
                    format!("check the user:password in {user_source}")
                } else {
                    format!("check {user_source}/{}", password.source())
                }
            }
            Auth::Token(token) => format!("check {}", token.source()),
            Auth::NKey { .. } => {
                format!("check {ENV_NKEY_FILE}: the server must list the public key of that seed")
            }
            Auth::Creds { .. } => format!(
                "check {ENV_CREDS_FILE}: its user JWT must be issued by an account the server \
                 trusts, and not be expired or revoked"
            ),
        }
    }
}

/// Everything needed to connect, checked and loaded once: the server addresses without
/// credentials, the URL as it may be shown, the credentials, and the TLS files.
#[derive(Clone)]
pub(crate) struct ConnectPlan {
    pub(crate) addrs: Vec<ServerAddr>,
    /// The URL with any credentials redacted: the only form that is logged or shown.
    pub(crate) shown_url: String,
    pub(crate) auth: Auth,
    pub(crate) tls: bool,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
}

impl std::fmt::Debug for ConnectPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectPlan")
            .field("url", &self.shown_url)
            .field("auth", &self.auth.name())
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl ConnectPlan {
    /// Parses the URL(s), takes credentials out of them, reads and checks every file. Fails
    /// with an error naming the variable at fault; never shows a secret.
    pub(crate) fn new(url: &str, security: &NatsSecurity) -> Result<Self, BusError> {
        let shown_url = redact_url(url);
        let mut addrs = Vec::new();
        let mut url_user: Option<String> = None;
        let mut url_password: Option<String> = None;
        let mut url_tls = false;
        for part in url.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let text = if part.contains("://") {
                part.to_string()
            } else {
                format!("nats://{part}")
            };
            let mut parsed = url::Url::parse(&text).map_err(|e| {
                BusError::Config(format!(
                    "{ENV_URL} ({}) is not a valid URL: {e}",
                    redact_url(part)
                ))
            })?;
            if !parsed.username().is_empty() && url_user.is_none() {
                url_user = Some(
                    percent_decode_str(parsed.username())
                        .decode_utf8_lossy()
                        .into_owned(),
                );
                url_password = parsed
                    .password()
                    .map(|p| percent_decode_str(p).decode_utf8_lossy().into_owned());
            }
            // The client library logs server addresses at debug level: hand it none that
            // carries a secret.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            // `nats//host` (a missing colon) parses as host "nats" with a path: refuse it here
            // rather than wait forever for a server that cannot exist.
            if !matches!(parsed.scheme(), "nats" | "tls" | "ws" | "wss")
                || !matches!(parsed.path(), "" | "/")
                || parsed.host_str().is_none_or(str::is_empty)
            {
                return Err(BusError::Config(format!(
                    "{ENV_URL} ({}) is not a NATS server address: expected nats://host:port (or tls://, ws://, wss://)",
                    redact_url(part)
                )));
            }
            url_tls |= parsed.scheme() == "tls" || parsed.scheme() == "wss";
            let addr = ServerAddr::from_url(parsed)
                .map_err(|e| BusError::Config(format!("{ENV_URL} ({}): {e}", redact_url(part))))?;
            addrs.push(addr);
        }
        if addrs.is_empty() {
            return Err(BusError::Config(format!("{ENV_URL} is empty")));
        }

        let auth = Self::auth(security, url_user, url_password)?;

        let ca_file = match security.ca_file.as_deref().filter(|p| !is_empty(p)) {
            Some(path) => {
                let certs = read_certs(ENV_CA_FILE, path)?;
                for cert in &certs {
                    webpki_anchor_check(ENV_CA_FILE, path, cert)?;
                }
                Some(path.to_path_buf())
            }
            None => None,
        };
        let cert = security.cert_file.as_deref().filter(|p| !is_empty(p));
        let key = security.key_file.as_deref().filter(|p| !is_empty(p));
        let client_cert = match (cert, key) {
            (Some(cert), Some(key)) => {
                read_certs(ENV_CERT_FILE, cert)?;
                read_key(ENV_KEY_FILE, key)?;
                Some((cert.to_path_buf(), key.to_path_buf()))
            }
            (Some(_), None) => {
                return Err(BusError::Config(format!(
                    "{ENV_CERT_FILE} is set without {ENV_KEY_FILE}: mutual TLS needs both the \
                     client certificate and its private key"
                )));
            }
            (None, Some(_)) => {
                return Err(BusError::Config(format!(
                    "{ENV_KEY_FILE} is set without {ENV_CERT_FILE}: mutual TLS needs both the \
                     client certificate and its private key"
                )));
            }
            (None, None) => None,
        };
        // As in the official clients, giving a CA or a client certificate means TLS: the
        // connection must not silently fall back to plain text.
        let tls = security.tls_required || url_tls || ca_file.is_some() || client_cert.is_some();
        Ok(Self {
            addrs,
            shown_url,
            auth,
            tls,
            ca_file,
            client_cert,
        })
    }

    fn auth(
        security: &NatsSecurity,
        url_user: Option<String>,
        url_password: Option<String>,
    ) -> Result<Auth, BusError> {
        let user = security
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .map(|u| (u, ENV_USER))
            .or_else(|| url_user.clone().map(|u| (u, ENV_URL)));
        let password = security.password.clone().or_else(|| {
            url_password
                .clone()
                .filter(|p| !p.is_empty())
                .map(|p| Secret::new(p, ENV_URL))
        });
        let mut methods: Vec<(Auth, &'static str)> = Vec::new();
        match (user, password) {
            (Some((user, user_source)), Some(password)) => {
                let what = if user_source == ENV_URL && password.source() == ENV_URL {
                    "the user:password in NATS_URL"
                } else {
                    "NATS_USER/NATS_PASSWORD"
                };
                methods.push((
                    Auth::UserPassword {
                        user,
                        user_source,
                        password,
                    },
                    what,
                ));
            }
            // `nats://token@host`: a lone user name in the URL is a token (NATS convention).
            (Some((token, ENV_URL)), None) => methods.push((
                Auth::Token(Secret::new(token, ENV_URL)),
                "the token in NATS_URL",
            )),
            (Some(_), None) => {
                return Err(BusError::Config(format!(
                    "{ENV_USER} is set without a password: set {ENV_PASSWORD} or \
                     {ENV_PASSWORD_FILE}"
                )));
            }
            (None, Some(password)) => {
                return Err(BusError::Config(format!(
                    "{} is set without a user: set {ENV_USER}",
                    password.source()
                )));
            }
            (None, None) => {}
        }
        if let Some(token) = &security.token {
            methods.push((Auth::Token(token.clone()), token.source()));
        }
        if let Some(path) = security.nkey_file.as_deref().filter(|p| !is_empty(p)) {
            let text = read_file(ENV_NKEY_FILE, path)?;
            let seed = text
                .split_whitespace()
                .find(|w| w.starts_with("SU"))
                .ok_or_else(|| {
                    config_err(
                        ENV_NKEY_FILE,
                        path,
                        "no user NKey seed in it (a word starting with SU, as `nk -gen user` \
                         writes)",
                    )
                })?;
            methods.push((
                Auth::NKey {
                    seed: seed.to_string(),
                },
                ENV_NKEY_FILE,
            ));
        }
        if let Some(path) = security.creds_file.as_deref().filter(|p| !is_empty(p)) {
            let contents = read_file(ENV_CREDS_FILE, path)?;
            // Parse now: a malformed file fails here, before any connection attempt.
            ConnectOptions::new()
                .credentials(&contents)
                .map_err(|e| config_err(ENV_CREDS_FILE, path, &e.to_string()))?;
            methods.push((Auth::Creds { contents }, ENV_CREDS_FILE));
        }
        match methods.len() {
            0 => Ok(Auth::None),
            1 => Ok(methods.remove(0).0),
            _ => Err(BusError::Config(format!(
                "more than one NATS authentication method is configured ({}): set only one",
                methods
                    .iter()
                    .map(|(_, what)| *what)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Connect options for one attempt.
    pub(crate) fn options(&self) -> Result<ConnectOptions, BusError> {
        let mut opts = ConnectOptions::new().ping_interval(crate::nats::PING_INTERVAL);
        match &self.auth {
            Auth::None => {}
            Auth::UserPassword { user, password, .. } => {
                opts = opts.user_and_password(user.clone(), password.expose().to_string());
            }
            Auth::Token(token) => opts = opts.token(token.expose().to_string()),
            Auth::NKey { seed } => opts = opts.nkey(seed.clone()),
            Auth::Creds { contents } => {
                opts = opts
                    .credentials(contents)
                    .map_err(|e| BusError::Config(format!("{ENV_CREDS_FILE}: {e}")))?;
            }
        }
        if let Some(ca) = &self.ca_file {
            opts = opts.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.client_cert {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls {
            opts = opts.require_tls(true);
        }
        Ok(opts)
    }

    /// The error to stop on, or `None` when `err` may pass (server not up yet, network).
    pub(crate) fn classify(&self, err: &async_nats::ConnectError) -> Option<BusError> {
        classify(err, &self.shown_url, &self.auth)
    }

    /// An event the client reports after the first connection (it keeps reconnecting by
    /// itself), when it means the configuration is wrong rather than the server is down.
    pub(crate) fn explain_event(&self, event: &async_nats::Event) -> Option<String> {
        use async_nats::{ClientError, Event, ServerError};
        let detail = match event {
            Event::ServerError(ServerError::AuthorizationViolation) => "authorization violation",
            Event::ClientError(ClientError::Other(text))
                if text.contains("authorization violation")
                    || text.contains("failed signing nonce") =>
            {
                text.as_str()
            }
            Event::ClientError(ClientError::Other(text)) if text.contains("TLS") => {
                return Some(format!(
                    "TLS with NATS at {} failed ({text}); check {ENV_CA_FILE}, {ENV_CERT_FILE} \
                     and {ENV_KEY_FILE}",
                    self.shown_url
                ));
            }
            _ => return None,
        };
        let what = match self.auth {
            Auth::None => "requires authentication",
            _ => "refused the credentials",
        };
        Some(format!(
            "NATS at {} {what} ({detail}): {}",
            self.shown_url,
            self.auth.hint()
        ))
    }
}

fn is_empty(path: &Path) -> bool {
    path.as_os_str().is_empty()
}

fn config_err(var: &str, path: &Path, detail: &str) -> BusError {
    BusError::Config(format!("{var} ({}): {detail}", path.display()))
}

fn read_file(var: &str, path: &Path) -> Result<String, BusError> {
    std::fs::read_to_string(path)
        .map_err(|e| config_err(var, path, &format!("cannot read it: {e}")))
}

fn read_certs(var: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, BusError> {
    // Read first, so that a missing file says so rather than "no certificate".
    read_file(var, path)?;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| config_err(var, path, &format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(config_err(
            var,
            path,
            "no certificate in it (expected PEM, -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(certs)
}

fn webpki_anchor_check(var: &str, path: &Path, cert: &CertificateDer<'_>) -> Result<(), BusError> {
    // The same check the client makes when it loads the file; doing it now names the variable.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(cert.clone())
        .map_err(|e| config_err(var, path, &format!("not a usable CA certificate: {e}")))
}

fn read_key(var: &str, path: &Path) -> Result<(), BusError> {
    read_file(var, path)?;
    PrivateKeyDer::from_pem_file(path)
        .map(|_| ())
        .map_err(|e| config_err(var, path, &format!("no PEM private key in it: {e}")))
}
