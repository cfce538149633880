//! [`UnitRegistry`]: the units that opened a control session with the master, what they said in
//! their `Hello`, their last heartbeat, the configuration version they acknowledged and the
//! exporters they reported. Units stay listed after their session ends (disconnected), until the
//! master restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::model::UnitRole;
use super::proto;

/// The registered units of a master.
#[derive(Debug)]
pub struct UnitRegistry {
    units: Mutex<Units>,
    /// Bumped after every exporter report, for the master's flow-source discovery.
    reports: tokio::sync::watch::Sender<u64>,
}

impl Default for UnitRegistry {
    fn default() -> Self {
        UnitRegistry {
            units: Mutex::default(),
            reports: tokio::sync::watch::Sender::new(0),
        }
    }
}

#[derive(Debug, Default)]
struct Units {
    by_name: BTreeMap<String, UnitView>,
    next_session: u64,
}

/// One unit as `GET /units` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitView {
    /// Its name.
    pub name: String,
    /// slave, proxy or standalone.
    pub role: UnitRole,
    /// Its proxy group, if it said.
    pub group: Option<String>,
    /// Its flowfold version.
    pub version: String,
    /// Its query address.
    pub query: String,
    /// Its flow listeners.
    pub flows: Vec<String>,
    /// Its metrics / admin address.
    pub metrics: String,
    /// A session is open now.
    pub connected: bool,
    /// Milliseconds since the epoch of its last `Hello` or `Heartbeat`.
    pub last_seen_ms: i64,
    /// The configuration version it last said it runs.
    pub config_version: u64,
    /// Flows it stored since it started (from its last heartbeat).
    pub flows_stored: u64,
    /// The exporters it reported (flow sources it stores).
    pub exporters: BTreeSet<String>,
    /// Sessions it opened since the master started.
    pub sessions: u64,
    #[serde(skip)]
    session: u64,
}

/// `GET /units`: the master's configuration version and every unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitsView {
    /// The configuration version the master publishes now.
    pub config_version: u64,
    /// By name.
    pub units: Vec<UnitView>,
}

