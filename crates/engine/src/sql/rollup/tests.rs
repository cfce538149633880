//! Rollups give exactly the answer of the flows: every query runs with and without the rule over
//! the same data directory (sealed parts with rollups, a part whose flows lie outside its window,
//! and open windows), on skewed flows with IPv6 addresses and nulls.

use arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::addr::{from_ip, from_v4_u32};
use crate::clock::now_ms;
use crate::layout::window_start;
use crate::sql::{QueryResources, flow_session};
use crate::{FlowBatchBuilder, FlowRecord, FlowStore, StoreConfig};

const WINDOW_MS: i64 = 300_000;

/// Skewed flows of 3 exporters from `first` on, one every `step` ms.
fn flows(rng: &mut SmallRng, first: i64, step: i64, n: usize) -> Vec<FlowRecord> {
    (0..n)
        .map(|i| {
            // Squaring a uniform draw skews towards small host numbers.
            let host = |rng: &mut SmallRng| (rng.random::<f64>().powi(3) * 300.0) as u32;
            let addr = |rng: &mut SmallRng, net: u32| {
                let h = host(rng);
                match rng.random_range(0..20) {
                    0 => None,
                    1 | 2 => Some(from_ip(format!("2001:db8::{h:x}").parse().unwrap())),
                    _ => Some(from_v4_u32(net | h)),
                }
            };
            let maybe = |rng: &mut SmallRng, range: std::ops::Range<u64>| {
                let v = rng.random_range(range);
                (rng.random_range(0..25) != 0).then_some(v)
            };
            FlowRecord {
                flow_start: first + i as i64 * step,
                exporter: from_v4_u32(0x0a00_0001 + rng.random_range(0..3)),
                src_addr: addr(rng, 0x0a01_0000),
                dst_addr: addr(rng, 0xc000_0200),
                dst_port: [Some(443), Some(80), Some(53), None, Some(22)][rng.random_range(0..5)],
                protocol: [Some(6), Some(17), Some(1), None][rng.random_range(0..4)],
                packets: maybe(rng, 1..50),
                bytes: maybe(rng, 40..1_500_000),
                ..FlowRecord::default()
            }
        })
        .collect()
}

/// A store over `dir` that does not wait for fsync.
fn open_store(dir: &std::path::Path) -> FlowStore {
    let config = StoreConfig {
        fsync_interval: std::time::Duration::ZERO,
        ..StoreConfig::new(dir)
    };
    FlowStore::open(config).unwrap().0
}

fn append(store: &mut FlowStore, records: &[FlowRecord]) {
    let mut builder = FlowBatchBuilder::with_capacity(records.len());
    records.iter().for_each(|r| builder.append(r));
    store.append(&builder.finish()).unwrap();
}

