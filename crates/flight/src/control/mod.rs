//! The control plane on TCP 2210: nodes register with the master, report their health and the
//! flow sources they see, and receive the configuration the master pushes.
//!
//! # Protocol (`proto/control.proto`, package `flowfold.control.v1`)
//!
//! One bidirectional stream per node, `Control.Session`, opened by the node:
//!
//! - node -> master: `Hello` once and first (name, role, proxy group, flowfold version, its
//!   query / flow / metrics addresses, the config version it runs), then `Heartbeat` every
//!   `heartbeat` (default 2 s: the config version it runs, flows stored) and `Exporters`
//!   (every exporter address it has stored flows of: flow-source discovery) at session start
//!   and whenever that set changes.
//! - master -> node: `Config { version, payload }`, its current configuration at session start
//!   and every later version as it is published (the push).
//!
//! A bidi stream suits this better than unary calls: the push needs no polling, the master
//! sees a node go away when its stream ends (connected / disconnected in the registry without
//! timers), and one TCP connection with HTTP/2 keepalives carries everything.
//!
//! # Configuration versions
//!
//! [`ControlConfig`] is the payload (JSON inside the protobuf `bytes`, so the profile model is
//! written once, in `engine::profiles`): the master's profile set and its topology. The
//! [`ConfigPublisher`] on the master numbers each published configuration: one more than the
//! last, and never less than the profile catalog's version, so a master with a catalog file
//! does not go back to 1 after a restart. The master is authoritative: a node stores and runs
//! whatever configuration its master sends, even an older number (a master restarted with an
//! in-memory catalog), and the master always sends its current one at session start.
//!
//! # Node side
//!
//! [`ControlClient`] keeps the session to the first master of `[control] masters` that answers
//! (then the next, with backoff from 1 s up to 30 s). Each received configuration is written
//! atomically to its [`StoredConfig`] file (`DATA/control/config.json`; temporary file, fsync,
//! rename, fsync of the directory) before it is published on a `watch` channel, so a node
//! restarted while the master is away runs the last version it received. A corrupt file is
//! logged with the reason and ignored. Metrics: `flowfold_control_config_version`,
//! `flowfold_control_connected`, `flowfold_control_configs_received_total`,
//! `flowfold_control_sessions_failed_total{reason}`.
//!
//! # Master side
//!
//! [`ControlService`] checks the token, reads the `Hello`, records the unit in the
//! [`UnitRegistry`] (what `GET /units` and `flowfold admin units` show), then keeps the unit's
//! heartbeats, exporters and acknowledged version up to date until the stream ends. Exporters
//! are listed per unit; mapping them to source groups comes later.
//!
//! # Security and bad input
//!
//! With a token configured, every session must carry `authorization: Bearer <token>`; a missing
//! or wrong one is refused with `UNAUTHENTICATED` naming the cause. A first message that is not a
//! `Hello`, an empty name, an unknown role or a second `Hello` is refused with
//! `INVALID_ARGUMENT` naming the cause. Each refusal is counted in
//! `flowfold_control_sessions_rejected_total{reason}`. A master without a token accepts any node
//! and says so in a warning at start. Tokens travel in clear text: TLS is not built yet.
//!
//! - `model`: [`ControlConfig`], [`UnitRole`].
//! - `publisher`: [`ConfigPublisher`] (master).
//! - `registry`: [`UnitRegistry`], [`UnitView`] (master).
//! - `server`: [`ControlService`], [`serve_control`] (master).
//! - `client`: [`ControlClient`] (nodes).
//! - `stored`: [`StoredConfig`], the node's copy on disk.
//! - `metrics`: the server's and the client's counters.
//! - `error`: [`ControlError`] and its gRPC status.

mod client;
mod error;
pub mod metrics;
mod model;
mod publisher;
mod registry;
mod server;
mod stored;

#[cfg(test)]
mod tests;

/// The generated protobuf messages and gRPC client and server of `flowfold.control.v1`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("flowfold.control.v1");
}

pub use client::{ControlClient, ControlClientSettings, NodeStats, StatsSource};
pub use error::ControlError;
pub use metrics::{ControlClientMetrics, ControlServerMetrics};
pub use model::{ControlConfig, UnitRole};
pub use publisher::ConfigPublisher;
pub use registry::{UnitRegistry, UnitView, UnitsView};
pub use server::{ControlService, serve_control};
pub use stored::{CONFIG_FILE, CONTROL_DIR, StoredConfig};
