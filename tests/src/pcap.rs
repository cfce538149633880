//! Writes small pcap captures of synthetic TCP and UDP traffic, for exporters such as softflowd.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

/// One synthetic flow: `packets` packets of `payload` bytes each, one second apart.
#[derive(Debug, Clone, Copy)]
pub struct SynthFlow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    pub packets: u32,
    pub payload: u16,
    /// Capture time of the first packet, seconds since the epoch.
    pub start_secs: u32,
}

impl SynthFlow {
    /// IP bytes of one packet (what exporters count as octets).
    pub fn ip_len(&self) -> u32 {
        let l4 = if self.protocol == 6 { 20 } else { 8 };
        20 + l4 + u32::from(self.payload)
    }
}

/// Totals of a capture, as an exporter should count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureTotals {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// A deterministic mix of `n` TCP and UDP flows starting at `start_secs`.
pub fn synthetic_flows(n: u32, start_secs: u32) -> Vec<SynthFlow> {
    (0..n)
        .map(|i| SynthFlow {
            src: Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250) as u8 + 1),
            dst: Ipv4Addr::new(192, 0, 2, (i % 7) as u8 + 1),
            src_port: 20_000 + (i % 30_000) as u16,
            dst_port: [443, 80, 53, 22, 8080][(i % 5) as usize],
            protocol: if i % 5 == 2 { 17 } else { 6 },
            packets: 1 + (i * 7919) % 9,
            payload: (40 + (i * 131) % 1200) as u16,
            start_secs: start_secs + i % 60,
        })
        .collect()
}

/// Writes the flows as an Ethernet pcap at `path` and returns the totals in it.
pub fn write_pcap(path: &Path, flows: &[SynthFlow]) -> std::io::Result<CaptureTotals> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    // Global header: magic, version 2.4, zone 0, sigfigs 0, snaplen, linktype Ethernet.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0u8; 8])?;
    out.write_all(&65_535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let mut totals = CaptureTotals::default();
    // Packets interleaved by time so the capture is ordered.
    let mut packets: Vec<(u32, usize)> = Vec::new();
    for (i, f) in flows.iter().enumerate() {
        for k in 0..f.packets {
            packets.push((f.start_secs + k, i));
        }
    }
    packets.sort();
    for (ts, i) in packets {
        let frame = frame(&flows[i]);
        out.write_all(&ts.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&(frame.len() as u32).to_le_bytes())?;
        out.write_all(&(frame.len() as u32).to_le_bytes())?;
        out.write_all(&frame)?;
        totals.packets += 1;
        totals.bytes += u64::from(flows[i].ip_len());
    }
    totals.flows = flows.len() as u64;
    out.flush()?;
    Ok(totals)
}

fn frame(f: &SynthFlow) -> Vec<u8> {
    let ip_len = f.ip_len() as u16;
    let mut p = Vec::with_capacity(14 + ip_len as usize);
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00]);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&ip_len.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 64, f.protocol, 0, 0]);
    p.extend_from_slice(&f.src.octets());
    p.extend_from_slice(&f.dst.octets());
    p.extend_from_slice(&f.src_port.to_be_bytes());
    p.extend_from_slice(&f.dst_port.to_be_bytes());
    if f.protocol == 6 {
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x04, 0, 0, 0, 0, 0]);
    } else {
        p.extend_from_slice(&(8 + f.payload).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
    }
    p.resize(14 + ip_len as usize, 0);
    p
}

/// `dir/capture.pcap` with `n` synthetic flows that started 15 minutes ago, and its totals.
pub fn recent_capture(dir: &Path, n: u32) -> anyhow::Result<(std::path::PathBuf, CaptureTotals)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as u32;
    let pcap = dir.join("capture.pcap");
    let capture = write_pcap(&pcap, &synthetic_flows(n, now - 900))?;
    Ok((pcap, capture))
}
