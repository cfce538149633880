//! [`StoredConfig`]: a node's copy of the last configuration it received, so it restarts with it
//! while the master is away. Written atomically: a temporary file beside it, fsync, rename over
//! the old one, fsync of the directory; a crash leaves the old or the new version, never half.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::ControlError;
use super::model::ControlConfig;

/// The control plane's directory in a node's data directory.
pub const CONTROL_DIR: &str = "control";
/// The stored configuration's file name in [`CONTROL_DIR`].
pub const CONFIG_FILE: &str = "config.json";

/// The stored configuration file of a node.
#[derive(Debug, Clone)]
pub struct StoredConfig {
    path: PathBuf,
}

impl StoredConfig {
    /// The file at `path` (created on the first save, with its directory).
    pub fn new(path: impl Into<PathBuf>) -> StoredConfig {
        StoredConfig { path: path.into() }
    }

    /// The file of a node whose data (or state) directory is `dir`: `dir/control/config.json`.
    pub fn in_dir(dir: &Path) -> StoredConfig {
        StoredConfig::new(dir.join(CONTROL_DIR).join(CONFIG_FILE))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored configuration; `None` if there is no file yet.
    pub fn load(&self) -> Result<Option<ControlConfig>, ControlError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(self.io("reading", source)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ControlError::CorruptStoredConfig {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }

    /// Replaces the stored configuration with `config`, atomically and durably.
    pub fn save(&self, config: &ControlConfig) -> Result<(), ControlError> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io_at("creating", dir, e))?;
        let bytes = serde_json::to_vec_pretty(config).map_err(|e| ControlError::Encode(e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(|e| self.io_at("creating", &tmp, e))?;
        file.write_all(&bytes).map_err(|e| self.io_at("writing", &tmp, e))?;
        file.sync_all().map_err(|e| self.io_at("syncing", &tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(|e| self.io("renaming into", e))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io_at("syncing", dir, e))?;
        Ok(())
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> ControlError {
        self.io_at(action, &self.path, source)
    }

    fn io_at(&self, action: &'static str, path: &Path, source: std::io::Error) -> ControlError {
        ControlError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(version: u64) -> ControlConfig {
        let mut config = ControlConfig {
            version,
            ..ControlConfig::default()
        };
        config.profiles.version = version * 10;
        config
    }

    #[test]
    fn a_saved_configuration_loads_back_and_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let stored = StoredConfig::in_dir(dir.path());
        assert_eq!(stored.load().unwrap(), None, "no file yet");
        stored.save(&config(1)).unwrap();
        stored.save(&config(2)).unwrap();
        assert_eq!(stored.load().unwrap(), Some(config(2)));
        assert_eq!(stored.path(), dir.path().join("control/config.json"));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("control"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("config.json")],
            "no temporary file left"
        );
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it_and_a_save_repairs_it() {
        let dir = tempfile::tempdir().unwrap();
        let stored = StoredConfig::in_dir(dir.path());
        std::fs::create_dir_all(dir.path().join("control")).unwrap();
        std::fs::write(stored.path(), b"{\"version\": 3, \"profi").unwrap();
        let err = stored.load().unwrap_err();
        assert!(matches!(err, ControlError::CorruptStoredConfig { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("config.json") && text.contains("corrupt"), "{text}");
        stored.save(&config(4)).unwrap();
        assert_eq!(stored.load().unwrap(), Some(config(4)));
    }

    #[test]
    fn a_leftover_temporary_file_does_not_matter() {
        let dir = tempfile::tempdir().unwrap();
        let stored = StoredConfig::in_dir(dir.path());
        stored.save(&config(1)).unwrap();
        // A crash between writing the temporary file and the rename.
        std::fs::write(stored.path().with_extension("json.tmp"), b"half").unwrap();
        assert_eq!(stored.load().unwrap(), Some(config(1)));
        stored.save(&config(2)).unwrap();
        assert_eq!(stored.load().unwrap(), Some(config(2)));
    }
}
