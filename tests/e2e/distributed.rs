//! Distributed queries across real processes: a master; source group `site-a` stored twice, by
//! proxy groups `a1` (primary) and `a2` (secondary) of a proxy and two slaves each, fed the same
//! export; source group `site-b`, one standalone slave. A reference standalone node receives
//! every flow. Each query must give the reference's answer exactly, also after a slave of `a1` is
//! hung (answers come from `a2`); with `a2`'s proxy dead too, the error names `site-a`.
//!
//! Until the proxy exists (control-plane issue) the test distributes by flow source itself:
//! each exporter's export goes to one slave of each group.

use flowfold_tests::master::{GroupSpec, Master, ProxyNode, topology_toml};
use flowfold_tests::node::Standalone;
use serde_json::Value;

use flowfold_tests::peers::python;

use crate::profiles::{PROFILE_CASES, create_web_profiles};
use crate::{flowfold, generate};

const FLOWS_PER_FEED: u64 = 12_000;
const START_MS: &str = "1700000000000";

/// The queries compared, about 30: aggregates, GROUP BYs, ORDER BY/LIMIT, filters, a join.
const QUERIES: &[&str] = &[
    "SELECT count(*) AS n FROM flows",
    "SELECT sum(bytes) AS b, sum(packets) AS p, min(flow_start) AS s, max(flow_end) AS e FROM flows",
    "SELECT avg(bytes) AS b, avg(packets) AS p FROM flows",
    "SELECT count(DISTINCT src_addr) AS s, count(DISTINCT dst_port) AS p FROM flows",
    "SELECT approx_distinct(src_addr) AS s, approx_distinct(dst_addr) AS d FROM flows",
    "SELECT median(bytes) AS m, min(bytes) AS lo, max(bytes) AS hi FROM flows",
    "SELECT protocol, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY protocol ORDER BY protocol",
    "SELECT ip_text(exporter) AS e, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY exporter ORDER BY e",
    "SELECT ip_text(src_addr) AS a, sum(bytes) AS b FROM flows GROUP BY src_addr ORDER BY b DESC, a LIMIT 10",
    "SELECT dst_port, count(*) AS n FROM flows GROUP BY dst_port ORDER BY n DESC, dst_port LIMIT 10",
    "SELECT count(*) AS pairs FROM (SELECT src_addr, dst_addr FROM flows GROUP BY src_addr, dst_addr)",
    "SELECT ip_text(src_addr) AS s, ip_text(dst_addr) AS d, count(*) AS n FROM flows GROUP BY src_addr, dst_addr ORDER BY n DESC, s, d LIMIT 25",
    "SELECT date_bin(INTERVAL '1 minute', flow_start) AS t, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY t ORDER BY t",
    "SELECT count(*) AS n, sum(bytes) AS b FROM flows WHERE protocol = 6 AND dst_port = 443",
    "SELECT count(*) AS n FROM flows WHERE ip_in(src_addr, '10.0.0.0/8')",
    "SELECT ip_version(src_addr) AS v, count(*) AS n FROM flows GROUP BY v ORDER BY v",
    "SELECT count(*) AS n, sum(packets) AS p FROM flows WHERE nfdump('proto udp and dst port 53')",
    "SELECT count(vlan) AS with_vlan, count(*) - count(vlan) AS without, count(next_hop) AS hops, count(src_as) AS asn FROM flows",
    "SELECT vlan, count(*) AS n FROM flows GROUP BY vlan ORDER BY vlan NULLS FIRST",
    "SELECT ip_text(min(src_addr)) AS lo, ip_text(max(dst_addr)) AS hi FROM flows",
    "SELECT flow_start, ip_text(src_addr) AS s, ip_text(dst_addr) AS d, src_port, bytes FROM flows ORDER BY bytes DESC, flow_start, s, d, src_port LIMIT 20",
    "WITH dim(proto, name) AS (VALUES (6, 'tcp'), (17, 'udp'), (1, 'icmp')) SELECT d.name, count(*) AS n, sum(f.bytes) AS b FROM flows f JOIN dim d ON f.protocol = d.proto GROUP BY d.name ORDER BY d.name",
    "SELECT src_port, count(*) AS n FROM flows GROUP BY src_port HAVING count(*) > 20 ORDER BY n DESC, src_port LIMIT 20",
    "SELECT ip_text(exporter) AS e, protocol, sum(bytes) AS b FROM flows GROUP BY exporter, protocol ORDER BY e, protocol",
    "SELECT tcp_flags, count(*) AS n FROM flows WHERE protocol = 6 GROUP BY tcp_flags ORDER BY tcp_flags",
    "SELECT proto_name(protocol) AS p, count(*) AS n FROM flows GROUP BY p ORDER BY p",
    "SELECT DISTINCT protocol FROM flows ORDER BY protocol",
    "SELECT count(*) AS n FROM flows WHERE bytes > (SELECT avg(bytes) FROM flows)",
    "SELECT protocol, sum(bytes) AS b, rank() OVER (ORDER BY sum(bytes) DESC) AS r FROM flows GROUP BY protocol ORDER BY protocol",
    "SELECT count(*) AS n FROM flows WHERE flow_start >= to_timestamp_millis(1699999900000) AND flow_start < to_timestamp_millis(1700000000000)",
    "SELECT count(*) AS n, sum(bytes) AS b FROM flows WHERE exporter = ip('127.0.1.1')",
    "SELECT ip_text(ip_net(src_addr, 16)) AS net, count(*) AS n FROM flows WHERE ip_version(src_addr) = 4 GROUP BY net ORDER BY n DESC, net LIMIT 10",
    // Top-Ns over one proxy group's slaves (site-a's, site-b's): finished on that group's merger.
    SITE_A_TOP_N,
    "SELECT ip_text(dst_addr) AS d, dst_port, count(*) AS n FROM flows WHERE exporter = ip('127.0.1.21') GROUP BY dst_addr, dst_port HAVING count(*) > 1 ORDER BY n DESC, d, dst_port LIMIT 15",
];

