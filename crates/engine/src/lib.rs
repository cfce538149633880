//! flowfold engine: the flow record schema, IP address helpers, column builders, and channel
//! storage (open windows as Arrow IPC write-ahead logs, sealed windows as Parquet).
//!
//! See `README.md` beside this crate for a map of the files.

pub mod addr;
pub mod batch;
pub mod clock;
pub mod coverage;
pub mod display;
pub mod error;
pub mod layout;
pub mod outliers;
#[cfg(feature = "sql")]
pub mod profiles;
pub mod rollup;
pub mod row_counts;
pub mod schema;
pub mod snapshot;
#[cfg(feature = "sql")]
pub mod sql;
pub mod store;

pub use batch::{FlowBatchBuilder, FlowRecord};
pub use error::EngineError;
pub use schema::flow_schema;
pub use snapshot::FlowSnapshot;
#[cfg(feature = "sql")]
pub use sql::table::register_flows;
pub use store::{FlowStore, SortKey, StoreConfig};
