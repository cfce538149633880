//! Round-robin distribution: a proxy spreads every exporter's flow records evenly over all the
//! slaves of its group, record by record, and gives every slave every template and every options
//! record, so each slave decodes (and scales by the sampling interval) what it gets and stores it
//! under the exporter's own address. [`Splitter`] is the pure part: bytes in, one re-packed
//! datagram per slave out, no socket; [`Spreader`](super::Spreader) runs it on the proxy's
//! listeners.
//!
//! **What goes where**, per input datagram:
//!
//! | input | output |
//! | --- | --- |
//! | v9 / IPFIX template set, options template set (withdrawals too) | every slave, as received |
//! | data set of an options template (sampling interval, ...) | every slave, as received |
//! | data set of a known data template | its records, one slave after the other ([`Spread::Record`]), or all of the datagram's to one slave, the slaves in turn ([`Spread::Datagram`]) |
//! | data sets of templates the proxy does not know | whole, all of a datagram's to one slave, in turn |
//! | NetFlow v5 records | one slave after the other, or all of a datagram's to one slave in turn |
//! | anything else (sFlow, unknown versions) | unchanged, one datagram to one slave in turn |
//!
//! The slave that gets a data set before its template holds it (as the decoder does for any
//! exporter) and decodes it when the template arrives: templates go to every slave. The turn
//! ("cursor") is kept per exporter + version + observation domain and carries over from one
//! datagram to the next, so every exporter's records split evenly (per-slave counts differ by at
//! most one record, plus the unknown-template sets) and every exporter appears on every slave.
//!
//! **Output format: the input's own.** v9 stays v9 and IPFIX stays IPFIX; only the records are
//! re-packed. Converting v9 to IPFIX was considered and not done: v9 times are `sys_uptime`
//! relative (FIRST_SWITCHED / LAST_SWITCHED) and need the v9 header's uptime, IPFIX has no such
//! header field; v9 options scope fields use their own type numbers (1 = System), which mean
//! other things as IPFIX element ids; the slave's decoder handles both versions anyway. Keeping
//! the version keeps every record's bytes exactly as the exporter sent them, so a slave decodes
//! what it would have decoded from the exporter.
//!
//! Each output message keeps the input's header: version, observation domain / source id, export
//! time (IPFIX), `sys_uptime` and `unix_secs` (v9), v5's times, engine and sampling field. The
//! exporter address travels in the relay frame. What changes:
//!
//! - the record count (v9 `count`: every record of the message; v5 `count`) and the IPFIX
//!   message length;
//! - **sequence numbers**: each slave gets its own counter per exporter + version + domain, so
//!   its loss accounting (the decoder's `SeqState`) sees an unbroken sequence: v9
//!   +1 per message, IPFIX + the data records (options data included) of the message, v5 + the
//!   records. Real loss between exporter and proxy is not hidden: the proxy follows the
//!   exporter's numbering with the decoder's rule and passes gaps on to the slaves' counters.
//!   The counters follow a projection of the exporter's numbering, so a restarted proxy starts
//!   where the slaves expect it; the sets of unknown templates of an IPFIX datagram go to one
//!   slave whose counter the exporter's next sequence number settles. See `split/domain.rs`.
//!
//! An output is never longer than its input (each input set adds at most one set header per
//! slave), so it fits a relay frame whenever the input does.
//!
//! **Malformed input** never panics. A datagram whose header, IPFIX message length, v5 record
//! count or set structure (set length, reserved set id) is broken is rejected whole with a
//! [`SplitError`] naming the [`DecodeError`]; the decoder would keep part of it, the proxy
//! forwards nothing rather than a guess. A data set that ends in a broken variable-length record
//! is forwarded up to that record and reported in [`SplitReport::error`]. Template records the
//! decoder would reject are broadcast as received (each slave rejects them itself) but not
//! learned, so their data sets take the unknown-template path.
//!
//! **State and cost**: per exporter + version + domain, the templates' record shapes (from the
//! template cache's parser, so records are cut exactly as the decoder cuts them, IPFIX
//! variable-length fields included), the exporter's expected sequence number, the per-slave
//! counters and the cursor; bounded by [`SplitterConfig`]. Per record: one copy into the
//! slave's arena. Datagrams allocate nothing once the domain is known and the arenas are grown.
//!
//! **Limits**: the state is per listener thread, so an exporter domain sending to two listeners
//! of one proxy gets two sets of per-slave counters (interleaved sequence numbers: the slaves
//! report reordering or gaps); state is in memory only (after a restart the first data sets go
//! the unknown-template way until the exporter's next template refresh).

mod domain;
mod output;
mod templated;
mod v5;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

pub use output::{Output, Outputs};

use self::domain::Domain;
use self::output::Msg;
use super::template_cache::Shape;
use crate::error::DecodeError;
pub use crate::error::SplitError;

/// Bounds of a splitter's state (one splitter per listener thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitterConfig {
    /// Most exporter + version + observation domain entries followed (default 65,536);
    /// datagrams of further ones are rejected ([`SplitError::TooManyDomains`]).
    pub max_domains: usize,
    /// Most templates learned over all domains (default 65,536); further ones are still sent
    /// to every slave, but their data sets take the unknown-template path.
    pub max_templates: usize,
    /// How a datagram's data records are dealt (default [`Spread::Record`]).
    pub spread: Spread,
}

impl Default for SplitterConfig {
    fn default() -> Self {
        Self {
            max_domains: 1 << 16,
            max_templates: 1 << 16,
            spread: Spread::Record,
        }
    }
}

