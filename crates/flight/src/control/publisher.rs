//! [`ConfigPublisher`]: the master's current configuration, numbered, and a `watch` channel that
//! every node session follows to push each new version.

use std::sync::{Arc, Mutex};

use engine::profiles::ProfileSet;
use planner::Topology;
use tokio::sync::watch;

use super::metrics::{ControlServerMetrics, gauge_value};
use super::model::ControlConfig;

/// The master's configuration, published to its nodes' sessions.
#[derive(Debug)]
pub struct ConfigPublisher {
    sender: watch::Sender<Arc<ControlConfig>>,
    /// Serialises publications, so versions are handed out in order.
    lock: Mutex<()>,
    metrics: Arc<ControlServerMetrics>,
}

impl ConfigPublisher {
    /// A publisher whose first version is `profiles` and `topology` (version: at least 1 and at
    /// least the profile catalog's version).
    pub fn new(profiles: ProfileSet, topology: Topology, metrics: Arc<ControlServerMetrics>) -> ConfigPublisher {
        let floor = profiles.version;
        Self::starting_at(profiles, topology, floor, metrics)
    }

    /// Like [`ConfigPublisher::new`], the first version at least `floor` too. A master passes
    /// its profile catalog's version plus its topology's version: both only grow, and each
    /// published version follows one change of either, so a restarted master never numbers its
    /// configuration below what its nodes ran before.
    pub fn starting_at(
        profiles: ProfileSet,
        topology: Topology,
        floor: u64,
        metrics: Arc<ControlServerMetrics>,
    ) -> ConfigPublisher {
        let version = profiles.version.max(floor).max(1);
        let (sender, _) = watch::channel(Arc::new(ControlConfig {
            version,
            profiles,
            topology,
        }));
        metrics.config_version.set(gauge_value(version));
        tracing::info!(version, "control configuration published");
        ConfigPublisher {
            sender,
            lock: Mutex::new(()),
            metrics,
        }
    }

    /// The configuration now.
    pub fn current(&self) -> Arc<ControlConfig> {
        Arc::clone(&self.sender.borrow())
    }

    /// Follows every version from the current one on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ControlConfig>> {
        self.sender.subscribe()
    }

    /// Publishes a new version with `profiles` and `topology`; returns its number (one more
    /// than the last, and at least the catalog's version).
    pub fn publish(&self, profiles: ProfileSet, topology: Topology) -> u64 {
        let _order = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let version = (self.sender.borrow().version + 1).max(profiles.version);
        self.sender.send_replace(Arc::new(ControlConfig {
            version,
            profiles,
            topology,
        }));
        self.metrics.config_version.set(gauge_value(version));
        tracing::info!(version, "control configuration published");
        version
    }

    /// Publishes a new version with `profiles` and the current topology, unless the current
    /// version already holds this catalog version of the profiles (so a change reported twice
    /// publishes once). Returns the version now published.
    pub fn publish_profiles(&self, profiles: ProfileSet) -> u64 {
        let current = self.current();
        if current.profiles == profiles {
            return current.version;
        }
        self.publish(profiles, current.topology.clone())
    }

    /// Publishes `config` with its own version number, as received from the top-priority master
    /// this one follows (so its units run the same numbered versions whichever master they are
    /// connected to). Nothing is published when it is the configuration already.
    pub fn mirror(&self, config: ControlConfig) -> u64 {
        let _order = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if *self.sender.borrow().as_ref() == config {
            return config.version;
        }
        let version = config.version;
        self.sender.send_replace(Arc::new(config));
        self.metrics.config_version.set(gauge_value(version));
        tracing::info!(version, "control configuration of the top-priority master published");
        version
    }

    /// Publishes a new version with the current profiles and `topology` (an edit of the
    /// master's topology), unless the current version holds it already. Returns the version now
    /// published.
    pub fn publish_topology(&self, topology: Topology) -> u64 {
        let current = self.current();
        if current.topology == topology {
            return current.version;
        }
        self.publish(current.profiles.clone(), topology)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles(version: u64) -> ProfileSet {
        ProfileSet {
            version,
            ..ProfileSet::default()
        }
    }

    #[test]
    fn versions_increase_and_follow_the_catalog() {
        let publisher = ConfigPublisher::new(profiles(0), Topology::default(), ControlServerMetrics::new());
        assert_eq!(publisher.current().version, 1);
        let mut follower = publisher.subscribe();
        assert_eq!(publisher.publish_profiles(profiles(1)), 2);
        assert!(follower.has_changed().unwrap());
        assert_eq!(follower.borrow_and_update().version, 2);
        assert_eq!(
            publisher.publish_profiles(profiles(1)),
            2,
            "the same profiles publish nothing"
        );
        assert!(!follower.has_changed().unwrap());
        assert_eq!(
            publisher.publish_profiles(profiles(9)),
            9,
            "never below the catalog version"
        );
        let restarted = ConfigPublisher::new(profiles(9), Topology::default(), ControlServerMetrics::new());
        assert_eq!(restarted.current().version, 9);
    }

    #[test]
    fn a_followed_version_is_republished_with_its_own_number() {
        let publisher = ConfigPublisher::new(profiles(0), Topology::default(), ControlServerMetrics::new());
        let mut follower = publisher.subscribe();
        let followed = ControlConfig {
            version: 17,
            profiles: profiles(4),
            topology: Topology::default(),
        };
        assert_eq!(publisher.mirror(followed.clone()), 17);
        assert_eq!(*publisher.current(), followed);
        assert!(follower.has_changed().unwrap());
        follower.borrow_and_update();
        assert_eq!(publisher.mirror(followed), 17, "the same version publishes nothing");
        assert!(!follower.has_changed().unwrap());
    }

    #[test]
    fn a_topology_edit_is_a_new_version() {
        let publisher = ConfigPublisher::starting_at(profiles(2), Topology::default(), 5, ControlServerMetrics::new());
        assert_eq!(publisher.current().version, 5, "profiles + topology versions");
        let mut edited = Topology::default();
        edited.source_groups.push(planner::SourceGroup {
            name: "site".into(),
            proxy_groups: Vec::new(),
        });
        assert_eq!(publisher.publish_topology(edited.clone()), 6);
        assert_eq!(
            publisher.publish_topology(edited.clone()),
            6,
            "the same topology publishes nothing"
        );
        assert_eq!(publisher.current().topology, edited);
        assert_eq!(publisher.current().profiles.version, 2, "the profiles stay");
    }
}
