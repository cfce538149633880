//! Template and options state per exporter + observation domain, and its serde snapshot.

use std::collections::HashMap;

use engine::addr::Addr16;
use serde::{Deserialize, Serialize};

use super::fields::{Compiled, FieldSpec, compile};
use super::sequence::SeqState;

/// A template as announced by the exporter (the compiled form is rebuilt from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDef {
    /// Template id (256..=65535).
    pub id: u16,
    /// `true` for an options template.
    pub options: bool,
    /// The fields, scope fields first for options templates.
    pub fields: Vec<FieldSpec>,
}

/// A template with its compiled ops.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pub def: TemplateDef,
    pub compiled: Compiled,
}

impl Template {
    /// Compiles a definition.
    pub(crate) fn new(def: TemplateDef) -> Result<Self, &'static str> {
        let compiled = compile(&def.fields)?;
        Ok(Self { def, compiled })
    }
}

/// Which exporter, protocol version and observation domain (v9 source id; v5 engine type/id)
/// a piece of state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct DomainKey {
    pub exporter: Addr16,
    pub version: u16,
    pub domain: u32,
}

/// What options data told us about an exporter + domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionsState {
    /// Sampling interval announced without a sampler id.
    pub default_interval: Option<u32>,
    /// Sampling interval per sampler / selector id.
    pub samplers: Vec<(u32, u32)>,
    /// IPFIX systemInitTimeMilliseconds (ms since the epoch).
    pub system_init_ms: Option<i64>,
}

/// Most samplers remembered per domain.
pub(crate) const MAX_SAMPLERS: usize = 256;

impl OptionsState {
    /// The interval for a data record: its sampler's, else the domain's, else the only sampler's.
    #[inline]
    pub(crate) fn interval_for(&self, sampler: Option<u32>) -> Option<u32> {
        if let Some(id) = sampler
            && let Some((_, n)) = self.samplers.iter().find(|(s, _)| *s == id)
        {
            return Some(*n);
        }
        match (self.default_interval, self.samplers.as_slice()) {
            (Some(n), _) => Some(n),
            (None, [(_, n)]) => Some(*n),
            _ => None,
        }
    }

    /// Records a sampler's interval (or the domain's when `sampler` is `None`).
    pub(crate) fn set_interval(&mut self, sampler: Option<u32>, interval: u32) {
        match sampler {
            None => self.default_interval = Some(interval),
            Some(id) => {
                if let Some(e) = self.samplers.iter_mut().find(|(s, _)| *s == id) {
                    e.1 = interval;
                } else if self.samplers.len() < MAX_SAMPLERS {
                    self.samplers.push((id, interval));
                }
            }
        }
    }
}

/// Everything kept for one exporter + domain.
#[derive(Debug, Default)]
pub(crate) struct DomainState {
    pub templates: HashMap<u16, Template>,
    pub options: OptionsState,
    pub seq: SeqState,
}

/// Every template and options state of a decoder, serializable (JSON is fine) so that a
/// restarted decoder decodes data at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSnapshot {
    /// One entry per exporter + version + domain.
    pub domains: Vec<DomainSnapshot>,
}

/// The state of one exporter + version + observation domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainSnapshot {
    /// Exporter address (IPv4 mapped into IPv6).
    pub exporter: Addr16,
    /// Export version (9 or 10).
    pub version: u16,
    /// Observation domain / source id.
    pub domain: u32,
    /// Templates, sorted by id.
    pub templates: Vec<TemplateDef>,
    /// Options state (sampling, system init time).
    pub options: OptionsState,
}

impl DomainSnapshot {
    pub(crate) fn key(&self) -> DomainKey {
        DomainKey {
            exporter: self.exporter,
            version: self.version,
            domain: self.domain,
        }
    }
}
