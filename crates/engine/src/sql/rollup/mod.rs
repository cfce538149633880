//! Answering aggregations from rollups (see [`crate::rollup`]): the [`UseRollups`] optimizer rule
//! turns `count(*)`, `sum(bytes)` and `sum(packets)` grouped by a rollup's keys over `flows` (or a
//! channel table, or a profile view of them) into sums over a [`RollupTable`], which reads each
//! sealed part's rollup when the query's time range takes the whole part, and the part's flows
//! otherwise (open windows, parts cut by the time range, parts without rollups). The answer is the
//! same either way; `EXPLAIN` shows `RollupTable` and which files it read how.

pub(crate) mod bounds;
mod rule;
mod table;

pub use bounds::flow_start_bounds;
pub(crate) use rule::is_count_star;
pub use rule::{RollupFor, UseRollups};
pub use table::{RollupTable, rollup_filter_pushdown, rollup_table_schema};

#[cfg(test)]
mod tests;
