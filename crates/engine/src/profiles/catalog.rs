//! [`ProfileCatalog`]: the profiles a node knows, checked on every change, stored before they
//! are visible, and read without touching the store.

use std::path::Path;
use std::sync::{Arc, RwLock};

use super::check::{check_delete, check_profile};
use super::error::ProfileError;
use super::model::{Profile, ProfileSet};
use super::store::ProfileStore;

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
