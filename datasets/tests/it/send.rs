//! Loopback sends: every datagram arrives, from its exporter's own source address.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use flowfold_datasets::generator::{ExportFormat, GenConfig, Generator};
use flowfold_datasets::send::{self, SendConfig};
use flowfold_datasets::truth::TruthWriter;

/// Receives until `idle` passes without a datagram; returns (source, version) per datagram.
fn receiver(idle: Duration) -> (SocketAddr, thread::JoinHandle<Vec<(SocketAddr, u16)>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(idle)).unwrap();
    let addr = sock.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 65_536];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            assert!(n >= 2);
            got.push((from, u16::from_be_bytes([buf[0], buf[1]])));
        }
        got
    });
    (addr, handle)
}

#[test]
fn every_datagram_arrives_from_its_exporter_address() {
    let (target, rx) = receiver(Duration::from_millis(1_500));
    let base = Ipv4Addr::new(127, 0, 3, 1);
    let cfg = GenConfig {
        seed: 2,
        flows: 3_000,
        exporters: 3,
        exporter_base: base,
        ..GenConfig::default()
    };
    let mut generator = Generator::new(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut truth = TruthWriter::create(&dir.path().join("t.parquet"), generator.exporters()).unwrap();
    // Paced (10k flows/s) so the receiver's default buffer keeps up even on a loaded machine.
    let send_cfg = SendConfig {
        rate: 10_000,
        ..SendConfig::new(target)
    };
    let report = send::run(&mut generator, &send_cfg, Some(&mut truth), &AtomicBool::new(false)).unwrap();
    let summary = truth.finish().unwrap();
    let got = rx.join().unwrap();

    assert_eq!(report.flows, 3_000);
    assert_eq!(summary.flows, 3_000);
    assert_eq!(report.send_errors, 0);
    assert!(report.seconds >= 0.29, "paced: {}", report.seconds);
    assert_eq!(got.len() as u64, report.datagrams);
    assert!(report.datagrams >= 3_000 / 30, "{} datagrams", report.datagrams);

    let mut per_source: HashMap<SocketAddr, (u64, HashSet<u16>)> = HashMap::new();
    for (from, version) in &got {
        let e = per_source.entry(*from).or_default();
        e.0 += 1;
        e.1.insert(*version);
    }
    assert_eq!(per_source.len(), 3);
    for (i, e) in report.exporters.iter().enumerate() {
        assert_eq!(e.source.ip(), IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1 + i as u8)));
        let (count, versions) = &per_source[&e.source];
        assert_eq!(*count, e.datagrams);
        let want = match e.format {
            ExportFormat::V5 => 5,
            ExportFormat::V9 => 9,
            ExportFormat::Ipfix => 10,
        };
        assert_eq!(versions.iter().copied().collect::<Vec<_>>(), vec![want]);
        assert_eq!(summary.exporters[i].flows, e.flows);
        assert_eq!(summary.exporters[i].exporter, e.source.ip().to_string());
    }
}

#[test]
fn continuous_mode_follows_the_clock_until_stopped() {
    let (target, rx) = receiver(Duration::from_millis(500));
    let cfg = GenConfig {
        seed: 3,
        flows: 0,
        exporters: 2,
        exporter_base: Ipv4Addr::new(127, 0, 4, 1),
        ..GenConfig::default()
    };
    let mut generator = Generator::new(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let mut truth = TruthWriter::create(&path, generator.exporters()).unwrap();
    let stop = AtomicBool::new(false);
    let before = send::now_ms();
    let t = Instant::now();
    let report = thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(200));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        send::run(
            &mut generator,
            &SendConfig {
                rate: 10_000,
                follow_clock: true,
                ..SendConfig::new(target)
            },
            Some(&mut truth),
            &stop,
        )
    })
    .unwrap();
    let after = send::now_ms();
    truth.finish().unwrap();
    let got = rx.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(
        (1_000..=3_500).contains(&report.flows),
        "{} flows in 0.2 s at 10k/s",
        report.flows
    );
    assert_eq!(got.len() as u64, report.datagrams);
    for batch in flowfold_datasets::truth::read(&path).unwrap() {
        use arrow::array::AsArray;
        let ends = batch
            .column_by_name("flow_end")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert!(ends.values().iter().all(|e| (before..=after).contains(e)));
    }
}

#[test]
fn binding_a_non_local_source_fails_with_the_address() {
    let cfg = GenConfig {
        flows: 10,
        exporters: 1,
        exporter_base: Ipv4Addr::new(192, 0, 2, 1),
        ..GenConfig::default()
    };
    let mut generator = Generator::new(cfg).unwrap();
    let err = send::run(
        &mut generator,
        &SendConfig::new("127.0.0.1:9".parse().unwrap()),
        None,
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(err.to_string().contains("192.0.2.1"), "{err}");
}
