//! `flowfold admin units --master ADDR`: the units registered with a master's control service
//! (`GET /units`), one line each, with the configuration version each runs against the master's.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::Value;

/// Fetches `GET /units` and prints it (as JSON with `json`).
pub fn run(master: SocketAddr, json: bool) -> anyhow::Result<()> {
    let body = super::admin::request(master, "GET", "/units", None)?;
    if json {
        println!("{body}");
        return Ok(());
    }
    let view: Value = serde_json::from_str(&body).with_context(|| format!("{master}/units answered {body}"))?;
    print!("{}", render(&view, now_ms()));
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The table: one line per unit, then the master's version.
fn render(view: &Value, now_ms: i64) -> String {
    let master_version = view["config_version"].as_u64().unwrap_or(0);
    let mut out = format!(
        "{:<16} {:<10} {:<16} {:<8} {:<12} {:<14} {:<9} exporters\n",
        "name", "role", "group", "version", "state", "config", "seen"
    );
    for unit in view["units"].as_array().into_iter().flatten() {
        let runs = unit["config_version"].as_u64().unwrap_or(0);
        let config = match runs == master_version {
            true => format!("{runs}/{master_version}"),
            false => format!("{runs}/{master_version} behind"),
        };
        let state = match unit["connected"].as_bool() {
            Some(true) => "connected",
            _ => "gone",
        };
        let seen = unit["last_seen_ms"]
            .as_i64()
            .map(|t| format!("{}s ago", (now_ms - t).max(0) / 1000))
            .unwrap_or_default();
        let exporters: Vec<&str> = unit["exporters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!(
            "{:<16} {:<10} {:<16} {:<8} {:<12} {:<14} {:<9} {}\n",
            unit["name"].as_str().unwrap_or(""),
            unit["role"].as_str().unwrap_or(""),
            unit["group"].as_str().unwrap_or("-"),
            unit["version"].as_str().unwrap_or(""),
            state,
            config,
            seen,
            exporters.join(",")
        ));
    }
    out.push_str(&format!(
        "(config: the version each unit runs / the master's {master_version})\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_shows_its_version_against_the_masters() {
        let view = serde_json::json!({
            "config_version": 3,
            "units": [
                {"name": "s1", "role": "slave", "group": "a1", "version": "0.1.0", "connected": true,
                 "last_seen_ms": 10_000, "config_version": 3, "exporters": ["10.0.0.1", "10.0.0.2"]},
                {"name": "s2", "role": "standalone", "group": null, "version": "0.1.0", "connected": false,
                 "last_seen_ms": 4_000, "config_version": 2, "exporters": []}
            ]
        });
        let text = render(&view, 12_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].starts_with("s1") && lines[1].contains("connected") && lines[1].contains("3/3 "));
        assert!(
            lines[1].contains("2s ago") && lines[1].ends_with("10.0.0.1,10.0.0.2"),
            "{text}"
        );
        assert!(
            lines[2].contains("gone") && lines[2].contains("2/3 behind") && lines[2].contains(" - "),
            "{text}"
        );
    }
}
