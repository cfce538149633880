//! `flowfold-query-bench --profiles`: the profile benchmark of issue 6, over the query
//! benchmark's data set on one standalone node. A profile channel is a view (a filter over
//! `live.flows` inlined into the plan), so the benchmark checks the two claims that follow:
//!
//! - **usable the moment it is created, no copy**: each profile is created through the node's
//!   admin endpoint (`POST /profiles`, timed), its channel is queried at once (time to first
//!   answer, checked against the hand-written query), and no file of the data directory but the
//!   catalog (`profiles.db*`) may change;
//! - **no overhead**: four query shapes over each channel against the same SQL over `live.flows`
//!   with the filter written by hand, in alternating rounds through Flight SQL, every answer
//!   compared; the ratio per query, and whether both have the same physical plan (`EXPLAIN`).
//!
//! - `workload`: the profiles, their channels with the hand-written filter, the query shapes.
//! - `admin`: the admin address, timed `/profiles` requests, data directory sizes.
//! - `rounds`: the alternating rounds and the answer check.
//! - `report`: the Markdown section.

mod admin;
mod report;
mod rounds;
mod workload;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use engine::profiles::Profile;

use self::admin::DirSizes;
use self::report::{Created, Inputs, Plans};
use self::workload::{Pair, Shape};
use crate::args::Args;
use crate::dataset::Dataset;
use crate::machine;
use crate::node::Node;

/// Name of the node's process (its logs and ready file in the log directory).
const NODE: &str = "flowfold";

/// Runs the profile benchmark on `dataset` and returns its Markdown section.
pub fn run(args: &Args, dataset: &Dataset, threads: usize, log_dir: &Path) -> anyhow::Result<String> {
    let data = &dataset.data_dir;
    admin::remove_catalog(data)?;
    let load_before = machine::load_average();
    let mut node = Node::start(&args.flowfold, data, threads, log_dir)?;
    let admin_addr = admin::admin_address(log_dir, NODE)?;
    eprintln!(
        "flowfold pid {}, admin {admin_addr}; {threads} query threads; profiles, then {} warm-up + {} timed rounds",
        node.pid(),
        args.warmup,
        args.runs
    );
    // One query reading a column of every file, so that the first channel query does not pay the
    // node's cold start (file listing, footers) that the hand-written one after it would not.
    let (warm, _) = node.run("SELECT sum(bytes) AS b FROM live.flows")?;
    eprintln!("node warmed up in {:.0} ms", rounds::ms(warm));

    let profiles = workload::profiles();
    let channels: Vec<_> = profiles.iter().map(|(_, c)| c.clone()).collect();
    let before = DirSizes::of(data)?;
    let mut created = Vec::new();
    for (i, (profile, channel)) in profiles.iter().enumerate() {
        created.push(create(
            &mut node,
            admin_addr,
            profile,
            &workload::pair(i, channel, Shape::Count, &dataset.spec),
        )?);
    }
    let after_create = DirSizes::of(data)?;
    no_copy(&before, &after_create, "creating the profiles and querying them once")?;

    let pairs = workload::pairs(&channels, &dataset.spec);
    let cpu_before = node.cpu_seconds()?;
    let measured = rounds::run(&pairs, &mut node, args.warmup, args.runs)?;
    let cpu_rounds = node.cpu_seconds()? - cpu_before;
    let load_after = machine::load_average();
    let plans = pairs
        .iter()
        .map(|pair| plans(&mut node, pair, &channels[pair.channel].table))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(dir) = &args.explain {
        explain(dir, &pairs, &mut node)?;
    }
    let after_rounds = DirSizes::of(data)?;
    no_copy(&before, &after_rounds, "the timed rounds")?;

    // Leave the data set as the query benchmark expects it: children first.
    let mut deleted = Vec::new();
    for (profile, _) in profiles.iter().rev() {
        let (took, _) = admin::request(admin_addr, "DELETE", &format!("/profiles/{}", profile.name), None)?;
        deleted.push((profile.name.clone(), rounds::ms(took)));
    }
    deleted.reverse();
    node.stop()?;

    Ok(report::markdown(&Inputs {
        command: machine::command_line(),
        machine: machine::describe(),
        load: (load_before, load_after),
        flowfold_version: machine::flowfold_version(&args.flowfold),
        threads,
        warmup: args.warmup,
        runs: args.runs,
        dataset,
        channels: &channels,
        created: &created,
        deleted: &deleted,
        sizes: (&before, &after_create, &after_rounds),
        pairs: &pairs,
        measured: &measured,
        plans: &plans,
        cpu_rounds,
    }))
}

