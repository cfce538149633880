//! Slaves, exporters and NetFlow v5 datagrams for the relay tests.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{UInt32Type, UInt64Type};
use engine::FlowSnapshot;
use engine::schema::col;
use engine::store::{FlowStore, StoreConfig};
use flowfold_ingest::error::DecodeError;
use flowfold_ingest::metrics::{DecodeErrorLabels, DropLabels, ExporterLabel, IngestMetrics};
use flowfold_ingest::{Ingest, IngestConfig};
use tempfile::TempDir;

/// A slave: ingest with one relay listener on 127.0.0.1 over a temporary store.
pub struct Slave {
    pub ingest: Ingest,
    pub metrics: Arc<IngestMetrics>,
    pub relay: SocketAddr,
    dir: TempDir,
}

impl Slave {
    pub fn start() -> Slave {
        let dir = tempfile::tempdir().unwrap();
        // Nothing seals during a test (a window boundary may pass): the open windows' logs are
        // what `rows_by_exporter` reads back.
        let store_config = StoreConfig {
            seal_grace: Duration::from_secs(3600),
            ..StoreConfig::new(dir.path().join("data"))
        };
        let (store, _) = FlowStore::open(store_config).unwrap();
        let mut config = IngestConfig::new(Vec::new(), dir.path().join("state"));
        config.relay_listeners = vec!["127.0.0.1:0".parse().unwrap()];
        config.recv_buffer = 1 << 20;
        config.flush_interval = Duration::from_millis(100);
        let metrics = IngestMetrics::new();
        let ingest = Ingest::start(config, store, Arc::clone(&metrics)).unwrap();
        assert!(ingest.bound().is_empty());
        let relay = ingest.bound_relays()[0];
        assert_ne!(relay.port(), 0);
        Slave {
            ingest,
            metrics,
            relay,
            dir,
        }
    }

    /// Flows written to the store for `exporter`, by the metrics.
    pub fn stored(&self, exporter: IpAddr) -> u64 {
        let label = ExporterLabel {
            exporter: exporter.to_string(),
        };
        self.metrics.flows_stored.get_or_create(&label).get()
    }

    /// Flows decoded for `exporter`, by the metrics.
    pub fn decoded(&self, exporter: IpAddr) -> u64 {
        self.metrics.flows_decoded.get_or_create(&label(exporter)).get()
    }

    /// Data sets of `exporter` held for a template that had not arrived (by the metrics).
    pub fn held(&self, exporter: IpAddr) -> u64 {
        self.metrics.sets_held.get_or_create(&label(exporter)).get()
    }

    /// Flows or packets of `exporter` missing by its sequence numbers (by the metrics).
    pub fn missing(&self, exporter: IpAddr) -> u64 {
        self.metrics.sequence_missing.get_or_create(&label(exporter)).get()
    }

    /// Decode errors of `exporter`, all kinds.
    pub fn decode_errors(&self, exporter: IpAddr) -> u64 {
        DecodeError::KINDS
            .iter()
            .map(|kind| {
                let labels = DecodeErrorLabels {
                    exporter: exporter.to_string(),
                    kind: (*kind).to_string(),
                };
                self.metrics.decode_errors.get_or_create(&labels).get()
            })
            .sum()
    }

    /// `(packets, bytes, sampling_interval)` of every stored row of `exporter`.
    pub fn counts_of(&self, exporter: IpAddr) -> Vec<(Option<u64>, Option<u64>, Option<u32>)> {
        let snapshot = FlowSnapshot::take(&self.dir.path().join("data")).unwrap();
        let mut rows = Vec::new();
        for batch in &snapshot.open_batches {
            let column = |name| batch.column_by_name(name).unwrap();
            let exporters = column(col::EXPORTER).as_fixed_size_binary();
            let packets = column(col::PACKETS).as_primitive::<UInt64Type>();
            let bytes = column(col::BYTES).as_primitive::<UInt64Type>();
            let sampling = column(col::SAMPLING_INTERVAL).as_primitive::<UInt32Type>();
            for i in 0..batch.num_rows() {
                if engine::addr::to_ip(exporters.value(i)) != Some(exporter) {
                    continue;
                }
                let get = |a: &arrow::array::PrimitiveArray<UInt64Type>| (!a.is_null(i)).then(|| a.value(i));
                rows.push((
                    get(packets),
                    get(bytes),
                    (!sampling.is_null(i)).then(|| sampling.value(i)),
                ));
            }
        }
        rows
    }

