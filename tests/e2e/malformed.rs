//! Malformed, truncated and random datagrams are counted as decode errors, never crash the
//! node, and do not disturb good export arriving after them.

use std::net::UdpSocket;
use std::time::Duration;

use flowfold_tests::node::Standalone;
use flowfold_tests::wait_for;

use crate::{flowfold, generate, stored_totals};

/// Deterministic bad datagrams: random bytes, and headers of every version cut short or lying
/// about their lengths.
fn bad_datagrams(n: usize) -> Vec<Vec<u8>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let len = 4 + (next() % 300) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            match i % 4 {
                // NetFlow v5 claiming 30 records in far fewer bytes.
                0 => d[..4].copy_from_slice(&[0, 5, 0, 30]),
                // NetFlow v9 and IPFIX headers followed by garbage, IPFIX with a lying length.
                1 => d[..2].copy_from_slice(&[0, 9]),
                2 => d[..4].copy_from_slice(&[0, 10, 0xff, 0xff]),
                // Unknown versions.
                _ => d[..2].copy_from_slice(&[0x42, 0x42]),
            }
            d
        })
        .collect()
}

#[test]
fn bad_datagrams_are_counted_and_good_ones_still_stored() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let node = Standalone::start(flowfold(), &tmp.path().join("data"), &[])?;
    let target = node.flow_addr();
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let bad = bad_datagrams(2000);
    for d in &bad {
        socket.send_to(d, target)?;
        // Gentle pacing: the test is about decoding, not about socket buffer overflow.
        std::thread::sleep(Duration::from_micros(50));
    }
    let errors = wait_for("every bad datagram to be counted", Duration::from_secs(20), || {
        let n = node.metric_sum("flowfold_decode_errors_total", &[]).ok()?;
        (n >= bad.len() as f64 * 0.95).then_some(n)
    })?;
    assert!(errors <= bad.len() as f64, "more errors ({errors}) than bad datagrams");
    assert!(node.metric_sum("flowfold_decode_errors_total", &["kind=\"unsupported_version\""])? >= 400.0);

    let summary = generate(&[
        "--target",
        &target.to_string(),
        "--exporters",
        "2",
        "--flows",
        "5000",
        "--rate",
        "50000",
        "--seed",
        "11",
    ])?;
    assert_eq!(summary["flows"].as_u64(), Some(5000), "generator summary: {summary}");
    // Garbage that happens to parse as a template and data may store junk flows under the
    // garbage's sender (127.0.0.1); the generator's exporters must hold exactly their flows.
    wait_for("the good flows to be stored", Duration::from_secs(20), || {
        let totals = stored_totals(&node).ok()?;
        let good: u64 = totals
            .iter()
            .filter(|(e, _)| *e != "127.0.0.1")
            .map(|(_, t)| t[0])
            .sum();
        (good == 5000).then_some(())
    })?;
    node.stop()
}
