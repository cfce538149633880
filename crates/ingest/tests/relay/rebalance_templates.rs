//! Rebalancing a v9 / IPFIX exporter whose templates and sampling options came only in its
//! first datagram: the forwarder replays them to the new slave, which decodes (and scales)
//! every later flow; the flows on both slaves add up to those sent, exactly.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use flowfold_ingest::relay::metrics::SlaveLabel;
use flowfold_ingest::relay::{Forwarder, RelayMetrics};

use crate::harness::{Slave, config, exporter, wait_for};

/// Flows per datagram.
const FLOWS: u32 = 5;
/// Datagrams before the move (the first carries every template) and after it.
const BEFORE: u32 = 4;
const AFTER: u32 = 6;
/// Sampling interval announced by the options data of the first datagram.
const INTERVAL: u32 = 100;
/// Packets and bytes of every flow as exported (before sampling is undone).
const PACKETS: u32 = 3;
const BYTES: u32 = 300;
const DOMAIN: u32 = 7;
const DATA_TEMPLATE: u16 = 256;
const OPTIONS_TEMPLATE: u16 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    V9,
    Ipfix,
}

/// A v9 or IPFIX exporter that numbers its datagrams as the protocol says: v9 counts
/// datagrams, IPFIX counts data records (options records included).
struct Exporter {
    socket: UdpSocket,
    format: Format,
    sequence: u32,
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    [
        id.to_be_bytes().as_slice(),
        &((body.len() + 4) as u16).to_be_bytes(),
        body,
    ]
    .concat()
}

fn field_list(fields: &[(u16, u16)]) -> Vec<u8> {
    fields
        .iter()
        .flat_map(|(ie, len)| [ie.to_be_bytes(), len.to_be_bytes()].concat())
        .collect()
}

impl Exporter {
    fn new(last: u8, format: Format) -> Exporter {
        Exporter {
            socket: exporter(last),
            format,
            sequence: 0,
        }
    }

    fn ip(&self) -> IpAddr {
        self.socket.local_addr().unwrap().ip()
    }

    /// Options template (scope: the system / observation domain; option: samplingInterval),
    /// its data (1 in `INTERVAL`), and the data template (src, dst, packets, bytes, protocol).
    fn template_sets(&self) -> Vec<Vec<u8>> {
        let data_fields = field_list(&[(8, 4), (12, 4), (2, 4), (1, 4), (4, 1)]);
        let data_template = [
            DATA_TEMPLATE.to_be_bytes().as_slice(),
            &5u16.to_be_bytes(),
            &data_fields,
        ]
        .concat();
        let options_record = [DOMAIN.to_be_bytes(), INTERVAL.to_be_bytes()].concat();
        match self.format {
            Format::V9 => {
                // id, scope length, option length, scope (System, 4), option (34, 4).
                let options_template = [
                    OPTIONS_TEMPLATE.to_be_bytes().as_slice(),
                    &4u16.to_be_bytes(),
                    &4u16.to_be_bytes(),
                    &field_list(&[(1, 4), (34, 4)]),
                ]
                .concat();
                vec![
                    set(1, &options_template),
                    set(OPTIONS_TEMPLATE, &options_record),
                    set(0, &data_template),
                ]
            }
            Format::Ipfix => {
                // id, field count, scope count, observationDomainId (149, 4), samplingInterval.
                let options_template = [
                    OPTIONS_TEMPLATE.to_be_bytes().as_slice(),
                    &2u16.to_be_bytes(),
                    &1u16.to_be_bytes(),
                    &field_list(&[(149, 4), (34, 4)]),
                ]
                .concat();
                vec![
                    set(3, &options_template),
                    set(OPTIONS_TEMPLATE, &options_record),
                    set(2, &data_template),
                ]
            }
        }
    }

    /// Sends one datagram of `FLOWS` flows, with every template first if `templates`.
    fn send(&mut self, to: SocketAddr, templates: bool) {
        let mut sets = if templates { self.template_sets() } else { Vec::new() };
        let flows: Vec<u8> = (0..FLOWS as u8)
            .flat_map(|i| {
                [
                    [10, 0, 0, i].as_slice(),
                    &[10, 1, 0, 1],
                    &PACKETS.to_be_bytes(),
                    &BYTES.to_be_bytes(),
                    &[6],
                ]
                .concat()
            })
            .collect();
        sets.push(set(DATA_TEMPLATE, &flows));
        let body = sets.concat();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let datagram = match self.format {
            Format::V9 => {
                // count: every record (template, options template, options data, flows).
                let records = FLOWS as u16 + if templates { 3 } else { 0 };
                let header = [9u16.to_be_bytes(), records.to_be_bytes()].concat();
                let fields = [3_600_000u32, secs, self.sequence, DOMAIN]
                    .map(u32::to_be_bytes)
                    .concat();
                self.sequence += 1;
                [header, fields, body].concat()
            }
            Format::Ipfix => {
                let header = [10u16.to_be_bytes(), ((16 + body.len()) as u16).to_be_bytes()].concat();
                let fields = [secs, self.sequence, DOMAIN].map(u32::to_be_bytes).concat();
                self.sequence += FLOWS + u32::from(templates); // the options record counts
                [header, fields, body].concat()
            }
        };
        self.socket.send_to(&datagram, to).unwrap();
    }
}

fn slave_label(slave: &Slave) -> SlaveLabel {
    SlaveLabel {
        slave: slave.relay.to_string(),
    }
}

