//! softflowd exports a capture as NetFlow v9 and as IPFIX to flowfold and to nfcapd: the flow,
//! packet and byte totals per exporter must be equal, and equal to the capture's own.

use std::time::Duration;

use flowfold_tests::node::Standalone;
use flowfold_tests::pcap::{synthetic_flows, write_pcap};
use flowfold_tests::peers::{Nfcapd, softflowd_replay};
use flowfold_tests::wait_for;

use crate::{flowfold, require, stored_count, stored_totals};

fn softflowd_to_flowfold_and_nfcapd(version: u8) -> anyhow::Result<()> {
    require("softflowd");
    require("nfcapd");
    let tmp = tempfile::tempdir()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as u32;
    let flows = synthetic_flows(400, now - 900);
    let pcap = tmp.path().join("capture.pcap");
    let capture = write_pcap(&pcap, &flows)?;

    let node = Standalone::start(flowfold(), &tmp.path().join("data"), &[])?;
    softflowd_replay(&pcap, node.flow_addr(), version, tmp.path())?;
    let nfcapd = Nfcapd::start(&tmp.path().join("nfcapd"))?;
    softflowd_replay(&pcap, nfcapd.addr, version, tmp.path())?;
    let expected = nfcapd.stop_and_read()?;

    let theirs = expected.get("127.0.0.1").copied().unwrap_or_default();
    assert_eq!(
        (theirs.flows, theirs.packets, theirs.bytes),
        (capture.flows, capture.packets, capture.bytes),
        "nfcapd disagrees with the capture itself"
    );
    wait_for("flowfold to store every flow", Duration::from_secs(20), || {
        (stored_count(&node).ok()? == capture.flows).then_some(())
    })?;
    let ours = stored_totals(&node)?;
    assert_eq!(ours.len(), 1, "one exporter expected, got {ours:?}");
    assert_eq!(
        ours["127.0.0.1"],
        [theirs.flows, theirs.packets, theirs.bytes],
        "flowfold vs nfcapd"
    );

    // After a graceful stop every window is sealed into Parquet and the totals stay the same.
    let data = node.data().to_path_buf();
    node.stop()?;
    let after = flowfold_tests::node::sql(
        flowfold(),
        &data,
        "SELECT count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes FROM flows",
    )?;
    assert_eq!(after[0]["flows"].as_u64(), Some(capture.flows));
    assert_eq!(after[0]["bytes"].as_u64(), Some(capture.bytes));
    Ok(())
}

#[test]
fn softflowd_netflow_v9_totals_equal_nfcapd() -> anyhow::Result<()> {
    softflowd_to_flowfold_and_nfcapd(9)
}

#[test]
fn softflowd_ipfix_totals_equal_nfcapd() -> anyhow::Result<()> {
    softflowd_to_flowfold_and_nfcapd(10)
}