/// A top-N over site-a's slaves only (one exporter of each): finished on site-a's proxy.
const SITE_A_TOP_N: &str = "SELECT ip_text(src_addr) AS a, sum(bytes) AS b FROM flows WHERE exporter IN (ip('127.0.1.1'), ip('127.0.1.11')) GROUP BY src_addr ORDER BY b DESC, a LIMIT 10";

/// Sends one feed (`seed`, `exporters` from `source_base`) to every node in `targets`.
fn feed(targets: &[&Standalone], seed: &str, exporters: &str, source_base: &str) -> anyhow::Result<()> {
    for node in targets {
        let summary = generate(&[
            "--target",
            &node.flow_addr().to_string(),
            "--flows",
            &FLOWS_PER_FEED.to_string(),
            "--rate",
            "60000",
            "--seed",
            seed,
            "--exporters",
            exporters,
            "--source-base",
            source_base,
            "--v6-share",
            "0.2",
            "--start-time",
            START_MS,
        ])?;
        anyhow::ensure!(summary["flows"].as_u64() == Some(FLOWS_PER_FEED), "gen sent {summary}");
    }
    Ok(())
}

/// Waits until `node` stores `expected` flows.
pub(crate) fn wait_stored(node: &Standalone, expected: u64) -> anyhow::Result<()> {
    let mut last = 0;
    flowfold_tests::wait_for("flows to be stored", std::time::Duration::from_secs(60), || {
        last = node.sql_remote("SELECT count(*) AS n FROM flows").ok()?.first()?["n"].as_u64()?;
        (last == expected).then_some(())
    })
    .map_err(|e| anyhow::anyhow!("{e}: a node holds {last} of {expected} flows (UDP loss?)"))
}

/// Equal JSON values; floats equal to 1e-9 relative (sums of f64 depend on order even on one node).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || ((x - y).abs() <= 1e-9 * x.abs().max(y.abs()))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        _ => a == b,
    }
}

/// ADBC and pyarrow.flight on the master give the reference's answers (master_clients.py).
fn clients_agree(master: &Master, reference: &Standalone) -> anyhow::Result<()> {
    let count = reference.sql_remote("SELECT count(*) AS n FROM flows")?[0]["n"].clone();
    let per_protocol: Vec<Value> = reference
        .sql_remote("SELECT protocol, count(*) AS n FROM flows GROUP BY protocol ORDER BY protocol")?
        .iter()
        .map(|r| serde_json::json!([r["protocol"], r["n"]]))
        .collect();
    let expected = serde_json::json!({ "count": count, "per_protocol": per_protocol });
    let seen = python("master_clients.py", &[&master.query.to_string(), &expected.to_string()])?;
    anyhow::ensure!(seen.contains("site-a=a1"), "{seen}");
    Ok(())
}

/// The `served by` line `flowfold sql --served-by` prints for a count on the master.
fn served_by(master: &Master) -> anyhow::Result<String> {
    let out = master.sql_output(&["--served-by"], "SELECT count(*) FROM flows")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(out.status.success(), "{stderr}");
    Ok(stderr
        .lines()
        .find_map(|l| l.strip_prefix("served by: "))
        .unwrap_or_default()
        .to_string())
}

