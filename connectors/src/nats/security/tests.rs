//! Tests of [`super`] (security.rs), kept beside it so the module itself stays readable.

use super::*;
use crate::nats::BusError;
use async_nats::ConnectErrorKind;
use async_nats::rustls;

const PASSWORD: &str = "p@ss/w:rd";

fn plan(url: &str, security: &NatsSecurity) -> Result<ConnectPlan, BusError> {
    ConnectPlan::new(url, security)
}

#[test]
fn url_credentials_become_user_password_and_leave_the_address() {
    let p = plan(
        "nats://tf:p%40ss%2Fw%3Ard@127.0.0.1:4222",
        &NatsSecurity::default(),
    )
    .expect("plan");
    match &p.auth {
        Auth::UserPassword { user, password, .. } => {
            assert_eq!(user, "tf");
            assert_eq!(password.expose(), PASSWORD);
            assert_eq!(password.source(), ENV_URL);
        }
        _ => panic!("expected user/password, got {}", p.auth.name()),
    }
    assert_eq!(p.shown_url, "nats://tf:***@127.0.0.1:4222");
    let addr = format!("{:?}", p.addrs);
    assert!(!addr.contains("p%40ss") && !addr.contains("tf@"), "{addr}");
    assert!(!format!("{p:?}").contains("p%40ss"));
    assert!(!p.tls);
}

#[test]
fn lone_url_user_is_a_token_and_tls_scheme_requires_tls() {
    let p = plan("tls://tok3n@localhost:4222", &NatsSecurity::default()).expect("plan");
    assert!(matches!(&p.auth, Auth::Token(t) if t.expose() == "tok3n"));
    assert!(p.tls);
    assert_eq!(p.shown_url, "tls://***@localhost:4222");
}

#[test]
fn env_user_and_password_override_the_url() {
    let security = NatsSecurity {
        user: Some("alice".into()),
        password: Some(Secret::new("from-env", ENV_PASSWORD)),
        ..Default::default()
    };
    let p = plan("nats://bob:from-url@h:4222", &security).expect("plan");
    match &p.auth {
        Auth::UserPassword { user, password, .. } => {
            assert_eq!(user, "alice");
            assert_eq!(password.expose(), "from-env");
        }
        _ => panic!("expected user/password"),
    }
    assert_eq!(p.auth.hint(), "check NATS_USER/NATS_PASSWORD");
}

/// Asserts that `security` on `url` is refused with a message holding every one of `says` and
/// none of `hides` (secrets).
fn assert_refused(url: &str, security: NatsSecurity, what: &str, says: &[&str], hides: &[&str]) {
    let err = plan(url, &security).expect_err(what).to_string();
    assert!(says.iter().all(|s| err.contains(s)), "{what}: {err}");
    assert!(!hides.iter().any(|h| err.contains(h)), "{what}: {err}");
}

#[test]
fn half_configured_auth_is_refused_by_name() {
    let cases = [
        (
            "nats://h:4222",
            NatsSecurity {
                user: Some("alice".into()),
                ..Default::default()
            },
            "user without password",
            &["NATS_USER is set without a password"][..],
            &[][..],
        ),
        (
            "nats://h:4222",
            NatsSecurity {
                password: Some(Secret::new("pw-only", ENV_PASSWORD_FILE)),
                ..Default::default()
            },
            "password without user",
            &["NATS_PASSWORD_FILE is set without a user"],
            &["pw-only"],
        ),
        (
            "nats://u:p@h:4222",
            NatsSecurity {
                token: Some(Secret::new("t0ken", ENV_TOKEN)),
                ..Default::default()
            },
            "two methods",
            &["more than one", "NATS_TOKEN"],
            &["t0ken"],
        ),
    ];
    for (url, security, what, says, hides) in cases {
        assert_refused(url, security, what, says, hides);
    }
}

#[test]
fn missing_files_fail_naming_their_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.pem");
    for (var, security) in [
        (
            ENV_CA_FILE,
            NatsSecurity {
                ca_file: Some(missing.clone()),
                ..Default::default()
            },
        ),
        (
            ENV_CERT_FILE,
            NatsSecurity {
                cert_file: Some(missing.clone()),
                key_file: Some(missing.clone()),
                ..Default::default()
            },
        ),
        (
            ENV_NKEY_FILE,
            NatsSecurity {
                nkey_file: Some(missing.clone()),
                ..Default::default()
            },
        ),
        (
            ENV_CREDS_FILE,
            NatsSecurity {
                creds_file: Some(missing.clone()),
                ..Default::default()
            },
        ),
    ] {
        let err = plan("nats://127.0.0.1:4222", &security).expect_err(var);
        let msg = err.to_string();
        assert!(msg.contains(var), "{var}: {msg}");
        assert!(
            msg.contains("nope.pem") && msg.contains("cannot read"),
            "{msg}"
        );
    }
    let err = Secret::from_value_or_file(None, ENV_PASSWORD, Some(&missing), ENV_PASSWORD_FILE)
        .expect_err("missing password file");
    assert!(err.to_string().contains("NATS_PASSWORD_FILE"), "{err}");
    let err = Secret::from_value_or_file(None, ENV_TOKEN, Some(&missing), ENV_TOKEN_FILE)
        .expect_err("missing token file");
    assert!(err.to_string().contains("NATS_TOKEN_FILE"), "{err}");
}

