//! flowfold engine: the flow record schema, IP address helpers, column builders, and channel
//! storage (open windows as Arrow IPC write-ahead logs, sealed windows as Parquet).
//!
//! See `README.md` beside this crate for a map of the files.

pub mod addr;
pub mod batch;
pub mod clock;
pub mod display;
pub mod error;
pub mod layout;
pub mod schema;
pub mod snapshot;
pub mod store;
#[cfg(feature = "sql")]
pub mod table;

pub use batch::{FlowBatchBuilder, FlowRecord};
pub use error::EngineError;
pub use schema::flow_schema;
pub use snapshot::FlowSnapshot;
pub use store::{FlowStore, SortKey, StoreConfig};
#[cfg(feature = "sql")]
pub use table::register_flows;
