//! Loading ONNX Runtime once per process.
//!
//! We link ONNX Runtime dynamically (`ort`'s `load-dynamic`): the shared library comes from the
//! `onnxruntime` wheel installed at setup, because the build machines cannot download `ort`'s
//! prebuilt binaries. ONNX Runtime allows one environment per process, so the first embedder
//! creates it and every later one reuses it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

use super::EmbedError;

static ENVIRONMENT: OnceLock<(PathBuf, Environment)> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Returns the process-wide ONNX Runtime environment, loading `library` on first use.
pub(crate) fn environment(library: &Path) -> Result<Environment, EmbedError> {
    if let Some((_, env)) = ENVIRONMENT.get() {
        return Ok(env.clone());
    }
    // Serialise the first initialisation: two threads racing here would both try to build an
    // environment, and ONNX Runtime refuses the second.
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, env)) = ENVIRONMENT.get() {
        return Ok(env.clone());
    }
    if !library.is_file() {
        return Err(EmbedError::OrtLibrary {
            path: library.to_path_buf(),
            detail:
                "file not found (run `make setup`, or point ORT_DYLIB_PATH at libonnxruntime.so)"
                    .into(),
        });
    }
    let builder = ort::init_from(library).map_err(|e| EmbedError::OrtLibrary {
        path: library.to_path_buf(),
        detail: e.to_string(),
    })?;
    let env = builder
        .with_name("ticketflow")
        .build()
        .map_err(|e| EmbedError::OrtLibrary {
            path: library.to_path_buf(),
            detail: e.to_string(),
        })?;
    let _ = ENVIRONMENT.set((library.to_path_buf(), env.clone()));
    Ok(env)
}

/// The library the process loaded, if any.
pub fn loaded_library() -> Option<&'static Path> {
    ENVIRONMENT.get().map(|(p, _)| p.as_path())
}
