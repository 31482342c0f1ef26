//! Configuration: *where* the store lives ([`StoreConfig::url`]) and *how* to reach an
//! S3-compatible server ([`S3Options`]).
//!
//! Nothing in here is secret. Credentials never pass through these types: they are read from the
//! standard `AWS_*` environment variables when the store is opened (see
//! [`Store::open`](super::Store::open)). That keeps them out of flags, config files, `Debug`
//! output and logs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::StoreError;
use super::keys;
use crate::redact::redact_url;

/// Where run data lives, and how to reach it.
///
/// `url` takes one of these forms:
///
/// | form                  | meaning                                                        |
/// | --------------------- | -------------------------------------------------------------- |
/// | `file:///abs/dir`     | a directory on the local filesystem (created if missing)       |
/// | `file://relative/dir` | the same, relative to the working directory                    |
/// | `relative/dir`, `/abs`| a plain path, same as the `file://` forms                      |
/// | `s3://bucket/prefix`  | every key lives under `prefix/` in `bucket` (prefix optional)  |
///
/// `file://` paths are taken literally: no percent-decoding, so `file:///tmp/a%20b` is a
/// directory whose name contains `%20`.
///
/// `s3` only matters for `s3://` URLs; it is ignored for the filesystem.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Where the data lives, in one of the forms above.
    pub url: String,
    /// How to reach the S3-compatible server for `s3://` URLs.
    pub s3: S3Options,
}

impl StoreConfig {
    /// A config for `url` with default S3 options (AWS itself, no custom endpoint).
    pub fn new(url: impl Into<String>) -> StoreConfig {
        StoreConfig {
            url: url.into(),
            s3: S3Options::default(),
        }
    }
}

/// Hand-written so that a URL carrying `user:password@` (which [`Store::open`] refuses anyway)
/// can never be printed.
///
/// [`Store::open`]: super::Store::open
impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &redact_url(&self.url))
            .field("s3", &self.s3)
            .finish()
    }
}

/// How to talk to an S3-compatible server. The defaults suit AWS S3 itself; MinIO, moto and
/// friends need an `endpoint` and `path_style`.
///
/// Precedence when the store is opened: a value set here wins over the `AWS_*` environment
/// variables, which win over object_store's defaults. `path_style: false` and
/// `allow_http: false` mean "don't force it", not "forbid it".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Base URL of the server, e.g. `http://127.0.0.1:9000`. `None` means AWS S3 (or whatever
    /// `AWS_ENDPOINT_URL` says when the store is opened).
    pub endpoint: Option<String>,
    /// Signing region. `None` falls back to `AWS_REGION`/`AWS_DEFAULT_REGION`, then `us-east-1`.
    pub region: Option<String>,
    /// Force path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted style
    /// (`bucket.endpoint/key`). MinIO and moto need it.
    pub path_style: bool,
    /// Permit plain `http://` endpoints (local test servers). HTTPS is required otherwise.
    pub allow_http: bool,
    /// Retry and timeout policy for requests.
    pub retry: S3Retry,
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint.as_deref().map(redact_url))
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("retry", &self.retry)
            .finish()
    }
}

impl S3Options {
    /// The options for an `endpoint` (`None` = AWS itself) and `region`. Path-style
    /// addressing defaults to on exactly when an endpoint is set (self-hosted servers rarely do
    /// virtual-hosted buckets); `allow_http` is on exactly when the endpoint is `http://`.
    ///
    /// The binary fills these from `AWS_ENDPOINT_URL_S3` (else `AWS_ENDPOINT_URL`),
    /// `AWS_REGION` (else `AWS_DEFAULT_REGION`) and `TICKETFLOW_S3_PATH_STYLE`, read once by its
    /// settings; this crate reads no ticketflow setting from the environment.
    pub fn new(
        endpoint: Option<String>,
        region: Option<String>,
        path_style: Option<bool>,
    ) -> S3Options {
        let endpoint = endpoint.filter(|e| !e.trim().is_empty());
        let allow_http = endpoint.as_deref().is_some_and(|e| {
            e.get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        });
        S3Options {
            path_style: path_style.unwrap_or(endpoint.is_some()),
            allow_http,
            endpoint,
            region: region.filter(|r| !r.trim().is_empty()),
            retry: S3Retry::default(),
        }
    }
}

/// How hard to try before an S3 request is reported as failed.
///
/// object_store retries connection errors, timeouts of idempotent requests and 5xx answers with
/// exponential backoff and jitter, starting at `init_backoff` and capped at `max_backoff`. It
/// stops after `max_retries` retries or once `retry_timeout` has passed since the first attempt,
/// whichever comes first; one last in-flight request may add up to `request_timeout`.
///
/// The defaults (5 retries, 100 ms → 5 s backoff, 30 s budget) ride out a server restart or a
/// brief network blip but fail fast enough for a worker to NAK the message and let JetStream
/// redeliver it, which is the real retry loop of the pipeline (see "Delivery guarantees").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Retry {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: usize,
    /// First backoff.
    pub init_backoff: Duration,
    /// Largest backoff between two attempts.
    pub max_backoff: Duration,
    /// No retry starts after this much time since the first attempt.
    pub retry_timeout: Duration,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, body included.
    pub request_timeout: Duration,
}

