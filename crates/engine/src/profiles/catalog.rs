//! [`ProfileCatalog`]: the profiles a node knows, checked on every change, stored before they
//! are visible, and read without touching the store.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};

use super::check::{check_delete, check_profile};
use super::error::ProfileError;
use super::model::LIVE_PROFILE;
use super::model::{Profile, ProfileSet};
use super::sources::readers_of;
use super::store::ProfileStore;
use crate::addr::from_ip;

/// The profile catalog of a node.
#[derive(Debug)]
pub struct ProfileCatalog {
    store: ProfileStore,
    current: RwLock<Arc<ProfileSet>>,
}

impl ProfileCatalog {
    /// The catalog stored at `path` (created if missing).
    pub fn open(path: &Path) -> Result<ProfileCatalog, ProfileError> {
        Self::over(ProfileStore::open(path)?)
    }

    /// A catalog in memory only.
    pub fn in_memory() -> Result<ProfileCatalog, ProfileError> {
        Self::over(ProfileStore::in_memory()?)
    }

    fn over(store: ProfileStore) -> Result<ProfileCatalog, ProfileError> {
        let current = RwLock::new(Arc::new(store.load()?));
        Ok(ProfileCatalog { store, current })
    }

    /// The profiles now.
    pub fn snapshot(&self) -> Arc<ProfileSet> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds a new profile; returns it as stored (with its version).
    pub fn create(&self, profile: Profile) -> Result<Profile, ProfileError> {
        self.write(profile, true)
    }

    /// Replaces an existing profile; returns it as stored.
    pub fn update(&self, profile: Profile) -> Result<Profile, ProfileError> {
        self.write(profile, false)
    }

    /// Deletes a profile no other profile has as parent; returns the new catalog version.
    pub fn delete(&self, name: &str) -> Result<u64, ProfileError> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        check_delete(&current, name)?;
        let version = self.store.delete(name)?;
        let mut next = ProfileSet::clone(&current);
        next.profiles.remove(name);
        next.version = version;
        *current = Arc::new(next);
        Ok(version)
    }

    /// Deletes the flow source of `exporter` from the live profile at `at_ms` (see
    /// `profiles/sources.rs`); returns the new version and the profiles that still read it
    /// (its data stays for them).
    pub fn delete_source(&self, exporter: IpAddr, at_ms: i64) -> Result<(u64, Vec<String>), ProfileError> {
        let key = exporter.to_string();
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.deleted_sources.contains_key(&key) {
            return Err(ProfileError::Invalid {
                profile: LIVE_PROFILE.into(),
                reason: format!("flow source {key} is deleted already"),
            });
        }
        let version = self.store.set_deleted_source(&key, Some(at_ms))?;
        let mut next = ProfileSet::clone(&current);
        next.deleted_sources.insert(key, at_ms);
        next.version = version;
        let readers = readers_of(&next, &from_ip(exporter));
        *current = Arc::new(next);
        Ok((version, readers))
    }

    /// Brings a deleted flow source back into the live profile (with the data still stored).
    pub fn restore_source(&self, exporter: IpAddr) -> Result<u64, ProfileError> {
        let key = exporter.to_string();
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if !current.deleted_sources.contains_key(&key) {
            return Err(ProfileError::Invalid {
                profile: LIVE_PROFILE.into(),
                reason: format!("flow source {key} is not deleted"),
            });
        }
        let version = self.store.set_deleted_source(&key, None)?;
        let mut next = ProfileSet::clone(&current);
        next.deleted_sources.remove(&key);
        next.version = version;
        *current = Arc::new(next);
        Ok(version)
    }

    /// Takes `set` as the whole catalog (the master's, pushed over the control plane): stored,
    /// then visible. Nothing changes when `set` equals the current catalog.
    pub fn replace_all(&self, set: &ProfileSet) -> Result<bool, ProfileError> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if **current == *set {
            return Ok(false);
        }
        self.store.replace_all(set)?;
        *current = Arc::new(set.clone());
        Ok(true)
    }

    /// Copies the catalog file to `path`.
    pub fn backup(&self, path: &Path) -> Result<(), ProfileError> {
        self.store.backup(path)
    }

    fn write(&self, mut profile: Profile, create: bool) -> Result<Profile, ProfileError> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        match (create, current.get(&profile.name).is_some()) {
            (true, true) => return Err(ProfileError::Exists(profile.name)),
            (false, false) => return Err(ProfileError::NoProfile(profile.name)),
            _ => {}
        }
        check_profile(&current, &profile)?;
        let version = self.store.put(&mut profile)?;
        let mut next = ProfileSet::clone(&current);
        next.profiles.insert(profile.name.clone(), profile.clone());
        next.version = version;
        *current = Arc::new(next);
        Ok(profile)
    }
}
