//! The master's topology in its catalog: table `topology` in the same SQLite file as the
//! profiles (`catalog = PATH` of the master; one file to back up), one row holding the topology
//! as JSON and its version. The configuration's `[cluster]` topology is only the initial state:
//! it is stored (version 1) on the first start with an empty table, and every later start reads
//! the stored one, whatever the configuration says then (a differing configuration is logged).
//! Every edit (`flowfold admin slave add|remove`) is one transaction that bumps the version.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::PlannerError;
use crate::topology::Topology;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS topology (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    );
";

/// A topology and the number of its version (1: the configuration's, as first stored).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTopology {
    pub version: u64,
    pub topology: Topology,
}

/// Where the master keeps its topology.
#[derive(Debug)]
pub struct TopologyStore {
    conn: Mutex<Connection>,
}

/// Maps a SQLite error of the catalog to [`PlannerError::Store`] naming `op`.
pub(crate) fn store_error(op: &'static str) -> impl FnOnce(rusqlite::Error) -> PlannerError {
    move |e| PlannerError::Store {
        op,
        reason: e.to_string(),
    }
}

impl TopologyStore {
    /// Opens (creating if needed) the catalog file at `path`.
    pub fn open(path: &Path) -> Result<TopologyStore, PlannerError> {
        let conn = Connection::open(path).map_err(store_error("open"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(store_error("set WAL journal"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(store_error("set synchronous"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(store_error("set the busy timeout"))?;
        Self::init(conn)
    }

    /// A store in memory (a master without a catalog file: edits are lost at exit).
    pub fn in_memory() -> Result<TopologyStore, PlannerError> {
        Self::init(Connection::open_in_memory().map_err(store_error("open in memory"))?)
    }

    fn init(conn: Connection) -> Result<TopologyStore, PlannerError> {
        conn.execute_batch(SCHEMA).map_err(store_error("create the table"))?;
        Ok(TopologyStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stored topology, or `None` before the first start stored one.
    pub fn load(&self) -> Result<Option<StoredTopology>, PlannerError> {
        let row: Option<(i64, String)> = self
            .conn()
            .query_row("SELECT version, body FROM topology WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(store_error("read the topology"))?;
        let Some((version, body)) = row else { return Ok(None) };
        let topology: Topology = serde_json::from_str(&body).map_err(|e| PlannerError::Store {
            op: "parse the stored topology",
            reason: e.to_string(),
        })?;
        Ok(Some(StoredTopology {
            version: version as u64,
            topology,
        }))
    }

    /// The stored topology; on a first start, `initial` stored as version 1.
    pub fn load_or_init(&self, initial: &Topology) -> Result<StoredTopology, PlannerError> {
        if let Some(stored) = self.load()? {
            if stored.topology != *initial {
                tracing::warn!(
                    version = stored.version,
                    "the configuration's [cluster] topology differs from the stored one: the stored one runs \
                     (the configuration is only the initial state; edit with `flowfold admin slave`)"
                );
            }
            return Ok(stored);
        }
        self.save(1, initial)?;
        Ok(StoredTopology {
            version: 1,
            topology: initial.clone(),
        })
    }

    /// Writes `topology` as `version`, in one transaction.
    pub fn save(&self, version: u64, topology: &Topology) -> Result<(), PlannerError> {
        let body = serde_json::to_string(topology).map_err(|e| PlannerError::Store {
            op: "encode the topology",
            reason: e.to_string(),
        })?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(store_error("begin"))?;
        tx.execute(
            "INSERT INTO topology (id, version, body) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body",
            params![version as i64, body],
        )
        .map_err(store_error("write the topology"))?;
        tx.commit().map_err(store_error("commit"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{ProxyGroup, SlaveRef, SourceGroup};

    fn one_group(slaves: &[&str]) -> Topology {
        Topology {
            source_groups: vec![SourceGroup {
                name: "site".into(),
                proxy_groups: vec![ProxyGroup {
                    name: "g".into(),
                    priority: 1,
                    proxy: None,
                    slaves: slaves.iter().map(|s| SlaveRef::new(*s, "127.0.0.1:4210")).collect(),
                }],
            }],
        }
    }

    #[test]
    fn the_configuration_is_only_the_initial_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.db");
        let store = TopologyStore::open(&path).unwrap();
        assert_eq!(store.load().unwrap(), None);
        let first = store.load_or_init(&one_group(&["s1"])).unwrap();
        assert_eq!(first.version, 1);
        let mut edited = one_group(&["s1", "s2"]);
        edited.source_groups[0].proxy_groups[0].slaves[1].relay = Some("127.0.0.2:32055".into());
        store.save(2, &edited).unwrap();
        drop(store);

        // A restart with the old configuration runs the stored, edited topology.
        let again = TopologyStore::open(&path).unwrap();
        let stored = again.load_or_init(&one_group(&["s1"])).unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored.topology, edited);
    }

    #[test]
    fn a_corrupt_row_is_an_error_not_a_reset() {
        let store = TopologyStore::in_memory().unwrap();
        store
            .conn()
            .execute("INSERT INTO topology (id, version, body) VALUES (1, 3, '{oops')", [])
            .unwrap();
        let err = store.load_or_init(&Topology::default()).unwrap_err().to_string();
        assert!(err.contains("parse the stored topology"), "{err}");
    }

    #[test]
    fn profiles_and_topology_share_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles.db");
        let profiles = engine::profiles::ProfileCatalog::open(&path).unwrap();
        let store = TopologyStore::open(&path).unwrap();
        store.load_or_init(&one_group(&["s1"])).unwrap();
        drop(profiles);
        let conn = Connection::open(&path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            tables.contains(&"profiles".to_string()) && tables.contains(&"topology".to_string()),
            "{tables:?}"
        );
    }
}
