//! `flowfold admin source`: list the flow sources a master knows (`GET /flow-sources`, see
//! `flow_sources.rs`), delete a flow source from the live profile, restore it, list the deleted
//! ones (the `/sources` routes of a master or standalone node, see `profiles_admin.rs`).

use std::net::IpAddr;

use anyhow::Context;
use serde_json::Value;

use super::admin::request;
use super::admin_profile::Target;

/// What to do with flow sources.
#[derive(Debug, clap::Subcommand)]
pub enum SourceCommand {
    /// The flow sources reported to a master, each with the source group it maps to (or
    /// `unmapped`, `conflict`), the units that reported it and when it was first seen.
    List {
        #[command(flatten)]
        target: Target,
        /// Print the master's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// The deleted flow sources and when they were deleted.
    Deleted(Target),
    /// Delete a flow source: its channel leaves the live profile; its data is removed unless a
    /// sub-profile names it as a source.
    Delete {
        exporter: IpAddr,
        #[command(flatten)]
        target: Target,
    },
    /// Bring a deleted flow source back, with whatever is still stored.
    Restore {
        exporter: IpAddr,
        #[command(flatten)]
        target: Target,
    },
}

/// Runs one source command and prints the node's answer (JSON).
pub fn run(command: SourceCommand) -> anyhow::Result<()> {
    let answer = match command {
        SourceCommand::List { target, json } => {
            let body = request(target.node, "GET", "/flow-sources", None)?;
            if json {
                println!("{body}");
            } else {
                let sources: Value = serde_json::from_str(&body)
                    .with_context(|| format!("{}/flow-sources answered {body}", target.node))?;
                print!("{}", render(&sources));
            }
            return Ok(());
        }
        SourceCommand::Deleted(target) => request(target.node, "GET", "/sources", None)?,
        SourceCommand::Delete { exporter, target } => {
            request(target.node, "DELETE", &format!("/sources/{exporter}"), None)?
        }
        SourceCommand::Restore { exporter, target } => {
            request(target.node, "POST", &format!("/sources/{exporter}/restore"), None)?
        }
    };
    println!("{answer}");
    Ok(())
}

/// One line per flow source: address, state, source groups, proxy groups, units, first seen.
fn render(sources: &Value) -> String {
    let list = |v: &Value| -> String {
        let items: Vec<&str> = v.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(",")
        }
    };
    let mut out = format!(
        "{:<40} {:<10} {:<20} {:<20} {:<24} first seen\n",
        "exporter", "state", "source group", "proxy groups", "reported by"
    );
    for source in sources.as_array().into_iter().flatten() {
        let mut state = source["state"].as_str().unwrap_or("").to_string();
        if source["deleted"].as_bool() == Some(true) {
            state.push_str(",deleted");
        }
        let first = source["first_seen_ms"]
            .as_i64()
            .and_then(crate::output::utc_seconds)
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<40} {:<10} {:<20} {:<20} {:<24} {first}\n",
            source["exporter"].as_str().unwrap_or(""),
            state,
            list(&source["source_groups"]),
            list(&source["proxy_groups"]),
            list(&source["units"]),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_state_groups_units_and_first_sighting() {
        let sources = serde_json::json!([
            {"exporter": "10.0.0.1", "state": "mapped", "source_groups": ["site-a"], "proxy_groups": ["a1", "a2"],
             "units": ["a1s1", "a2s1"], "first_seen_ms": 1_767_225_600_000i64, "last_reported_ms": 0, "deleted": false},
            {"exporter": "2001:db8::1", "state": "unmapped", "source_groups": [], "proxy_groups": [],
             "units": ["stranger"], "first_seen_ms": 0, "last_reported_ms": 0, "deleted": true}
        ]);
        let table = render(&sources);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("exporter") && lines[0].contains("source group"));
        for part in [
            "10.0.0.1",
            "mapped",
            "site-a",
            "a1,a2",
            "a1s1,a2s1",
            "2026-01-01T00:00:00Z",
        ] {
            assert!(lines[1].contains(part), "{part} in {}", lines[1]);
        }
        assert!(
            lines[2].contains("unmapped,deleted") && lines[2].contains("stranger"),
            "{}",
            lines[2]
        );
    }
}
