use super::*;
use crate::topology::{ProxyGroup, SourceGroup};

fn site() -> Topology {
    Topology {
        source_groups: vec![SourceGroup {
            name: "site".into(),
            proxy_groups: vec![
                ProxyGroup {
                    name: "g1".into(),
                    priority: 1,
                    proxy: Some(SlaveRef::new("p1", "127.0.0.1:9")),
                    slaves: vec![SlaveRef::new("s1", "127.0.0.1:1"), SlaveRef::new("s2", "127.0.0.1:2")],
                },
                ProxyGroup {
                    name: "g2".into(),
                    priority: 2,
                    proxy: None,
                    slaves: vec![SlaveRef::new("t1", "127.0.0.1:3")],
                },
            ],
        }],
    }
}

fn new_slave(group: &str, name: &str, query: &str, relay: Option<&str>) -> NewSlave {
    NewSlave {
        source_group: "site".into(),
        proxy_group: group.into(),
        name: name.into(),
        query: query.into(),
        relay: relay.map(str::to_string),
    }
}

#[test]
fn a_slave_is_added_to_its_group_and_removed_again() {
    let before = site();
    let after = before
        .with_slave(new_slave("g1", "s3", "127.0.0.3:4210", Some("127.0.0.3:32055")))
        .unwrap();
    let group = &after.source_groups[0].proxy_groups[0];
    assert_eq!(group.slaves.len(), 3);
    assert_eq!(group.slaves[2].relay.as_deref(), Some("127.0.0.3:32055"));
    assert_eq!(
        before.source_groups[0].proxy_groups[0].slaves.len(),
        2,
        "self is unchanged"
    );
    let (removed, left) = after.without_slave("s1").unwrap();
    assert_eq!(left, "g1");
    let names: Vec<&str> = removed.slaves().map(|(_, s)| s.name.as_str()).collect();
    assert_eq!(names, ["s2", "s3", "t1"]);
}

#[test]
fn refusals_name_their_cause() {
    let topology = site();
    let refuse = |slave: NewSlave| topology.with_slave(slave).unwrap_err().to_string();
    let mut unknown = new_slave("g2", "x", "127.0.0.1:5", None);
    unknown.source_group = "elsewhere".into();
    assert_eq!(refuse(unknown), "no source group named elsewhere");
    assert_eq!(
        refuse(new_slave("g9", "x", "127.0.0.1:5", None)),
        "source group site has no proxy group named g9"
    );
    assert_eq!(
        refuse(new_slave("g2", "s1", "127.0.0.1:5", None)),
        "the name s1 is used twice in the cluster topology"
    );
    assert!(refuse(new_slave("g2", "x", "127.0.0.1", None)).contains("expected host:port"));
    assert!(refuse(new_slave("g2", "x", "127.0.0.1:http", None)).contains("port is not a number"));
    assert!(refuse(new_slave("g1", "x", "127.0.0.1:5", None)).contains("needs the slave's relay address"));
    assert!(refuse(new_slave("g1", "x", "127.0.0.1:5", Some("nowhere"))).contains("bad address \"nowhere\""));
    assert!(
        matches!(topology.without_slave("t1"), Err(PlannerError::LastSlave { proxy_group, .. }) if proxy_group == "g2")
    );
    assert!(matches!(topology.without_slave("p1"), Err(PlannerError::UnknownSlave(n)) if n == "p1"));
}
