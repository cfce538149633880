//! Persisted decoder templates, so a restarted node decodes the first data it receives.

use std::path::{Path, PathBuf};

use crate::decode::{Decoder, TemplateSnapshot};
use crate::error::IngestError;

/// Where a listener keeps its templates: `<state_dir>/templates-<port>.json`.
pub fn state_path(state_dir: &Path, port: u16) -> PathBuf {
    state_dir.join(format!("templates-{port}.json"))
}

/// Where a relay listener keeps its templates: `<state_dir>/templates-relay-<port>.json`.
pub fn relay_state_path(state_dir: &Path, port: u16) -> PathBuf {
    state_dir.join(format!("templates-relay-{port}.json"))
}

/// Loads saved templates into `decoder`; a missing file is not an error.
pub fn load(decoder: &mut Decoder, path: &Path) -> Result<bool, IngestError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(state_error(path, e)),
    };
    let snapshot: TemplateSnapshot = serde_json::from_slice(&bytes).map_err(|e| state_error(path, e))?;
    decoder.restore_templates(snapshot);
    Ok(true)
}

/// Saves `decoder`'s templates atomically (write a temporary file, then rename).
pub fn save(decoder: &Decoder, path: &Path) -> Result<(), IngestError> {
    let json = serde_json::to_vec(&decoder.template_snapshot()).map_err(|e| state_error(path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| state_error(path, e))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(|e| state_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| state_error(path, e))
}

fn state_error(path: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::TemplateState {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
