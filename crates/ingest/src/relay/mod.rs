//! A proxy's distribution of its site's export over the slaves of its group, in one of two
//! models (`[distribution] model` of the proxy):
//!
//! - **flow-source** ([`Forwarder`]): each exporter's datagrams go, unchanged, to the one slave
//!   that owns the exporter (sticky, persisted, rebalanced by command);
//! - **round-robin** ([`Spreader`]): every exporter's flow records are spread evenly over all
//!   slaves, re-packed into datagrams of the exporter's own version, and templates, options
//!   templates and options data go to every slave ([`Splitter`]).
//!
//! Either way the slave stores the flows under the exporter's address, carried in a relay frame.
//!
//! - `frame`: the relay frame (`FFR1`, source port, source address, payload) that carries the
//!   original exporter address, since the slave sees the proxy as the UDP sender.
//! - `assignments`: the sticky, persisted exporter -> slave map (fewest exporters first,
//!   moved only by an explicit rebalance).
//! - `sender`: batched non-blocking `sendmmsg` of frames, payloads gathered without a copy.
//! - `forwarder`: the proxy's receive-route-send threads ([`Forwarder`]).
//! - `template_cache`: each forwarding thread's v9 / IPFIX template, options-template and
//!   options-data records per exporter and domain ([`TemplateCache`]), replayed to the new
//!   slave of a rebalanced exporter before its next datagram.
//! - `split`: the round-robin model's pure part ([`Splitter`]): one input datagram in, one
//!   re-packed datagram per slave out, with per-slave sequence numbers (files: `split/output.rs`
//!   per-slave arenas and message builder, `split/templated.rs` v9 / IPFIX, `split/v5.rs`,
//!   `split/domain.rs` per-domain templates, turn and counters).
//! - `spreader`: the round-robin proxy's receive-split-send threads ([`Spreader`]).
//! - `metrics`: the counters of both models ([`RelayMetrics`]).
//!
//! The slave side is part of the ordinary pipeline: `IngestConfig::relay_listeners` are
//! listeners whose datagrams are frames (see `receiver`).
//!
//! Keeping the exporter address by spoofing it instead (`IP_TRANSPARENT`, the source address
//! set on each forwarded datagram) would let a slave take the export unframed, but it needs
//! `CAP_NET_ADMIN` and routing that returns replies through the proxy; it is a possible later
//! option, not built.

pub mod assignments;
pub mod forwarder;
pub mod frame;
pub mod metrics;
pub mod sender;
pub mod split;
pub mod spreader;
pub mod template_cache;
#[cfg(test)]
mod test_packets;
mod threads;

pub use assignments::{Assignments, SlaveChange};
pub use forwarder::{Forwarder, ForwarderConfig, Moved};
pub use frame::{FrameError, decode_frame, encode_frame};
pub use metrics::RelayMetrics;
pub use split::{Outputs, SplitReport, Splitter, SplitterConfig, Spread};
pub use spreader::{SeenExporters, Spreader, SpreaderConfig, SpreaderSlaves};
pub use template_cache::{TemplateCache, TemplateCacheConfig};
