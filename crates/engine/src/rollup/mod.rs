//! Rollups: per-window summaries written beside each sealed window at seal time, so that top-N
//! and totals over whole windows read a few thousand summary rows instead of every flow.
//!
//! A rollup of a kind holds, for one sealed window part, one row per distinct value of the kind's
//! key columns: the key, the exporter, and the window's `flows` (count), `packets` and `bytes`
//! (sums, null when every flow's value was null, wrapping on overflow as SQL `sum` over `UInt64`
//! does). Its file sits beside the part, named
//! `<stem>.<kind>.<first_start_ms>.<last_start_ms>.rollup`: the first and last `flow_start` of the
//! part, so a query can tell without opening anything whether a time range takes the whole part.
//! The `.rollup` extension keeps the files out of `flows/**/*.parquet` globs (DuckDB, pyarrow);
//! their content is Parquet.
//!
//! Rollups are derived data: a part without a rollup (written before rollups existed, or whose
//! rollup failed) is read from its flows, and a rollup is only read while its part is.

mod build;
mod daily;
mod file;
mod hourly;
mod part_set;
mod sum;

pub use build::build_rollup;
pub use daily::refresh_day;
pub use file::{ROLLUP_EXT, RollupFile, write_rollup};
pub use hourly::{STALE_GRACE, SumRefresh, refresh_hour};
pub use part_set::{PartSet, SumLevel};

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::schema::{col, flow_schema};

/// Name of the flow-count column of a rollup.
pub const FLOWS_COL: &str = "flows";

/// What a rollup is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RollupKind {
    /// By source address: top talkers.
    Src,
    /// By destination address: top destinations.
    Dst,
    /// By protocol and destination port: top services.
    Port,
}

impl RollupKind {
    /// Every kind, smallest (fewest rows on typical traffic) first.
    pub const ALL: [RollupKind; 3] = [RollupKind::Src, RollupKind::Dst, RollupKind::Port];

    /// The name used in file names and `EXPLAIN`.
    pub fn name(self) -> &'static str {
        match self {
            RollupKind::Src => "src",
            RollupKind::Dst => "dst",
            RollupKind::Port => "port",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<RollupKind> {
        RollupKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The flow columns the rollup is keyed by (besides the exporter, which a part has one of).
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            RollupKind::Src => &[col::SRC_ADDR],
            RollupKind::Dst => &[col::DST_ADDR],
            RollupKind::Port => &[col::PROTOCOL, col::DST_PORT],
        }
    }

    /// `true` if the rollup has a column named `name` with the flow column's meaning:
    /// the exporter and the keys (the sums have other meanings).
    pub fn has_dimension(self, name: &str) -> bool {
        name == col::EXPORTER || self.keys().contains(&name)
    }

    /// The schema of the kind's rollup files: `exporter`, the keys, `flows`, `packets`, `bytes`.
    pub fn schema(self) -> SchemaRef {
        match self {
            RollupKind::Src => Arc::clone(&SRC_SCHEMA),
            RollupKind::Dst => Arc::clone(&DST_SCHEMA),
            RollupKind::Port => Arc::clone(&PORT_SCHEMA),
        }
    }
}

fn kind_schema(kind: RollupKind) -> SchemaRef {
    let flows = flow_schema();
    let mut fields: Vec<Field> = Vec::new();
    for name in std::iter::once(col::EXPORTER).chain(kind.keys().iter().copied()) {
        fields.push(flows.field_with_name(name).expect("key is a flow column").clone());
    }
    fields.push(Field::new(FLOWS_COL, DataType::Int64, false));
    fields.push(flows.field_with_name(col::PACKETS).expect("flow column").clone());
    fields.push(flows.field_with_name(col::BYTES).expect("flow column").clone());
    Arc::new(Schema::new(fields))
}

static SRC_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| kind_schema(RollupKind::Src));
static DST_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| kind_schema(RollupKind::Dst));
static PORT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| kind_schema(RollupKind::Port));

#[cfg(test)]
mod tests;
