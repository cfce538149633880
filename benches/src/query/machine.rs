//! Facts about the run for the report: the machine, the date, the flowfold version and the
//! command line.

use std::path::Path;
use std::process::Command;

/// `Run DATE on N cores (MODEL), kernel K`.
pub fn describe() -> String {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]).output().ok();
    let date = date
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let memory = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(String::new(), |kb| {
            format!(", {:.1} GiB RAM", kb as f64 / (1u64 << 20) as f64)
        });
    format!(
        "Run {date} on {cores} cores ({model}{memory}), kernel {}",
        read("/proc/sys/kernel/osrelease")
    )
}

/// The 1-minute load average (`/proc/loadavg`), to show whether other work shared the machine.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// First line of `flowfold --version`.
pub fn flowfold_version(flowfold: &Path) -> String {
    Command::new(flowfold)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "flowfold (unknown version)".into())
}

/// The command that reproduces this run.
pub fn command_line() -> String {
    let profile = if cfg!(debug_assertions) { "" } else { " --release" };
    // Set by cargo for each binary this file is compiled into.
    let bin = env!("CARGO_BIN_NAME");
    let mut parts = vec![format!("cargo run{profile} -p flowfold-benches --bin {bin} --")];
    parts.extend(std::env::args().skip(1));
    parts.join(" ")
}
