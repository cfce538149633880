//! NetFlow v5, v9 and IPFIX decoders: pure functions of bytes that append flows to a
//! [`FlowSink`] (an [`engine::FlowBatchBuilder`], or the receive path's
//! [`FlowColumns`](crate::columns::FlowColumns)).
//!
//! One [`Decoder`] per listener thread keeps the template and options state of every exporter
//! it has seen, keyed by exporter address + export version + observation domain (v9 source id).
//! Templates are compiled once into a short list of ops (`fields.rs`); each record is then a
//! tight loop that fills one [`engine::FlowRecord`] on the stack (`record.rs`).
//!
//! Files: `v5.rs`, `v9.rs`, `ipfix.rs` parse the three packet formats; `sets.rs` handles template
//! and data sets for v9 and IPFIX; `template.rs` the per-domain state and its snapshot;
//! `held.rs` data held for a missing template; `sequence.rs` sequence-gap counting.

mod fields;
mod held;
mod ipfix;
mod read;
mod record;
mod sequence;
mod sets;
mod template;
mod v5;
mod v9;

use std::collections::HashMap;
use std::net::IpAddr;

pub use fields::FieldSpec;
pub use template::{DomainSnapshot, OptionsState, TemplateDef, TemplateSnapshot};

use crate::columns::FlowSink;
use crate::error::DecodeError;
use held::HeldQueue;
pub(crate) use sequence::SeqState;
use template::{DomainKey, DomainState, Template};

/// Bounds of a decoder's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Most data sets held for missing templates (default 1024).
    pub max_held_sets: usize,
    /// Most bytes of held data sets (default 4 MiB).
    pub max_held_bytes: usize,
    /// Most templates kept over all exporters (default 65536); more are rejected.
    pub max_templates: usize,
    /// Most exporter + domain entries kept (default 65536); datagrams of further domains are
    /// decoded but their templates are not kept.
    pub max_domains: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self {
            max_held_sets: 1024,
            max_held_bytes: 4 << 20,
            max_templates: 65_536,
            max_domains: 65_536,
        }
    }
}

/// What decoding one datagram did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeReport {
    /// Export version of the datagram (0 if shorter than 2 bytes).
    pub version: u16,
    /// Flows appended to `out`, including `released_flows`.
    pub flows: u32,
    /// Template and options template records (definitions and withdrawals) read.
    pub templates: u32,
    /// Data sets held because their template is not known yet.
    pub held_sets: u32,
    /// Flows of earlier held data sets decoded now (their template arrived).
    pub released_flows: u32,
    /// Held data sets dropped to keep the held data within its bounds.
    pub dropped_held: u32,
    /// Flows (v5), packets (v9) or data records (IPFIX) missing per the sequence numbers.
    pub sequence_gap: u64,
    /// The first error; the other sets of the datagram were still decoded.
    pub error: Option<DecodeError>,
}

impl DecodeReport {
    pub(crate) fn fail(&mut self, e: DecodeError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

/// Decoder of NetFlow v5, v9 and IPFIX datagrams with template state for all exporters.
#[derive(Debug, Default)]
pub struct Decoder {
    cfg: DecoderConfig,
    domains: HashMap<DomainKey, DomainState>,
    held: HeldQueue,
    generation: u64,
    templates: usize,
}

impl Decoder {
    /// A decoder with no templates.
    pub fn new(cfg: DecoderConfig) -> Self {
        Self { cfg, ..Self::default() }
    }

    /// Decodes one datagram from `exporter`, appending every flow to `out` (all flows of one
    /// call belong to that exporter). `received_ms` = arrival time (fallback clock when the
    /// header's export time is 0).
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        received_ms: i64,
        out: &mut impl FlowSink,
    ) -> DecodeReport {
        let mut report = DecodeReport::default();
        let Some(version) = read::u16_at(datagram, 0) else {
            report.fail(DecodeError::Truncated {
                what: "version",
                need: 2,
                have: datagram.len(),
            });
            return report;
        };
        report.version = version;
        match version {
            5 => self.decode_v5(exporter, datagram, received_ms, out, &mut report),
            9 => self.decode_v9(exporter, datagram, received_ms, out, &mut report),
            10 => self.decode_ipfix(exporter, datagram, received_ms, out, &mut report),
            _ => report.fail(DecodeError::UnsupportedVersion { version }),
        }
        report
    }

    /// Every template and options state, for persistence.
    pub fn template_snapshot(&self) -> TemplateSnapshot {
        let mut domains: Vec<DomainSnapshot> = self
            .domains
            .iter()
            .filter(|(_, st)| !st.templates.is_empty() || st.options != OptionsState::default())
            .map(|(k, st)| {
                let mut templates: Vec<TemplateDef> = st.templates.values().map(|t| t.def.clone()).collect();
                templates.sort_by_key(|t| t.id);
                DomainSnapshot {
                    exporter: k.exporter,
                    version: k.version,
                    domain: k.domain,
                    templates,
                    options: st.options.clone(),
                }
            })
            .collect();
        domains.sort_by_key(|d| (d.exporter, d.version, d.domain));
        TemplateSnapshot { domains }
    }

    /// Adds the templates and options state of a snapshot (replacing what the decoder has for
    /// the same domains). Templates that no longer compile, or beyond the limits, are skipped.
    pub fn restore_templates(&mut self, snap: TemplateSnapshot) {
        for d in snap.domains {
            let key = d.key();
            if !self.domains.contains_key(&key) && self.domains.len() >= self.cfg.max_domains {
                continue;
            }
            let st = self.domains.entry(key).or_default();
            st.options = d.options;
            for def in d.templates {
                if def.id < 256 {
                    continue;
                }
                let id = def.id;
                let Ok(t) = Template::new(def) else { continue };
                if !st.templates.contains_key(&id) {
                    if self.templates >= self.cfg.max_templates {
                        continue;
                    }
                    self.templates += 1;
                }
                st.templates.insert(id, t);
            }
        }
        self.generation += 1;
    }

    /// A counter that changes whenever templates or options state change (to know when to
    /// persist a snapshot).
    pub fn template_generation(&self) -> u64 {
        self.generation
    }

    /// Number of data sets currently held for missing templates.
    pub fn held_sets(&self) -> usize {
        self.held.len()
    }
}
