//! flowfold ingest: decoders for NetFlow v5, v9 and IPFIX that fill Arrow column builders,
//! UDP listeners with batched receive, and the ingest pipeline with its metrics.
//!
//! - `decode`: the decoders (pure functions of bytes, fuzzed).
//! - `columns`: what decoders append flows to, and the receive path's column builder.
//! - `listener`: sockets with large receive buffers, `recvmmsg` batches, kernel drop counts.
//! - `receiver`: one thread per listener: receive, decode into per-exporter builders, ship batches
//!   (relay listeners first unwrap the proxy's frame to recover the exporter).
//! - `relay`: the proxy side of flow-source distribution (frames, exporter assignments,
//!   the forwarder) and the frame format the slave side reads.
//! - `writer`: the thread that appends batches to the channel store and seals windows.
//! - `pipeline`: starts and stops the whole thing.
//! - `metrics`: every counter, exported as Prometheus text.

pub mod columns;
pub mod decode;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod pipeline;
pub mod receiver;
pub mod relay;
pub mod template_state;
pub mod writer;

pub use error::IngestError;
pub use pipeline::{Ingest, IngestConfig};
