//! Authentication and TLS for the NATS connection, and the failures that must not be retried.
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
//! trust is a configuration error, not an outage: [`classify`] turns it into a
//! [`BusError::Auth`] or [`BusError::Tls`] with a hint naming the variables to check, and
//! [`super::Bus::connect`] returns it instead of retrying.

use std::path::{Path, PathBuf};

use async_nats::rustls;
use async_nats::rustls::pki_types::pem::PemObject;
use async_nats::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use async_nats::{ConnectErrorKind, ConnectOptions, ServerAddr};

use super::BusError;

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

/// A secret value and where it came from (an environment variable's name), so that errors can
/// say what to check without showing the value. `Debug` never prints the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    source: &'static str,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<redacted, from {}>", self.source)
    }
}

impl Secret {
    pub fn new(value: impl Into<String>, source: &'static str) -> Self {
        Self {
            value: value.into(),
            source,
        }
    }

    /// The value: only for handing it to the client library.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The variable it came from.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The value of the environment variable `value_env` if set and not blank, else the
    /// contents of `file` (its path given by `file_env`), else `None`. Surrounding whitespace is
    /// trimmed (mounted secrets often end in a newline). An unreadable or empty file is an
    /// error naming `file_env`, never a silent anonymous connection.
    pub fn from_env_or_file(
        value_env: &'static str,
        file: Option<&Path>,
        file_env: &'static str,
    ) -> Result<Option<Secret>, BusError> {
        Self::from_value_or_file(std::env::var(value_env).ok(), value_env, file, file_env)
    }

    /// [`from_env_or_file`](Self::from_env_or_file) with the value already read.
    pub fn from_value_or_file(
        value: Option<String>,
        value_source: &'static str,
        file: Option<&Path>,
        file_source: &'static str,
    ) -> Result<Option<Secret>, BusError> {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            return Ok(Some(Secret::new(value.trim(), value_source)));
        }
        let Some(path) = file.filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(None);
        };
        let text = read_file(file_source, path)?;
        let value = text.trim();
        if value.is_empty() {
            return Err(config_err(file_source, path, "the file is empty"));
        }
        Ok(Some(Secret::new(value, file_source)))
    }
}

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
    fn name(&self) -> &'static str {
        match self {
            Auth::None => "no credentials",
            Auth::UserPassword { .. } => "user/password",
            Auth::Token(_) => "token",
            Auth::NKey { .. } => "NKey",
            Auth::Creds { .. } => "credentials file",
        }
    }

    /// What to check when the server refuses these credentials.
    fn hint(&self) -> String {
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
                url_user = Some(percent_decode(parsed.username()));
                url_password = parsed.password().map(percent_decode);
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
        let mut opts = ConnectOptions::new();
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

/// Makes sure rustls has a process-wide crypto provider before the client needs one. The
/// binary links rustls with both `ring` (async-nats) and `aws-lc-rs` (reqwest), and with both
/// rustls cannot choose by itself: a TLS handshake would panic. async-nats always brings `ring`,
/// so that is the one installed; an application that installed its own keeps it.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Sorts a failed connection attempt: authentication and TLS failures are final (`Some`),
/// anything else (refused, reset, timed out, DNS) may be an outage (`None`).
pub(crate) fn classify(
    err: &async_nats::ConnectError,
    shown_url: &str,
    auth: &Auth,
) -> Option<BusError> {
    match err.kind() {
        ConnectErrorKind::AuthorizationViolation => Some(BusError::Auth {
            url: shown_url.to_string(),
            what: match auth {
                Auth::None => "requires authentication".into(),
                _ => "refused the credentials".into(),
            },
            reason: "authorization violation".into(),
            hint: auth.hint(),
        }),
        ConnectErrorKind::Authentication => Some(BusError::Auth {
            url: shown_url.to_string(),
            what: "could not be authenticated to".into(),
            reason: format!("signing the server's nonce with the {} failed", auth.name()),
            hint: auth.hint(),
        }),
        ConnectErrorKind::Tls => Some(BusError::Tls {
            url: shown_url.to_string(),
            reason: std::error::Error::source(err)
                .map_or_else(|| "TLS set-up failed".to_string(), |s| s.to_string()),
            hint: format!("check {ENV_CA_FILE}, {ENV_CERT_FILE} and {ENV_KEY_FILE}"),
        }),
        _ => {
            // A failed handshake arrives as an I/O error wrapping the rustls error.
            let tls = find_rustls_error(err)?;
            Some(BusError::Tls {
                url: shown_url.to_string(),
                reason: tls.to_string(),
                hint: tls_hint(tls),
            })
        }
    }
}

fn find_rustls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // `io::Error::source` skips the error it wraps; look inside explicitly.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(found) = find_rustls_error(inner) {
                return Some(found);
            }
        }
        current = e.source();
    }
    None
}

fn tls_hint(err: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(C::UnknownIssuer) => format!(
            "the server's certificate is not signed by a CA this client trusts: set \
             {ENV_CA_FILE} to the PEM certificate of the CA that signed it"
        ),
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            format!(
                "the server's certificate does not name the host in {ENV_URL}: connect by a \
                 name or address listed in its subject alternative names"
            )
        }
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => "the server's certificate is expired or not yet valid: renew it".to_string(),
        E::InvalidCertificate(_) => {
            format!("the server's certificate was rejected: check it and {ENV_CA_FILE}")
        }
        E::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::CertificateExpired
            | A::CertificateRevoked
            | A::AccessDenied,
        ) => format!(
            "the server rejected this client's certificate (mutual TLS): set {ENV_CERT_FILE} \
             and {ENV_KEY_FILE} to a certificate signed by a CA the server trusts"
        ),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the server did not answer in TLS: is TLS enabled on it, and is this its client port?"
                .to_string()
        }
        _ => format!("check {ENV_CA_FILE}, {ENV_CERT_FILE} and {ENV_KEY_FILE}"),
    }
}

/// `url` with the secret part of any `user:password@` or `token@` replaced by `***`; a
/// comma-separated list is redacted element by element. Works on malformed input too, so it
/// is safe for error messages.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|part| {
            let (scheme, rest) = match part.find("://") {
                Some(i) => part.split_at(i + 3),
                None => ("", part),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    let host = &authority[at + 1..];
                    let shown = match userinfo.split_once(':') {
                        Some((user, _)) => format!("{user}:***"),
                        None => "***".to_string(),
                    };
                    format!("{scheme}{shown}@{host}{tail}")
                }
                None => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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

#[cfg(test)]
mod tests;