impl Default for S3Retry {
    fn default() -> Self {
        S3Retry {
            max_retries: 5,
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            retry_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A parsed [`StoreConfig::url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A directory, possibly relative to the working directory.
    File { dir: PathBuf },
    /// A bucket and a key prefix inside it (`""` for the whole bucket).
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// Parse one of the forms listed on [`StoreConfig`].
    pub(crate) fn parse(url: &str) -> Result<Location, StoreError> {
        let invalid = |reason: String| StoreError::InvalidUrl {
            url: redact_url(url),
            reason,
        };
        if url.trim().is_empty() {
            return Err(invalid("it is empty".into()));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            // No scheme: a plain path. Catch the near-misses `file:/x` and `s3:bucket`.
            let lower = url.to_ascii_lowercase();
            if lower.starts_with("file:") || lower.starts_with("s3:") {
                return Err(invalid("malformed URL (missing '//')".into()));
            }
            return Ok(Location::File {
                dir: PathBuf::from(url),
            });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                if rest.is_empty() {
                    return Err(invalid("file:// needs a directory".into()));
                }
                Ok(Location::File {
                    dir: PathBuf::from(rest),
                })
            }
            "s3" => parse_s3(rest).map_err(invalid),
            other => Err(invalid(format!("unsupported scheme {other:?}"))),
        }
    }
}

/// Split `bucket/prefix` (the part after `s3://`) and check both.
fn parse_s3(rest: &str) -> Result<Location, String> {
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not accepted; set AWS_ACCESS_KEY_ID and \
                    AWS_SECRET_ACCESS_KEY instead"
                .into(),
        );
    }
    if authority.is_empty() {
        return Err("s3:// needs a bucket name".into());
    }
    if path.contains(['?', '#']) || authority.contains(['?', '#']) {
        return Err("query strings and fragments are not allowed".into());
    }
    check_bucket(authority)?;
    let prefix = path.trim_end_matches('/');
    if !prefix.is_empty() {
        keys::check_key(prefix).map_err(|reason| format!("bad prefix {prefix:?}: {reason}"))?;
    }
    Ok(Location::S3 {
        bucket: authority.to_string(),
        prefix: prefix.to_string(),
    })
}

/// S3's bucket naming rules, in short: 3–63 characters of lowercase letters, digits, `.` and
/// `-`, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let ok_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ok_ends = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && ok_chars && ok_ends {
        Ok(())
    } else {
        Err(format!(
            "bad bucket name {bucket:?} (3-63 lowercase letters, digits, '.' or '-')"
        ))
    }
}

/// The process environment as UTF-8 pairs; variables that are not valid UTF-8 are skipped
/// (unlike `std::env::vars`, which panics on them).
pub(crate) fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        let file = |d: &str| Location::File { dir: d.into() };
        assert_eq!(
            Location::parse("file:///abs/dir").ok(),
            Some(file("/abs/dir"))
        );
        assert_eq!(
            Location::parse("file://rel/dir").ok(),
            Some(file("rel/dir"))
        );
        assert_eq!(Location::parse("rel/dir").ok(), Some(file("rel/dir")));
        assert_eq!(Location::parse("/abs").ok(), Some(file("/abs")));
        let s3 = |b: &str, p: &str| Location::S3 {
            bucket: b.into(),
            prefix: p.into(),
        };
        assert_eq!(Location::parse("s3://bkt").ok(), Some(s3("bkt", "")));
        assert_eq!(Location::parse("s3://bkt/").ok(), Some(s3("bkt", "")));
        assert_eq!(
            Location::parse("s3://bkt/a/b/").ok(),
            Some(s3("bkt", "a/b"))
        );
        assert_eq!(Location::parse("S3://bkt/a").ok(), Some(s3("bkt", "a")));
    }

    #[test]
    fn rejects_bad_urls_listing_the_accepted_forms() {
        for url in [
            "",
            "ftp://x",
            "s3://",
            "s3:///prefix",
            "s3://Upper",
            "s3://b",
            "s3://bkt/a//b",
            "s3://bkt/../x",
            "s3://bkt/x?versionId=1",
            "file://",
            "file:/abs",
        ] {
            let err = match Location::parse(url) {
                Err(e) => e.to_string(),
                Ok(loc) => panic!("{url:?} should be rejected, got {loc:?}"),
            };
            assert!(err.contains("s3://bucket[/prefix]"), "{url:?}: {err}");
        }
    }

    #[test]
    fn credentials_in_urls_are_refused_and_never_echoed() {
        let err = Location::parse("s3://AKIA:hunter2@bkt/p")
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let cfg = StoreConfig::new("s3://AKIA:hunter2@bkt/p");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn options_follow_the_endpoint() {
        let o = S3Options::new(
            Some("http://127.0.0.1:9000".into()),
            Some("eu-west-1".into()),
            None,
        );
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert!(o.path_style && o.allow_http);

        let o = S3Options::new(
            Some("https://s3.example".into()),
            Some("us-west-2".into()),
            Some(false),
        );
        assert_eq!(o.endpoint.as_deref(), Some("https://s3.example"));
        assert!(!o.path_style && !o.allow_http);

        assert_eq!(S3Options::new(None, None, None), S3Options::default());
        // Empty values, as templated manifests set unused settings, mean unset.
        assert_eq!(
            S3Options::new(Some(" ".into()), Some(String::new()), None),
            S3Options::default()
        );
        assert!(S3Options::new(None, None, Some(true)).path_style);
    }
}
