//! Tests of `nfdump()` over a real data directory (sealed Parquet windows of two exporters), in
//! the session every query runs in: the catalog's `flows` and channel tables.

use datafusion::prelude::SessionContext;
use tempfile::TempDir;

use crate::sql::functions::test_util::{column_text, explain, query_err};
use crate::sql::test_flows::{flows, write_flows};
use crate::sql::{QueryResources, flow_session};

/// A data directory holding [`flows`] as sealed Parquet, and a session over it.
fn flow_dir() -> (TempDir, SessionContext) {
    let dir = write_flows(&flows());
    let ctx = flow_session(dir.path(), &QueryResources::default(), None).unwrap();
    (dir, ctx)
}

async fn count(ctx: &SessionContext, sql: &str) -> u64 {
    let got = column_text(ctx, sql).await;
    got[0].as_deref().unwrap().parse().unwrap()
}

/// The physical plan of `EXPLAIN sql`.
async fn physical_plan(ctx: &SessionContext, sql: &str) -> String {
    let rows = explain(ctx, sql).await;
    rows.into_iter()
        .find(|(kind, _)| kind == "physical_plan")
        .map(|(_, plan)| plan)
        .unwrap_or_else(|| panic!("no physical plan for {sql}"))
}

#[tokio::test]
async fn selects_what_the_equivalent_sql_selects() {
    let (_dir, ctx) = flow_dir();
    let cases = [
        (
            "proto tcp and port 443",
            "protocol = 6 AND (src_port = 443 OR dst_port = 443)",
            10,
        ),
        ("proto udp", "protocol = 17", 30),
        (
            "dst port in [80 22] and packets > 20",
            "dst_port IN (80, 22) AND packets > 20",
            10,
        ),
        (
            "src net 10.1.0.0/16 and not dst host 192.0.2.0",
            "src_addr BETWEEN ip('10.1.0.0') AND ip('10.1.255.255') AND dst_addr <> ip('192.0.2.0')",
            32,
        ),
        ("any", "true", 60),
    ];
    for (filter, sql, want) in cases {
        let ours = count(&ctx, &format!("SELECT count(*) FROM flows WHERE nfdump('{filter}')")).await;
        let theirs = count(&ctx, &format!("SELECT count(*) FROM flows WHERE {sql}")).await;
        assert_eq!((ours, theirs), (want, want), "{filter}");
    }
}

#[tokio::test]
async fn plans_and_prunes_like_hand_written_sql() {
    let (_dir, ctx) = flow_dir();
    let ours = physical_plan(
        &ctx,
        "SELECT count(*) FROM flows WHERE nfdump('proto tcp and port 443')",
    )
    .await;
    let theirs = physical_plan(
        &ctx,
        "SELECT count(*) FROM flows WHERE protocol = 6 AND (src_port = 443 OR dst_port = 443)",
    )
    .await;
    assert!(!ours.contains("nfdump"), "{ours}");
    assert!(
        ours.contains("pruning_predicate"),
        "the Parquet scan prunes with it: {ours}"
    );
    assert_eq!(ours, theirs);
}

#[tokio::test]
async fn columns_resolve_through_aliases_channels_and_joins() {
    let (_dir, ctx) = flow_dir();
    let alias = "SELECT count(*) FROM flows f WHERE nfdump('proto tcp') AND f.dst_port <> 22";
    assert_eq!(count(&ctx, alias).await, 20);
    let channel = "SELECT count(*) FROM exporter_10_0_0_2 WHERE nfdump('proto udp and dst port 53')";
    assert_eq!(count(&ctx, channel).await, 20);
    let channel = "SELECT count(*) FROM live.exporter_10_0_0_1 AS c WHERE nfdump('proto udp')";
    assert_eq!(count(&ctx, channel).await, 10);
    // A join whose other side has none of the flow columns.
    let join = "SELECT count(*) FROM flows f JOIN (VALUES (443), (80)) AS p(port) ON f.dst_port = p.port \
                WHERE nfdump('src host 10.1.0.0')";
    assert_eq!(count(&ctx, join).await, 10);
    // In a projection, and with a constant expression as its text.
    let projected = "SELECT count(*) FROM (SELECT nfdump('proto ' || 'udp') AS udp FROM flows) WHERE udp";
    assert_eq!(count(&ctx, projected).await, 30);
}

#[tokio::test]
async fn a_bad_filter_is_a_planning_error_with_its_position() {
    let (_dir, ctx) = flow_dir();
    let err = query_err(
        &ctx,
        "SELECT count(*) FROM flows WHERE nfdump('proto tcp and port http')",
    )
    .await;
    assert!(
        err.contains("nfdump(): at 19: expected a port number after 'port', found 'http'"),
        "{err}"
    );
    let err = query_err(&ctx, "SELECT nfdump('proto') FROM flows").await;
    assert!(
        err.contains("nfdump(): at 5: expected a protocol name or number after 'proto', found end of filter"),
        "{err}"
    );
}

#[tokio::test]
async fn the_filter_must_be_a_constant_string() {
    let (_dir, ctx) = flow_dir();
    let err = query_err(&ctx, "SELECT count(*) FROM flows WHERE nfdump(proto_name(protocol))").await;
    assert!(err.contains("nfdump(): the filter must be a constant string"), "{err}");
    let err = query_err(&ctx, "SELECT count(*) FROM flows WHERE nfdump(NULL)").await;
    assert!(
        err.contains("nfdump(): the filter must be a constant string, got NULL"),
        "{err}"
    );
    let err = query_err(&ctx, "SELECT count(*) FROM flows WHERE nfdump(6)").await;
    assert!(err.contains("nfdump(): filter must be a string, got Int64"), "{err}");
}

#[tokio::test]
async fn missing_or_ambiguous_columns_are_named() {
    let (_dir, ctx) = flow_dir();
    let err = query_err(
        &ctx,
        "SELECT count(*) FROM (SELECT flow_start FROM flows) WHERE nfdump('proto tcp')",
    )
    .await;
    assert!(
        err.contains("nfdump(): the filter reads column 'protocol', which the query's input does not have"),
        "{err}"
    );
    let err = query_err(
        &ctx,
        "SELECT count(*) FROM flows a JOIN exporter_10_0_0_2 b ON a.src_addr = b.src_addr WHERE nfdump('proto udp')",
    )
    .await;
    assert!(
        err.contains("nfdump(): column 'protocol' is ambiguous here: a, b all have it"),
        "{err}"
    );
    let err = query_err(&ctx, "SELECT nfdump('proto udp')").await;
    assert!(err.contains("reads column 'protocol'"), "{err}");
}

#[tokio::test]
async fn negation_inside_the_filter_keeps_nfdumps_meaning_for_absent_fields() {
    let (_dir, ctx) = flow_dir();
    // No flow has an AS number: inside the filter, `not` passes them all, as nfdump does ...
    assert_eq!(
        count(&ctx, "SELECT count(*) FROM flows WHERE nfdump('not src as 64500')").await,
        60
    );
    // ... while SQL's NOT of the call, like NOT (src_as = 64500), is NULL for them.
    assert_eq!(
        count(&ctx, "SELECT count(*) FROM flows WHERE NOT nfdump('src as 64500')").await,
        0
    );
}
