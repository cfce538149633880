//! Which slave each exporter's datagrams go to, in the flow-source model.
//!
//! - **Sticky**: once assigned, an exporter stays with its slave, across restarts too.
//! - **Fewest first**: a new exporter goes to the slave with the fewest assigned exporters
//!   (ties: the lowest index). Load is counted in exporters, not in flows: the proxy cannot know
//!   an exporter's rate when it first sees it, and moving one later splits its channel.
//! - **Moved only by command**: [`Assignments::rebalance`], or when the slave set changes
//!   ([`Assignments::set_slaves`], a proxy following its master's topology): a slave added
//!   takes new exporters (it has the fewest); a slave removed is retired and each of its
//!   exporters moves to the remaining slave with the fewest exporters.
//! - **Stable indices**: a slave keeps its index for the life of the process; a retired slave's
//!   index is never reused nor chosen (it comes back at the same index if it is added again).
//! - **Persisted** after every change as JSON, atomically (temporary file, fsync, rename):
//!
//! ```json
//! {"version":1,"exporters":{"192.0.2.1":"10.0.0.5:32055","2001:db8::9":"10.0.0.6:32055"}}
//! ```
//!
//! Slaves are named in the file by their relay address, not their index, so reordering the
//! slave list keeps every assignment. An exporter whose slave is no longer configured is
//! forgotten at load (with a warning) and assigned afresh when it next sends.
//!
//! A missing file is a first start (empty). A file that cannot be read or parsed is an error:
//! starting empty would silently move every exporter to a possibly different slave and split
//! its flows over two stores, so the operator has to fix or remove the file.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::error::IngestError;

/// Version of the state file format.
const STATE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    exporters: BTreeMap<IpAddr, SocketAddr>,
}

/// The outcome of [`Assignments::assign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assigned {
    /// Index of the slave in the configured list.
    pub slave: usize,
    /// `true` if the exporter was not known before this call.
    pub new: bool,
}

#[derive(Debug, Clone, Default)]
struct State {
    by_exporter: BTreeMap<IpAddr, usize>,
    /// Exporters per slave.
    load: Vec<usize>,
    /// Relay addresses by index; only grows.
    slaves: Vec<SocketAddr>,
    /// Whether each slave takes exporters (false: removed from the group).
    active: Vec<bool>,
}

/// What [`Assignments::set_slaves`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlaveChange {
    /// Slaves that take exporters now and did not before.
    pub added: Vec<SocketAddr>,
    /// Slaves retired.
    pub removed: Vec<SocketAddr>,
    /// Exporters of the retired slaves and where they went.
    pub moved: Vec<(IpAddr, SocketAddr)>,
}

impl SlaveChange {
    /// `true` when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// The exporter -> slave map of a forwarder, shared by its receive threads.
#[derive(Debug)]
pub struct Assignments {
    path: PathBuf,
    max_exporters: usize,
    state: Mutex<State>,
    generation: AtomicU64,
    /// How many slaves (retired included) there are: the receive threads compare it with
    /// their own targets without taking the lock.
    slave_count: AtomicUsize,
}

impl Assignments {
    /// Loads the state file at `path` (missing: empty) for these slaves' relay addresses.
    /// At most `max_exporters` exporters are assigned; datagrams of further new ones are
    /// refused (a flood of spoofed sources must not grow the map and the file without bound).
    pub fn open(path: impl Into<PathBuf>, slaves: Vec<SocketAddr>, max_exporters: usize) -> Result<Self, IngestError> {
        let path = path.into();
        if slaves.is_empty() {
            return Err(IngestError::RelayConfig {
                setting: "slaves",
                reason: "a forwarder needs at least one slave".into(),
            });
        }
        let slaves: Vec<SocketAddr> = slaves.into_iter().map(canonical_addr).collect();
        let mut state = State {
            by_exporter: BTreeMap::new(),
            load: vec![0; slaves.len()],
            slaves: slaves.clone(),
            active: vec![true; slaves.len()],
        };
        let mut forgotten = 0usize;
        for (exporter, slave) in read_state(&path)? {
            match slaves.iter().position(|s| *s == canonical_addr(slave)) {
                Some(index) => {
                    if state.by_exporter.insert(exporter.to_canonical(), index).is_none() {
                        state.load[index] += 1;
                    }
                }
                None => forgotten += 1,
            }
        }
        if forgotten > 0 {
            tracing::warn!(
                file = %path.display(),
                forgotten,
                "exporters assigned to slaves no longer configured will be assigned afresh"
            );
        }
        tracing::info!(file = %path.display(), exporters = state.by_exporter.len(), load = ?state.load, "assignments loaded");
        Ok(Self {
            path,
            max_exporters,
            slave_count: AtomicUsize::new(slaves.len()),
            state: Mutex::new(state),
            generation: AtomicU64::new(0),
        })
    }

