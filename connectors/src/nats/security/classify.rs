//! Sorting a failed connection: an authorization violation, a failed TLS handshake or an
//! untrusted certificate is a configuration error (final, with a hint naming the variables to
//! check); anything else may be an outage and is retried.

use async_nats::ConnectErrorKind;
use async_nats::rustls;

use super::plan::Auth;
use super::*;
use crate::nats::BusError;

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