/// How the data records of one datagram are dealt to the slaves. Templates, options templates
/// and options data go to every slave either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Spread {
    /// Each record to the next slave: per exporter, the slaves' shares differ by at most one
    /// record; a datagram becomes up to one datagram per slave, so the proxy's send work grows
    /// with the number of slaves.
    #[default]
    Record,
    /// All data records of a datagram to one slave, the next slave for the exporter's next
    /// datagram: per exporter, the shares differ by at most one datagram's records; one
    /// datagram out per datagram in (plus the broadcasts), however many slaves. A new
    /// exporter starts at the slave after the previous new exporter's.
    Datagram,
}

/// What splitting one datagram did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitReport {
    /// Export version (the first two bytes; 0 for a datagram passed through).
    pub version: u16,
    /// Flow records spread over the slaves.
    pub flows: u32,
    /// Template records (definitions and withdrawals) sent to every slave.
    pub templates: u32,
    /// Options template records sent to every slave.
    pub options_templates: u32,
    /// Options data records sent to every slave.
    pub options_records: u32,
    /// Data sets of unknown templates sent whole to one slave.
    pub unknown_sets: u32,
    /// Templates not learned because [`SplitterConfig::max_templates`] was reached.
    pub templates_not_learned: u32,
    /// The datagram was not v5, v9 or IPFIX and went unchanged to one slave.
    pub passed_through: bool,
    /// Units missing in the exporter's own sequence before this datagram (flows for v5,
    /// packets for v9, data records for IPFIX), carried over to one slave's counter.
    pub sequence_gap: u64,
    /// A data set cut at a broken variable-length record (the records before it were sent).
    pub error: Option<DecodeError>,
}

/// A template the splitter can cut records of.
#[derive(Debug)]
struct Known {
    options: bool,
    shape: Shape,
}

/// Which exporter, version and observation domain (v9 source id, v5 engine) state belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DomainKey {
    exporter: IpAddr,
    version: u16,
    domain: u32,
}

/// Splits export datagrams into one datagram per slave (see the module doc).
#[derive(Debug)]
pub struct Splitter {
    slaves: usize,
    cfg: SplitterConfig,
    domains: HashMap<DomainKey, Domain>,
    templates: usize,
    /// The message each slave gets from the datagram being split (reused).
    msgs: Vec<Msg>,
    /// The slave that gets the next datagram passed through.
    passthrough: usize,
}

impl Splitter {
    /// A splitter over `slaves` slaves (at least one).
    pub fn new(slaves: usize, cfg: SplitterConfig) -> Self {
        let slaves = slaves.max(1);
        Self {
            slaves,
            cfg,
            domains: HashMap::new(),
            templates: 0,
            msgs: vec![Msg::default(); slaves],
            passthrough: 0,
        }
    }

    /// The number of slaves.
    pub fn slaves(&self) -> usize {
        self.slaves
    }

    /// Spreads over a new list of slaves from the next datagram on: position `i` of the new
    /// list held position `mapping[i]` of the old one, `None` for a slave added (at least one
    /// entry). Every exporter's turn starts over; a kept slave's sequence counters go on, an
    /// added slave's start at each exporter's next sequence number (so templates replayed to it
    /// first, numbered by the template cache, end where its first split message begins).
    pub fn set_slaves(&mut self, mapping: &[Option<usize>]) {
        if mapping.is_empty() {
            return;
        }
        for domain in self.domains.values_mut() {
            domain.remap(mapping);
        }
        self.slaves = mapping.len();
        self.msgs = vec![Msg::default(); self.slaves];
        self.passthrough = 0;
    }

    /// Exporter + version + domain entries followed.
    pub fn domains(&self) -> usize {
        self.domains.len()
    }

    /// Templates learned over all domains.
    pub fn templates(&self) -> usize {
        self.templates
    }

    /// Splits one datagram from `source`, appending the slaves' datagrams to `out`. On error
    /// nothing is appended. Never panics, whatever the bytes.
    pub fn split(&mut self, source: SocketAddr, datagram: &[u8], out: &mut Outputs) -> Result<SplitReport, SplitError> {
        match datagram.first_chunk::<2>() {
            None => Err(DecodeError::Truncated {
                what: "version",
                need: 2,
                have: datagram.len(),
            }
            .into()),
            Some([0, 5]) => v5::split(self, source, datagram, out),
            Some([0, 9]) => templated::split(self, 9, source, datagram, out),
            Some([0, 10]) => templated::split(self, 10, source, datagram, out),
            Some(_) => {
                let slave = self.passthrough;
                self.passthrough = (slave + 1) % self.slaves;
                out.push_whole(slave, source, datagram);
                Ok(SplitReport {
                    passed_through: true,
                    ..SplitReport::default()
                })
            }
        }
    }
}

/// The state of `key`, created (first sequence number `seq`) if the bound allows.
fn domain<'a>(
    domains: &'a mut HashMap<DomainKey, Domain>,
    cfg: &SplitterConfig,
    slaves: usize,
    key: DomainKey,
    seq: u32,
) -> Result<&'a mut Domain, SplitError> {
    if !domains.contains_key(&key) && domains.len() >= cfg.max_domains {
        return Err(SplitError::TooManyDomains { limit: cfg.max_domains });
    }
    let spread = cfg.spread;
    let count = domains.len();
    Ok(domains.entry(key).or_insert_with(|| {
        let mut domain = Domain::new(slaves, key.version, seq);
        if spread == Spread::Datagram {
            // Exporters that send one datagram at a time would all start on slave 0.
            domain.cursor = count % slaves;
        }
        domain
    }))
}

#[cfg(test)]
mod tests;