    /// Relay datagrams dropped for `reason`.
    pub fn dropped(&self, reason: &str) -> u64 {
        let labels = DropLabels {
            stage: "relay".into(),
            reason: reason.into(),
        };
        self.metrics.flows_dropped.get_or_create(&labels).get()
    }

    /// Rows per value of the stored `exporter` column, read back from the store's files.
    pub fn rows_by_exporter(&self) -> BTreeMap<IpAddr, usize> {
        let snapshot = FlowSnapshot::take(&self.dir.path().join("data")).unwrap();
        assert!(
            snapshot.parquet_files.is_empty(),
            "windows sealed mid-test: {:?}",
            snapshot.parquet_files
        );
        let mut rows = BTreeMap::new();
        for batch in &snapshot.open_batches {
            let column = batch.column_by_name(col::EXPORTER).unwrap().as_fixed_size_binary();
            for i in 0..column.len() {
                let ip = engine::addr::to_ip(column.value(i)).unwrap();
                *rows.entry(ip).or_default() += 1;
            }
        }
        rows
    }

    pub fn shutdown(self) {
        self.ingest.shutdown().unwrap();
    }
}

fn label(exporter: IpAddr) -> ExporterLabel {
    ExporterLabel {
        exporter: exporter.to_string(),
    }
}

/// A forwarder on 127.0.0.1 to `slaves`' relay listeners, its state in `state`, with small
/// buffers and a short poll interval.
pub fn config(slaves: &[Slave], state: &std::path::Path) -> flowfold_ingest::relay::ForwarderConfig {
    let mut config = flowfold_ingest::relay::ForwarderConfig::new(
        vec!["127.0.0.1:0".parse().unwrap()],
        slaves.iter().map(|s| s.relay).collect(),
        state.join("assignments.json"),
    );
    config.recv_buffer = 1 << 20;
    config.send_buffer = 1 << 20;
    config.poll_interval = Duration::from_millis(50);
    config
}

/// An exporter socket on its own loopback address (`127.0.0.<last>`).
pub fn exporter(last: u8) -> UdpSocket {
    UdpSocket::bind(SocketAddr::from(([127, 0, 0, last], 0))).unwrap()
}

/// A NetFlow v5 datagram of `flows` TCP flows that ended a second ago.
pub fn v5_datagram(sequence: u32, flows: u8) -> Vec<u8> {
    const UPTIME_MS: u32 = 3_600_000;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    let mut b = Vec::with_capacity(24 + 48 * usize::from(flows));
    b.extend_from_slice(&5u16.to_be_bytes());
    b.extend_from_slice(&u16::from(flows).to_be_bytes());
    for v in [UPTIME_MS, secs, 0, sequence] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&[0, 0, 0, 0]); // engine type and id, sampling
    for i in 0..flows {
        b.extend_from_slice(&[10, 0, 0, i]); // src
        b.extend_from_slice(&[10, 1, 0, 1]); // dst
        b.extend_from_slice(&[0, 0, 0, 0]); // next hop
        b.extend_from_slice(&1u16.to_be_bytes()); // input
        b.extend_from_slice(&2u16.to_be_bytes()); // output
        b.extend_from_slice(&3u32.to_be_bytes()); // packets
        b.extend_from_slice(&300u32.to_be_bytes()); // bytes
        b.extend_from_slice(&(UPTIME_MS - 2000).to_be_bytes()); // first
        b.extend_from_slice(&(UPTIME_MS - 1000).to_be_bytes()); // last
        b.extend_from_slice(&(40_000 + u16::from(i)).to_be_bytes());
        b.extend_from_slice(&443u16.to_be_bytes());
        b.extend_from_slice(&[0, 0x18, 6, 0]); // pad, tcp flags, protocol, tos
        b.extend_from_slice(&[0, 0, 0, 0, 24, 24, 0, 0]); // AS numbers, masks, pad
    }
    b
}

/// Polls `done` every 20 ms until it holds; panics after 10 s with `what`.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
