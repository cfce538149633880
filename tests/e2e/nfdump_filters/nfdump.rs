//! What nfdump says: every flow of a capture directory as flow records (from `-o json`), and
//! the flow, packet and byte totals a filter selects (from the summary line of `-o null`).

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use engine::FlowRecord;
use engine::addr::from_ip;
use serde_json::Value;

/// Flows, packets and bytes.
pub type Totals = [u64; 3];

/// nfdump's totals of the flows under `dir` that `filter` selects; `Err` with nfdump's message
/// if it refuses the filter.
pub fn filtered_totals(dir: &Path, filter: &str) -> anyhow::Result<Result<Totals, String>> {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .args(["-N", "-o", "null", filter])
        .output()
        .context("running nfdump")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("Summary:")) else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Ok(Err(format!("{}{}", stdout.trim(), stderr.trim())));
    };
    let field = |name: &str| -> anyhow::Result<u64> {
        let rest = line
            .split_once(name)
            .with_context(|| format!("no '{name}' in {line:?}"))?
            .1;
        let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
        digits.parse().with_context(|| format!("'{name}' in {line:?}"))
    };
    Ok(Ok([
        field("total flows:")?,
        field("total packets:")?,
        field("total bytes:")?,
    ]))
}

/// Every flow under `dir` as nfdump decoded it.
pub fn all_flows(dir: &Path) -> anyhow::Result<Vec<FlowRecord>> {
    let out = Command::new("nfdump")
        .arg("-R")
        .arg(dir)
        .args(["-N", "-o", "json"])
        .output()
        .context("running nfdump")?;
    if !out.status.success() {
        bail!("nfdump -o json failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).context("nfdump's JSON")?;
    records.iter().map(record).collect()
}

/// One JSON record as a flow record; fields nfdump leaves out are absent.
fn record(json: &Value) -> anyhow::Result<FlowRecord> {
    let number = |key: &str| json.get(key).and_then(Value::as_u64);
    let narrow = |key: &str| -> anyhow::Result<Option<u32>> {
        number(key)
            .map(|n| u32::try_from(n).with_context(|| format!("{key} {n}")))
            .transpose()
    };
    let addr = |v4: &str, v6: &str| -> anyhow::Result<Option<[u8; 16]>> {
        match json.get(v4).or_else(|| json.get(v6)).and_then(Value::as_str) {
            Some(text) => Ok(Some(from_ip(text.parse::<IpAddr>().with_context(|| text.to_string())?))),
            None => Ok(None),
        }
    };
    let time = |key: &str| -> anyhow::Result<i64> {
        let text = json
            .get(key)
            .and_then(Value::as_str)
            .with_context(|| format!("no {key}"))?;
        epoch_ms(text).with_context(|| format!("{key} {text:?}"))
    };
    // ICMP records print type and code instead of ports; nfdump keeps them as source port 0 and
    // destination port `type << 8 | code`, like flowfold's decoders.
    let (src_port, dst_port) = match (narrow("icmp_type")?, narrow("icmp_code")?) {
        (Some(icmp_type), Some(code)) => (Some(0), Some((icmp_type << 8 | code) as u16)),
        _ => (
            narrow("src_port")?.map(|n| n as u16),
            narrow("dst_port")?.map(|n| n as u16),
        ),
    };
    Ok(FlowRecord {
        flow_start: time("first")?,
        flow_end: Some(time("last")?),
        exporter: addr("ip4_router", "ip6_router")?.unwrap_or_default(),
        observation_domain: 0,
        src_addr: addr("src4_addr", "src6_addr")?,
        dst_addr: addr("dst4_addr", "dst6_addr")?,
        src_port,
        dst_port,
        protocol: narrow("proto")?.map(|n| n as u8),
        tcp_flags: json.get("tcp_flags").and_then(Value::as_str).map(flag_bits),
        tos: narrow("src_tos")?.map(|n| n as u8),
        packets: number("in_packets"),
        bytes: number("in_bytes"),
        input_if: narrow("input_snmp")?,
        output_if: narrow("output_snmp")?,
        src_as: narrow("src_as")?,
        dst_as: narrow("dst_as")?,
        ..FlowRecord::default()
    })
}

/// The bits of nfdump's flags text: 8 places `CEUAPRSF`, a dot for a flag not set.
fn flag_bits(text: &str) -> u16 {
    text.chars()
        .rev()
        .enumerate()
        .filter(|(_, c)| *c != '.')
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// Milliseconds since the epoch of nfdump's `YYYY-MM-DDTHH:MM:SS.mmm` (read as UTC; only
/// differences of these times matter here).
fn epoch_ms(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    // Days since 1970-01-01 of a proleptic Gregorian date (March-based years).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + m) * 60_000 + s * 1000 + ms.parse::<i64>().ok()?)
}

#[test]
fn nfdump_texts_convert() {
    assert_eq!(epoch_ms("1970-01-01T00:00:00.000"), Some(0));
    assert_eq!(epoch_ms("2026-01-01T00:00:00.250"), Some(1_767_225_600_250));
    assert_eq!(epoch_ms("2024-02-29T12:30:01.005"), Some(1_709_209_801_005));
    assert_eq!(epoch_ms("yesterday"), None);
    assert_eq!(flag_bits("...AP.S."), 0x1a);
    assert_eq!(flag_bits("CE....S."), 0xc2);
    assert_eq!(flag_bits("........"), 0);
}
