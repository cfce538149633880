//! The README's first command: `flowfold demo` runs a whole local cluster in one process, feeds
//! it and answers SQL through the master.

use crate::flowfold;

#[test]
fn demo_runs_a_cluster_and_answers_through_the_master() -> anyhow::Result<()> {
    let out = std::process::Command::new(flowfold())
        .args(["demo", "--flows", "20000", "--rate", "100000"])
        .env("FLOWFOLD_LOG", "warn")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "demo failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "slave s1:",
        "slave s2:",
        "proxy p1:",
        "master: flight sql grpc://",
        "stored 20000 of 20000 flows",
        "| 20000 |",
        "Top talkers:",
        "ProxyMergeExec: on=[p1, master]",
        "SlaveScanExec: slaves=[s1]",
        "SlaveScanExec: slaves=[s2]",
        "Profile web",
        "| https   |",
        "sealed into",
    ] {
        anyhow::ensure!(stdout.contains(part), "no {part:?} in the demo's output:\n{stdout}");
    }
    Ok(())
}
