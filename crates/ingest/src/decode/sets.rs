//! Template, options and data sets, shared by the v9 and IPFIX parsers: one [`Session`] per
//! datagram holds the exporter + domain state and everything a set may change.

use std::net::IpAddr;

use engine::FlowRecord;

use super::held::{HeldQueue, HeldSet};
use super::record::{ExportCtx, Extra, finish, walk_set};
use super::template::{DomainKey, DomainState, Template, TemplateDef};
use super::{DecodeReport, Decoder, DecoderConfig};
use crate::columns::FlowSink;
use crate::error::DecodeError;

/// The state one datagram's sets work on.
pub(crate) struct Session<'a> {
    cfg: &'a DecoderConfig,
    held: &'a mut HeldQueue,
    generation: &'a mut u64,
    templates: &'a mut usize,
    /// `false` when the domain table is full: templates live only for this datagram.
    kept: bool,
    pub st: &'a mut DomainState,
    pub report: &'a mut DecodeReport,
    pub out: &'a mut dyn FlowSink,
    pub key: DomainKey,
    pub ctx: ExportCtx,
    pub exporter: IpAddr,
    /// A template was defined by this datagram.
    defined: bool,
    /// A data set was held, so the number of records of this datagram is unknown.
    pub held_any: bool,
    /// Data records (flows and options records) decoded from this datagram's own sets.
    pub records: u32,
}

/// What decoding one data set with a known template gave.
struct Decoded {
    flows: u32,
    records: u32,
    options_changed: bool,
    error: Option<DecodeError>,
}

/// Decodes a data set whose template is known; `None` if it is not.
fn decode_known(
    st: &mut DomainState,
    id: u16,
    body: &[u8],
    ctx: &ExportCtx,
    out: &mut dyn FlowSink,
) -> Option<Decoded> {
    let t = st.templates.get(&id)?;
    let base = FlowRecord {
        exporter: ctx.exporter,
        observation_domain: ctx.domain,
        ..FlowRecord::default()
    };
    let c = &t.compiled;
    if t.def.options {
        let before = st.options.clone();
        let opts = &mut st.options;
        let (records, error) = walk_set(&t.def.fields, c, body, &base, |_, x: Extra| {
            if let Some(n) = x.own_interval() {
                opts.set_interval(x.sampler_id, n);
            }
            if let Some(init) = x.system_init {
                opts.system_init_ms = Some(init.min(i64::MAX as u64) as i64);
            }
        });
        let options_changed = st.options != before;
        return Some(Decoded {
            flows: 0,
            records,
            options_changed,
            error,
        });
    }
    let opts = &st.options;
    let (records, error) = walk_set(&t.def.fields, c, body, &base, |mut r, x| {
        finish(&mut r, &x, c, ctx, opts);
        out.append_flow(&r);
    });
    Some(Decoded {
        flows: records,
        records,
        options_changed: false,
        error,
    })
}

impl Decoder {
    /// Opens the session of one datagram for `key`.
    pub(crate) fn session<'a>(
        &'a mut self,
        key: DomainKey,
        ctx: ExportCtx,
        exporter: IpAddr,
        report: &'a mut DecodeReport,
        out: &'a mut dyn FlowSink,
        spare: &'a mut DomainState,
    ) -> Session<'a> {
        let Decoder {
            cfg,
            domains,
            held,
            generation,
            templates,
        } = self;
        let (st, kept) = if domains.len() < cfg.max_domains {
            (domains.entry(key).or_default(), true)
        } else if let Some(st) = domains.get_mut(&key) {
            (st, true)
        } else {
            (spare, false)
        };
        Session {
            cfg,
            held,
            generation,
            templates,
            kept,
            st,
            report,
            out,
            key,
            ctx,
            exporter,
            defined: false,
            held_any: false,
            records: 0,
        }
    }
}

impl Session<'_> {
    /// Records an error (the first one of the datagram is reported).
    pub(crate) fn fail(&mut self, e: DecodeError) {
        self.report.fail(e);
    }

    /// A `BadTemplate` error for this domain.
    pub(crate) fn bad_template(&self, template_id: u16, reason: &'static str) -> DecodeError {
        DecodeError::BadTemplate {
            exporter: self.exporter,
            domain: self.key.domain,
            template_id,
            reason,
        }
    }

    /// Defines (or refreshes) a template.
    pub(crate) fn define(&mut self, def: TemplateDef) {
        self.report.templates += 1;
        if def.id < 256 {
            let e = self.bad_template(def.id, "template id below 256");
            return self.fail(e);
        }
        if self.st.templates.get(&def.id).is_some_and(|t| t.def == def) {
            self.defined = true;
            return;
        }
        let id = def.id;
        let t = match Template::new(def) {
            Ok(t) => t,
            Err(reason) => {
                let e = self.bad_template(id, reason);
                return self.fail(e);
            }
        };
        let new = !self.st.templates.contains_key(&id);
        if new && self.kept {
            if *self.templates >= self.cfg.max_templates {
                let e = self.bad_template(id, "template limit reached");
                return self.fail(e);
            }
            *self.templates += 1;
        }
        self.st.templates.insert(id, t);
        *self.generation += 1;
        self.defined = true;
    }

    /// Withdraws one template.
    pub(crate) fn withdraw(&mut self, id: u16) {
        self.report.templates += 1;
        if self.st.templates.remove(&id).is_some() {
            if self.kept {
                *self.templates -= 1;
            }
            *self.generation += 1;
        }
    }

    /// Withdraws every data template (`options == false`) or every options template.
    pub(crate) fn withdraw_all(&mut self, options: bool) {
        self.report.templates += 1;
        let before = self.st.templates.len();
        self.st.templates.retain(|_, t| t.def.options != options);
        let removed = before - self.st.templates.len();
        if removed > 0 {
            if self.kept {
                *self.templates -= removed;
            }
            *self.generation += 1;
        }
    }

    /// Decodes a data set, or holds it if its template is unknown.
    pub(crate) fn data(&mut self, id: u16, body: &[u8]) {
        match decode_known(self.st, id, body, &self.ctx, self.out) {
            Some(d) => {
                self.report.flows += d.flows;
                self.records = self.records.wrapping_add(d.records);
                if d.options_changed {
                    *self.generation += 1;
                }
                if let Some(e) = d.error {
                    self.fail(e);
                }
            }
            None => {
                self.held_any = true;
                self.report.held_sets += 1;
                let set = HeldSet {
                    key: self.key,
                    template_id: id,
                    ctx: self.ctx,
                    body: body.to_vec(),
                };
                self.report.dropped_held += self.held.hold(set, self.cfg.max_held_sets, self.cfg.max_held_bytes);
            }
        }
    }

    /// Ends the datagram: decodes held sets whose template this datagram defined.
    pub(crate) fn release_held(&mut self) {
        if !self.defined {
            return;
        }
        let templates = &self.st.templates;
        let ready = self.held.take_ready(&self.key, |id| templates.contains_key(&id));
        for set in ready {
            if let Some(d) = decode_known(self.st, set.template_id, &set.body, &set.ctx, self.out) {
                self.report.flows += d.flows;
                self.report.released_flows += d.flows;
                if d.options_changed {
                    *self.generation += 1;
                }
                if let Some(e) = d.error {
                    self.fail(e);
                }
            }
        }
    }
}
