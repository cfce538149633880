//! Setup shared by the end-to-end tests of proxies that follow a master: a master whose
//! topology is source group `site` with proxy group `g1` (proxy `p1` and the given slaves), the
//! proxy registered with it over the control plane, and slaves that register themselves.

use std::net::SocketAddr;
use std::path::Path;

use flowfold_tests::master::{GroupSpec, Master, ProxyNode, topology_toml};
use flowfold_tests::node::Standalone;

use crate::flowfold;

/// A running master and the proxy of its group `g1`, with what restarts the proxy.
pub struct ProxiedGroup {
    pub master: Master,
    pub proxy: ProxyNode,
    /// The proxy's query address (named in the topology before the proxy started).
    pub proxy_query: String,
    /// The proxy's flags (configuration, listener, initial slaves): [`start_proxy`] restarts
    /// it with them.
    pub proxy_flags: Vec<String>,
}

impl ProxiedGroup {
    /// Starts the master on `master_host` and proxy `p1` on `proxy_host` (model `model`) with
    /// `slaves` as group `g1` of source group `site`; the proxy starts with their relays.
    pub fn start(
        dir: &Path,
        master_host: &str,
        proxy_host: &str,
        model: &str,
        slaves: Vec<(&str, &Standalone)>,
    ) -> anyhow::Result<ProxiedGroup> {
        let proxy_query = std::net::TcpListener::bind(format!("{proxy_host}:0"))?
            .local_addr()?
            .to_string();
        let relays: Vec<String> = slaves.iter().map(|(_, s)| s.ready.relays[0].to_string()).collect();
        let cluster = topology_toml(&[(
            "site",
            vec![GroupSpec {
                name: "g1",
                priority: 1,
                proxy: Some(("p1", proxy_query.parse()?)),
                slaves,
            }],
        )]);
        let master = Master::start(flowfold(), dir, master_host, &cluster)?;
        let control = master.control.expect("the ready file names the control address");
        let config = dir.join("p1.toml");
        std::fs::write(
            &config,
            format!(
                "name = \"p1\"\n[distribution]\nmodel = \"{model}\"\nstate = \"{}\"\n\
                 [control]\nmasters = [\"{control}\"]\nheartbeat = \"200ms\"\n",
                dir.join("p1/assignments.json").display()
            ),
        )?;
        let mut proxy_flags = vec![
            "--config".to_string(),
            config.to_string_lossy().into_owned(),
            "--flows".to_string(),
            format!("{proxy_host}:0"),
        ];
        for relay in relays {
            proxy_flags.extend(["--slave".to_string(), relay]);
        }
        let proxy = start_proxy(dir, proxy_host, &proxy_query, &proxy_flags)?;
        Ok(ProxiedGroup {
            master,
            proxy,
            proxy_query,
            proxy_flags,
        })
    }
}

/// Starts proxy `p1` with `flags` (its query address named in the topology already).
pub fn start_proxy(dir: &Path, host: &str, query: &str, flags: &[String]) -> anyhow::Result<ProxyNode> {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    ProxyNode::start_at(flowfold(), dir, "p1", host, query, &flags)
}

/// A slave registering with `masters` (tried in order), in proxy group `group` if given.
pub fn registered_slave(
    dir: &Path,
    name: &str,
    host: &str,
    masters: &[SocketAddr],
    group: Option<&str>,
) -> anyhow::Result<Standalone> {
    let config = dir.join(format!("{name}.toml"));
    let list: Vec<String> = masters.iter().map(|m| format!("\"{m}\"")).collect();
    let group = group.map(|g| format!("group = \"{g}\"\n")).unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            "[control]\nmasters = [{}]\n{group}heartbeat = \"200ms\"\n",
            list.join(", ")
        ),
    )?;
    let config = config.to_string_lossy().into_owned();
    Standalone::start_slave_logged(flowfold(), &dir.join(name), name, host, &["--config", &config])
}

/// `flowfold admin slave add NAME` on `master`: `node` joins proxy group `group` of source
/// group `site`, with its relay address when `relay` (a group with a proxy needs it); the
/// master's answer.
pub fn add_slave(
    master: &Master,
    name: &str,
    site: &str,
    group: &str,
    node: &Standalone,
    relay: bool,
) -> anyhow::Result<String> {
    let (m, query) = (master.metrics.to_string(), node.ready.query.to_string());
    let mut argv = vec![
        "slave",
        "add",
        name,
        "--master",
        &m,
        "--source-group",
        site,
        "--proxy-group",
        group,
        "--query",
        &query,
    ];
    let relay_addr = node.ready.relays.first().map(ToString::to_string);
    if relay {
        argv.extend(["--relay", relay_addr.as_deref().unwrap_or_default()]);
    }
    crate::topology_admin::admin(&argv)
}
