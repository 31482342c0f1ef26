//! Secrets (passwords, tokens) as deployments hand them over: a value from an environment
//! variable, or a file mounted from a Kubernetes Secret.
//!
//! The binary reads the variables once, at the edge, and passes the values here; this module
//! only decides between value and file, reads the file, and makes sure the value never reaches a
//! log line (`Debug` prints where it came from, not what it is).

use std::path::{Path, PathBuf};

/// Why a secret's file could not be used. Names the variable that points at the file.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{var} ({}): cannot read it: {source}", path.display())]
    Unreadable {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{var} ({}): the file is empty", path.display())]
    Empty { var: &'static str, path: PathBuf },
}

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

    /// The value: only for handing it to a client library.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The variable it came from.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// `value` (read from the variable `value_source`) if set and not blank, else the contents
    /// of `file` (its path given by the variable `file_source`), else `None`. Surrounding
    /// whitespace is trimmed: mounted secrets often end in a newline. An unreadable or empty
    /// file is an error naming `file_source`, never a silent anonymous connection.
    pub fn from_value_or_file(
        value: Option<String>,
        value_source: &'static str,
        file: Option<&Path>,
        file_source: &'static str,
    ) -> Result<Option<Secret>, SecretError> {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            return Ok(Some(Secret::new(value.trim(), value_source)));
        }
        let Some(path) = file.filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Unreadable {
            var: file_source,
            path: path.to_path_buf(),
            source,
        })?;
        let value = text.trim();
        if value.is_empty() {
            return Err(SecretError::Empty {
                var: file_source,
                path: path.to_path_buf(),
            });
        }
        Ok(Some(Secret::new(value, file_source)))
    }
}
