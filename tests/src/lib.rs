//! End-to-end test support: start the real `flowfold` binary on free ports, run the peers we
//! did not write (nfcapd, nfdump, softflowd, Python DuckDB), and make test captures.
//!
//! The tests themselves live in `tests/e2e/` (an integration-test binary of the root package,
//! so Cargo builds `flowfold` for them).

pub mod master;
pub mod node;
pub mod pcap;
pub mod peers;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The workspace root (where `Cargo.toml` of the root package is).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if start.elapsed() > limit {
            anyhow::bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `true` if `program` can be run (is on the PATH).
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The body (with headers) of a plain HTTP/1.1 GET of `path` on `addr`.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    http(addr, "GET", path)
}

/// The response (status line, headers, body) of an HTTP/1.1 `method` of `path` without a body.
pub fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}

/// The body of a plain HTTP/1.1 GET of `path` on `addr`; an error unless it answers 200.
pub fn http_body(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    let response = http_get(addr, path)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    Ok(body.to_string())
}
