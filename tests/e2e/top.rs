//! `flowfold top` against `nfdump -s`: the same generated flows go to a flowfold node and to
//! nfcapd; for several stats, orders and filters, the top N from `flowfold top --format csv`
//! must be nfdump's `-o csv` top N (values, flows, packets, bytes, shares and times; nfdump's
//! float rates are left out), with ties in any order; and the `proto` table with its summary
//! line must be nfdump's text exactly.
//!
//! The exporters speak IPFIX only: from NetFlow v9 records nfdump 1.7.1 drops the ICMP type and
//! code that flowfold reads, so ICMP destination ports would differ.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, ensure};
use flowfold_tests::node::Standalone;
use flowfold_tests::peers::Nfcapd;
use flowfold_tests::wait_for;

use crate::profiles::create_web_profiles;
use crate::{flowfold, generate, require, stored_count};

/// Flows sent to each side.
const FLOWS: u64 = 5000;

/// One `-s` case: stat, order, N, filter.
type Case = (&'static str, &'static str, usize, Option<&'static str>);

const CASES: &[Case] = &[
    ("srcip", "flows", 10, None),
    ("dstport", "flows", 10, None),
    ("proto", "flows", 10, None),
    ("ip", "bytes", 10, None),
    ("port", "flows", 15, None),
    ("srcip", "packets", 10, Some("proto tcp and dst port 443")),
    ("dstip", "bytes", 8, Some("proto udp or src net 10.0.0.0/8")),
    ("as", "flows", 5, None),
    ("inif", "bytes", 5, Some("not ipv6")),
    ("srcport", "flows", 10, Some("proto tcp")),
    ("outif", "packets", 5, None),
    ("if", "flows", 5, None),
    ("srcas", "bytes", 5, None),
    ("dstas", "flows", 5, Some("ipv4")),
];

/// One CSV line of a `-s` result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    val: String,
    flows: u64,
    packets: u64,
    bytes: u64,
    /// Shares, first and last seen, duration: compared as printed.
    rest: [String; 6],
}

impl Line {
    fn key(&self, order: &str) -> u64 {
        match order {
            "packets" => self.packets,
            "bytes" => self.bytes,
            _ => self.flows,
        }
    }
}

/// The lines of `-o csv` text (`ts,te,td,pr,val,fl,flP,ipkt,ipktP,ibyt,ibytP,ipps,ibps,ibpp`).
fn parse(text: &str) -> anyhow::Result<Vec<Line>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().context("no CSV header")?;
    ensure!(header.starts_with("ts,te,td,pr,val,fl,flP"), "not -s CSV: {header}");
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            ensure!(f.len() == 14, "not 14 fields: {line}");
            let number = |i: usize| f[i].parse::<u64>().with_context(|| format!("field {i} of {line}"));
            Ok(Line {
                val: format!("{}/{}", f[3], f[4]),
                flows: number(5)?,
                packets: number(7)?,
                bytes: number(9)?,
                rest: [f[6], f[8], f[10], f[0], f[1], f[2]].map(str::to_string),
            })
        })
        .collect()
}

