use super::*;

fn slaves(n: u16) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([10, 0, 0, 1 + i as u8], 32055)))
        .collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn open(path: &Path, slaves: Vec<SocketAddr>) -> Assignments {
    Assignments::open(path, slaves, 1000).unwrap()
}

#[test]
fn new_exporters_go_to_the_least_loaded_slave_lowest_index_first() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir.path().join("assignments.json"), slaves(3));
    let got: Vec<usize> = (1..=5)
        .map(|i| a.assign(ip(&format!("192.0.2.{i}"))).unwrap().slave)
        .collect();
    assert_eq!(got, [0, 1, 2, 0, 1]);
    assert_eq!(a.load(), [2, 2, 1]);
    assert_eq!(a.assign(ip("192.0.2.6")).unwrap().slave, 2);
}

#[test]
fn assignments_are_sticky_and_keyed_by_canonical_address() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir.path().join("assignments.json"), slaves(2));
    assert_eq!(a.assign(ip("192.0.2.1")), Some(Assigned { slave: 0, new: true }));
    for _ in 0..3 {
        assert_eq!(a.assign(ip("192.0.2.1")), Some(Assigned { slave: 0, new: false }));
    }
    // The same exporter seen on a dual-stack socket.
    assert_eq!(
        a.assign(ip("::ffff:192.0.2.1")),
        Some(Assigned { slave: 0, new: false })
    );
    assert_eq!(a.slave_of(ip("::ffff:192.0.2.1")), Some(0));
    assert_eq!(a.load(), [1, 0]);
    assert_eq!(a.generation(), 0, "new assignments do not invalidate caches");
}

#[test]
fn assignments_survive_a_reload_and_load_counts_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/assignments.json");
    let first = open(&path, slaves(2));
    for i in 1..=3 {
        first.assign(ip(&format!("192.0.2.{i}")));
    }
    first.assign(ip("2001:db8::1"));
    let before = first.snapshot();
    drop(first);

    let again = open(&path, slaves(2));
    assert_eq!(again.snapshot(), before);
    assert_eq!(again.load(), [2, 2]);
    assert_eq!(again.assign(ip("192.0.2.3")), Some(Assigned { slave: 0, new: false }));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"2001:db8::1\": \"10.0.0.2:32055\""), "{text}");
    assert!(!dir.path().join("state/assignments.json.tmp").exists());
}

#[test]
fn reordering_slaves_keeps_assignments_and_removing_one_forgets_its_exporters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("assignments.json");
    let a = open(&path, slaves(2));
    a.assign(ip("192.0.2.1"));
    a.assign(ip("192.0.2.2"));
    drop(a);

    let mut reversed = slaves(2);
    reversed.reverse();
    let b = open(&path, reversed.clone());
    assert_eq!(b.slaves()[b.slave_of(ip("192.0.2.1")).unwrap()], slaves(2)[0]);
    assert_eq!(b.slaves()[b.slave_of(ip("192.0.2.2")).unwrap()], slaves(2)[1]);
    drop(b);

    let c = open(&path, vec![slaves(2)[1]]);
    assert_eq!(c.snapshot(), [(ip("192.0.2.2"), 0)]);
    assert_eq!(c.assign(ip("192.0.2.1")), Some(Assigned { slave: 0, new: true }));
}

#[test]
fn rebalance_moves_one_exporter_persists_and_bumps_the_generation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("assignments.json");
    let a = open(&path, slaves(2));
    a.assign(ip("192.0.2.1"));
    a.assign(ip("192.0.2.2"));
    assert_eq!(a.rebalance(ip("192.0.2.1"), 1).unwrap(), Some(0));
    assert_eq!(a.generation(), 1);
    assert_eq!(a.load(), [0, 2]);
    // Moving to where it already is changes nothing.
    assert_eq!(a.rebalance(ip("192.0.2.1"), 1).unwrap(), Some(1));
    assert_eq!(a.generation(), 1);
    // An exporter not seen yet can be placed ahead of time.
    assert_eq!(a.rebalance(ip("192.0.2.3"), 0).unwrap(), None);
    assert_eq!(a.load(), [1, 2]);
    assert!(matches!(
        a.rebalance(ip("192.0.2.1"), 2),
        Err(IngestError::UnknownSlave { slave: 2, slaves: 2 })
    ));
    drop(a);

    let b = open(&path, slaves(2));
    assert_eq!(
        b.snapshot(),
        [(ip("192.0.2.1"), 1), (ip("192.0.2.2"), 1), (ip("192.0.2.3"), 0)]
    );
}

