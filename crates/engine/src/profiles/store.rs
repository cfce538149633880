//! The SQLite file profiles are kept in: one row per profile (its JSON record) and the catalog
//! version, each change one transaction. SQLite (rusqlite, bundled) rather than redb: the
//! catalog is small and relational, SQLite files are readable with any tool, online backup is
//! built in, and hiqlite (Raft over SQLite) can later replicate it between masters.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::error::ProfileError;
use super::model::{Profile, ProfileSet};

/// The profile catalog file.
#[derive(Debug)]
pub struct ProfileStore {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS profiles (name TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS deleted_sources (exporter TEXT PRIMARY KEY, deleted_ms INTEGER NOT NULL);
    INSERT OR IGNORE INTO meta (key, value) VALUES ('version', 0);
";

impl ProfileStore {
    /// Opens (creating if needed) the catalog at `path`.
    pub fn open(path: &Path) -> Result<ProfileStore, ProfileError> {
        let conn = Connection::open(path).map_err(ProfileError::store("open"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(ProfileError::store("set WAL journal"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(ProfileError::store("set synchronous"))?;
        Self::init(conn)
    }

    /// A catalog kept in memory only (lost when the process ends).
    pub fn in_memory() -> Result<ProfileStore, ProfileError> {
        Self::init(Connection::open_in_memory().map_err(ProfileError::store("open in memory"))?)
    }

    fn init(conn: Connection) -> Result<ProfileStore, ProfileError> {
        conn.execute_batch(SCHEMA)
            .map_err(ProfileError::store("create tables"))?;
        Ok(ProfileStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every stored profile and the catalog version.
    pub fn load(&self) -> Result<ProfileSet, ProfileError> {
        let conn = self.conn();
        let version: i64 = conn
            .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| r.get(0))
            .map_err(ProfileError::store("read the version"))?;
        let mut statement = conn
            .prepare("SELECT name, body FROM profiles ORDER BY name")
            .map_err(ProfileError::store("list profiles"))?;
        let rows = statement
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(ProfileError::store("list profiles"))?;
        let mut set = ProfileSet {
            version: version as u64,
            ..ProfileSet::default()
        };
        for row in rows {
            let (name, body) = row.map_err(ProfileError::store("read a profile"))?;
            let profile: Profile = serde_json::from_str(&body).map_err(|e| ProfileError::Corrupt {
                name: name.clone(),
                reason: e.to_string(),
            })?;
            set.profiles.insert(name, profile);
        }
        let mut statement = conn
            .prepare("SELECT exporter, deleted_ms FROM deleted_sources")
            .map_err(ProfileError::store("list deleted sources"))?;
        let rows = statement
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(ProfileError::store("list deleted sources"))?;
        for row in rows {
            let (exporter, at) = row.map_err(ProfileError::store("read a deleted source"))?;
            set.deleted_sources.insert(exporter, at);
        }
        Ok(set)
    }

    /// Writes `profile` (replacing the one of its name) at the next version, which it returns;
    /// the profile's `version` is set to it.
    pub fn put(&self, profile: &mut Profile) -> Result<u64, ProfileError> {
        self.change(|tx, version| {
            profile.version = version;
            let body = serde_json::to_string(&*profile).expect("a profile serialises");
            tx.execute(
                "INSERT INTO profiles (name, body) VALUES (?1, ?2) \
                 ON CONFLICT (name) DO UPDATE SET body = excluded.body",
                params![profile.name, body],
            )
            .map_err(ProfileError::store("write a profile"))?;
            Ok(())
        })
    }

    /// Deletes the profile `name` at the next version, which it returns.
    pub fn delete(&self, name: &str) -> Result<u64, ProfileError> {
        self.change(|tx, _| {
            let deleted = tx
                .execute("DELETE FROM profiles WHERE name = ?1", params![name])
                .map_err(ProfileError::store("delete a profile"))?;
            if deleted == 0 {
                return Err(ProfileError::NoProfile(name.to_string()));
            }
            Ok(())
        })
    }

    /// Marks the flow source `exporter` (address text) deleted at `at_ms`, or (`None`) restores
    /// it; returns the next version.
    pub fn set_deleted_source(&self, exporter: &str, at_ms: Option<i64>) -> Result<u64, ProfileError> {
        self.change(|tx, _| {
            match at_ms {
                Some(at) => tx.execute(
                    "INSERT INTO deleted_sources (exporter, deleted_ms) VALUES (?1, ?2) \
                     ON CONFLICT (exporter) DO UPDATE SET deleted_ms = excluded.deleted_ms",
                    params![exporter, at],
                ),
                None => tx.execute("DELETE FROM deleted_sources WHERE exporter = ?1", params![exporter]),
            }
            .map_err(ProfileError::store("write a deleted source"))?;
            Ok(())
        })
    }

    /// Replaces every profile and deleted source by those of `set`, at `set.version`, in one
    /// transaction (a node following its master's catalog).
    pub fn replace_all(&self, set: &ProfileSet) -> Result<(), ProfileError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(ProfileError::store("begin"))?;
        tx.execute_batch("DELETE FROM profiles; DELETE FROM deleted_sources;")
            .map_err(ProfileError::store("clear the catalog"))?;
        for profile in set.profiles.values() {
            let body = serde_json::to_string(profile).expect("a profile serialises");
            tx.execute(
                "INSERT INTO profiles (name, body) VALUES (?1, ?2)",
                params![profile.name, body],
            )
            .map_err(ProfileError::store("write a profile"))?;
        }
        for (exporter, at) in &set.deleted_sources {
            tx.execute(
                "INSERT INTO deleted_sources (exporter, deleted_ms) VALUES (?1, ?2)",
                params![exporter, at],
            )
            .map_err(ProfileError::store("write a deleted source"))?;
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'version'",
            params![set.version as i64],
        )
        .map_err(ProfileError::store("set the version"))?;
        tx.commit().map_err(ProfileError::store("commit"))
    }

    /// One transaction: bumps the version and applies `apply`; nothing changes if it fails.
    fn change(
        &self,
        apply: impl FnOnce(&rusqlite::Transaction<'_>, u64) -> Result<(), ProfileError>,
    ) -> Result<u64, ProfileError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(ProfileError::store("begin"))?;
        let version: i64 = tx
            .query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| r.get(0))
            .optional()
            .map_err(ProfileError::store("read the version"))?
            .unwrap_or(0);
        let next = version + 1;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'version'", params![next])
            .map_err(ProfileError::store("bump the version"))?;
        apply(&tx, next as u64)?;
        tx.commit().map_err(ProfileError::store("commit"))?;
        Ok(next as u64)
    }

    /// Copies the catalog, consistently, to `path` (SQLite's online backup).
    pub fn backup(&self, path: &Path) -> Result<(), ProfileError> {
        self.conn()
            .backup(rusqlite::MAIN_DB, path, None)
            .map_err(ProfileError::store("back up"))
    }
}
