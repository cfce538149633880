//! The SQL suite: every `cases/*.slt` file runs against the fixture's flows (see `fixture.rs`)
//! through the query runner a Flight SQL client reaches (see `db.rs`); `distributed*.slt` files
//! run on the master of an in-process cluster holding the same flows (see `cluster.rs`). Files
//! whose name contains `rollups` run with the rollup rule on (a node's default); the others
//! plan over the flows, so their `EXPLAIN`s show the scans rollups do not take. On a master,
//! files whose name contains `one_thread` run with one query thread.
//!
//! `cargo test -p flowfold-flight --test slt` runs every file; `SLT_FILTER=time` runs only the
//! files whose name contains that text. Each file's result is printed with every failing record;
//! the process exits non-zero if any record failed (or no file matched the filter).
//!
//! Expected values compare after trimming trailing blanks only, so plan indentation matters.
//! Column types are checked too (`query IT` must return an integer and a text column).

mod cluster;
mod db;
mod fixture;
mod mask;
mod render;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use sqllogictest::{DefaultColumnType, Record, Runner, parse_file, strict_column_validator};

use cluster::Cluster;
use db::FlowDb;
use engine::profiles::ProfileCatalog;
use fixture::Fixture;

/// What running one file gave.
struct FileOutcome {
    /// Statement and query records run.
    records: usize,
    /// The failures, as sqllogictest prints them.
    failures: Vec<String>,
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("slt: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_all(filter().as_deref())) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("slt: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The file filter: `SLT_FILTER`, if set and not empty. Command-line arguments are ignored:
/// cargo hands every test binary the filters meant for the other tests.
fn filter() -> Option<String> {
    std::env::var("SLT_FILTER").ok().filter(|f| !f.is_empty())
}

/// Runs every selected file; `Ok(true)` if every record passed.
async fn run_all(filter: Option<&str>) -> Result<bool, String> {
    let files = case_files(filter)?;
    if files.is_empty() {
        return Err(format!(
            "no .slt file matches SLT_FILTER={}",
            filter.unwrap_or_default()
        ));
    }
    let fixture = Fixture::build()?;
    let cluster = Cluster::start(fixture.data_dir()).await?;
    let profiles = fixture::profiles()?;
    let mut failed_files = 0;
    for file in &files {
        let name = file_name(file);
        let outcome = match name.starts_with("distributed") {
            true => run_file(file, Target::Master(&cluster), &profiles).await?,
            false => run_file(file, Target::Node(fixture.data_dir()), &profiles).await?,
        };
        if outcome.failures.is_empty() {
            println!("slt {name}: ok ({} records)", outcome.records);
        } else {
            failed_files += 1;
            println!(
                "slt {name}: FAILED ({} of {} records)",
                outcome.failures.len(),
                outcome.records
            );
            for failure in &outcome.failures {
                println!("{failure}");
            }
        }
    }
    println!("slt: {} files, {failed_files} failed", files.len());
    // The line `scripts/test` totals, in the test harness's own words (one test per file).
    let verdict = if failed_files == 0 { "ok" } else { "FAILED" };
    println!(
        "test result: {verdict}. {} passed; {failed_files} failed",
        files.len() - failed_files
    );
    Ok(failed_files == 0)
}

/// The `.slt` files under `cases/` whose name contains `filter` (all without one), sorted.
fn case_files(filter: Option<&str>) -> Result<Vec<PathBuf>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt/cases");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let name = file_name(&path);
        if name.ends_with(".slt") && filter.is_none_or(|f| name.contains(f)) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The last component of `path` as text (empty if there is none).
fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// What a file's queries run against.
enum Target<'a> {
    /// A standalone node over the fixture.
    Node(&'a Path),
    /// The master of the in-process cluster.
    Master(&'a Cluster),
}

/// Runs every record of one file on a fresh connection, going on past failures.
async fn run_file(file: &Path, target: Target<'_>, profiles: &Arc<ProfileCatalog>) -> Result<FileOutcome, String> {
    let profiles = Arc::clone(profiles);
    let rollups = file_name(file).contains("rollups");
    // A master may run with one thread: it still plans for its slaves.
    let threads = match file_name(file).contains("one_thread") {
        true => 1,
        false => db::TARGET_PARTITIONS,
    };
    let records = parse_file::<DefaultColumnType>(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let connect: Box<dyn Fn() -> Result<FlowDb, db::SltError> + Send + Sync> = match target {
        Target::Node(data_dir) => {
            let data_dir = data_dir.to_path_buf();
            Box::new(move || FlowDb::open(&data_dir, &profiles, rollups))
        }
        Target::Master(cluster) => {
            let (state, channels) = (Arc::clone(&cluster.state), Arc::clone(&cluster.channels));
            Box::new(move || FlowDb::master(&state, &channels, &profiles, rollups, threads))
        }
    };
    let mut runner = Runner::new(move || std::future::ready(connect()));
    runner.with_normalizer(|value: &String| value.trim_end().to_string());
    runner.with_column_validator(strict_column_validator);
    let mut outcome = FileOutcome {
        records: 0,
        failures: Vec::new(),
    };
    for record in records {
        match record {
            Record::Halt { .. } => break,
            Record::Statement { .. } | Record::Query { .. } => outcome.records += 1,
            _ => {}
        }
        if let Err(e) = runner.run_async(record).await {
            outcome.failures.push(e.display(false).to_string());
        }
    }
    runner.shutdown_async().await;
    Ok(outcome)
}