/// Milliseconds since the epoch now.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl UnitRegistry {
    /// An empty registry.
    pub fn new() -> UnitRegistry {
        UnitRegistry::default()
    }

    /// Records a unit's checked `Hello`; returns the session's id, which later calls name. A
    /// unit that opens a new session replaces its old one.
    pub fn hello(&self, hello: &proto::Hello, role: UnitRole) -> u64 {
        let mut units = self.lock();
        units.next_session += 1;
        let session = units.next_session;
        let previous = units.by_name.remove(&hello.name);
        let unit = UnitView {
            name: hello.name.clone(),
            role,
            group: (!hello.group.is_empty()).then(|| hello.group.clone()),
            version: hello.version.clone(),
            query: hello.query.clone(),
            flows: hello.flows.clone(),
            metrics: hello.metrics.clone(),
            connected: true,
            last_seen_ms: now_ms(),
            config_version: hello.config_version,
            flows_stored: 0,
            exporters: previous.as_ref().map(|p| p.exporters.clone()).unwrap_or_default(),
            sessions: previous.map_or(0, |p| p.sessions) + 1,
            session,
        };
        units.by_name.insert(hello.name.clone(), unit);
        session
    }

    /// Records a heartbeat of session `session` of unit `name`.
    pub fn heartbeat(&self, name: &str, session: u64, heartbeat: &proto::Heartbeat) {
        self.update(name, session, |unit| {
            unit.config_version = heartbeat.config_version;
            unit.flows_stored = heartbeat.flows_stored;
        });
    }

    /// Records the exporters a unit reported (its whole set).
    pub fn exporters(&self, name: &str, session: u64, exporters: &proto::Exporters) {
        self.update(name, session, |unit| {
            unit.exporters = exporters.addresses.iter().cloned().collect();
        });
        self.reports.send_modify(|n| *n += 1);
    }

    /// Changes after every exporter report (of any unit): a watcher then reads
    /// [`UnitRegistry::snapshot`].
    pub fn exporter_reports(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reports.subscribe()
    }

    /// Marks the unit disconnected, unless a newer session of it has started since.
    pub fn disconnected(&self, name: &str, session: u64) {
        let mut units = self.lock();
        if let Some(unit) = units.by_name.get_mut(name).filter(|u| u.session == session) {
            unit.connected = false;
        }
    }

    /// Units with an open session.
    pub fn connected(&self) -> usize {
        self.lock().by_name.values().filter(|u| u.connected).count()
    }

    /// Every unit, by name.
    pub fn snapshot(&self) -> Vec<UnitView> {
        self.lock().by_name.values().cloned().collect()
    }

    fn update(&self, name: &str, session: u64, change: impl FnOnce(&mut UnitView)) {
        let mut units = self.lock();
        if let Some(unit) = units.by_name.get_mut(name).filter(|u| u.session == session) {
            unit.last_seen_ms = now_ms();
            change(unit);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Units> {
        self.units.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(name: &str, config_version: u64) -> proto::Hello {
        proto::Hello {
            name: name.to_string(),
            role: proto::Role::Slave as i32,
            group: "a1".to_string(),
            version: "0.1.0".to_string(),
            query: "127.0.0.2:4210".to_string(),
            flows: vec!["127.0.0.2:2055".to_string()],
            metrics: "127.0.0.2:9464".to_string(),
            config_version,
        }
    }

    #[test]
    fn a_unit_is_listed_with_its_hello_heartbeats_and_exporters() {
        let registry = UnitRegistry::new();
        let session = registry.hello(&hello("s1", 0), UnitRole::Slave);
        registry.heartbeat(
            "s1",
            session,
            &proto::Heartbeat {
                config_version: 3,
                flows_stored: 42,
            },
        );
        registry.exporters(
            "s1",
            session,
            &proto::Exporters {
                addresses: vec!["10.0.0.2".into(), "10.0.0.1".into()],
            },
        );
        let units = registry.snapshot();
        assert_eq!(units.len(), 1);
        let unit = &units[0];
        assert_eq!(
            (unit.name.as_str(), unit.role, unit.group.as_deref()),
            ("s1", UnitRole::Slave, Some("a1"))
        );
        assert_eq!((unit.config_version, unit.flows_stored), (3, 42));
        assert_eq!(unit.exporters.iter().collect::<Vec<_>>(), ["10.0.0.1", "10.0.0.2"]);
        assert!(unit.connected);
        assert!(unit.last_seen_ms > 0);
        assert_eq!(registry.connected(), 1);
        registry.disconnected("s1", session);
        assert!(!registry.snapshot()[0].connected);
        assert_eq!(registry.connected(), 0);
    }

    #[test]
    fn a_new_session_replaces_the_old_one_whose_late_messages_are_ignored() {
        let registry = UnitRegistry::new();
        let old = registry.hello(&hello("s1", 1), UnitRole::Slave);
        registry.exporters(
            "s1",
            old,
            &proto::Exporters {
                addresses: vec!["10.0.0.1".into()],
            },
        );
        let new = registry.hello(&hello("s1", 2), UnitRole::Slave);
        assert_ne!(old, new);
        registry.heartbeat(
            "s1",
            old,
            &proto::Heartbeat {
                config_version: 9,
                flows_stored: 1,
            },
        );
        registry.disconnected("s1", old);
        let unit = &registry.snapshot()[0];
        assert!(unit.connected, "the old session's end does not disconnect the new one");
        assert_eq!(unit.config_version, 2, "the old session's heartbeat is ignored");
        assert_eq!(unit.sessions, 2);
        assert_eq!(
            unit.exporters.len(),
            1,
            "exporters are kept until the unit reports again"
        );
        registry.hello(&hello("s2", 0), UnitRole::Standalone);
        let names: Vec<String> = registry.snapshot().into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["s1", "s2"]);
    }
}