/// Creates `profile` and queries its channel at once (`first`: its `count(*)`), then the same
/// count written by hand; the answers must agree.
fn create(
    node: &mut Node,
    admin_addr: std::net::SocketAddr,
    profile: &Profile,
    first: &Pair,
) -> anyhow::Result<Created> {
    let body = serde_json::to_string(profile)?;
    let started = Instant::now();
    let (create, answer) = admin::request(admin_addr, "POST", "/profiles", Some(&body))?;
    let (query, view) = node
        .run(&first.view_sql)
        .with_context(|| format!("the first query on {} right after creating it", first.name))?;
    let to_answer = started.elapsed();
    let stored: Profile = serde_json::from_str(&answer).context("reading the created profile")?;
    let (hand, hand_rows) = node.run(&first.hand_sql)?;
    rounds::check(&first.name, &view, &hand_rows)?;
    let flows = view
        .first()
        .and_then(|row| row.first())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("{} gave no count", first.name))?;
    eprintln!(
        "created {} (catalog version {}) in {:.1} ms; first answer {:.1} ms later ({flows} flows); by hand {:.1} ms",
        profile.name,
        stored.version,
        rounds::ms(create),
        rounds::ms(query),
        rounds::ms(hand)
    );
    Ok(Created {
        profile: profile.name.clone(),
        version: stored.version,
        create_ms: rounds::ms(create),
        first_ms: rounds::ms(query),
        to_answer_ms: rounds::ms(to_answer),
        hand_ms: rounds::ms(hand),
        flows,
    })
}

/// Fails if a file of the data directory other than the catalog appeared, went or changed size.
fn no_copy(before: &DirSizes, after: &DirSizes, during: &str) -> anyhow::Result<()> {
    let changed = before.changed_besides_catalog(after);
    if !changed.is_empty() {
        bail!(
            "{during} changed files of the data directory besides the catalog:\n  {}",
            changed.join("\n  ")
        );
    }
    Ok(())
}

/// The physical plans (`EXPLAIN`) of both sides of `pair`, the channel's with its column
/// qualifier (`sum(web.https.bytes)`) written as the hand-written query's (`live.flows.`), the
/// only difference a view inlined into the plan should leave.
fn plans(node: &mut Node, pair: &Pair, table: &str) -> anyhow::Result<Plans> {
    let physical = |node: &mut Node, sql: &str| -> anyhow::Result<String> {
        let (_, rows) = node.run(&format!("EXPLAIN {sql}"))?;
        rows.iter()
            .find(|row| row.first().is_some_and(|t| t == "physical_plan"))
            .and_then(|row| row.get(1).cloned())
            .with_context(|| format!("no physical_plan row in EXPLAIN {sql}"))
    };
    Ok(Plans {
        view: physical(node, &pair.view_sql)?.replace(&format!("{table}."), "live.flows."),
        hand: physical(node, &pair.hand_sql)?,
    })
}

/// Writes `NAME.view.txt` and `NAME.hand.txt` (`/` in the name as `__`) with `EXPLAIN ANALYZE`.
fn explain(dir: &Path, pairs: &[Pair], node: &mut Node) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for pair in pairs {
        for (side, sql) in [("view", &pair.view_sql), ("hand", &pair.hand_sql)] {
            let text = node.explain(sql)?;
            let path = dir.join(format!("{}.{side}.txt", pair.name.replace(['/', '.'], "__")));
            std::fs::write(&path, format!("{sql}\n\n{text}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    eprintln!("EXPLAIN ANALYZE of every pair in {}", dir.display());
    Ok(())
}