/// Sends `BEFORE` datagrams (templates in the first only) through a forwarder to slave 0, moves
/// the exporter to slave 1, sends `AFTER` data-only datagrams, and checks both slaves.
fn rebalance_mid_stream(format: Format, last: u8) {
    let slaves = [Slave::start(), Slave::start()];
    let state = tempfile::tempdir().unwrap();
    let metrics = RelayMetrics::new();
    let forwarder = Forwarder::start(config(&slaves, state.path()), Arc::clone(&metrics)).unwrap();
    let to = forwarder.bound()[0];
    let mut exporter = Exporter::new(last, format);
    let ip = exporter.ip();
    let (before, after) = (u64::from(BEFORE * FLOWS), u64::from(AFTER * FLOWS));

    for i in 0..BEFORE {
        exporter.send(to, i == 0);
    }
    wait_for("the flows before the move stored on slave 0", || {
        slaves[0].stored(ip) == before
    });
    assert_eq!(forwarder.assignments(), [(ip, 0)]);

    assert_eq!(forwarder.rebalance(ip, 1).unwrap(), Some(0));
    for _ in 0..AFTER {
        exporter.send(to, false);
    }
    wait_for("every flow stored", || {
        slaves[0].stored(ip) + slaves[1].stored(ip) == before + after
    });
    // Longer than a flush interval: anything stored twice would show up now.
    std::thread::sleep(Duration::from_millis(400));

    // Nothing lost, nothing twice: each flow on the slave its datagram went to.
    assert_eq!(slaves[0].stored(ip), before, "{format:?}: slave 0");
    assert_eq!(
        slaves[1].stored(ip),
        after,
        "{format:?}: slave 1 decoded every flow after the move"
    );
    for (slave, flows) in slaves.iter().zip([before, after]) {
        assert_eq!(
            slave.rows_by_exporter().into_iter().collect::<Vec<_>>(),
            [(ip, flows as usize)],
            "{format:?}: stored under the exporter's address"
        );
        // The sampling interval reached slave 1 with the replayed options data.
        let scaled = (
            Some(u64::from(PACKETS * INTERVAL)),
            Some(u64::from(BYTES * INTERVAL)),
            Some(INTERVAL),
        );
        let counts = slave.counts_of(ip);
        assert_eq!(counts.len(), flows as usize);
        assert!(counts.iter().all(|c| *c == scaled), "{format:?}: {counts:?}");
        // Templates before data, and sequence numbers that fit: no held set, no false loss.
        assert_eq!(slave.held(ip), 0, "{format:?}: data held for a template");
        assert_eq!(slave.missing(ip), 0, "{format:?}: sequence gap");
        assert_eq!(slave.decode_errors(ip), 0, "{format:?}");
    }

    let [a, b] = [&slaves[0], &slaves[1]].map(slave_label);
    assert_eq!(metrics.datagrams_forwarded.get_or_create(&a).get(), u64::from(BEFORE));
    assert_eq!(metrics.datagrams_forwarded.get_or_create(&b).get(), u64::from(AFTER));
    assert_eq!(metrics.template_replay_datagrams.get_or_create(&a).get(), 0);
    assert_eq!(metrics.template_replay_datagrams.get_or_create(&b).get(), 1);
    assert_eq!(metrics.template_replay_errors.get_or_create(&b).get(), 0);
    assert!(metrics.template_cache_bytes.get() > 0);
    forwarder.shutdown().unwrap();
    assert_eq!(
        metrics.template_cache_bytes.get(),
        0,
        "the caches went with their threads"
    );
    for slave in slaves {
        slave.shutdown();
    }
}

#[test]
fn an_ipfix_exporter_moved_mid_stream_loses_no_flow_and_keeps_its_sampling() {
    rebalance_mid_stream(Format::Ipfix, 41);
}

#[test]
fn a_v9_exporter_moved_mid_stream_loses_no_flow_and_keeps_its_sampling() {
    rebalance_mid_stream(Format::V9, 42);
}

/// The problem the cache solves: without it the new slave holds the moved exporter's data
/// until the exporter happens to send its templates again.
#[test]
fn without_the_template_cache_the_new_slave_cannot_decode_a_moved_exporter() {
    let slaves = [Slave::start(), Slave::start()];
    let state = tempfile::tempdir().unwrap();
    let metrics = RelayMetrics::new();
    let mut config = config(&slaves, state.path());
    config.template_cache.max_bytes = 0;
    let forwarder = Forwarder::start(config, Arc::clone(&metrics)).unwrap();
    let to = forwarder.bound()[0];
    let mut exporter = Exporter::new(43, Format::Ipfix);
    let ip = exporter.ip();
    exporter.send(to, true);
    wait_for("the first flows stored", || slaves[0].stored(ip) == u64::from(FLOWS));
    forwarder.rebalance(ip, 1).unwrap();
    for _ in 0..AFTER {
        exporter.send(to, false);
    }
    wait_for("the moved exporter's data sets held", || {
        slaves[1].held(ip) == u64::from(AFTER)
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(slaves[1].stored(ip), 0);
    let dropped = |reason: &str| metrics.template_cache_dropped(reason).get();
    assert_eq!(dropped("cache_bytes"), 2, "the template and the options template");
    assert_eq!(
        metrics
            .template_replay_datagrams
            .get_or_create(&slave_label(&slaves[1]))
            .get(),
        0
    );
    // The exporter's own template refresh releases the held data: every flow is then decoded
    // and stored once (the decoded counter counts released flows once too).
    exporter.send(to, true);
    let all = u64::from(FLOWS) * (u64::from(AFTER) + 1);
    wait_for("the held flows released", || slaves[1].stored(ip) == all);
    assert_eq!(slaves[1].decoded(ip), all, "decoded flows counted once");
    forwarder.shutdown().unwrap();
    for slave in slaves {
        slave.shutdown();
    }
}