/// The answer as text, with the columns' names, types and nullability as planned and as
/// delivered (Flight SQL clients compare the two).
async fn answer(ctx: &SessionContext, sql: &str) -> String {
    let frame = ctx.sql(sql).await.unwrap();
    let planned = frame.schema().as_arrow().clone();
    let batches = frame.collect().await.unwrap();
    let delivered = batches.first().map(|b| b.schema());
    let columns = |fields: &arrow::datatypes::Fields| {
        fields
            .iter()
            .map(|f| format!("{} {} {}", f.name(), f.data_type(), f.is_nullable()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(delivered) = &delivered {
        assert_eq!(columns(planned.fields()), columns(delivered.fields()), "{sql}");
    }
    format!(
        "{}\n{}",
        columns(planned.fields()),
        pretty_format_batches(&batches).unwrap()
    )
}

/// Sessions over `dir` with rollups used and without.
fn sessions(dir: &std::path::Path) -> (SessionContext, SessionContext) {
    let with = flow_session(dir, &QueryResources::default(), None).unwrap();
    let without = QueryResources {
        rollups: false,
        ..QueryResources::default()
    };
    (with, flow_session(dir, &without, None).unwrap())
}

async fn plan(ctx: &SessionContext, sql: &str) -> String {
    answer(ctx, &format!("EXPLAIN {sql}")).await
}

#[tokio::test]
async fn rollups_answer_exactly_what_the_flows_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(7);
    let now = now_ms();
    let base = window_start(now, WINDOW_MS) - 8 * WINDOW_MS;
    // Eight sealed windows, and flows dated 2 h ahead (filed in the current window, so that
    // part's span reaches beyond its window).
    let mut store = open_store(dir.path());
    append(&mut store, &flows(&mut rng, base, 97, 8 * WINDOW_MS as usize / 97));
    append(&mut store, &flows(&mut rng, now + 7_200_000, 1, 300));
    let closed = store.close().unwrap();
    assert_eq!(closed.stats.rollup_errors, 0);
    assert!(closed.stats.rollup_bytes > 0);
    // Open windows: flows of the current window, still in the log.
    let mut store = open_store(dir.path());
    append(&mut store, &flows(&mut rng, window_start(now, WINDOW_MS), 7, 500));
    store.maintain(now).unwrap();

    let (with, without) = sessions(dir.path());
    let ts = |ms: i64| format!("to_timestamp_millis({ms})");
    let w2 = base + 2 * WINDOW_MS;
    let w5 = base + 5 * WINDOW_MS;
    // (query, reads rollups)
    let cases = [
        (
            "SELECT src_addr, sum(bytes) AS b, count(*) AS n, sum(packets) AS p FROM flows GROUP BY src_addr ORDER BY src_addr".to_string(),
            true,
        ),
        ("SELECT count(*) AS n, sum(bytes) AS b FROM flows".to_string(), true),
        // Answered from the files' statistics instead.
        ("SELECT count(*) AS n FROM flows".to_string(), false),
        (
            format!(
                "SELECT dst_addr, sum(bytes) AS b FROM flows WHERE flow_start >= {} AND flow_start < {} GROUP BY dst_addr ORDER BY dst_addr",
                ts(w2),
                ts(w5)
            ),
            true,
        ),
        (
            format!(
                "SELECT ip_text(dst_addr) AS d, count(*) AS n FROM flows WHERE flow_start > {} AND flow_start <= {} GROUP BY ip_text(dst_addr) ORDER BY d",
                ts(w2 + 12_345),
                ts(w5 + 6_789)
            ),
            true,
        ),
        (
            "SELECT protocol, dst_port, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY protocol, dst_port ORDER BY protocol, dst_port".to_string(),
            true,
        ),
        (
            "SELECT dst_port, sum(packets) AS p FROM flows WHERE protocol = 6 OR protocol IS NULL GROUP BY dst_port ORDER BY dst_port".to_string(),
            true,
        ),
        (
            "SELECT exporter, count(*) AS n FROM flows WHERE exporter = ip('10.0.0.2') GROUP BY exporter ORDER BY exporter".to_string(),
            true,
        ),
        (
            "SELECT src_addr, count(*) AS n FROM exporter_10_0_0_3 GROUP BY src_addr ORDER BY src_addr".to_string(),
            true,
        ),
        (
            format!("SELECT count(*) AS n FROM flows WHERE flow_start >= {}", ts(now + 3_600_000)),
            true,
        ),
        // Not answerable from a rollup: the same answer, from the flows.
        (
            "SELECT src_addr, count(*) AS n FROM flows WHERE dst_port = 443 GROUP BY src_addr ORDER BY src_addr".to_string(),
            false,
        ),
        (
            "SELECT src_addr, max(bytes) AS m FROM flows GROUP BY src_addr ORDER BY src_addr".to_string(),
            false,
        ),
        (
            // A volatile condition is drawn per flow, never per rollup row (this one always
            // holds, so the answers compare).
            "SELECT count(*) AS n FROM flows WHERE random() < 2.0".to_string(),
            false,
        ),
        (
            "SELECT src_addr, count(DISTINCT dst_port) AS n FROM flows GROUP BY src_addr ORDER BY src_addr".to_string(),
            false,
        ),
        (
            "SELECT date_bin(INTERVAL '5 minutes', flow_start) AS t, count(*) AS n FROM flows GROUP BY t ORDER BY t".to_string(),
            false,
        ),
    ];
    for (sql, rolled) in &cases {
        let expected = answer(&without, sql).await;
        assert!(expected.lines().count() > 4, "{sql} gives rows:\n{expected}");
        assert_eq!(answer(&with, sql).await, expected, "{sql}");
        let explained = plan(&with, sql).await;
        assert_eq!(explained.contains(".rollup"), *rolled, "{sql}:\n{explained}");
        assert!(!plan(&without, sql).await.contains(".rollup"));
    }
    drop(store);
}

/// The columns each file or memory source of `plan` reads.
fn source_columns(plan: &std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> Vec<Vec<String>> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    let mut read = Vec::new();
    plan.apply(|node| {
        if node.name() == "DataSourceExec" {
            read.push(node.schema().fields().iter().map(|f| f.name().clone()).collect());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    read
}

/// A slave plans its scan with `TableProvider::scan` alone, without the physical optimizer that
/// would push projections into the sources: the rollup table must read only the columns asked
/// for (and `flow_start` where it applies the time range), from rollups and from flows alike.
#[tokio::test]
async fn an_unoptimized_rollup_scan_reads_only_the_columns_asked_for() {
    use datafusion::catalog::TableProvider;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::{col, lit};
    use datafusion::prelude::SessionConfig;

    use crate::rollup::RollupKind;
    use crate::schema::col as flow_col;
    use crate::snapshot::Channels;
    use crate::sql::FlowsTable;
    use crate::sql::rollup::{RollupTable, rollup_table_schema};

    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(11);
    let now = now_ms();
    let base = window_start(now, WINDOW_MS) - 4 * WINDOW_MS;
    let mut store = open_store(dir.path());
    append(&mut store, &flows(&mut rng, base, 97, 4 * WINDOW_MS as usize / 97));
    store.close().unwrap();

    let table = RollupTable::new(FlowsTable::new(dir.path(), Channels::All), RollupKind::Port);
    let schema = rollup_table_schema(RollupKind::Port);
    let wanted = vec![
        schema.index_of(flow_col::DST_PORT).unwrap(),
        schema.index_of(crate::rollup::FLOWS_COL).unwrap(),
    ];
    // From inside the second window: the first part is skipped, the second read as flows, the
    // others from their rollups.
    let from = ScalarValue::TimestampMillisecond(Some(base + WINDOW_MS + 1), Some("UTC".into()));
    let filters = [col(flow_col::FLOW_START).gt_eq(lit(from))];
    let state = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2)).state();
    let plan = table.scan(&state, Some(&wanted), &filters, None).await.unwrap();

    let read = source_columns(&plan);
    let rollup_reads = ["dst_port", "flows"].map(String::from).to_vec();
    let flow_reads = ["flow_start", "dst_port"].map(String::from).to_vec();
    assert!(read.contains(&rollup_reads), "{read:?}");
    assert!(read.contains(&flow_reads), "{read:?}");
    assert!(read.iter().all(|r| *r == rollup_reads || *r == flow_reads), "{read:?}");
}

#[tokio::test]
async fn time_bounds_skip_parts_whose_rollup_span_misses_and_keep_flows_filed_away() {
    use crate::snapshot::FlowSnapshot;
    use crate::sql::rollup::bounds::TimeRange;
    use crate::sql::table::parts_in_range;

    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(11);
    let now = now_ms();
    let base = window_start(now, WINDOW_MS) - 8 * WINDOW_MS;
    // Eight sealed windows, and 300 flows dated 2 h ahead: filed in the current window's part,
    // whose rollups' span reaches them.
    let dated = flows(&mut rng, base, 97, 8 * WINDOW_MS as usize / 97);
    let ahead = flows(&mut rng, now + 7_200_000, 1, 300);
    let mut store = open_store(dir.path());
    append(&mut store, &dated);
    append(&mut store, &ahead);
    store.close().unwrap();

    let snapshot = FlowSnapshot::take(dir.path()).unwrap();
    let (w2, w5) = (base + 2 * WINDOW_MS, base + 5 * WINDOW_MS);
    let range = |first_ms, last_ms| TimeRange { first_ms, last_ms };
    let kept = parts_in_range(&snapshot, &range(w2, w5 - 1));
    assert!(
        !kept.is_empty() && kept.len() * 2 < snapshot.parquet_files.len(),
        "{} of {} parts kept",
        kept.len(),
        snapshot.parquet_files.len()
    );
    let later = parts_in_range(&snapshot, &range(now + 7_000_000, i64::MAX));
    assert!(!later.is_empty() && later.len() < kept.len(), "{later:?}");

    // The answers are the flows' own, read through the flow table (rollups off).
    let ctx = flow_session(
        dir.path(),
        &QueryResources {
            rollups: false,
            ..QueryResources::default()
        },
        None,
    )
    .unwrap();
    let all: Vec<&FlowRecord> = dated.iter().chain(&ahead).collect();
    let count = |first: i64, last: i64| all.iter().filter(|r| (first..last).contains(&r.flow_start)).count();
    for (first, last) in [(w2, w5), (now + 7_000_000, now + 7_300_000), (base, now + 7_300_000)] {
        let sql = format!(
            "SELECT count(*) AS n FROM flows WHERE flow_start >= to_timestamp_millis({first}) AND flow_start < to_timestamp_millis({last})"
        );
        let got = answer(&ctx, &sql).await;
        assert!(got.contains(&format!("| {} ", count(first, last))), "{sql}\n{got}");
    }
}

/// The summed rollups of `kind` (e.g. "src") under `dir` whose stems start with `prefix`
/// ("hour-", "day-").
fn summed_rollups(dir: &std::path::Path, kind: &str, prefix: &str) -> Vec<std::path::PathBuf> {
    crate::layout::list_files(dir)
        .unwrap()
        .into_iter()
        .filter_map(|(_, p)| crate::rollup::RollupFile::parse(&p))
        .filter(|r| r.kind.name() == kind && crate::rollup::PartSet::of_rollup(r).is_some())
        .map(|r| r.path)
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn whole_days_and_hours_read_their_summed_rollups_and_stale_ones_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(11);
    let (hour, day) = (3_600_000, 86_400_000);
    // 22:00 three days ago, for three hours: two hours of one day, the first of the next.
    let base = (now_ms() / day - 3) * day + 22 * hour;
    let mut store = open_store(dir.path());
    append(&mut store, &flows(&mut rng, base, 211, 3 * hour as usize / 211));
    let closed = store.close().unwrap();
    assert_eq!(closed.stats.rollup_errors, 0);
    // Per exporter (3): each hour's parts summed; the first day's two hours summed again (the
    // second day has one hour: one file, nothing to sum).
    assert_eq!(summed_rollups(dir.path(), "dst", "hour-").len(), 9);
    assert_eq!(summed_rollups(dir.path(), "dst", "day-").len(), 3);

    let (with, without) = sessions(dir.path());
    let ts = |ms: i64| format!("to_timestamp_millis({ms})");
    let query = |range: &str| {
        format!(
            "SELECT dst_addr, sum(bytes) AS b, count(*) AS n FROM flows {range} GROUP BY dst_addr ORDER BY dst_addr"
        )
    };
    let between = |from: i64, to: i64| format!("WHERE flow_start >= {} AND flow_start < {}", ts(from), ts(to));
    let first_day = base - 22 * hour;
    // (query, reads daily rollups, hourly ones, parts' ones)
    let cases = [
        (query(""), true, true, false),
        // The first day whole: its daily rollup alone.
        (query(&between(first_day, first_day + day)), true, false, false),
        // From 22:20: the rest of that hour from its parts, then two whole hours.
        (query(&between(base + 1_200_000, base + 3 * hour)), false, true, true),
    ];
    for (sql, days, hours, parts) in &cases {
        let expected = answer(&without, sql).await;
        assert!(expected.lines().count() > 4, "{sql} gives rows:\n{expected}");
        assert_eq!(answer(&with, sql).await, expected, "{sql}");
        let explained = plan(&with, sql).await;
        let reads = (
            explained.contains("/day-"),
            explained.contains("/hour-"),
            explained.contains("Z.dst."),
        );
        assert_eq!(reads, (*days, *hours, *parts), "{sql}:\n{explained}");
    }

    // A summed rollup of another part set (a part sealed since, or expired) is not read.
    for path in [
        summed_rollups(dir.path(), "dst", "hour-"),
        summed_rollups(dir.path(), "dst", "day-"),
    ]
    .concat()
    {
        let name = path.file_name().unwrap().to_str().unwrap();
        let (level, rest) = name.split_once('-').unwrap();
        let (parts, rest) = rest.split_once('-').unwrap();
        let other = format!("{level}-{}-{rest}", parts.parse::<usize>().unwrap() + 1);
        std::fs::rename(&path, path.with_file_name(other)).unwrap();
    }
    let whole = &cases[0].0;
    assert_eq!(answer(&with, whole).await, answer(&without, whole).await);
    let explained = plan(&with, whole).await;
    assert!(
        !explained.contains("/hour-") && !explained.contains("/day-"),
        "{explained}"
    );

    // A store opened again puts them right (between windows, on its seal thread).
    let store = open_store(dir.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !plan(&with, whole).await.contains("/day-") {
        assert!(std::time::Instant::now() < deadline, "summed rollups not rebuilt");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(answer(&with, whole).await, answer(&without, whole).await);
    drop(store);
}
