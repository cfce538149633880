//! The flow sources the master knows: every exporter a unit reported over the control plane,
//! mapped to the source group (and proxy group) of the unit that reported it, kept in the
//! master's catalog (table `flow_sources`, in the same SQLite file as the profiles and the
//! topology) so the list outlives a restart of the master and of the units.
//!
//! A unit is placed by its name (a slave or a proxy of the topology), else by the proxy group it
//! said it belongs to (`[control] group`). An exporter reported by a unit the topology does not
//! place is *unmapped*; one reported from two source groups is a *conflict* (an exporter sending
//! to two sites, or moved between them): both are listed as such and logged, never dropped, since
//! their flows are stored and answered all the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::PlannerError;
use crate::store::store_error;
use crate::topology::Topology;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS flow_sources (
        exporter TEXT NOT NULL,
        unit TEXT NOT NULL,
        source_group TEXT,
        proxy_group TEXT,
        first_seen_ms INTEGER NOT NULL,
        last_reported_ms INTEGER NOT NULL,
        PRIMARY KEY (exporter, unit)
    );
";

/// Where a unit sits in the topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub source_group: String,
    pub proxy_group: String,
}

impl Topology {
    /// The source and proxy group of the unit `name`: the group that has it as a slave or as its
    /// proxy, else the proxy group named `group` (what the unit said in its registration).
    pub fn place_unit(&self, name: &str, group: Option<&str>) -> Option<Placement> {
        let groups = || {
            self.source_groups
                .iter()
                .flat_map(|s| s.proxy_groups.iter().map(move |g| (s, g)))
        };
        let by_name = groups()
            .find(|(_, g)| g.slaves.iter().any(|s| s.name == name) || g.proxy.as_ref().is_some_and(|p| p.name == name));
        let found = by_name.or_else(|| groups().find(|(_, g)| Some(g.name.as_str()) == group))?;
        Some(Placement {
            source_group: found.0.name.clone(),
            proxy_group: found.1.name.clone(),
        })
    }
}

/// How an exporter maps to the source groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// In exactly one source group.
    Mapped,
    /// Reported only by units the topology does not place.
    Unmapped,
    /// Reported from more than one source group.
    Conflict,
}

impl SourceState {
    /// Its name in the listing and in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            SourceState::Mapped => "mapped",
            SourceState::Unmapped => "unmapped",
            SourceState::Conflict => "conflict",
        }
    }
}

/// One flow source as `GET /flow-sources` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowSource {
    /// The exporter's address.
    pub exporter: String,
    pub state: SourceState,
    /// The source groups of the units that reported it.
    pub source_groups: BTreeSet<String>,
    /// Their proxy groups.
    pub proxy_groups: BTreeSet<String>,
    /// The units that reported it (slaves storing its flows, proxies forwarding them).
    pub units: BTreeSet<String>,
    /// Milliseconds since the epoch when a unit first reported it.
    pub first_seen_ms: i64,
    /// Milliseconds since the epoch of the last report naming it.
    pub last_reported_ms: i64,
}

/// The master's flow sources, in its catalog.
#[derive(Debug)]
pub struct FlowSourceStore {
    conn: Mutex<Connection>,
}

impl FlowSourceStore {
    /// Opens (creating the table if needed) the catalog file at `path`.
    pub fn open(path: &Path) -> Result<FlowSourceStore, PlannerError> {
        let conn = Connection::open(path).map_err(store_error("open"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(store_error("set the busy timeout"))?;
        Self::init(conn)
    }

    /// A store in memory (a master without a catalog file).
    pub fn in_memory() -> Result<FlowSourceStore, PlannerError> {
        Self::init(Connection::open_in_memory().map_err(store_error("open in memory"))?)
    }

    fn init(conn: Connection) -> Result<FlowSourceStore, PlannerError> {
        conn.execute_batch(SCHEMA)
            .map_err(store_error("create the flow_sources table"))?;
        Ok(FlowSourceStore { conn: Mutex::new(conn) })
    }

    /// Records that `unit`, placed at `placement`, reports `exporters` at `now_ms`, in one
    /// transaction; returns the exporters no unit had reported before.
    pub fn record(
        &self,
        unit: &str,
        placement: Option<&Placement>,
        exporters: &BTreeSet<String>,
        now_ms: i64,
    ) -> Result<Vec<String>, PlannerError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction().map_err(store_error("begin"))?;
        let mut new = Vec::new();
        for exporter in exporters {
            let known: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM flow_sources WHERE exporter = ?1)",
                    [exporter],
                    |r| r.get(0),
                )
                .map_err(store_error("look up a flow source"))?;
            if !known {
                new.push(exporter.clone());
            }
            tx.execute(
                "INSERT INTO flow_sources \
                 (exporter, unit, source_group, proxy_group, first_seen_ms, last_reported_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
                 ON CONFLICT (exporter, unit) DO UPDATE SET source_group = excluded.source_group, \
                 proxy_group = excluded.proxy_group, last_reported_ms = excluded.last_reported_ms",
                params![
                    exporter,
                    unit,
                    placement.map(|p| p.source_group.as_str()),
                    placement.map(|p| p.proxy_group.as_str()),
                    now_ms
                ],
            )
            .map_err(store_error("record a flow source"))?;
        }
        tx.commit().map_err(store_error("commit"))?;
        Ok(new)
    }

    /// Every flow source, by exporter address.
    pub fn list(&self) -> Result<Vec<FlowSource>, PlannerError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut statement = conn
            .prepare(
                "SELECT exporter, unit, source_group, proxy_group, first_seen_ms, last_reported_ms \
                 FROM flow_sources ORDER BY exporter, unit",
            )
            .map_err(store_error("list the flow sources"))?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(store_error("list the flow sources"))?;
        let mut by_exporter: BTreeMap<String, FlowSource> = BTreeMap::new();
        for row in rows {
            let (exporter, unit, source_group, proxy_group, first, last) =
                row.map_err(store_error("read a flow source"))?;
            let source = by_exporter.entry(exporter.clone()).or_insert_with(|| FlowSource {
                exporter,
                state: SourceState::Unmapped,
                source_groups: BTreeSet::new(),
                proxy_groups: BTreeSet::new(),
                units: BTreeSet::new(),
                first_seen_ms: first,
                last_reported_ms: last,
            });
            source.units.insert(unit);
            source.source_groups.extend(source_group);
            source.proxy_groups.extend(proxy_group);
            source.first_seen_ms = source.first_seen_ms.min(first);
            source.last_reported_ms = source.last_reported_ms.max(last);
        }
        Ok(by_exporter
            .into_values()
            .map(|mut source| {
                source.state = match source.source_groups.len() {
                    0 => SourceState::Unmapped,
                    1 => SourceState::Mapped,
                    _ => SourceState::Conflict,
                };
                source
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
