//! The ingest crate's errors: [`DecodeError`] for bad export datagrams (one variant per
//! kind of damage, each with a stable metrics label) and [`IngestError`] for everything else.

use std::net::IpAddr;

/// Why (part of) a datagram could not be decoded. Decoding never panics; it reports the first
/// error of a datagram and still decodes the sets it can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram ends before a structure it announces.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// The version field is not 5, 9 or 10.
    #[error("unsupported export version {version}")]
    UnsupportedVersion {
        /// The first two bytes of the datagram.
        version: u16,
    },
    /// A header length or count disagrees with the datagram.
    #[error("bad {what}: header says {declared}, datagram has {actual}")]
    BadLength {
        /// The field that disagrees (`ipfix message length`, `v5 count`).
        what: &'static str,
        /// The declared value.
        declared: usize,
        /// What the datagram holds.
        actual: usize,
    },
    /// A (flow)set length is shorter than its header or runs past the end of the message.
    #[error("bad length {length} for set {set_id} ({remaining} bytes remain)")]
    BadSetLength {
        /// The set id.
        set_id: u16,
        /// The declared set length.
        length: usize,
        /// Bytes left in the message at the set start.
        remaining: usize,
    },
    /// A set id that is reserved by the protocol.
    #[error("reserved set id {set_id}")]
    ReservedSetId {
        /// The set id.
        set_id: u16,
    },
    /// A template (or options template) that cannot be used.
    #[error("bad template {template_id} from {exporter} domain {domain}: {reason}")]
    BadTemplate {
        /// The exporter.
        exporter: IpAddr,
        /// Observation domain (v9 source id).
        domain: u32,
        /// The template id.
        template_id: u16,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl DecodeError {
    /// A short stable label for metrics (`truncated`, `unsupported_version`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::UnsupportedVersion { .. } => "unsupported_version",
            DecodeError::BadLength { .. } => "bad_length",
            DecodeError::BadSetLength { .. } => "bad_set_length",
            DecodeError::ReservedSetId { .. } => "reserved_set_id",
            DecodeError::BadTemplate { .. } => "bad_template",
        }
    }

    /// Every label [`kind`](Self::kind) can return, for pre-registering metrics.
    pub const KINDS: [&'static str; 6] = [
        "truncated",
        "unsupported_version",
        "bad_length",
        "bad_set_length",
        "reserved_set_id",
        "bad_template",
    ];
}

/// Why a datagram on a relay listener is not a relay frame (see `relay::frame`). Such datagrams
/// are dropped and counted as `flows_dropped{stage="relay", reason=kind}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than the 22-byte frame header.
    #[error("relay frame too short: {len} bytes, the header alone is 22")]
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// The first four bytes are not `FFR1`: typically an exporter sending straight to a relay
    /// port instead of the proxy.
    #[error("relay frame starts with {found:02x?}, not \"FFR1\" (an exporter sending to a relay port?)")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
}

impl FrameError {
    /// A short stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::TooShort { .. } => "bad_frame_too_short",
            FrameError::BadMagic { .. } => "bad_frame_magic",
        }
    }

    /// Every label [`kind`](Self::kind) can return, for pre-registering metrics.
    pub const KINDS: [&'static str; 2] = ["bad_frame_too_short", "bad_frame_magic"];
}

/// Why a round-robin proxy did not forward a datagram (see `relay::split`). Counted as
/// `flowfold_relay_malformed_total{reason=kind}` (malformed) or as a drop (too many domains).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The header, the message length or the set structure is broken; nothing of the datagram
    /// is forwarded.
    #[error("malformed datagram: {0}")]
    Malformed(#[from] DecodeError),
    /// A new exporter + version + observation domain while the splitter already follows
    /// `limit` of them.
    #[error("too many exporter domains (limit {limit})")]
    TooManyDomains {
        /// The configured bound.
        limit: usize,
    },
}

impl SplitError {
    /// A short stable label for metrics: the [`DecodeError::kind`] of a malformed datagram,
    /// `too_many_domains` otherwise.
    pub fn kind(&self) -> &'static str {
        match self {
            SplitError::Malformed(e) => e.kind(),
            SplitError::TooManyDomains { .. } => "too_many_domains",
        }
    }
}

/// Errors of the ingest crate outside datagram decoding.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A datagram could not be decoded.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A socket or file operation failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A persisted template snapshot could not be read or written.
    #[error("template snapshot: {reason}")]
    Snapshot {
        /// What went wrong.
        reason: String,
    },
    // Variants below belong to the listeners and the pipeline (the lead's files).
    /// A flow listener could not bind its address.
    #[error("cannot listen for flows on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Saved decoder state (templates) could not be read or written.
    #[error("template state {path}: {reason}")]
    TemplateState {
        /// The state file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A pipeline thread could not be started or ended abnormally.
    #[error("ingest thread {name}: {reason}")]
    Thread {
        /// The thread's name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The proxy's exporter-to-slave assignments could not be read or written. An unreadable
    /// file stops the forwarder from starting rather than silently moving every exporter.
    #[error("assignment state {path}: {reason}")]
    AssignmentState {
        /// The state file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A relay (proxy forwarding) setting is unusable.
    #[error("relay setting {setting}: {reason}")]
    RelayConfig {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A rebalance named a slave index the forwarder does not have.
    #[error("no slave {slave}: the forwarder has {slaves} slaves")]
    UnknownSlave {
        /// The requested index.
        slave: usize,
        /// How many slaves there are.
        slaves: usize,
    },
    /// The storage engine failed.
    #[error(transparent)]
    Store(#[from] engine::EngineError),
}
