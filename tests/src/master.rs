//! A real `flowfold master` process over a cluster of slaves, on a 127.0.0.x address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::node::{Standalone, sql_connect, sum_metric};
use crate::wait_for;

/// A proxy group of the master's topology: its name, priority, proxy and slaves (with their
/// relay addresses, for slaves that open relay listeners).
#[derive(Debug)]
pub struct GroupSpec<'a> {
    pub name: &'a str,
    pub priority: u32,
    /// The proxy's name and query address.
    pub proxy: Option<(&'a str, SocketAddr)>,
    pub slaves: Vec<(&'a str, &'a Standalone)>,
}

/// The `[[cluster.source_groups]]` of a master configuration.
pub fn topology_toml(source_groups: &[(&str, Vec<GroupSpec>)]) -> String {
    let mut text = String::new();
    for (name, groups) in source_groups {
        text.push_str(&format!("[[cluster.source_groups]]\nname = \"{name}\"\n"));
        for group in groups {
            let slaves: Vec<String> = group
                .slaves
                .iter()
                .map(|(slave, node)| match node.ready.relays.first() {
                    Some(relay) => format!(
                        "{{ name = \"{slave}\", query = \"{}\", relay = \"{relay}\" }}",
                        node.ready.query
                    ),
                    None => format!("{{ name = \"{slave}\", query = \"{}\" }}", node.ready.query),
                })
                .collect();
            text.push_str(&format!(
                "[[cluster.source_groups.proxy_groups]]\nname = \"{}\"\npriority = {}\nslaves = [{}]\n",
                group.name,
                group.priority,
                slaves.join(", ")
            ));
            if let Some((name, proxy)) = &group.proxy {
                text.push_str(&format!("proxy = {{ name = \"{name}\", query = \"{proxy}\" }}\n"));
            }
        }
    }
    text
}

/// Starts `binary ARGS --ready-file READY_FILE` and waits for the ready file's JSON.
fn spawn_ready(binary: &Path, args: &[&str], ready_file: &Path) -> anyhow::Result<(Child, Value)> {
    let _ = std::fs::remove_file(ready_file);
    let mut child = Command::new(binary)
        .args(args)
        .arg("--ready-file")
        .arg(ready_file)
        .env("FLOWFOLD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting flowfold {}", args[0]))?;
    let json = wait_for("the ready file", Duration::from_secs(30), || {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(Err(anyhow::anyhow!("flowfold {} exited early: {status}", args[0])));
        }
        let text = std::fs::read_to_string(ready_file).ok()?;
        serde_json::from_str(&text).ok().map(Ok)
    })??;
    Ok((child, json))
}

/// A running proxy; killed when dropped.
#[derive(Debug)]
pub struct ProxyNode {
    child: Option<Child>,
    /// Its worker service.
    pub query: SocketAddr,
    /// Its flow listeners (when it distributes flows).
    pub flows: Vec<SocketAddr>,
    /// Its metrics and admin endpoint.
    pub http: SocketAddr,
}

impl ProxyNode {
    /// Starts `binary proxy` with its ports on `host`, its ready file at `dir/NAME.ready.json`.
    pub fn start(binary: &Path, dir: &Path, name: &str, host: &str) -> anyhow::Result<ProxyNode> {
        Self::start_with(binary, dir, name, host, &[])
    }

    /// Like [`ProxyNode::start`], with `extra` flags (`--flows`, `--slave`, `--state`).
    pub fn start_with(binary: &Path, dir: &Path, name: &str, host: &str, extra: &[&str]) -> anyhow::Result<ProxyNode> {
        Self::start_at(binary, dir, name, host, &format!("{host}:0"), extra)
    }

