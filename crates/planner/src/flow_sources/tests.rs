use std::collections::BTreeSet;

use super::*;
use crate::topology::{ProxyGroup, SlaveRef, SourceGroup};

fn topology() -> Topology {
    let group = |name: &str, proxy: Option<&str>, slaves: &[&str]| ProxyGroup {
        name: name.into(),
        priority: 1,
        proxy: proxy.map(|p| SlaveRef::new(p, "127.0.0.1:4210")),
        slaves: slaves.iter().map(|s| SlaveRef::new(*s, "127.0.0.1:4210")).collect(),
    };
    Topology {
        source_groups: vec![
            SourceGroup {
                name: "site-a".into(),
                proxy_groups: vec![
                    group("a1", Some("a1p"), &["a1s1", "a1s2"]),
                    group("a2", None, &["a2s1"]),
                ],
            },
            SourceGroup {
                name: "site-b".into(),
                proxy_groups: vec![group("b", None, &["b"])],
            },
        ],
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn units_are_placed_by_name_then_by_their_group() {
    let topology = topology();
    let place = |name, group| {
        topology
            .place_unit(name, group)
            .map(|p| (p.source_group, p.proxy_group))
    };
    let at = |s: &str, g: &str| Some((s.to_string(), g.to_string()));
    assert_eq!(place("a1s2", None), at("site-a", "a1"));
    assert_eq!(
        place("a1p", Some("elsewhere")),
        at("site-a", "a1"),
        "a proxy by its name"
    );
    assert_eq!(
        place("a2s1", Some("b")),
        at("site-a", "a2"),
        "the name wins over the group"
    );
    assert_eq!(
        place("newcomer", Some("b")),
        at("site-b", "b"),
        "an unknown name by its group"
    );
    assert_eq!(place("stranger", Some("nowhere")), None);
    assert_eq!(place("stranger", None), None);
}

#[test]
fn exporters_map_to_source_groups_and_conflicts_and_strangers_are_flagged() {
    let topology = topology();
    let store = FlowSourceStore::in_memory().unwrap();
    let record = |unit: &str, exporters: &[&str], now| {
        let placement = topology.place_unit(unit, None);
        store.record(unit, placement.as_ref(), &set(exporters), now).unwrap()
    };
    assert_eq!(record("a1s1", &["10.0.0.1", "10.0.0.2"], 100), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(
        record("a1p", &["10.0.0.1", "10.0.0.2"], 110),
        Vec::<String>::new(),
        "seen before"
    );
    assert_eq!(
        record("a2s1", &["10.0.0.1"], 120),
        Vec::<String>::new(),
        "the replica group"
    );
    assert_eq!(record("b", &["10.0.0.2", "2001:db8::1"], 130), ["2001:db8::1"]);
    assert_eq!(record("stranger", &["192.0.2.9"], 140), ["192.0.2.9"]);
    // A report again moves only the last report time.
    record("a1s1", &["10.0.0.1", "10.0.0.2"], 200);

    let list = store.list().unwrap();
    let by = |exporter: &str| list.iter().find(|s| s.exporter == exporter).unwrap().clone();
    let one = by("10.0.0.1");
    assert_eq!(one.state, SourceState::Mapped);
    assert_eq!(one.source_groups, set(&["site-a"]));
    assert_eq!(one.proxy_groups, set(&["a1", "a2"]));
    assert_eq!(one.units, set(&["a1p", "a1s1", "a2s1"]));
    assert_eq!((one.first_seen_ms, one.last_reported_ms), (100, 200));
    let two = by("10.0.0.2");
    assert_eq!(two.state, SourceState::Conflict, "{two:?}");
    assert_eq!(two.source_groups, set(&["site-a", "site-b"]));
    assert_eq!(by("2001:db8::1").state, SourceState::Mapped);
    let stranger = by("192.0.2.9");
    assert_eq!(stranger.state, SourceState::Unmapped);
    assert!(stranger.source_groups.is_empty() && stranger.units == set(&["stranger"]));
    assert_eq!(
        list.iter().map(|s| s.exporter.as_str()).collect::<Vec<_>>(),
        ["10.0.0.1", "10.0.0.2", "192.0.2.9", "2001:db8::1"]
    );
}

#[test]
fn the_list_outlives_the_store_and_shares_the_catalog_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profiles.db");
    let topology = crate::store::TopologyStore::open(&path).unwrap();
    topology.load_or_init(&self::topology()).unwrap();
    let store = FlowSourceStore::open(&path).unwrap();
    let placement = Placement {
        source_group: "site-b".into(),
        proxy_group: "b".into(),
    };
    store.record("b", Some(&placement), &set(&["10.1.1.1"]), 5).unwrap();
    drop(store);
    let again = FlowSourceStore::open(&path).unwrap();
    assert_eq!(
        again.record("b", Some(&placement), &set(&["10.1.1.1"]), 9).unwrap(),
        Vec::<String>::new()
    );
    let list = again.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].first_seen_ms, list[0].last_reported_ms), (5, 9));
}