    /// The slaves' relay addresses, by index (retired ones included: indices are stable).
    pub fn slaves(&self) -> Vec<SocketAddr> {
        self.lock().slaves.clone()
    }

    /// The slaves that take exporters now.
    pub fn active_slaves(&self) -> Vec<SocketAddr> {
        let state = self.lock();
        state
            .slaves
            .iter()
            .zip(&state.active)
            .filter(|(_, a)| **a)
            .map(|(s, _)| *s)
            .collect()
    }

    /// How many slaves [`slaves`](Self::slaves) lists, without taking the lock.
    pub fn slave_count(&self) -> usize {
        self.slave_count.load(Ordering::Acquire)
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bumped by every [`rebalance`](Self::rebalance): readers that cache assignments drop
    /// their cache when it changes. New assignments do not bump it (no cached entry changes).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The slave of `exporter`, if it has one.
    pub fn slave_of(&self, exporter: IpAddr) -> Option<usize> {
        self.lock().by_exporter.get(&exporter.to_canonical()).copied()
    }

    /// Every assignment, sorted by exporter.
    pub fn snapshot(&self) -> Vec<(IpAddr, usize)> {
        self.lock().by_exporter.iter().map(|(e, s)| (*e, *s)).collect()
    }

    /// Exporters per slave, by index.
    pub fn load(&self) -> Vec<usize> {
        self.lock().load.clone()
    }

    /// The slave of `exporter`, assigning it to the least loaded slave if it is new; `None` if
    /// it is new and `max_exporters` are already assigned.
    ///
    /// A new assignment is persisted at once. If that fails it is kept in memory and a warning
    /// logged; the next change writes the whole map again.
    pub fn assign(&self, exporter: IpAddr) -> Option<Assigned> {
        let exporter = exporter.to_canonical();
        let mut state = self.lock();
        if let Some(&slave) = state.by_exporter.get(&exporter) {
            return Some(Assigned { slave, new: false });
        }
        if state.by_exporter.len() >= self.max_exporters {
            return None;
        }
        let slave = least_loaded(&state.load, &state.active);
        state.by_exporter.insert(exporter, slave);
        state.load[slave] += 1;
        tracing::info!(%exporter, slave, relay = %state.slaves[slave], "new exporter assigned");
        if let Err(e) = self.persist(&state) {
            tracing::warn!(error = %e, %exporter, "assignment not persisted; kept in memory");
        }
        Some(Assigned { slave, new: true })
    }

    /// Moves `exporter` (known or not) to `slave` and persists the map; returns its previous
    /// slave. Nothing changes if persisting fails.
    pub fn rebalance(&self, exporter: IpAddr, slave: usize) -> Result<Option<usize>, IngestError> {
        let exporter = exporter.to_canonical();
        let mut state = self.lock();
        if slave >= state.slaves.len() {
            return Err(IngestError::UnknownSlave {
                slave,
                slaves: state.slaves.len(),
            });
        }
        if !state.active[slave] {
            return Err(IngestError::RelayConfig {
                setting: "slave",
                reason: format!("slave {slave} ({}) was removed from the group", state.slaves[slave]),
            });
        }
        let previous = state.by_exporter.insert(exporter, slave);
        if previous == Some(slave) {
            return Ok(previous);
        }
        if let Err(e) = self.persist(&state) {
            match previous {
                Some(p) => state.by_exporter.insert(exporter, p),
                None => state.by_exporter.remove(&exporter),
            };
            return Err(e);
        }
        if let Some(p) = previous {
            state.load[p] -= 1;
        }
        state.load[slave] += 1;
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!(%exporter, from = ?previous, to = slave, relay = %state.slaves[slave], "exporter rebalanced");
        Ok(previous)
    }

    /// Makes `wanted` (relay addresses, at least one) the slaves that take exporters: new ones
    /// are appended (fewest exporters: they take the next new exporters), missing ones retired,
    /// and each exporter of a retired slave moved to the remaining slave with the fewest
    /// exporters (receive threads then replay its templates to it). Persisted before it is
    /// seen; nothing changes if persisting fails.
    pub fn set_slaves(&self, wanted: &[SocketAddr]) -> Result<SlaveChange, IngestError> {
        let wanted: Vec<SocketAddr> = wanted.iter().copied().map(canonical_addr).collect();
        if wanted.is_empty() {
            return Err(IngestError::RelayConfig {
                setting: "slaves",
                reason: "a forwarder needs at least one slave".into(),
            });
        }
        let mut state = self.lock();
        let mut next = state.clone();
        let mut change = SlaveChange::default();
        for addr in &wanted {
            match next.slaves.iter().position(|s| s == addr) {
                Some(i) if next.active[i] => {}
                Some(i) => {
                    next.active[i] = true;
                    change.added.push(*addr);
                }
                None => {
                    next.slaves.push(*addr);
                    next.active.push(true);
                    next.load.push(0);
                    change.added.push(*addr);
                }
            }
        }
        for i in 0..next.slaves.len() {
            if next.active[i] && !wanted.contains(&next.slaves[i]) {
                next.active[i] = false;
                change.removed.push(next.slaves[i]);
            }
        }
        if change.is_empty() {
            return Ok(change);
        }
        let orphans: Vec<IpAddr> = next
            .by_exporter
            .iter()
            .filter(|(_, s)| !next.active[**s])
            .map(|(e, _)| *e)
            .collect();
        for exporter in orphans {
            let from = next.by_exporter[&exporter];
            let to = least_loaded(&next.load, &next.active);
            next.by_exporter.insert(exporter, to);
            next.load[from] -= 1;
            next.load[to] += 1;
            change.moved.push((exporter, next.slaves[to]));
        }
        if !change.moved.is_empty() {
            self.persist(&next)?;
        }
        *state = next;
        self.slave_count.store(state.slaves.len(), Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!(added = ?change.added, removed = ?change.removed, moved = change.moved.len(), "slaves changed");
        Ok(change)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated in a harmful way.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes the whole map: temporary file, fsync, rename.
    fn persist(&self, state: &State) -> Result<(), IngestError> {
        let file = StateFile {
            version: STATE_VERSION,
            exporters: state.by_exporter.iter().map(|(e, s)| (*e, state.slaves[*s])).collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| state_error(&self.path, e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| state_error(dir, e))?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut out = std::fs::File::create(&tmp).map_err(|e| state_error(&tmp, e))?;
        out.write_all(&json).map_err(|e| state_error(&tmp, e))?;
        out.sync_all().map_err(|e| state_error(&tmp, e))?;
        drop(out);
        std::fs::rename(&tmp, &self.path).map_err(|e| state_error(&self.path, e))
    }
}

/// The index of the active slave with the fewest exporters, the lowest on a tie.
fn least_loaded(load: &[usize], active: &[bool]) -> usize {
    load.iter()
        .enumerate()
        .filter(|(index, _)| active.get(*index).copied().unwrap_or(false))
        .min_by_key(|&(index, n)| (*n, index))
        .map_or(0, |(index, _)| index)
}

fn canonical_addr(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

fn read_state(path: &Path) -> Result<BTreeMap<IpAddr, SocketAddr>, IngestError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(state_error(path, e)),
    };
    let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
        state_error(
            path,
            format!("{e}; fix or remove the file (removing it reassigns every exporter)"),
        )
    })?;
    if file.version != STATE_VERSION {
        return Err(state_error(
            path,
            format!("version {} is not {STATE_VERSION}", file.version),
        ));
    }
    Ok(file.exporters)
}

fn state_error(path: &Path, e: impl std::fmt::Display) -> IngestError {
    IngestError::AssignmentState {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests;
