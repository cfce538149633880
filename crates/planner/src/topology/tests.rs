use std::collections::BTreeSet;

use super::*;

fn slave(name: &str, port: u16) -> SlaveRef {
    SlaveRef::new(name, format!("127.0.0.1:{port}"))
}

fn two_sites() -> Topology {
    Topology {
        source_groups: vec![
            SourceGroup {
                name: "a".into(),
                proxy_groups: vec![
                    ProxyGroup {
                        name: "a2".into(),
                        priority: 2,
                        proxy: None,
                        slaves: vec![slave("a2s1", 3), slave("a2s2", 4)],
                    },
                    ProxyGroup {
                        name: "a1".into(),
                        priority: 1,
                        proxy: Some(slave("a1p", 9)),
                        slaves: vec![slave("a1s1", 1), slave("a1s2", 2)],
                    },
                ],
            },
            SourceGroup {
                name: "b".into(),
                proxy_groups: vec![ProxyGroup {
                    name: "b1".into(),
                    priority: 1,
                    proxy: None,
                    slaves: vec![slave("b1s1", 5)],
                }],
            },
        ],
    }
}

#[test]
fn selects_the_highest_priority_group_that_is_up() {
    let topology = two_sites();
    topology.validate().unwrap();
    let chosen = topology.select(&BTreeSet::new()).unwrap();
    assert_eq!(chosen[0].proxy_group, "a1");
    assert_eq!(chosen[1].proxy_group, "b1");
    let chosen = topology.select(&BTreeSet::from(["a1".to_string()])).unwrap();
    assert_eq!(chosen[0].proxy_group, "a2");
    assert_eq!(chosen[0].slaves.len(), 2);
}

#[test]
fn names_the_source_group_that_cannot_answer() {
    let down = BTreeSet::from(["a1".to_string(), "a2".to_string()]);
    let err = two_sites().select(&down).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no proxy group of source group a can answer (tried a2, a1)"
    );
}

#[test]
fn a_group_merges_on_its_proxy_or_first_slave() {
    let topology = two_sites();
    let groups = &topology.source_groups;
    assert_eq!(Topology::merger(&groups[0].proxy_groups[1]).name, "a1p");
    assert_eq!(Topology::merger(&groups[1].proxy_groups[0]).name, "b1s1");
}

#[test]
fn rejects_duplicates_and_empty_groups() {
    let mut topology = two_sites();
    topology.source_groups[1].proxy_groups[0].slaves[0].name = "a1s1".into();
    assert!(matches!(topology.validate(), Err(PlannerError::DuplicateName(n)) if n == "a1s1"));
    let mut topology = two_sites();
    topology.source_groups[1].proxy_groups[0].slaves.clear();
    assert!(matches!(topology.validate(), Err(PlannerError::EmptyGroup(n)) if n == "b1"));
}

#[test]
fn parses_from_toml() {
    let text = r#"
        [[source_groups]]
        name = "site"
        [[source_groups.proxy_groups]]
        name = "g1"
        slaves = [{ name = "s1", query = "127.0.0.2:4210" }]
    "#;
    let topology: Topology = toml::from_str(text).unwrap();
    assert_eq!(topology.source_groups[0].proxy_groups[0].priority, 1);
    assert_eq!(
        topology.source_groups[0].proxy_groups[0].slaves[0]
            .url()
            .unwrap()
            .as_str(),
        "http://127.0.0.2:4210/"
    );
}
