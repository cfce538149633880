//! Flow-source distribution: a proxy forwards each exporter's datagrams, unchanged, to the
//! one slave that owns the exporter, and the slave stores them under the exporter's address.
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
//! - `metrics`: the forwarder's counters ([`RelayMetrics`]).
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
pub mod template_cache;

pub use assignments::Assignments;
pub use forwarder::{Forwarder, ForwarderConfig};
pub use frame::{FrameError, decode_frame, encode_frame};
pub use metrics::RelayMetrics;
pub use template_cache::{TemplateCache, TemplateCacheConfig};
