//! Showing connection URLs without their secrets, for logs, `Debug` and error messages.
//!
//! One rule for every service (NATS, Chroma, the S3 endpoint): the password of
//! `user:password@` becomes `***` (the user name stays: it says *who* connected, and is not a
//! secret), and a bare `token@` becomes `***@`.
//!
//! This works on the text, not through `url::Url`, on purpose: it must also redact what does not
//! parse (the URL in a "not a valid URL" error, a scheme-less `user:pw@host:4222`, a password
//! with an unencoded `@`), and must not reformat what it shows (`Url` adds a trailing `/` to
//! `http://host:8000`, which would make messages differ from the setting the user wrote).

/// `url` with the secret part of any `user:password@` or `token@` replaced by `***`; a
/// comma-separated list (NATS servers) is redacted element by element.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|part| {
            let (scheme, rest) = match part.find("://") {
                Some(i) => part.split_at(i + 3),
                None => ("", part),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            // The last '@' ends the user info: a password may contain an unencoded '@'.
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

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords_and_tokens_and_nothing_else() {
        assert_eq!(
            redact_url("nats://tf:hunter2@127.0.0.1:4222"),
            "nats://tf:***@127.0.0.1:4222"
        );
        assert_eq!(
            redact_url("tls://s3cr3t-token@nats:4222"),
            "tls://***@nats:4222"
        );
        assert_eq!(
            redact_url("nats://a:x@n1:4222, nats://b:y@n2:4222,nats://n3"),
            "nats://a:***@n1:4222, nats://b:***@n2:4222,nats://n3"
        );
        assert_eq!(redact_url("u:p%40ss@host:4222"), "u:***@host:4222");
        // A password with '@' in it, unencoded: everything before the last '@' is hidden.
        assert_eq!(redact_url("nats://u:p@ss@host"), "nats://u:***@host");
        assert_eq!(redact_url("http://u:p@h:1/x"), "http://u:***@h:1/x");
        // An '@' after the authority is part of the path, not user info.
        assert_eq!(redact_url("http://h:1/x@y"), "http://h:1/x@y");
        assert_eq!(redact_url("http://chroma:8000"), "http://chroma:8000");
        assert_eq!(redact_url("plain/path"), "plain/path");
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact_url(""), "");
    }
}
