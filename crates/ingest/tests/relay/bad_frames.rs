//! What a relay listener does with datagrams that are not relay frames.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use flowfold_ingest::error::DecodeError;
use flowfold_ingest::metrics::DecodeErrorLabels;
use flowfold_ingest::relay::encode_frame;

use crate::harness::{Slave, exporter, v5_datagram, wait_for};

#[test]
fn garbage_on_a_relay_listener_is_counted_and_nothing_is_stored() {
    let slave = Slave::start();
    let sender = exporter(31);
    let sender_ip = sender.local_addr().unwrap().ip();
    for garbage in [&b"FFR"[..], b"FFR1 too short", &v5_datagram(0, 5), &[0xff; 200]] {
        sender.send_to(garbage, slave.relay).unwrap();
    }
    wait_for("bad frames counted", || {
        slave.dropped("bad_frame_too_short") == 2 && slave.dropped("bad_frame_magic") == 2
    });
    // Longer than a flush interval: anything decoded would have been shipped and stored.
    std::thread::sleep(Duration::from_millis(400));
    assert!(slave.rows_by_exporter().is_empty());
    assert_eq!(slave.stored(sender_ip), 0);
    let label = flowfold_ingest::metrics::ExporterLabel {
        exporter: sender_ip.to_string(),
    };
    assert_eq!(slave.metrics.datagrams_received.get_or_create(&label).get(), 0);

    // The listener keeps going, and takes the exporter from the frame, not from the sender.
    let framed: SocketAddr = "192.0.2.9:2055".parse().unwrap();
    let mut frame = Vec::new();
    encode_frame(framed, &v5_datagram(0, 4), &mut frame);
    sender.send_to(&frame, slave.relay).unwrap();
    wait_for("the framed flows stored", || slave.stored(framed.ip()) == 4);
    assert_eq!(
        slave.rows_by_exporter().into_iter().collect::<Vec<_>>(),
        [(framed.ip(), 4)]
    );
    slave.shutdown();
}

#[test]
fn a_bad_export_datagram_inside_a_good_frame_is_a_decode_error_of_the_framed_exporter() {
    let slave = Slave::start();
    let framed: IpAddr = "192.0.2.10".parse().unwrap();
    let mut cut = v5_datagram(0, 5);
    cut.truncate(24 + 48 * 2);
    let mut frame = Vec::new();
    encode_frame(SocketAddr::new(framed, 2055), &cut, &mut frame);
    exporter(32).send_to(&frame, slave.relay).unwrap();
    let errors = || {
        DecodeError::KINDS
            .iter()
            .map(|kind| {
                let labels = DecodeErrorLabels {
                    exporter: framed.to_string(),
                    kind: (*kind).to_string(),
                };
                slave.metrics.decode_errors.get_or_create(&labels).get()
            })
            .sum::<u64>()
    };
    wait_for("a decode error of the framed exporter", || errors() == 1);
    assert_eq!(
        slave.dropped("bad_frame_magic") + slave.dropped("bad_frame_too_short"),
        0
    );
    slave.shutdown();
}
