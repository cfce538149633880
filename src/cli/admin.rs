//! `flowfold admin`: look at and steer a running cluster through the admin routes of its
//! master and proxies (on their metrics endpoints).
//! - `cluster --master ADDR`: every source group, proxy group and node, up or down, its version,
//!   which group serves, and each slave's channels.
//! - `slave add|remove --master ADDR`: edit the master's topology (`admin_slave.rs`).
//! - `units --master ADDR`: every unit registered over the control plane, with the configuration
//!   version it runs against the master's (`admin_units.rs`).
//! - `assignments --proxy ADDR`: each exporter's slave.
//! - `rebalance --proxy ADDR --exporter IP --slave N`: move one exporter (losing nothing).
//! - `profile list|show|create|change|delete --node ADDR`: sub-profiles (`admin_profile.rs`).
//! - `source deleted|delete|restore --node ADDR`: flow sources (`admin_source.rs`).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Flags of `flowfold admin`.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
    /// Print the route's JSON as it is.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Every unit of the master's cluster (its topology now): state, version, serving group,
    /// channels.
    Cluster {
        /// The master's metrics/admin address (`[metrics] listen`).
        #[arg(long)]
        master: SocketAddr,
    },
    /// Every unit registered with the master's control service: role, group, version, state,
    /// the configuration version it runs against the master's, and its exporters.
    Units {
        /// The master's metrics/admin address (`[metrics] listen`).
        #[arg(long)]
        master: SocketAddr,
    },
    /// Each exporter's slave on a proxy.
    Assignments {
        /// The proxy's metrics/admin address.
        #[arg(long)]
        proxy: SocketAddr,
    },
    /// Move one exporter to another slave of the proxy's group.
    Rebalance {
        /// The proxy's metrics/admin address.
        #[arg(long)]
        proxy: SocketAddr,
        /// The exporter's address.
        #[arg(long)]
        exporter: IpAddr,
        /// The slave's index in the proxy's `[distribution] slaves`.
        #[arg(long)]
        slave: usize,
    },
    /// Even out the exporters of a proxy group over its slaves (flow-source model), through
    /// the master: it asks the group's proxy, which moves exporters losslessly.
    RebalanceGroup {
        /// The proxy group.
        group: String,
        /// The master's metrics/admin address.
        #[arg(long)]
        master: SocketAddr,
    },
    /// Add a slave to the master's topology or remove one.
    #[command(subcommand)]
    Slave(super::admin_slave::SlaveCommand),
    /// Sub-profiles of a master or standalone node.
    #[command(subcommand)]
    Profile(super::admin_profile::ProfileCommand),
    /// Flow sources of a master or standalone node: delete, restore, list deleted.
    #[command(subcommand)]
    Source(super::admin_source::SourceCommand),
}

pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let (addr, method, path) = match args.command {
        AdminCommand::Profile(command) => return super::admin_profile::run(command, args.json),
        AdminCommand::Source(command) => return super::admin_source::run(command),
        AdminCommand::Slave(command) => return super::admin_slave::run(command, args.json),
        AdminCommand::Cluster { master } => (master, "GET", "/cluster".to_string()),
        AdminCommand::Units { master } => return super::admin_units::run(master, args.json),
        AdminCommand::Assignments { proxy } => (proxy, "GET", "/assignments".to_string()),
        AdminCommand::Rebalance { proxy, exporter, slave } => {
            (proxy, "POST", format!("/rebalance?exporter={exporter}&slave={slave}"))
        }
        AdminCommand::RebalanceGroup { group, master } => (master, "POST", format!("/groups/{group}/rebalance")),
    };
    let is_cluster = path == "/cluster";
    let body = request(addr, method, &path, None)?;
    if args.json {
        println!("{body}");
        return Ok(());
    }
    let value: Value = serde_json::from_str(&body).with_context(|| format!("{addr}{path} answered {body}"))?;
    match is_cluster {
        true => print_cluster(&value),
        false => println!("{}", serde_json::to_string_pretty(&value)?),
    }
    Ok(())
}

/// The body of the answer to an HTTP/1.1 request (with a JSON `body`, if any); an error for a
/// non-2xx status, with the answer's text.
pub fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{}",
        body.map_or(0, str::len),
        body.unwrap_or_default()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    if !status.starts_with('2') {
        bail!("{addr}{path}: HTTP {status}: {}", body.trim());
    }
    Ok(body.to_string())
}

/// One line per node of `GET /cluster`.
fn print_cluster(view: &Value) {
    println!(
        "{:<14} {:<18} {:<6} {:<16} {:<22} {:<6} {:<8} channels",
        "source group", "proxy group", "role", "name", "query", "state", "version"
    );
    for source in view["source_groups"].as_array().into_iter().flatten() {
        let serving = source["serving"].as_str().unwrap_or("");
        for group in source["proxy_groups"].as_array().into_iter().flatten() {
            let name = group["name"].as_str().unwrap_or("");
            let mut label = format!("{name} (p{})", group["priority"]);
            if name == serving {
                label.push('*');
            }
            if group["marked_down"].as_bool() == Some(true) {
                label.push_str(" down");
            }
            let proxy = group["proxy"].as_object().map(|_| ("proxy", &group["proxy"]));
            let slaves = group["slaves"].as_array().into_iter().flatten().map(|s| ("slave", s));
            for (role, node) in proxy.into_iter().chain(slaves) {
                let channels: Vec<&str> = node["channels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "{:<14} {:<18} {:<6} {:<16} {:<22} {:<6} {:<8} {}",
                    source["name"].as_str().unwrap_or(""),
                    label,
                    role,
                    node["name"].as_str().unwrap_or(""),
                    node["query"].as_str().unwrap_or(""),
                    node["state"].as_str().unwrap_or(""),
                    node["version"].as_str().unwrap_or("-"),
                    channels.join(",")
                );
            }
        }
    }
    println!(
        "(* the proxy group queries read now; topology version {})",
        view["topology_version"]
    );
}