    /// Like [`ProxyNode::start_with`], its worker service on `query` (a master's topology
    /// written before the proxy starts names it).
    pub fn start_at(
        binary: &Path,
        dir: &Path,
        name: &str,
        host: &str,
        query: &str,
        extra: &[&str],
    ) -> anyhow::Result<ProxyNode> {
        let any_port = format!("{host}:0");
        let ready_file = dir.join(format!("{name}.ready.json"));
        let mut args = vec!["proxy", "--query", query, "--metrics", &any_port];
        args.extend_from_slice(extra);
        let (child, json) = spawn_ready(binary, &args, &ready_file)?;
        Ok(ProxyNode {
            child: Some(child),
            query: json["query"].as_str().context("ready file names query")?.parse()?,
            flows: crate::node::addresses(&json["flows"]),
            http: json["metrics"].as_str().context("ready file names metrics")?.parse()?,
        })
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for ProxyNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running master; killed when dropped.
#[derive(Debug)]
pub struct Master {
    binary: PathBuf,
    child: Option<Child>,
    /// Its Flight SQL address.
    pub query: SocketAddr,
    /// Its metrics endpoint.
    pub metrics: SocketAddr,
    /// Its control service (`[control] listen`).
    pub control: Option<SocketAddr>,
}

impl Master {
    /// Writes `config` (TOML with `[cluster]` etc.; `[query]`, `[metrics]` and, unless it has
    /// one, `[control]` are added on `host`) to `dir/master.toml`, starts `binary master` and
    /// waits for its ready file.
    pub fn start(binary: &Path, dir: &Path, host: &str, cluster: &str) -> anyhow::Result<Master> {
        let config = dir.join("master.toml");
        // No fixed ports: without a `[control]` of the test's own, the control service too
        // listens on a free port of `host` (not the default 0.0.0.0:2210 every master shares).
        let control = match cluster.contains("[control]") {
            true => String::new(),
            false => format!("[control]\nlisten = \"{host}:0\"\n"),
        };
        let text = format!(
            "catalog = \"{}\"\n[query]\nlisten = \"{host}:0\"\n[metrics]\nlisten = \"{host}:0\"\n{control}[cluster]\nconnect_timeout = \"1s\"\nkeepalive = \"2s\"\n{cluster}",
            dir.join("profiles.db").display()
        );
        std::fs::write(&config, text)?;
        let ready_file = dir.join("master.ready.json");
        let config = config.to_string_lossy();
        let (child, json) = spawn_ready(binary, &["master", "--config", &config], &ready_file)?;
        Ok(Master {
            binary: binary.to_path_buf(),
            child: Some(child),
            query: json["query"].as_str().context("ready file names query")?.parse()?,
            metrics: json["metrics"].as_str().context("ready file names metrics")?.parse()?,
            control: json["control"].as_str().and_then(|a| a.parse().ok()),
        })
    }

    /// Runs SQL on the master (JSON rows); an error carries the server's message.
    pub fn sql(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        sql_connect(&self.binary, self.query, query)
    }

    /// Runs `flowfold sql --connect MASTER --format json FLAGS QUERY`, failed or not.
    pub fn sql_output(&self, flags: &[&str], query: &str) -> anyhow::Result<std::process::Output> {
        Command::new(&self.binary)
            .args(["sql", "--format", "json", "--connect", &self.query.to_string()])
            .args(flags)
            .arg(query)
            .env("FLOWFOLD_LOG", "warn")
            .output()
            .context("running flowfold sql --connect")
    }

    /// The output of `flowfold admin cluster --master METRICS` (the cluster listing).
    pub fn admin_cluster(&self) -> anyhow::Result<String> {
        let out = Command::new(&self.binary)
            .args(["admin", "cluster", "--master", &self.metrics.to_string()])
            .output()
            .context("running flowfold admin")?;
        anyhow::ensure!(
            out.status.success(),
            "flowfold admin cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Sum of the samples of `metric` with all of `labels`.
    pub fn metric_sum(&self, metric: &str, labels: &[&str]) -> anyhow::Result<f64> {
        let text = crate::http_get(self.metrics, "/metrics")?;
        Ok(sum_metric(&text, metric, labels))
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