/// The `distributed_plan` row of `EXPLAIN query` on the master.
pub(crate) fn distributed_plan(master: &Master, query: &str) -> anyhow::Result<String> {
    let rows = master.sql(&format!("EXPLAIN {query}"))?;
    Ok(rows
        .iter()
        .find(|r| r["plan_type"] == "distributed_plan")
        .and_then(|r| r["plan"].as_str())
        .unwrap_or_default()
        .to_string())
}

/// Compares the master's answer with the reference's: in order when the query orders, as
/// multisets otherwise.
pub(crate) fn check(master: &Master, reference: &Standalone, query: &str) -> anyhow::Result<()> {
    let mut got = master.sql(query).map_err(|e| anyhow::anyhow!("master: {query}: {e}"))?;
    let mut want = reference.sql_remote(query)?;
    anyhow::ensure!(!want.is_empty(), "the reference returned no rows for {query}");
    if !query.contains("ORDER BY") {
        let key = |v: &Value| v.to_string();
        got.sort_by_key(key);
        want.sort_by_key(key);
    }
    let equal = got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| same(g, w));
    anyhow::ensure!(
        equal,
        "{query}\n master:    {} rows {:?}\n reference: {} rows {:?}",
        got.len(),
        got.iter().take(5).collect::<Vec<_>>(),
        want.len(),
        want.iter().take(5).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn distributed_answers_equal_one_node_through_failover() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let bin = flowfold();
    let slave = |name: &str, host: &str| Standalone::start_slave(bin, &dir.path().join(name), name, host);
    let a1s1 = slave("a1s1", "127.0.0.11")?;
    let a1s2 = slave("a1s2", "127.0.0.12")?;
    let a2s1 = slave("a2s1", "127.0.0.21")?;
    let a2s2 = slave("a2s2", "127.0.0.22")?;
    let b = slave("b", "127.0.0.31")?;
    let reference = Standalone::start(bin, &dir.path().join("reference"), &[])?;
    let a1p = ProxyNode::start(bin, dir.path(), "a1p", "127.0.0.10")?;
    let a2p = ProxyNode::start(bin, dir.path(), "a2p", "127.0.0.20")?;

    feed(&[&a1s1, &a2s1, &reference], "11", "2", "127.0.1.1")?;
    feed(&[&a1s2, &a2s2, &reference], "12", "2", "127.0.1.11")?;
    feed(&[&b, &reference], "13", "3", "127.0.1.21")?;
    for node in [&a1s1, &a1s2, &a2s1, &a2s2, &b] {
        wait_stored(node, FLOWS_PER_FEED)?;
    }
    wait_stored(&reference, 3 * FLOWS_PER_FEED)?;

    let cluster = topology_toml(&[
        (
            "site-a",
            vec![
                GroupSpec {
                    name: "a1",
                    priority: 1,
                    proxy: Some(("a1p", a1p.query)),
                    slaves: vec![("a1s1", &a1s1), ("a1s2", &a1s2)],
                },
                GroupSpec {
                    name: "a2",
                    priority: 2,
                    proxy: Some(("a2p", a2p.query)),
                    slaves: vec![("a2s1", &a2s1), ("a2s2", &a2s2)],
                },
            ],
        ),
        (
            "site-b",
            vec![GroupSpec {
                name: "b",
                priority: 1,
                proxy: None,
                slaves: vec![("b", &b)],
            }],
        ),
    ]);
    let master = Master::start(bin, dir.path(), "127.0.0.40", &cluster)?;

    // EXPLAIN draws the stages. A low-cardinality GROUP BY: Partial on one task per slave (b's
    // group padded to a1's two), PartialReduce on a1's proxy and on b itself, Final on the master.
    let plan = distributed_plan(&master, "SELECT protocol, count(*) FROM flows GROUP BY protocol")?;
    for part in [
        "DistributedExec",
        "tasks=4",
        "AggregateExec: mode=Partial",
        "slaves=[a1s1]",
        "slaves=[a1s2]",
        "slaves=[b]",
        "slaves=[-]",
        "ProxyMergeExec: on=[a1p, b]",
        "AggregateExec: mode=PartialReduce",
        "AggregateExec: mode=Final,",
    ] {
        assert!(plan.contains(part), "no {part:?} in the distributed plan:\n{plan}");
    }
    assert!(!plan.contains("a2s1"), "the secondary group is not read:\n{plan}");
    // A high-cardinality one is shuffled across the slaves instead.
    let plan = distributed_plan(&master, "SELECT src_addr, dst_addr, count(*) FROM flows GROUP BY 1, 2")?;
    assert!(!plan.contains("ProxyMergeExec"), "{plan}");
    assert!(plan.contains("NetworkShuffleExec"), "{plan}");
    // Unless it is a top-N over the slaves of one proxy group: that group's proxy finishes it.
    let plan = distributed_plan(&master, SITE_A_TOP_N)?;
    for part in [
        "slaves=[a1s1]",
        "slaves=[a1s2]",
        "ProxyMergeExec: on=[a1p, master]",
        "AggregateExec: mode=Final,",
        "TopK(fetch=10)",
    ] {
        assert!(plan.contains(part), "no {part:?} in the distributed plan:\n{plan}");
    }
    assert!(
        !plan.contains("NetworkShuffleExec") && !plan.contains("slaves=[b]"),
        "{plan}"
    );

    assert_eq!(served_by(&master)?, "site-a=a1,site-b=b");
    clients_agree(&master, &reference)?;

    let (before, after) = QUERIES.split_at(QUERIES.len() / 2);
    for query in before {
        check(&master, &reference, query)?;
    }
    assert_eq!(master.metric_sum("flowfold_query_failovers_total", &[])?, 0.0);

    // Profiles: the same catalog on the master and on the reference answers the same.
    create_web_profiles(master.metrics)?;
    create_web_profiles(reference.ready.metrics)?;
    for query in profile_queries() {
        check(&master, &reference, &query)?;
    }

    // a1s2 hangs (SIGSTOP: its sockets stay open, nothing answers): the query in flight fails by
    // the HTTP/2 keepalive deadline, the probe finds a1s2 silent, a1 is skipped, a2 answers.
    a1s2.pause()?;
    let started = std::time::Instant::now();
    check(&master, &reference, after[0])?;
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(30), "failover took {waited:?}");
    for query in after[1..].iter().map(|q| q.to_string()).chain(profile_queries()) {
        check(&master, &reference, &query)?;
    }
    assert_eq!(
        master.metric_sum("flowfold_query_failovers_total", &["proxy_group=\"a1\""])?,
        1.0,
        "one failover, then a1 is skipped"
    );
    assert_eq!(served_by(&master)?, "site-a=a2,site-b=b");

    // A GROUP BY that a2's proxy must merge (a plain count(*) is counted by the slaves
    // themselves and would still be answered, by a2's live slaves).
    a2p.kill()?;
    let err = master
        .sql("SELECT protocol, count(*) FROM flows GROUP BY protocol")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no proxy group of source group site-a can answer (tried a1, a2)"),
        "{err}"
    );
    // The cluster listing shows it: both groups of site-a marked down, their dead nodes down.
    let listing = master.admin_cluster()?;
    assert!(
        listing.contains("a1 (p1) down") && listing.contains("a2 (p2) down"),
        "{listing}"
    );
    for (name, state) in [("a2p", " down "), ("a1s2", " down "), ("a1s1", " up "), ("b", " up ")] {
        let line = listing
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or("");
        assert!(line.contains(state), "{name} should be{state}: {listing}");
    }
    // Asked for, a partial answer: site-b's flows only, with site-a named as missing.
    let out = master.sql_output(&["--partial"], "SELECT count(*) AS n FROM flows")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("partial answer: no proxy group of source group(s) site-a"),
        "{stderr}"
    );
    let rows: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(rows["n"].as_u64(), Some(FLOWS_PER_FEED), "site-b's flows only");
    // A partial top-N by address too: with site-b's one group left, it is finished on that
    // group's merger (slave b), and equals what b answers over its own flows.
    let top = "SELECT ip_text(src_addr) AS s, sum(bytes) AS b FROM flows GROUP BY src_addr ORDER BY b DESC, s LIMIT 3";
    let out = master.sql_output(&["--partial"], top)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("partial answer"), "{stderr}");
    let got: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let want = b.sql_remote(top)?;
    assert!(
        want.len() == 3 && got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| same(g, w)),
        "partial top-N {got:?}, slave b answers {want:?}"
    );
    // The other source group alone still answers nothing partial: the whole query fails.
    drop(b);
    Ok(())
}

/// Queries over the profiles of [`create_web_profiles`].
fn profile_queries() -> Vec<String> {
    let mut queries: Vec<String> = PROFILE_CASES
        .iter()
        .map(|(table, _)| format!("SELECT count(*) AS n, sum(packets) AS p, sum(bytes) AS b FROM {table}"))
        .collect();
    queries.push("SELECT protocol, dst_port, count(*) AS n FROM web.flows GROUP BY 1, 2 ORDER BY 1, 2".into());
    queries.push(
        "SELECT ip_text(src_addr) AS src, sum(bytes) AS b FROM web.https GROUP BY src_addr ORDER BY b DESC, src LIMIT 5"
            .into(),
    );
    queries
}
