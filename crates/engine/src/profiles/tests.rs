//! Tests of the profile catalog: its checks, its file, and profiles as SQL views over a real
//! data directory (two exporters, see `sql::test_flows`).

use std::sync::Arc;

use datafusion::prelude::SessionContext;

use super::*;
use crate::sql::functions::test_util::{column_text, explain, query_err};
use crate::sql::test_flows::{flows, write_flows};
use crate::sql::{QueryResources, flow_session};

fn profile(name: &str, parent: &str, channels: &[(&str, ChannelFilter)]) -> Profile {
    Profile {
        name: name.into(),
        parent: parent.into(),
        description: String::new(),
        sources: Vec::new(),
        channels: channels
            .iter()
            .map(|(n, f)| ProfileChannel {
                name: (*n).into(),
                filter: f.clone(),
            })
            .collect(),
        span: None,
        retention: Retention::default(),
        version: 0,
    }
}

fn nf(text: &str) -> ChannelFilter {
    ChannelFilter::Nfdump(text.into())
}

fn sql(text: &str) -> ChannelFilter {
    ChannelFilter::Sql(text.into())
}

/// `web` (live): `https` = TCP to 443, `dns` = SQL port 53.
fn web() -> Profile {
    profile(
        "web",
        LIVE_PROFILE,
        &[
            ("https", nf("proto tcp and dst port 443")),
            ("dns", sql("dst_port = 53")),
        ],
    )
}

#[test]
fn bad_profiles_are_refused_naming_the_cause() {
    let catalog = ProfileCatalog::in_memory().unwrap();
    let err = |p: Profile| catalog.create(p).unwrap_err().to_string();
    assert_eq!(
        err(profile("Web", LIVE_PROFILE, &[("a", nf("any"))])),
        "bad name 'Web': a profile name starts with a letter a-z"
    );
    assert_eq!(
        err(profile("live", LIVE_PROFILE, &[("a", nf("any"))])),
        "bad name 'live': the name is reserved"
    );
    assert_eq!(
        err(profile("p", "nope", &[("a", nf("any"))])),
        "profile 'nope' does not exist"
    );
    assert_eq!(
        err(profile("p", LIVE_PROFILE, &[])),
        "profile 'p': a profile needs at least one channel"
    );
    assert_eq!(
        err(profile("p", LIVE_PROFILE, &[("a", nf("port http"))])),
        "profile 'p' channel 'a': nfdump filter: at 5: expected a port number after 'port', found 'http'"
    );
    assert!(err(profile("p", LIVE_PROFILE, &[("a", sql("no_such_column = 1"))])).contains("no_such_column"));
    assert!(err(profile("p", LIVE_PROFILE, &[("a", sql("dst_port + 1"))])).contains("not a boolean"));
    assert!(err(profile("p", LIVE_PROFILE, &[("a", sql("count(*) > 1"))])).contains("no aggregates"));
    assert_eq!(
        err(profile("p", LIVE_PROFILE, &[("flows", nf("any"))])),
        "bad name 'flows': 'flows' is the profile's table of all its channels"
    );
    assert_eq!(
        err(profile("p", LIVE_PROFILE, &[("a", nf("any")), ("a", nf("any"))])),
        "profile 'p': channel 'a' is given twice"
    );
    let mut bad_source = profile("p", LIVE_PROFILE, &[("a", nf("any"))]);
    bad_source.sources = vec!["router_one".into()];
    assert!(err(bad_source).starts_with("bad name 'router_one'"));
    assert!(catalog.snapshot().profiles.is_empty(), "nothing refused was stored");
    assert_eq!(catalog.snapshot().version, 0);
}

#[test]
fn changes_keep_the_tree_consistent() {
    let catalog = ProfileCatalog::in_memory().unwrap();
    catalog.create(web()).unwrap();
    let mut child = profile("web_lab", "web", &[("lab", nf("src net 10.1.0.0/16"))]);
    child.sources = vec!["https".into()];
    catalog.create(child.clone()).unwrap();
    assert_eq!(
        catalog.create(web()).unwrap_err().to_string(),
        "profile 'web' exists already"
    );

    let mut web_without_https = web();
    web_without_https.channels.remove(0);
    assert_eq!(
        catalog.update(web_without_https).unwrap_err().to_string(),
        "profile 'web': profile 'web_lab' reads its channel 'https'"
    );
    let mut cycle = web();
    cycle.parent = "web_lab".into();
    assert_eq!(
        catalog.update(cycle).unwrap_err().to_string(),
        "profile 'web': parent 'web_lab' would make a cycle"
    );
    child.sources = vec!["smtp".into()];
    assert_eq!(
        catalog.update(child).unwrap_err().to_string(),
        "profile 'web' has no channel 'smtp'"
    );
    assert_eq!(
        catalog.delete("web").unwrap_err().to_string(),
        "profile 'web': profiles web_lab are its children; delete them first"
    );
    assert_eq!(
        catalog
            .update(profile("x", LIVE_PROFILE, &[("a", nf("any"))]))
            .unwrap_err()
            .to_string(),
        "profile 'x' does not exist"
    );
    assert_eq!(catalog.delete("web_lab").unwrap(), 3);
    assert_eq!(catalog.delete("web").unwrap(), 4);
    assert!(catalog.snapshot().profiles.is_empty());
}

