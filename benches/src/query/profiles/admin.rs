//! The node's admin side as the profile benchmark uses it: its admin (metrics) address from the
//! ready file, timed HTTP requests to `/profiles` (one connection each, as `flowfold admin
//! profile` makes them), and the sizes of the files in its data directory.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use engine::profiles::PROFILES_FILE;

/// The admin (metrics) address in the ready file the node wrote (`LOG_DIR/NAME.ready.json`).
pub fn admin_address(log_dir: &Path, name: &str) -> anyhow::Result<SocketAddr> {
    let path = log_dir.join(format!("{name}.ready.json"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let info: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let addr = info
        .get("metrics")
        .and_then(|a| a.as_str())
        .with_context(|| format!("no `metrics` address in {}", path.display()))?;
    addr.parse().with_context(|| format!("bad metrics address {addr:?}"))
}

/// One HTTP/1.1 request with a JSON body; the wall time from connecting to the end of the
/// answer, and the answer's body. A status other than 2xx is an error with the node's reason.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let elapsed = started.elapsed();
    let (head, answer) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    if !status.starts_with('2') {
        bail!("{method} {addr}{path}: HTTP {status}: {}", answer.trim());
    }
    Ok((elapsed, answer.to_string()))
}

/// Whether `path` (relative to the data directory) is part of the profile catalog: the SQLite
/// file and its `-wal`/`-shm`/`-journal` companions.
pub fn is_catalog(path: &Path) -> bool {
    path.parent().is_some_and(|p| p.as_os_str().is_empty())
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PROFILES_FILE))
}

/// Every file under a data directory and its size, by path relative to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirSizes {
    /// Relative path -> bytes.
    pub files: BTreeMap<PathBuf, u64>,
}

impl DirSizes {
    /// Walks `dir`.
    pub fn of(dir: &Path) -> anyhow::Result<DirSizes> {
        let mut sizes = DirSizes::default();
        walk(dir, dir, &mut sizes.files)?;
        Ok(sizes)
    }

    /// Bytes of every file.
    pub fn total(&self) -> u64 {
        self.files.values().sum()
    }

    /// Bytes of the catalog files.
    pub fn catalog(&self) -> u64 {
        self.files.iter().filter(|(p, _)| is_catalog(p)).map(|(_, b)| b).sum()
    }

    /// Files other than the catalog's whose presence or size differs between `self` and
    /// `later`, as `path: before -> after` (empty: nothing but the catalog changed).
    pub fn changed_besides_catalog(&self, later: &DirSizes) -> Vec<String> {
        let paths: std::collections::BTreeSet<&PathBuf> = self.files.keys().chain(later.files.keys()).collect();
        let show = |b: Option<&u64>| b.map_or("absent".to_string(), |b| format!("{b} B"));
        paths
            .into_iter()
            .filter(|p| !is_catalog(p))
            .filter(|p| self.files.get(*p) != later.files.get(*p))
            .map(|p| {
                format!(
                    "{}: {} -> {}",
                    p.display(),
                    show(self.files.get(p)),
                    show(later.files.get(p))
                )
            })
            .collect()
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, u64>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            out.insert(relative, meta.len());
        }
    }
    Ok(())
}

/// Removes a catalog left by an earlier run (the data set is reused), so every profile is
/// created into an empty catalog.
pub fn remove_catalog(data_dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(data_dir).with_context(|| format!("listing {}", data_dir.display()))? {
        let path = entry?.path();
        if path.strip_prefix(data_dir).is_ok_and(is_catalog) {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_catalog_files_may_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flows = dir.path().join("flows/exporter=1");
        std::fs::create_dir_all(&flows).expect("dirs");
        std::fs::write(flows.join("a.parquet"), [0u8; 10]).expect("file");
        std::fs::write(dir.path().join(PROFILES_FILE), [0u8; 4]).expect("catalog");
        let before = DirSizes::of(dir.path()).expect("sizes");
        assert_eq!((before.total(), before.catalog()), (14, 4));
        std::fs::write(dir.path().join(format!("{PROFILES_FILE}-wal")), [0u8; 100]).expect("wal");
        let after = DirSizes::of(dir.path()).expect("sizes");
        assert!(before.changed_besides_catalog(&after).is_empty());
        std::fs::write(flows.join("b.parquet"), [0u8; 3]).expect("file");
        let copied = DirSizes::of(dir.path()).expect("sizes");
        assert_eq!(
            before.changed_besides_catalog(&copied),
            vec!["flows/exporter=1/b.parquet: absent -> 3 B"]
        );
        remove_catalog(dir.path()).expect("removed");
        assert_eq!(DirSizes::of(dir.path()).expect("sizes").catalog(), 0);
    }
}
