//! `flowfold admin slave add|remove --master ADDR`: edit the master's topology (the
//! `/topology/slaves` routes, see `topology_admin.rs`). The change is stored in the master's
//! catalog, read by the next query, and pushed to every node as a new configuration version
//! (`flowfold admin units` shows who runs it).

use std::net::SocketAddr;

use anyhow::Context;
use serde_json::Value;

use super::admin::request;

/// What to do with a slave of the master's topology.
#[derive(Debug, clap::Subcommand)]
pub enum SlaveCommand {
    /// Add a slave to a proxy group: the next query reads it; its group's proxy (if any) sends
    /// it new exporters.
    Add {
        /// The slave's configured `name`.
        name: String,
        /// The master's metrics/admin address (`[metrics] listen`).
        #[arg(long)]
        master: SocketAddr,
        /// The source group of the proxy group.
        #[arg(long)]
        source_group: String,
        /// The proxy group it joins.
        #[arg(long)]
        proxy_group: String,
        /// `host:port` of its query service.
        #[arg(long)]
        query: String,
        /// `host:port` of its relay listener (flow port + 30000); required when the group has
        /// a proxy.
        #[arg(long)]
        relay: Option<String>,
    },
    /// Remove a slave: queries stop asking it; its group's proxy moves its exporters to the
    /// remaining slaves (templates replayed). The last slave of a group cannot be removed.
    Remove {
        /// The slave's name.
        name: String,
        /// The master's metrics/admin address (`[metrics] listen`).
        #[arg(long)]
        master: SocketAddr,
    },
}

/// Runs one slave command and prints the master's answer (raw JSON with `json`).
pub fn run(command: SlaveCommand, json: bool) -> anyhow::Result<()> {
    let (master, answer) = match command {
        SlaveCommand::Add {
            name,
            master,
            source_group,
            proxy_group,
            query,
            relay,
        } => {
            let body = serde_json::json!({
                "source_group": source_group, "proxy_group": proxy_group, "name": name, "query": query,
                "relay": relay,
            });
            (
                master,
                request(master, "POST", "/topology/slaves", Some(&body.to_string()))?,
            )
        }
        SlaveCommand::Remove { name, master } => (
            master,
            request(master, "DELETE", &format!("/topology/slaves/{name}"), None)?,
        ),
    };
    if json {
        println!("{answer}");
        return Ok(());
    }
    let view: Value = serde_json::from_str(&answer).with_context(|| format!("{master} answered {answer}"))?;
    println!("{}", describe(&view));
    Ok(())
}

/// One line: what changed, and the versions.
fn describe(view: &Value) -> String {
    format!(
        "slave {} {} proxy group {}: topology version {}, configuration version {} pushed to the nodes",
        view["slave"].as_str().unwrap_or("?"),
        match view["change"].as_str() {
            Some("removed") => "removed from",
            _ => "added to",
        },
        view["proxy_group"].as_str().unwrap_or("?"),
        view["version"],
        view["config_version"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_one_line() {
        let view = serde_json::json!({"change": "removed", "version": 3, "config_version": 7, "slave": "s3",
            "proxy_group": "g1"});
        assert_eq!(
            describe(&view),
            "slave s3 removed from proxy group g1: topology version 3, configuration version 7 pushed to the nodes"
        );
    }
}
