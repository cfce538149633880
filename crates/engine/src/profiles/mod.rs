//! Profiles: named slices of the flows, as views.
//!
//! The **live** profile is the stored data: one channel per flow source (`live.exporter_<addr>`)
//! and `live.flows`. A **sub-profile** has a parent (`live` or another profile), the parent
//! channels it reads (`sources`; none listed = every channel of the parent, present and future),
//! and its own channels, each a filter in nfdump syntax or a SQL predicate. Profiles nest.
//!
//! Nothing is copied: a channel is a filter over the `flows` table of the live schema, so a
//! profile is usable the moment it is created, over all the flows already stored. In SQL a
//! profile is a schema: `<profile>.<channel>` and `<profile>.flows` (every flow of any of its
//! channels, each once).
//!
//! **Meaning of a channel** `P.c`: the flows that are in at least one of `P`'s sources and pass
//! `c`'s filter and `P`'s time span. A source `live.exporter_X` is `exporter = X`; a source `Q.s`
//! of a parent profile `Q` is, recursively, `Q.s`'s own meaning. So nested filters combine with
//! AND down the chain, and sources with OR (a flow in two sources counts once, as it is stored
//! once). The predicate goes into the query plan as an ordinary filter, so exporter pruning, the
//! slaves' Parquet pruning and the distributed partial aggregation all apply (see `EXPLAIN`).
//!
//! - `model`: the profile record ([`Profile`], [`ProfileChannel`], [`ChannelFilter`]).
//! - `check`: names, parent, sources, filters and time span of a profile before it is stored.
//! - `predicate`: the filter expression of a channel or a profile.
//! - `store`: the SQLite file profiles are kept in (one transaction per change).
//! - `catalog`: [`ProfileCatalog`], the checked in-memory set over the store, what nodes use.
//! - `schema`: the SQL schema of one profile (views over the live `flows` table).
//! - `retention`: a profile's `max_age` / `max_bytes`: its horizon, and how long its sources'
//!   windows are kept ([`retention_rules`]).
//! - `sources`: deleted flow sources (who still reads them); `live_view`: schema `live` without
//!   them ([`LiveView`]).
//! - `error`: [`ProfileError`].

mod catalog;
mod check;
mod error;
mod live_view;
mod model;
mod predicate;
mod retention;
mod schema;
mod sources;
mod sql_filter;
mod store;

#[cfg(test)]
mod tests;

pub use catalog::ProfileCatalog;

/// The profile catalog's file name in a node's data directory (or the master's catalog path).
pub const PROFILES_FILE: &str = "profiles.db";

pub use error::ProfileError;
pub use live_view::LiveView;
pub use model::{ChannelFilter, LIVE_PROFILE, Profile, ProfileChannel, ProfileSet, Retention, TimeSpan};
pub use predicate::{channel_predicate, profile_predicate};
pub use retention::retention_rules;
pub use schema::ProfileSchema;
pub use sources::readers_of;
pub use store::ProfileStore;