/// nfdump's `-s STAT/ORDER -n N` over `dir`, as `-o csv` or its default table (times in UTC).
fn nfdump(dir: &Path, (stat, order, n, filter): Case, csv: bool) -> anyhow::Result<String> {
    let mut command = Command::new("nfdump");
    command.env("TZ", "UTC").arg("-R").arg(dir);
    command.args(["-s", &format!("{stat}/{order}"), "-n", &n.to_string()]);
    if csv {
        command.args(["-q", "-o", "csv"]);
    }
    let out = command.args(filter).output().context("running nfdump")?;
    ensure!(
        out.status.success(),
        "nfdump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// `flowfold top` against the node, in `format`, with `extra` flags.
fn top(node: &Standalone, (stat, order, n, filter): Case, format: &str, extra: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new(flowfold());
    command.args([
        "top",
        "--connect",
        &node.ready.query.to_string(),
        "--stat",
        stat,
        "--order",
        order,
    ]);
    command.args(["-n", &n.to_string(), "--format", format]);
    if let Some(filter) = filter {
        command.args(["--filter", filter]);
    }
    let out = command
        .args(extra)
        .env("FLOWFOLD_LOG", "warn")
        .output()
        .context("running flowfold top")?;
    ensure!(
        out.status.success(),
        "flowfold top failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// `ours` and `theirs` rank the same groups: equal order keys line by line; equal groups at each
/// key; at the last key, where `-n` may cut a tie, our groups are among all of nfdump's.
fn same_ranking(order: &str, ours: &[Line], theirs: &[Line], all: &[Line]) -> Result<(), String> {
    let keys = |lines: &[Line]| lines.iter().map(|l| l.key(order)).collect::<Vec<_>>();
    if keys(ours) != keys(theirs) {
        return Err(format!(
            "ranked {order} differ: ours {:?}, nfdump {:?}",
            keys(ours),
            keys(theirs)
        ));
    }
    let last = ours.last().map(|l| l.key(order));
    for key in keys(ours).into_iter().collect::<BTreeSet<_>>() {
        let at = |lines: &[Line]| {
            lines
                .iter()
                .filter(|l| l.key(order) == key)
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        let (mine, nfdumps) = (at(ours), at(theirs));
        if Some(key) != last && mine != nfdumps {
            return Err(format!("at {order} = {key}: ours {mine:?}, nfdump {nfdumps:?}"));
        }
        if Some(key) == last && !mine.is_subset(&at(all)) {
            return Err(format!(
                "at {order} = {key} (cut by -n): ours {mine:?} not all in nfdump's {:?}",
                at(all)
            ));
        }
    }
    Ok(())
}

#[test]
fn top_ranks_what_nfdump_s_ranks() -> anyhow::Result<()> {
    require("nfcapd");
    require("nfdump");
    let tmp = tempfile::tempdir()?;
    let node = Standalone::start(flowfold(), &tmp.path().join("data"), &[])?;
    let capture = tmp.path().join("nfcapd");
    let collector = Nfcapd::start(&capture)?;
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        - 600_000;
    for target in [node.flow_addr(), collector.addr] {
        let summary = generate(&[
            "--target",
            &target.to_string(),
            "--exporters",
            "2",
            "--flows",
            &FLOWS.to_string(),
            "--rate",
            "20000",
            "--seed",
            "3",
            "--formats",
            "ipfix",
            "--v6-share",
            "0.15",
            "--start-time",
            &start.to_string(),
        ])?;
        ensure!(summary["flows"].as_u64() == Some(FLOWS), "generator summary: {summary}");
    }
    let stored: u64 = collector.stop_and_read()?.values().map(|t| t.flows).sum();
    ensure!(stored == FLOWS, "nfcapd stored {stored} of {FLOWS} flows");
    wait_for("flowfold to store every flow", Duration::from_secs(20), || {
        (stored_count(&node).ok()? == FLOWS).then_some(())
    })?;

    let mut differences = Vec::new();
    for &case in CASES {
        let ours = parse(&top(&node, case, "csv", &[])?)?;
        let theirs = parse(&nfdump(&capture, case, true)?)?;
        let all = parse(&nfdump(&capture, (case.0, case.1, 0, case.3), true)?)?;
        ensure!(
            theirs.len() > 1 && all.len() > theirs.len() / 2,
            "{case:?}: nfdump ranked only {theirs:?}"
        );
        if let Err(e) = same_ranking(case.1, &ours, &theirs, &all) {
            differences.push(format!("{case:?}: {e}"));
        }
    }
    // A profile channel ranks what nfdump ranks with the channel's filter.
    create_web_profiles(node.ready.metrics)?;
    for (channel, filter) in [
        ("https", "proto tcp and dst port 443"),
        ("v6", "proto tcp and dst port 443 and ipv6"),
    ] {
        let profile = if channel == "v6" { "web_v6" } else { "web" };
        let flags = ["--profile", profile, "--channel", channel];
        let ours = parse(&top(&node, ("srcip", "bytes", 10, None), "csv", &flags)?)?;
        let case = ("srcip", "bytes", 10, Some(filter));
        let theirs = parse(&nfdump(&capture, case, true)?)?;
        let all = parse(&nfdump(&capture, (case.0, case.1, 0, case.3), true)?)?;
        ensure!(theirs.len() > 1, "{case:?}: nfdump ranked only {theirs:?}");
        if let Err(e) = same_ranking(case.1, &ours, &theirs, &all) {
            differences.push(format!("profile {profile}.{channel}: {e}"));
        }
    }
    ensure!(
        differences.is_empty(),
        "flowfold top differs from nfdump -s:\n{}",
        differences.join("\n")
    );

    // The table and its summary line, as nfdump prints them (no ties among the protocols).
    let case = ("proto", "bytes", 10, Some("not proto icmp6"));
    let ours = top(&node, case, "table", &[])?;
    let theirs = nfdump(&capture, case, false)?;
    let summary = theirs
        .lines()
        .position(|l| l.starts_with("Summary:"))
        .context("no summary")?;
    let theirs: Vec<&str> = theirs.lines().take(summary + 1).collect();
    assert_eq!(ours.lines().collect::<Vec<_>>(), theirs);
    Ok(())
}
