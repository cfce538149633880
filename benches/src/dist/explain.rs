//! Plans: the master's distributed plan of each query (the `distributed_plan` row of `EXPLAIN`),
//! its shape in a word for the report, and with `--explain DIR` the plans and both sides'
//! `EXPLAIN ANALYZE` in files.

use std::path::Path;

use anyhow::Context;

use crate::node::Node;
use crate::workload::Work;

/// The `distributed_plan` row of `EXPLAIN sql` on the master.
pub fn distributed_plan(master: &mut Node, sql: &str) -> anyhow::Result<String> {
    let (_, rows) = master.run(&format!("EXPLAIN {sql}"))?;
    rows.iter()
        .find(|row| row.first().is_some_and(|t| t == "distributed_plan"))
        .and_then(|row| row.get(1).cloned())
        .with_context(|| format!("no distributed_plan row in the master's EXPLAIN of {sql}"))
}

/// How the master runs a plan: merged on the proxy (partially, or finished there with its
/// top-N), shuffled across the slaves, or counted by each slave (asked by the master).
pub fn shape(plan: &str) -> &'static str {
    let merged = plan.contains("ProxyMergeExec");
    let shuffled = plan.contains("NetworkShuffleExec");
    if plan.contains("ClusterCountExec") {
        return "each slave's count, asked by the master -> Final";
    }
    // The proxy's stage: from its merge to the boundary of the stage below.
    let finished_on_proxy = plan
        .split_once("ProxyMergeExec")
        .and_then(|(_, proxy)| proxy.split("=> Network").next())
        .is_some_and(|proxy| proxy.contains("mode=Final"));
    match (merged, shuffled) {
        (true, false) if finished_on_proxy => "Partial -> proxy: Final and top-N",
        (true, false) => "Partial -> proxy -> Final",
        (false, true) => "shuffled across slaves",
        (true, true) => "proxy merge and shuffle",
        (false, false) => "other",
    }
}

/// Writes `NAME.plan.txt` (the distributed plan), `NAME.master.txt` and `NAME.standalone.txt`
/// (`EXPLAIN ANALYZE` on each side, or the error it gave) into `dir`.
pub fn write(
    dir: &Path,
    works: &[Work],
    plans: &[String],
    master: &mut Node,
    standalone: &mut Node,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (work, plan) in works.iter().zip(plans) {
        let sql = &work.query.sql;
        let analyze = |node: &mut Node| {
            node.explain(sql)
                .unwrap_or_else(|e| format!("EXPLAIN ANALYZE failed: {e:#}"))
        };
        let files = [
            ("plan", plan.clone()),
            ("master", analyze(master)),
            ("standalone", analyze(standalone)),
        ];
        for (what, text) in files {
            let path = dir.join(format!("{}.{what}.txt", work.query.name));
            std::fs::write(&path, format!("{sql}\n\n{text}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    eprintln!("plans and EXPLAIN ANALYZE of every query in {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn shapes_are_named_from_the_plan() {
        let below =
            "[Stage 1] => NetworkCoalesceExec\n AggregateExec: mode=PartialReduce\n AggregateExec: mode=Partial";
        assert_eq!(
            shape(&format!(
                "AggregateExec: mode=Final\n ProxyMergeExec: on=[p1]\n AggregateExec: mode=PartialReduce\n {below}"
            )),
            "Partial -> proxy -> Final"
        );
        assert_eq!(
            shape(&format!(
                "ProxyMergeExec: on=[p1]\n SortExec: TopK(fetch=10)\n AggregateExec: mode=Final\n {below}"
            )),
            "Partial -> proxy: Final and top-N"
        );
        assert_eq!(shape("NetworkShuffleExec"), "shuffled across slaves");
        assert_eq!(
            shape("AggregateExec: mode=Final\n ClusterCountExec: slaves=[s1, s2, s3]"),
            "each slave's count, asked by the master -> Final"
        );
        assert_eq!(shape("NetworkCoalesceExec"), "other");
    }
}
