//! Where an input file comes from: a local path, or `s3://bucket/key` streamed to a temporary
//! file first (the loader streams from disk, and a local copy keeps a flaky network from
//! breaking a half-read input).

use std::io::Read;
use std::path::{Path, PathBuf};

use ticketflow_connectors::store::{S3Options, Store, StoreConfig};

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("input {0} does not exist")]
    NotFound(String),
    #[error("input {input}: {detail}")]
    Fetch { input: String, detail: String },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// An input available as a local file, with the BLAKE3 digest of its bytes.
pub struct LocalInput {
    pub path: PathBuf,
    pub digest: String,
    /// Keeps a downloaded copy alive while it is read.
    _download: Option<tempfile::TempDir>,
}

/// Resolves `input` to a local file and hashes it.
pub async fn fetch_input(input: &str, s3: &S3Options) -> Result<LocalInput, InputError> {
    let (path, download) = match input.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket_and_dir, file) =
                rest.rsplit_once('/').ok_or_else(|| InputError::Fetch {
                    input: input.to_string(),
                    detail: "expected s3://bucket/path/file".into(),
                })?;
            let store = Store::open(&StoreConfig {
                url: format!("s3://{bucket_and_dir}"),
                s3: s3.clone(),
            })
            .map_err(|e| InputError::Fetch {
                input: input.to_string(),
                detail: e.to_string(),
            })?;
            let dir = tempfile::tempdir().map_err(|source| InputError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            let path = dir.path().join(file);
            // Streamed to disk chunk by chunk: an export of any size costs one chunk of memory.
            store
                .download(file, &path)
                .await
                .map_err(|e| InputError::Fetch {
                    input: input.to_string(),
                    detail: e.to_string(),
                })?;
            (path, Some(dir))
        }
        None => {
            let path = PathBuf::from(input.strip_prefix("file://").unwrap_or(input));
            if !path.is_file() {
                return Err(InputError::NotFound(input.to_string()));
            }
            (path, None)
        }
    };
    let digest = digest_file(&path)?;
    Ok(LocalInput {
        path,
        digest,
        _download: download,
    })
}

fn digest_file(path: &Path) -> Result<String, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0_u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}
