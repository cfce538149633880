//! NetFlow v9 and IPFIX datagrams: header, templates (v4 id 256, v6 id 257, sampling options
//! id 258) at the first datagram and every `template_refresh_packets` datagrams, then data sets.
//! v9 flowsets are padded to 4 bytes; IPFIX sets are not padded.

use engine::FlowRecord;

use super::layout::{Clock, Field, put_record, record_len};
use super::{Encoder, Format, is_v6};

/// Template ids used by the encoder.
pub(crate) const V4_TEMPLATE: u16 = 256;
pub(crate) const V6_TEMPLATE: u16 = 257;
pub(crate) const OPTIONS_TEMPLATE: u16 = 258;

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn set16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn set32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// A datagram being filled.
struct Open {
    buf: Vec<u8>,
    /// Start and id of the set being filled.
    set: Option<(usize, u16)>,
    /// Records of any kind (v9 header count).
    records: u16,
    /// Data records, options data included (IPFIX sequence).
    data_records: u32,
    /// Flow records.
    flows: u32,
}

impl Encoder {
    fn ipfix(&self) -> bool {
        self.cfg.format == Format::Ipfix
    }

    fn header_len(&self) -> usize {
        if self.ipfix() { 16 } else { 20 }
    }

    fn open_set(&self, o: &mut Open, id: u16) {
        o.set = Some((o.buf.len(), id));
        put16(&mut o.buf, id);
        put16(&mut o.buf, 0);
    }

    fn close_set(&self, o: &mut Open) {
        if let Some((start, _)) = o.set.take() {
            if !self.ipfix() {
                while !(o.buf.len() - start).is_multiple_of(4) {
                    o.buf.push(0);
                }
            }
            let len = (o.buf.len() - start) as u16;
            set16(&mut o.buf, start + 2, len);
        }
    }

    fn put_template(&self, o: &mut Open, id: u16, fields: &[Field]) {
        put16(&mut o.buf, id);
        put16(&mut o.buf, fields.len() as u16);
        for &(ie, len, _) in fields {
            put16(&mut o.buf, ie);
            put16(&mut o.buf, len);
        }
        o.records += 1;
    }

    /// Template sets, and the sampling options template and data when sampling is configured.
    fn put_templates(&self, o: &mut Open) {
        let ipfix = self.ipfix();
        self.open_set(o, if ipfix { 2 } else { 0 });
        self.put_template(o, V4_TEMPLATE, &self.fields_v4);
        self.put_template(o, V6_TEMPLATE, &self.fields_v6);
        self.close_set(o);
        let Some(n) = self.cfg.sampling_interval.filter(|n| *n > 0) else {
            return;
        };
        let domain = self.cfg.observation_domain;
        if ipfix {
            // Scope observationDomainId; 1 packet sampled, then n-1 skipped.
            self.open_set(o, 3);
            for v in [OPTIONS_TEMPLATE, 3, 1, 149, 4, 305, 4, 306, 4] {
                put16(&mut o.buf, v);
            }
            self.close_set(o);
            self.open_set(o, OPTIONS_TEMPLATE);
            for v in [domain, 1, n - 1] {
                put32(&mut o.buf, v);
            }
        } else {
            // Scope System; SAMPLING_INTERVAL and SAMPLING_ALGORITHM.
            self.open_set(o, 1);
            for v in [OPTIONS_TEMPLATE, 4, 8, 1, 4, 34, 4, 35, 1] {
                put16(&mut o.buf, v);
            }
            self.close_set(o);
            self.open_set(o, OPTIONS_TEMPLATE);
            put32(&mut o.buf, domain);
            put32(&mut o.buf, n);
            o.buf.push(1);
        }
        self.close_set(o);
        o.records += 2;
        o.data_records += 1;
    }

    fn start(&self) -> Open {
        let mut o = Open {
            buf: Vec::with_capacity(self.cfg.max_datagram.max(64)),
            set: None,
            records: 0,
            data_records: 0,
            flows: 0,
        };
        o.buf.resize(self.header_len(), 0);
        if self
            .datagrams
            .is_multiple_of(u64::from(self.cfg.template_refresh_packets.max(1)))
        {
            self.put_templates(&mut o);
        }
        o
    }

    fn flush(&mut self, mut o: Open, export_secs: u32, out: &mut Vec<Vec<u8>>) {
        self.close_set(&mut o);
        let b = &mut o.buf;
        if self.ipfix() {
            let len = b.len() as u16;
            set16(b, 0, 10);
            set16(b, 2, len);
            set32(b, 4, export_secs);
            set32(b, 8, self.sequence);
            set32(b, 12, self.cfg.observation_domain);
            self.sequence = self.sequence.wrapping_add(o.data_records);
        } else {
            let uptime = match self.clock() {
                Clock::Uptime { boot_ms } => (i64::from(export_secs) * 1000).wrapping_sub(boot_ms) as u32,
                Clock::Epoch => 0,
            };
            set16(b, 0, 9);
            set16(b, 2, o.records);
            set32(b, 4, uptime);
            set32(b, 8, export_secs);
            set32(b, 12, self.sequence);
            set32(b, 16, self.cfg.observation_domain);
            self.sequence = self.sequence.wrapping_add(1);
        }
        self.datagrams += 1;
        out.push(o.buf);
    }

    /// Encodes flows as v9 or IPFIX datagrams.
    pub(crate) fn encode_templated(&mut self, flows: &[FlowRecord], export_ms: i64, out: &mut Vec<Vec<u8>>) {
        if flows.is_empty() {
            return;
        }
        let export_secs = export_ms.div_euclid(1000).clamp(0, i64::from(u32::MAX)) as u32;
        let clock = self.clock();
        let len_v4 = record_len(&self.fields_v4);
        let len_v6 = record_len(&self.fields_v6);
        let mut o = self.start();
        for f in flows {
            let (id, len) = if is_v6(f) {
                (V6_TEMPLATE, len_v6)
            } else {
                (V4_TEMPLATE, len_v4)
            };
            let same_set = o.set.is_some_and(|(_, s)| s == id);
            let need = len + if same_set { 0 } else { 4 + 3 };
            if o.flows > 0 && o.buf.len() + need > self.cfg.max_datagram {
                self.flush(o, export_secs, out);
                o = self.start();
            }
            if o.set.is_none_or(|(_, s)| s != id) {
                self.close_set(&mut o);
                self.open_set(&mut o, id);
            }
            let fields = if id == V6_TEMPLATE {
                &self.fields_v6
            } else {
                &self.fields_v4
            };
            put_record(&mut o.buf, fields, f, clock);
            o.records += 1;
            o.data_records += 1;
            o.flows += 1;
        }
        self.flush(o, export_secs, out);
    }
}
