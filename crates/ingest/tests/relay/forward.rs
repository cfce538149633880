//! A forwarder in front of two slaves: placement, original exporter addresses, stickiness
//! across a forwarder restart, and an explicit rebalance.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;

use flowfold_ingest::relay::frame::FRAME_HEADER_LEN;
use flowfold_ingest::relay::metrics::SlaveLabel;
use flowfold_ingest::relay::{Forwarder, RelayMetrics};

use crate::harness::{Slave, config, exporter, v5_datagram, wait_for};

const DATAGRAMS: u32 = 3;
const FLOWS: u8 = 10;
const PER_ROUND: u64 = DATAGRAMS as u64 * FLOWS as u64;

/// Each exporter in turn sends `DATAGRAMS` datagrams of `FLOWS` flows.
fn send_round<'a>(exporters: impl IntoIterator<Item = &'a UdpSocket>, to: SocketAddr, round: u32) {
    for socket in exporters {
        for d in 0..DATAGRAMS {
            let sequence = (round * DATAGRAMS + d) * u32::from(FLOWS);
            socket.send_to(&v5_datagram(sequence, FLOWS), to).unwrap();
        }
    }
}

fn ip_of(socket: &UdpSocket) -> IpAddr {
    socket.local_addr().unwrap().ip()
}

/// Waits until every exporter has `total` flows stored over all slaves.
fn wait_stored(slaves: &[Slave], ips: &[IpAddr], total: u64) {
    wait_for(&format!("{total} flows of each exporter stored"), || {
        ips.iter()
            .all(|ip| slaves.iter().map(|s| s.stored(*ip)).sum::<u64>() == total)
    });
}

/// Checks every exporter's flows, `total` of them, are on its assigned slave only, stored under
/// its own address.
fn assert_placed(slaves: &[Slave], assignments: &[(IpAddr, usize)], total: u64) {
    for (index, slave) in slaves.iter().enumerate() {
        let expected: BTreeMap<IpAddr, usize> = assignments
            .iter()
            .filter(|(_, s)| *s == index)
            .map(|(ip, _)| (*ip, total as usize))
            .collect();
        assert_eq!(
            slave.rows_by_exporter(),
            expected,
            "stored exporter column of slave {index}"
        );
        for (ip, s) in assignments {
            let want = if *s == index { total } else { 0 };
            assert_eq!(slave.stored(*ip), want, "flows of {ip} stored on slave {index}");
        }
    }
}

#[test]
fn each_exporter_lands_on_one_slave_under_its_own_address_and_stays_after_a_restart() {
    let slaves = [Slave::start(), Slave::start()];
    let state = tempfile::tempdir().unwrap();
    let metrics = RelayMetrics::new();
    let forwarder = Forwarder::start(config(&slaves, state.path()), Arc::clone(&metrics)).unwrap();
    assert_eq!(forwarder.slaves(), [slaves[0].relay, slaves[1].relay]);
    let exporters: Vec<UdpSocket> = (11..=14).map(exporter).collect();
    let ips: Vec<IpAddr> = exporters.iter().map(ip_of).collect();

    send_round(&exporters, forwarder.bound()[0], 0);
    wait_stored(&slaves, &ips, PER_ROUND);
    let assignments = forwarder.assignments();
    // First seen in order, fewest exporters first, ties to the lowest index.
    assert_eq!(assignments, [(ips[0], 0), (ips[1], 1), (ips[2], 0), (ips[3], 1)]);
    assert_placed(&slaves, &assignments, PER_ROUND);
    let forwarder_ip: IpAddr = "127.0.0.1".parse().unwrap();
    for slave in &slaves {
        assert!(!slave.rows_by_exporter().contains_key(&forwarder_ip));
        assert_eq!(slave.stored(forwarder_ip), 0);
    }
    let datagram_len = 24 + 48 * u64::from(FLOWS);
    for slave in &slaves {
        let label = SlaveLabel {
            slave: slave.relay.to_string(),
        };
        assert_eq!(
            metrics.datagrams_forwarded.get_or_create(&label).get(),
            2 * u64::from(DATAGRAMS)
        );
        assert_eq!(
            metrics.bytes_forwarded.get_or_create(&label).get(),
            2 * u64::from(DATAGRAMS) * (FRAME_HEADER_LEN as u64 + datagram_len)
        );
        assert_eq!(metrics.send_errors.get_or_create(&label).get(), 0);
        assert_eq!(metrics.exporters_assigned.get_or_create(&label).get(), 2);
    }
    forwarder.shutdown().unwrap();

    // A new forwarder on a new port, same state file: exporters seen in the opposite order
    // still go to the slaves they had.
    let forwarder = Forwarder::start(config(&slaves, state.path()), RelayMetrics::new()).unwrap();
    assert_eq!(forwarder.assignments(), assignments);
    send_round(exporters.iter().rev(), forwarder.bound()[0], 1);
    wait_stored(&slaves, &ips, 2 * PER_ROUND);
    assert_eq!(forwarder.assignments(), assignments);
    assert_placed(&slaves, &assignments, 2 * PER_ROUND);
    forwarder.shutdown().unwrap();
    for slave in slaves {
        slave.shutdown();
    }
}

#[test]
fn a_rebalanced_exporter_goes_to_its_new_slave_from_then_on() {
    let slaves = [Slave::start(), Slave::start()];
    let state = tempfile::tempdir().unwrap();
    let forwarder = Forwarder::start(config(&slaves, state.path()), RelayMetrics::new()).unwrap();
    let exporters: Vec<UdpSocket> = (21..=22).map(exporter).collect();
    let ips: Vec<IpAddr> = exporters.iter().map(ip_of).collect();
    send_round(&exporters, forwarder.bound()[0], 0);
    wait_stored(&slaves, &ips, PER_ROUND);
    assert_eq!(forwarder.assignments(), [(ips[0], 0), (ips[1], 1)]);

    assert_eq!(forwarder.rebalance(ips[0], 1).unwrap(), Some(0));
    assert!(forwarder.rebalance(ips[0], 2).is_err(), "there is no slave 2");
    send_round(&exporters, forwarder.bound()[0], 1);
    wait_stored(&slaves, &ips, 2 * PER_ROUND);
    assert_eq!(slaves[0].stored(ips[0]), PER_ROUND, "flows before the move stay");
    assert_eq!(slaves[1].stored(ips[0]), PER_ROUND, "flows after the move");
    assert_eq!(slaves[1].stored(ips[1]), 2 * PER_ROUND);
    assert_eq!(slaves[0].stored(ips[1]), 0);
    forwarder.shutdown().unwrap();

    let again = Forwarder::start(config(&slaves, state.path()), RelayMetrics::new()).unwrap();
    assert_eq!(again.assignments(), [(ips[0], 1), (ips[1], 1)], "the move is persisted");
    again.shutdown().unwrap();
    for slave in slaves {
        slave.shutdown();
    }
}
