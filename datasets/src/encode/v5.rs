//! NetFlow v5 datagrams: 24-byte header, up to 30 records of 48 bytes. IPv4 only: flows with
//! IPv6 addresses are skipped. The sampling interval goes in the header (mode 1, 14 bits).

use engine::FlowRecord;

use super::{Encoder, is_v6};

/// Most records in one v5 datagram.
pub(crate) const MAX_RECORDS: usize = 30;

fn v4(a: Option<[u8; 16]>) -> [u8; 4] {
    let a = a.unwrap_or([0; 16]);
    [a[12], a[13], a[14], a[15]]
}

impl Encoder {
    /// The v5 header sampling field.
    pub(crate) fn v5_sampling(&self) -> u16 {
        match self.cfg.sampling_interval {
            Some(n) if n > 0 => (1 << 14) | n.min(0x3fff) as u16,
            _ => 0,
        }
    }

    /// Encodes IPv4 flows as v5 datagrams.
    pub(crate) fn encode_v5(&mut self, flows: &[FlowRecord], export_ms: i64, out: &mut Vec<Vec<u8>>) {
        let per = ((self.cfg.max_datagram.saturating_sub(24)) / 48).clamp(1, MAX_RECORDS);
        let boot = self.boot(export_ms);
        let uptime = export_ms.wrapping_sub(boot) as u32;
        let secs = export_ms.div_euclid(1000).clamp(0, i64::from(u32::MAX)) as u32;
        let nsecs = (export_ms.rem_euclid(1000) * 1_000_000) as u32;
        let domain = self.cfg.observation_domain;
        let sampling = self.v5_sampling();
        let v4_flows: Vec<&FlowRecord> = flows.iter().filter(|f| !is_v6(f)).collect();
        for chunk in v4_flows.chunks(per) {
            let mut b = Vec::with_capacity(24 + 48 * chunk.len());
            b.extend_from_slice(&5u16.to_be_bytes());
            b.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            for v in [uptime, secs, nsecs, self.sequence] {
                b.extend_from_slice(&v.to_be_bytes());
            }
            b.push((domain >> 8) as u8);
            b.push(domain as u8);
            b.extend_from_slice(&sampling.to_be_bytes());
            for f in chunk {
                let time = |t: i64| t.wrapping_sub(boot) as u32;
                b.extend_from_slice(&v4(f.src_addr));
                b.extend_from_slice(&v4(f.dst_addr));
                b.extend_from_slice(&v4(f.next_hop));
                b.extend_from_slice(&(f.input_if.unwrap_or(0) as u16).to_be_bytes());
                b.extend_from_slice(&(f.output_if.unwrap_or(0) as u16).to_be_bytes());
                b.extend_from_slice(&(f.packets.unwrap_or(0) as u32).to_be_bytes());
                b.extend_from_slice(&(f.bytes.unwrap_or(0) as u32).to_be_bytes());
                b.extend_from_slice(&time(f.flow_start).to_be_bytes());
                b.extend_from_slice(&time(f.flow_end.unwrap_or(f.flow_start)).to_be_bytes());
                b.extend_from_slice(&f.src_port.unwrap_or(0).to_be_bytes());
                b.extend_from_slice(&f.dst_port.unwrap_or(0).to_be_bytes());
                b.push(0);
                b.push(f.tcp_flags.unwrap_or(0) as u8);
                b.push(f.protocol.unwrap_or(0));
                b.push(f.tos.unwrap_or(0));
                b.extend_from_slice(&(f.src_as.unwrap_or(0) as u16).to_be_bytes());
                b.extend_from_slice(&(f.dst_as.unwrap_or(0) as u16).to_be_bytes());
                b.push(f.src_mask.unwrap_or(0));
                b.push(f.dst_mask.unwrap_or(0));
                b.extend_from_slice(&[0, 0]);
            }
            self.sequence = self.sequence.wrapping_add(chunk.len() as u32);
            self.datagrams += 1;
            out.push(b);
        }
    }
}
