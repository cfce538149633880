//! Distributed flow queries on datafusion-distributed: the master plans SQL over the cluster,
//! each slave runs the stage fragments over its own flows, and partial aggregate states come
//! back to be merged. See `README.md` for the map of files.

pub mod actions;
pub mod channel;
pub mod channels;
pub mod cluster;
pub mod cluster_count;
pub mod codec;
pub mod count_rows;
pub mod coverage;
pub mod error;
pub mod explain;
pub mod flow_sources;
mod group_top_n;
pub mod health;
pub mod local;
pub mod merge;
pub mod reduce_tree;
pub mod report;
pub mod routing;
pub mod scan;
pub mod server;
pub mod session;
pub mod store;
pub mod table;
pub mod topology;

pub use channel::{TimedChannels, WorkerTimeouts};
pub use channels::ChannelCache;
pub use cluster::{ClusterState, DEFAULT_DOWN_FOR};
pub use error::PlannerError;
pub use explain::distributed_explain;
pub use flow_sources::{FlowSource, FlowSourceStore, Placement, SourceState};
pub use health::{NodeStatus, mark_failed_groups, probe_node};
pub use local::LocalFlows;
pub use report::{MISSING_KEY, PARTIAL_HEADER, QueryReport, SERVED_BY_KEY, Served};
pub use server::serve_worker;
pub use session::{flow_worker, master_session};
pub use store::{StoredTopology, TopologyStore};
pub use topology::{NewSlave, ProxyGroup, SlaveRef, SourceGroup, Topology};
