//! DataFusion side of the engine: the `flowfold` catalog and its flow tables, flow SQL functions,
//! and the read-only session every query runs in.

pub mod catalog;
pub mod channels;
pub mod count_rows;
pub mod functions;
pub mod local_files;
pub mod nfdump_filter;
pub mod rollup;
pub mod session;
pub mod table;
#[cfg(test)]
pub(crate) mod test_flows;

pub use catalog::{CATALOG, CHANNEL_PREFIX, FlowCatalog, LIVE_SCHEMA, channel_table_name, find_channel};
pub use session::{QueryResources, flow_session, query_config, query_runtime, read_only};
pub use table::{FLOWS_TABLE, FlowsTable, register_flows};