#[test]
fn the_catalog_file_keeps_profiles_and_versions_and_backs_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profiles.db");
    {
        let catalog = ProfileCatalog::open(&path).unwrap();
        let stored = catalog.create(web()).unwrap();
        assert_eq!(stored.version, 1);
        let mut changed = web();
        changed.description = "HTTPS and DNS".into();
        assert_eq!(catalog.update(changed).unwrap().version, 2);
        catalog.backup(&dir.path().join("copy.db")).unwrap();
    }
    for file in ["profiles.db", "copy.db"] {
        let reopened = ProfileCatalog::open(&dir.path().join(file)).unwrap().snapshot();
        assert_eq!(reopened.version, 2, "{file}");
        assert_eq!(reopened.get("web").unwrap().description, "HTTPS and DNS", "{file}");
        assert_eq!(reopened.get("web").unwrap().channels, web().channels, "{file}");
    }
}

/// A session over the test flows with `catalog`'s profiles.
fn session(catalog: &Arc<ProfileCatalog>) -> (tempfile::TempDir, SessionContext) {
    let dir = write_flows(&flows());
    let ctx = flow_session(dir.path(), &QueryResources::default(), Some(Arc::clone(catalog))).unwrap();
    (dir, ctx)
}

async fn text(ctx: &SessionContext, sql: &str) -> String {
    column_text(ctx, sql)
        .await
        .into_iter()
        .map(|v| v.unwrap_or_else(|| "NULL".into()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Each view answers what the same SQL over `live.flows` with the filter written by hand does.
#[tokio::test]
async fn channels_are_their_filters_over_the_live_flows() {
    let catalog = Arc::new(ProfileCatalog::in_memory().unwrap());
    let (_dir, ctx) = session(&catalog);
    catalog.create(web()).unwrap();
    let mut lab = profile("lab", "web", &[("lab", nf("src ip 10.1.0.0")), ("all", nf("any"))]);
    lab.sources = vec!["https".into()];
    catalog.create(lab).unwrap();
    let mut second = profile("second", LIVE_PROFILE, &[("dns", nf("dst port 53"))]);
    second.sources = vec!["exporter_10_0_0_2".into()];
    catalog.create(second).unwrap();

    let stats = "count(*), sum(packets), sum(bytes)";
    let cases = [
        ("web.https", "protocol = 6 AND dst_port = 443"),
        ("web.dns", "dst_port = 53"),
        ("web.flows", "(protocol = 6 AND dst_port = 443) OR dst_port = 53"),
        (
            "lab.lab",
            "protocol = 6 AND dst_port = 443 AND src_addr = ip('10.1.0.0')",
        ),
        ("lab.all", "protocol = 6 AND dst_port = 443"),
        ("second.dns", "exporter = ip('10.0.0.2') AND dst_port = 53"),
        ("second.flows", "exporter = ip('10.0.0.2') AND dst_port = 53"),
    ];
    for (table, by_hand) in cases {
        let view = text(&ctx, &format!("SELECT {stats} FROM {table}")).await;
        let hand = text(&ctx, &format!("SELECT {stats} FROM live.flows WHERE {by_hand}")).await;
        assert_eq!(view, hand, "{table}");
        assert_ne!(view.split(',').next(), Some("0"), "{table} selects something");
    }
    let tables = text(
        &ctx,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables \
         WHERE table_schema NOT IN ('live', 'information_schema') ORDER BY 1",
    )
    .await;
    assert_eq!(
        tables,
        "lab.all,lab.flows,lab.lab,second.dns,second.flows,web.dns,web.flows,web.https"
    );
}

#[tokio::test]
async fn a_profile_is_there_at_once_and_gone_when_deleted() {
    let catalog = Arc::new(ProfileCatalog::in_memory().unwrap());
    let (_dir, ctx) = session(&catalog);
    let missing = query_err(&ctx, "SELECT count(*) FROM web.https").await;
    assert!(
        missing.contains("web.https") && missing.contains("not found"),
        "{missing}"
    );
    catalog.create(web()).unwrap();
    assert_eq!(text(&ctx, "SELECT count(*) FROM web.https").await, "10");
    catalog.delete("web").unwrap();
    let gone = query_err(&ctx, "SELECT count(*) FROM web.https").await;
    assert!(gone.contains("not found"), "{gone}");
}

/// The channel filter reaches the scan: Parquet pruning and exporter pruning apply to views.
#[tokio::test]
async fn channel_filters_reach_the_scan() {
    let catalog = Arc::new(ProfileCatalog::in_memory().unwrap());
    let (_dir, ctx) = session(&catalog);
    let mut second = profile("second", LIVE_PROFILE, &[("dns", nf("dst port 53"))]);
    second.sources = vec!["10.0.0.2".into()];
    catalog.create(second).unwrap();
    let plan = explain(&ctx, "SELECT count(*) FROM second.dns")
        .await
        .into_iter()
        .find(|(kind, _)| kind == "physical_plan")
        .map(|(_, plan)| plan)
        .unwrap();
    let scan = plan
        .lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(scan.contains("predicate=") && scan.contains("dst_port"), "{plan}");
    assert!(
        scan.contains("exporter=10.0.0.2") && !scan.contains("exporter=10.0.0.1"),
        "{plan}"
    );
}

#[test]
fn profile_retention_extends_what_the_node_keeps_for_the_channels_it_reads() {
    use crate::addr::from_ip;
    use crate::store::retention::{RetentionPolicy, RetentionRules};
    use std::time::Duration;

    let day = Duration::from_secs(86_400);
    let (one, two) = (
        from_ip("10.0.0.1".parse().unwrap()),
        from_ip("10.0.0.2".parse().unwrap()),
    );
    let catalog = ProfileCatalog::in_memory().unwrap();
    let mut lab = profile("lab", LIVE_PROFILE, &[("all", nf("any"))]);
    lab.sources = vec!["10.0.0.1".into()];
    lab.retention.max_age_secs = Some(30 * 86_400);
    catalog.create(lab).unwrap();
    let mut lab_big = profile("lab_big", "lab", &[("tcp", nf("proto tcp"))]);
    lab_big.retention.max_bytes = Some(1 << 30);
    catalog.create(lab_big).unwrap();
    let mut short = profile("short", LIVE_PROFILE, &[("all", nf("any"))]);
    short.retention.max_age_secs = Some(86_400);
    catalog.create(short).unwrap();

    let base = RetentionRules::new(RetentionPolicy {
        max_age: Some(7 * day),
        max_bytes: Some(1 << 20),
    });
    let rules = retention_rules(&catalog.snapshot(), &base, &[one, two]);
    assert_eq!(
        *rules.policy_for(&one),
        RetentionPolicy {
            max_age: Some(30 * day),
            max_bytes: Some(1 << 30)
        },
        "lab's age and lab_big's size, both read 10.0.0.1"
    );
    assert_eq!(*rules.policy_for(&two), base.default, "a shorter wish changes nothing");
    let forever = RetentionRules::default();
    assert!(retention_rules(&catalog.snapshot(), &forever, &[one, two]).keeps_everything());
}

#[tokio::test]
async fn a_profile_shows_only_flows_within_its_max_age() {
    let catalog = Arc::new(ProfileCatalog::in_memory().unwrap());
    let (_dir, ctx) = session(&catalog);
    // The test flows started about an hour ago.
    let mut recent = profile("recent", LIVE_PROFILE, &[("all", nf("any"))]);
    recent.retention.max_age_secs = Some(1800);
    catalog.create(recent).unwrap();
    let mut day = profile("day", "recent", &[("all", nf("any"))]);
    day.retention.max_age_secs = Some(86_400);
    catalog.create(day).unwrap();
    let mut hours = profile("hours", LIVE_PROFILE, &[("all", nf("any"))]);
    hours.retention.max_age_secs = Some(7200);
    catalog.create(hours).unwrap();
    assert_eq!(text(&ctx, "SELECT count(*) FROM recent.all").await, "0");
    assert_eq!(
        text(&ctx, "SELECT count(*) FROM day.all").await,
        "0",
        "the parent's horizon holds"
    );
    assert_eq!(text(&ctx, "SELECT count(*) FROM hours.all").await, "60");
}

#[tokio::test]
async fn a_deleted_source_leaves_live_and_stays_for_the_profiles_that_name_it() {
    use crate::addr::from_ip;
    use crate::store::retention::RetentionRules;

    let catalog = Arc::new(ProfileCatalog::in_memory().unwrap());
    let (_dir, ctx) = session(&catalog);
    let mut keeper = profile("keeper", LIVE_PROFILE, &[("dns", nf("dst port 53"))]);
    keeper.sources = vec!["exporter_10_0_0_2".into()];
    catalog.create(keeper).unwrap();
    catalog
        .create(profile("everything", LIVE_PROFILE, &[("all", nf("any"))]))
        .unwrap();
    assert_eq!(text(&ctx, "SELECT count(*) FROM everything.all").await, "60");

    let (_, readers) = catalog.delete_source("10.0.0.2".parse().unwrap(), 1).unwrap();
    assert_eq!(readers, ["keeper"]);
    let err = catalog.delete_source("10.0.0.2".parse().unwrap(), 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "profile 'live': flow source 10.0.0.2 is deleted already"
    );
    assert_eq!(text(&ctx, "SELECT count(*) FROM live.flows").await, "40");
    let gone = query_err(&ctx, "SELECT count(*) FROM live.exporter_10_0_0_2").await;
    assert!(gone.contains("not found"), "{gone}");
    let tables = text(
        &ctx,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'live' ORDER BY 1",
    )
    .await;
    assert_eq!(tables, "exporter_10_0_0_1,flows");
    assert_eq!(
        text(&ctx, "SELECT count(*) FROM everything.all").await,
        "40",
        "all channels: not the deleted one"
    );
    assert_eq!(
        text(&ctx, "SELECT count(*) FROM keeper.dns").await,
        "20",
        "named: still read"
    );

    let (one, two) = (
        from_ip("10.0.0.1".parse().unwrap()),
        from_ip("10.0.0.2".parse().unwrap()),
    );
    let set = catalog.snapshot();
    assert!(retention_rules(&set, &RetentionRules::default(), &[one, two]).keeps_everything());
    catalog.delete("keeper").unwrap();
    let rules = retention_rules(&catalog.snapshot(), &RetentionRules::default(), &[one, two]);
    assert_eq!(
        rules.policy_for(&two).max_age,
        Some(std::time::Duration::ZERO),
        "no reader: removed"
    );
    assert!(rules.policy_for(&one).keeps_everything());

    catalog.restore_source("10.0.0.2".parse().unwrap()).unwrap();
    assert_eq!(text(&ctx, "SELECT count(*) FROM live.flows").await, "60");
    let reopened = catalog.snapshot();
    assert!(reopened.deleted_sources.is_empty());
}

#[test]
fn deleted_sources_are_kept_in_the_catalog_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profiles.db");
    ProfileCatalog::open(&path)
        .unwrap()
        .delete_source("2001:db8::1".parse().unwrap(), 42)
        .unwrap();
    let set = ProfileCatalog::open(&path).unwrap().snapshot();
    assert_eq!(set.deleted_sources.get("2001:db8::1"), Some(&42));
    assert_eq!(set.version, 1);
}

/// The literals of view filters carry the address metadata `ip()` gives: with a bare literal,
/// DataFusion 55 dropped the view's `exporter <> X` when the query added `exporter = ip(X)`.
#[tokio::test]
async fn a_deleted_source_stays_hidden_under_a_filter_naming_it() {
    let catalog = Arc::new(ProfileCatalog::in_memory().unwrap());
    let (_dir, ctx) = session(&catalog);
    catalog.delete_source("10.0.0.2".parse().unwrap(), 1).unwrap();
    let mut second = profile("second", LIVE_PROFILE, &[("all", nf("any"))]);
    second.sources = vec!["10.0.0.2".into()];
    catalog.create(second).unwrap();
    for sql in [
        "SELECT count(*) FROM live.flows WHERE exporter = ip('10.0.0.2')",
        "SELECT count(*) FROM live.flows WHERE exporter IN (ip('10.0.0.2'), ip('10.0.0.1')) AND exporter <> ip('10.0.0.1')",
        "SELECT count(*) FROM flows WHERE ip_text(exporter) = '10.0.0.2'",
        "SELECT count(*) FROM second.all WHERE exporter = ip('10.0.0.1')",
    ] {
        assert_eq!(text(&ctx, sql).await, "0", "{sql}");
    }
}
