//! The ground truth is readable Parquet in the flow schema and its totals are the records'.

use arrow::array::{Array, AsArray};
use arrow::datatypes::UInt64Type;
use engine::{FlowRecord, flow_schema};
use flowfold_datasets::generator::{GenConfig, Generator};
use flowfold_datasets::truth::{self, TruthSummary, TruthWriter, summary_path};

#[test]
fn truth_round_trips_with_equal_totals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truth.parquet");
    let mut g = Generator::new(GenConfig {
        seed: 11,
        flows: 150_000,
        exporters: 3,
        ..GenConfig::default()
    })
    .unwrap();
    let mut w = TruthWriter::create(&path, g.exporters()).unwrap();
    let (mut packets, mut bytes) = (0u64, 0u64);
    let mut per_exporter = [0u64; 3];
    let mut first: Option<FlowRecord> = None;
    while let Some((i, f)) = g.next_flow() {
        packets += f.packets.unwrap();
        bytes += f.bytes.unwrap();
        per_exporter[i] += 1;
        first.get_or_insert(f);
        w.push(i, &f).unwrap();
    }
    let summary = w.finish().unwrap();
    assert_eq!(
        (summary.flows, summary.packets, summary.bytes),
        (150_000, packets, bytes)
    );
    let flows: Vec<u64> = summary.exporters.iter().map(|e| e.flows).collect();
    assert_eq!(flows, per_exporter);
    assert_eq!(summary.exporters[1].exporter, "127.0.1.2");
    assert_eq!(TruthSummary::read(&summary_path(&path)).unwrap(), summary);

    let batches = truth::read(&path).unwrap();
    assert!(batches.len() >= 3, "several row groups");
    let (mut rows, mut p, mut b) = (0usize, 0u64, 0u64);
    for batch in &batches {
        assert_eq!(batch.schema().fields(), flow_schema().fields());
        rows += batch.num_rows();
        let pk = batch.column_by_name("packets").unwrap().as_primitive::<UInt64Type>();
        let by = batch.column_by_name("bytes").unwrap().as_primitive::<UInt64Type>();
        assert_eq!(pk.null_count(), 0);
        p += pk.values().iter().sum::<u64>();
        b += by.values().iter().sum::<u64>();
    }
    assert_eq!((rows, p, b), (150_000, packets, bytes));
    let first = first.unwrap();
    let start = batches[0]
        .column_by_name("flow_start")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    assert_eq!(start.value(0), first.flow_start);
}

#[test]
fn unknown_exporter_index_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let g = Generator::new(GenConfig {
        flows: 1,
        exporters: 2,
        ..GenConfig::default()
    })
    .unwrap();
    let mut w = TruthWriter::create(&dir.path().join("t.parquet"), g.exporters()).unwrap();
    let err = w.push(5, &FlowRecord::default()).unwrap_err();
    assert!(err.to_string().contains("exporter index 5"), "{err}");
}

#[test]
fn summary_path_sits_beside_the_parquet_file() {
    assert_eq!(
        summary_path(std::path::Path::new("/x/truth.parquet")),
        std::path::Path::new("/x/truth.json")
    );
    assert_eq!(
        summary_path(std::path::Path::new("t.json")),
        std::path::Path::new("t.json.summary.json")
    );
}