#[test]
fn bad_file_contents_fail_naming_their_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "not a certificate\n").expect("write");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").expect("write");

    let junk_file = |set: fn(&mut NatsSecurity, std::path::PathBuf)| {
        let mut security = NatsSecurity::default();
        set(&mut security, junk.clone());
        security
    };
    let cases: [(NatsSecurity, &str, &[&str]); 4] = [
        (
            junk_file(|s, f| s.ca_file = Some(f)),
            "junk CA",
            &["NATS_CA_FILE", "no certificate"],
        ),
        (
            junk_file(|s, f| s.creds_file = Some(f)),
            "junk creds",
            &["NATS_CREDS_FILE"],
        ),
        (
            junk_file(|s, f| s.nkey_file = Some(f)),
            "junk nkey",
            &["NATS_NKEY_FILE", "seed"],
        ),
        (
            junk_file(|s, f| s.cert_file = Some(f)),
            "cert without key",
            &["NATS_CERT_FILE is set without NATS_KEY_FILE"],
        ),
    ];
    for (security, what, says) in cases {
        assert_refused("nats://h", security, what, says, &[]);
    }

    let err = Secret::from_value_or_file(None, ENV_PASSWORD, Some(&empty), ENV_PASSWORD_FILE)
        .expect_err("empty password file");
    assert!(err.to_string().contains("NATS_PASSWORD_FILE") && err.to_string().contains("empty"));
}

#[test]
fn secrets_come_from_the_value_else_the_file_trimmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").expect("write");
    let s = Secret::from_value_or_file(None, ENV_PASSWORD, Some(&file), ENV_PASSWORD_FILE)
        .expect("read")
        .expect("some");
    assert_eq!(s.expose(), "from-file");
    assert_eq!(s.source(), ENV_PASSWORD_FILE);
    let s = Secret::from_value_or_file(
        Some("from-env".into()),
        ENV_PASSWORD,
        Some(&file),
        ENV_PASSWORD_FILE,
    )
    .expect("read")
    .expect("some");
    assert_eq!(s.expose(), "from-env");
    assert_eq!(format!("{s:?}"), "<redacted, from NATS_PASSWORD>");
    assert!(
        Secret::from_value_or_file(Some("  ".into()), ENV_PASSWORD, None, ENV_PASSWORD_FILE)
            .expect("read")
            .is_none()
    );
}

#[test]
fn creds_and_nkey_files_load() {
    // A well-formed `.creds` file; the seed is the NATS documentation's example.
    let seed = "SUAIO3FHUX5PNV2LQIIP7TZ3N4L7TX3W53MQGEIVYFIGA635OZCKEYHFLM";
    let creds = format!(
        "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let creds_file = dir.path().join("user.creds");
    std::fs::write(&creds_file, creds).expect("write");
    let p = plan(
        "nats://h",
        &NatsSecurity {
            creds_file: Some(creds_file),
            ..Default::default()
        },
    )
    .expect("creds plan");
    assert!(matches!(p.auth, Auth::Creds { .. }));
    p.options().expect("options");
    assert!(p.auth.hint().contains("NATS_CREDS_FILE"));

    let nkey_file = dir.path().join("user.nk");
    std::fs::write(&nkey_file, format!("{seed}\n")).expect("write");
    let p = plan(
        "nats://h",
        &NatsSecurity {
            nkey_file: Some(nkey_file),
            ..Default::default()
        },
    )
    .expect("nkey plan");
    assert!(matches!(&p.auth, Auth::NKey { seed: s } if s == seed));
    assert!(!format!("{p:?}").contains(seed));
}

#[test]
fn ca_or_client_certificate_implies_tls() {
    let p = plan(
        "nats://h",
        &NatsSecurity {
            tls_required: true,
            ..Default::default()
        },
    )
    .expect("plan");
    assert!(p.tls);
    let p = plan("nats://h", &NatsSecurity::default()).expect("plan");
    assert!(!p.tls);
}

#[test]
fn security_debug_shows_no_secret() {
    let security = NatsSecurity {
        user: Some("tf".into()),
        password: Some(Secret::new("hunter2", ENV_PASSWORD)),
        token: Some(Secret::new("t0ken", ENV_TOKEN)),
        ..Default::default()
    };
    let shown = format!("{security:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("t0ken"),
        "{shown}"
    );
}

#[test]
fn auth_and_tls_failures_are_final_and_outages_are_not() {
    use async_nats::ConnectError;
    let auth = Auth::UserPassword {
        user: "tf".into(),
        user_source: ENV_USER,
        password: Secret::new("hunter2", ENV_PASSWORD),
    };
    let url = "nats://127.0.0.1:4222";
    let err = classify(
        &ConnectError::new(ConnectErrorKind::AuthorizationViolation),
        url,
        &auth,
    )
    .expect("final");
    assert_eq!(
        err.to_string(),
        "NATS at nats://127.0.0.1:4222 refused the credentials (authorization violation): \
             check NATS_USER/NATS_PASSWORD"
    );
    let io = std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
    );
    let err = classify(&ConnectError::from(io), url, &auth).expect("final");
    let msg = err.to_string();
    assert!(msg.contains("TLS") && msg.contains("NATS_CA_FILE"), "{msg}");
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    assert!(classify(&ConnectError::from(refused), url, &auth).is_none());
    assert!(classify(&ConnectError::new(ConnectErrorKind::TimedOut), url, &auth).is_none());
}
