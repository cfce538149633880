//! flowfold flight: the Flight SQL service of the query port (statements, prepared statements,
//! catalog listings, SqlInfo), its limits (admission, timeout, cancellation), its metrics, and a
//! small Flight SQL client; and the control plane (`control`: unit registration, health, pushed
//! configuration versions on TCP 2210).
//!
//! See `README.md` beside this crate for a map of the files.

pub mod catalog_listing;
pub mod client;
pub mod control;
pub mod error;
pub mod failover;
pub mod limits;
pub mod metrics;
pub mod params;
pub mod prepared;
pub mod runner;
pub mod server;
pub mod service;
pub mod sql_info;

pub use client::{Answer, ClientError, SqlClient};
pub use error::{QueryError, to_status};
pub use limits::QueryLimits;
pub use metrics::QueryMetrics;
pub use runner::QueryRunner;
pub use server::serve;
pub use service::FlowSqlService;
