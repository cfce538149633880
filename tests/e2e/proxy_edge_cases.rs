//! The decoder's edge-case captures (`crates/ingest/tests/fixtures`: data before its template,
//! options templates with sampling in v9 and IPFIX, variable-length and enterprise fields,
//! several observation domains, a template withdrawal) sent through a proxy in each model to
//! three slaves: over the slaves, every exporter's totals (flows, packets and bytes after
//! sampling, sampled flows) equal those of one node that received the same datagrams directly.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use flowfold_tests::master::ProxyNode;
use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;
use serde_json::Value;

use crate::flowfold;

const FIXTURES: [&str; 6] = [
    "v9_data_before_template.bin",
    "v9_options_sampling.bin",
    "ipfix_options_sampling.bin",
    "ipfix_varlen_enterprise.bin",
    "ipfix_domains.bin",
    "ipfix_withdrawal.bin",
];

const TOTALS: &str = "SELECT ip_text(exporter) AS e, count(*) AS f, sum(packets) AS p, sum(bytes) AS b, \
                      count(sampling_interval) AS s FROM flows GROUP BY 1";

/// The datagrams of a fixture (each prefixed by its length, a big-endian u16).
fn datagrams(name: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/ingest/tests/fixtures")
        .join(name);
    let mut bytes = std::fs::read(&path)?.into_iter();
    let mut out = Vec::new();
    while let (Some(hi), Some(lo)) = (bytes.next(), bytes.next()) {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        out.push(bytes.by_ref().take(len).collect::<Vec<u8>>());
    }
    anyhow::ensure!(!out.is_empty(), "{name} holds no datagram");
    Ok(out)
}

/// Sends every fixture from its own exporter address (`127.0.{net}.{i + 1}`) to each target.
fn send_all(net: u8, targets: &[SocketAddr]) -> anyhow::Result<()> {
    for (i, name) in FIXTURES.iter().enumerate() {
        let socket = UdpSocket::bind(format!("127.0.{net}.{}:0", i + 1))?;
        for datagram in datagrams(name)? {
            for target in targets {
                socket.send_to(&datagram, target)?;
            }
            // In order, as an exporter sends them: the proxy may take each in its own batch.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// Per exporter: flows, packets, bytes, sampled flows.
fn totals(rows: &[Value]) -> BTreeMap<String, [u64; 4]> {
    rows.iter()
        .map(|r| {
            let get = |k: &str| r[k].as_u64().unwrap_or(0);
            (
                r["e"].as_str().unwrap_or_default().to_string(),
                [get("f"), get("p"), get("b"), get("s")],
            )
        })
        .collect()
}

fn summed(nodes: &[&Standalone]) -> anyhow::Result<BTreeMap<String, [u64; 4]>> {
    let mut all: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for node in nodes {
        for (exporter, t) in totals(&node.sql_remote(TOTALS)?) {
            let e = all.entry(exporter).or_default();
            for i in 0..4 {
                e[i] += t[i];
            }
        }
    }
    Ok(all)
}

#[test]
fn edge_case_captures_decode_the_same_through_a_proxy_in_either_model() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let reference = Standalone::start(bin, &dir.path().join("reference"), &[])?;
    let slaves: Vec<Standalone> = (1..=3)
        .map(|i| {
            Standalone::start_slave(
                bin,
                &dir.path().join(format!("s{i}")),
                &format!("s{i}"),
                &format!("127.0.0.20{i}"),
            )
        })
        .collect::<Result<_, _>>()?;
    let relays: Vec<String> = slaves.iter().map(|s| s.ready.relays[0].to_string()).collect();
    let proxy = |name: &str, model: &str| -> anyhow::Result<ProxyNode> {
        let state = dir.path().join(format!("{name}.json"));
        let state = state.to_string_lossy().into_owned();
        let mut flags = vec!["--flows", "127.0.0.204:0", "--model", model, "--state", &state];
        for relay in &relays {
            flags.extend(["--slave", relay.as_str()]);
        }
        ProxyNode::start_with(bin, dir.path(), name, "127.0.0.204", &flags)
    };
    let by_source = proxy("by-source", "flow-source")?;
    let round_robin = proxy("round-robin", "round-robin")?;
    send_all(51, &[by_source.flows[0], reference.flow_addr()])?;
    send_all(52, &[round_robin.flows[0], reference.flow_addr()])?;

    let want = wait_for("the reference to store both copies", Duration::from_secs(30), || {
        let t = totals(&reference.sql_remote(TOTALS).ok()?);
        (t.len() == 2 * FIXTURES.len()).then_some(t)
    })?;
    assert!(want.values().all(|t| t[0] > 0), "every capture has flows: {want:?}");
    assert!(want.values().any(|t| t[3] > 0), "some flows are sampled: {want:?}");
    let nodes: Vec<&Standalone> = slaves.iter().collect();
    let mut got = BTreeMap::new();
    let settled = wait_for(
        "the slaves to hold every exporter's flows",
        Duration::from_secs(30),
        || {
            got = summed(&nodes).ok()?;
            (got == want).then_some(())
        },
    );
    assert!(settled.is_ok(), "over the slaves {got:?}, directly {want:?}");
    Ok(())
}
