//! The cluster: one `flowfold slave` per share of the data set (127.0.0.11, .12, ...), one
//! `flowfold proxy` for their proxy group (127.0.0.10), and a `flowfold master` (127.0.0.40)
//! whose configuration names them, queried through Flight SQL like a standalone node. Every
//! process is a child of the harness, killed if the harness fails.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::node::{self, Node};
use crate::procs::Proc;
use crate::split::Share;

/// Loopback address of the proxy.
const PROXY_IP: [u8; 4] = [127, 0, 0, 10];
/// Loopback address of the master.
const MASTER_IP: [u8; 4] = [127, 0, 0, 40];
/// Source address of the harness's connections (the kernel picks 127.0.0.1 for 127.0.0.x).
const CLIENT_IP: [u8; 4] = [127, 0, 0, 1];
/// How long a slave or the proxy may take to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The loopback address of slave `i` (from 0; at most `args::MAX_SLAVES` slaves).
fn slave_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 11 + i as u8])
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    /// The master, with a Flight SQL connection.
    pub master: Node,
    proxy: Proc,
    slaves: Vec<(String, Proc)>,
}

impl Cluster {
    /// Starts a slave per share, the proxy and the master (`threads` query threads each, logs
    /// and the master's configuration in `log_dir`) and connects to the master.
    pub fn start(flowfold: &Path, shares: &[Share], threads: usize, log_dir: &Path) -> anyhow::Result<Cluster> {
        let mut slaves = Vec::new();
        let mut topology = Vec::new();
        for (i, share) in shares.iter().enumerate() {
            let any_port = format!("{}:0", slave_ip(i));
            let mut cmd = Command::new(flowfold);
            cmd.arg("slave")
                .arg("--data")
                .arg(&share.data_dir)
                .args(["--name", &share.name])
                .args(["--flows", &any_port, "--metrics", &any_port, "--query", &any_port])
                .args(["--query-threads", &threads.to_string()]);
            let (proc, addr) = node::spawn_ready(&share.name, cmd, log_dir)?;
            topology.push((share.name.clone(), addr));
            slaves.push((share.name.clone(), proc));
        }
        let any_port = format!("{}:0", IpAddr::from(PROXY_IP));
        let mut cmd = Command::new(flowfold);
        cmd.arg("proxy").args(["--query", &any_port, "--metrics", &any_port]);
        let (proxy, proxy_addr) = node::spawn_ready("p1", cmd, log_dir)?;

        let config = log_dir.join("master.toml");
        std::fs::write(&config, master_toml(&proxy_addr, &topology))
            .with_context(|| format!("writing {}", config.display()))?;
        let mut cmd = Command::new(flowfold);
        cmd.arg("master")
            .arg("--config")
            .arg(&config)
            .args(["--query-threads", &threads.to_string()]);
        let (proc, addr) = node::spawn_ready("master", cmd, log_dir)?;
        let master = Node::connect(proc, &addr)?;
        Ok(Cluster { master, proxy, slaves })
    }

    /// Every process with its role, master first: `(name, pid)`.
    pub fn pids(&self) -> Vec<(String, i32)> {
        let mut pids = vec![
            ("master".to_string(), self.master.pid()),
            ("p1".to_string(), self.proxy.pid()),
        ];
        pids.extend(self.slaves.iter().map(|(name, proc)| (name.clone(), proc.pid())));
        pids
    }

    /// Who is behind each peer address of the master's sockets: the harness, the proxy, the slaves.
    pub fn peers(&self) -> Vec<(IpAddr, String)> {
        let mut peers = vec![
            (IpAddr::from(CLIENT_IP), "client".to_string()),
            (IpAddr::from(PROXY_IP), "p1".to_string()),
        ];
        peers.extend(
            self.slaves
                .iter()
                .enumerate()
                .map(|(i, (name, _))| (slave_ip(i), name.clone())),
        );
        peers
    }

    /// Stops every process (SIGTERM), master first.
    pub fn stop(self) -> anyhow::Result<()> {
        let Cluster {
            master,
            mut proxy,
            slaves,
        } = self;
        master.stop()?;
        proxy.stop(STOP_TIMEOUT)?;
        for (_, mut proc) in slaves {
            proc.stop(STOP_TIMEOUT)?;
        }
        Ok(())
    }
}

/// The master's configuration: loopback ports, one source group `site` read from one proxy group
/// `g1` of proxy `p1` and the slaves `(name, query address)`.
pub fn master_toml(proxy: &str, slaves: &[(String, String)]) -> String {
    let slaves: Vec<String> = slaves
        .iter()
        .map(|(name, addr)| format!("{{ name = \"{name}\", query = \"{addr}\" }}"))
        .collect();
    let master = IpAddr::from(MASTER_IP);
    format!(
        "[query]\nlisten = \"{master}:0\"\n\
         [metrics]\nlisten = \"{master}:0\"\n\
         [[cluster.source_groups]]\nname = \"site\"\n\
         [[cluster.source_groups.proxy_groups]]\nname = \"g1\"\npriority = 1\n\
         proxy = {{ name = \"p1\", query = \"{proxy}\" }}\n\
         slaves = [{}]\n",
        slaves.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_configuration_names_the_proxy_and_every_slave() {
        let text = master_toml(
            "127.0.0.10:5000",
            &[
                ("s1".into(), "127.0.0.11:5001".into()),
                ("s2".into(), "127.0.0.12:5002".into()),
            ],
        );
        assert!(
            text.contains("proxy = { name = \"p1\", query = \"127.0.0.10:5000\" }"),
            "{text}"
        );
        assert!(
            text.contains(
                "slaves = [{ name = \"s1\", query = \"127.0.0.11:5001\" }, { name = \"s2\", query = \"127.0.0.12:5002\" }]"
            ),
            "{text}"
        );
        assert!(text.starts_with("[query]\nlisten = \"127.0.0.40:0\"\n"), "{text}");
    }
}