#[test]
fn a_rebalance_that_cannot_be_persisted_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    let a = open(&sub.join("assignments.json"), slaves(2));
    // The state directory cannot be created: a file is in the way.
    std::fs::write(&sub, b"").unwrap();
    // Persisting fails, the assignment is kept in memory.
    assert_eq!(a.assign(ip("192.0.2.1")), Some(Assigned { slave: 0, new: true }));
    assert!(matches!(
        a.rebalance(ip("192.0.2.1"), 1),
        Err(IngestError::AssignmentState { .. })
    ));
    assert_eq!(a.slave_of(ip("192.0.2.1")), Some(0));
    assert_eq!(a.load(), [1, 0]);
    assert_eq!(a.generation(), 0);
}

#[test]
fn a_corrupt_or_foreign_state_file_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("assignments.json");
    for bad in [
        &b"{\"version\":1,\"exporters\":{\"192.0.2.1\":"[..],
        b"",
        b"{\"version\":2,\"exporters\":{}}",
        b"{\"version\":1,\"exporters\":{\"not an ip\":\"10.0.0.1:1\"}}",
        b"{\"version\":1,\"exporters\":{},\"extra\":0}",
    ] {
        std::fs::write(&path, bad).unwrap();
        match Assignments::open(&path, slaves(2), 1000) {
            Err(IngestError::AssignmentState { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(!reason.is_empty());
            }
            other => panic!(
                "{:?}: expected an assignment state error, got {other:?}",
                String::from_utf8_lossy(bad)
            ),
        }
    }
}

#[test]
fn no_slaves_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Assignments::open(dir.path().join("a.json"), vec![], 10),
        Err(IngestError::RelayConfig { setting: "slaves", .. })
    ));
}

#[test]
fn new_exporters_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Assignments::open(dir.path().join("a.json"), slaves(2), 2).unwrap();
    assert!(a.assign(ip("192.0.2.1")).is_some());
    assert!(a.assign(ip("192.0.2.2")).is_some());
    assert_eq!(a.assign(ip("192.0.2.3")), None);
    assert_eq!(
        a.assign(ip("192.0.2.1")).map(|x| x.slave),
        Some(0),
        "known ones still route"
    );
}

#[test]
fn an_added_slave_takes_new_exporters_and_a_removed_ones_exporters_move() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("assignments.json");
    let all = slaves(3);
    let a = open(&path, all[..2].to_vec());
    for i in 1..=4 {
        a.assign(ip(&format!("192.0.2.{i}")));
    }
    assert_eq!(a.load(), [2, 2]);
    let generation = a.generation();

    // Add the third: known exporters stay, the next two new ones go to it.
    let change = a.set_slaves(&all).unwrap();
    assert_eq!(change.added, [all[2]]);
    assert!(change.removed.is_empty() && change.moved.is_empty());
    assert_eq!((a.slave_count(), a.generation()), (3, generation + 1));
    assert_eq!(a.assign(ip("192.0.2.5")).unwrap().slave, 2);
    assert_eq!(a.assign(ip("192.0.2.6")).unwrap().slave, 2);
    assert_eq!(
        a.set_slaves(&all).unwrap(),
        SlaveChange::default(),
        "the same set changes nothing"
    );

    // Remove the first: its two exporters move to the remaining slaves with the fewest.
    let change = a.set_slaves(&all[1..]).unwrap();
    assert_eq!(change.removed, [all[0]]);
    assert_eq!(change.moved.len(), 2);
    assert_eq!(a.load(), [0, 3, 3]);
    assert_eq!(a.active_slaves(), all[1..]);
    assert_eq!(a.slaves(), all, "indices are stable");
    assert!(
        a.rebalance(ip("192.0.2.1"), 0)
            .unwrap_err()
            .to_string()
            .contains("removed from the group")
    );
    assert_ne!(
        a.assign(ip("192.0.2.7")).unwrap().slave,
        0,
        "a retired slave takes nothing"
    );

    // Persisted by address: reopened with the new set, nothing moves.
    let again = open(&path, all[1..].to_vec());
    assert_eq!(again.load(), [4, 3]);
    assert!(a.set_slaves(&[]).is_err(), "at least one slave");
}
