//! What profiles' retention wishes mean for the stored channels.
//!
//! Profiles are views, so the only stored data is the live channels'. A profile's `retention`
//! therefore does two things:
//!
//! - **horizon**: the profile's tables show only flows that started within `max_age` (applied
//!   in `predicate.rs`, inherited by child profiles through their sources);
//! - **keep**: its sources' windows are kept at least that long, and each source channel keeps
//!   at least `max_bytes` of its newest windows. Per channel and per limit, the most generous of
//!   the node's own policy and every wish of a profile reading the channel wins, so a window is
//!   removed only when no profile that reads it still wants it. A profile cannot shrink what the
//!   node keeps, and a node that keeps everything keeps everything.
//!
//! A deleted flow source that no profile names loses every sealed window.
//!
//! The channels a profile reads are those of its ancestor directly under `live`: that
//! profile's sources, or every channel when it lists none.

use std::time::Duration;

use super::model::{LIVE_PROFILE, Profile, ProfileSet};
use super::predicate::live_source;
use super::sources::readers_of;
use crate::addr::Addr16;
use crate::store::retention::{RetentionPolicy, RetentionRules};

/// The live channels `profile` reads: `None` for all of them.
fn exporters_of(set: &ProfileSet, profile: &Profile) -> Option<Vec<Addr16>> {
    let mut top = profile;
    while top.parent != LIVE_PROFILE {
        top = set.get(&top.parent)?;
    }
    match top.sources.is_empty() {
        true => None,
        false => Some(top.sources.iter().filter_map(|s| live_source(s)).collect()),
    }
}

/// The more generous of two limits, where `None` in `base` is no limit and `None` in `wish` is
/// no wish.
fn generous<T: Ord + Copy>(base: Option<T>, wish: Option<T>) -> Option<T> {
    match (base, wish) {
        (Some(b), Some(w)) => Some(b.max(w)),
        (b, _) => b,
    }
}

/// `base` extended by the profiles' wishes, for the channels of `exporters` (the store's).
pub fn retention_rules(set: &ProfileSet, base: &RetentionRules, exporters: &[Addr16]) -> RetentionRules {
    let mut rules = base.clone();
    for profile in set.profiles.values() {
        let wish = profile.retention;
        if wish.max_age_secs.is_none() && wish.max_bytes.is_none() {
            continue;
        }
        let reads = exporters_of(set, profile);
        for exporter in exporters {
            if reads.as_ref().is_some_and(|r| !r.contains(exporter)) {
                continue;
            }
            let current = *rules.policy_for(exporter);
            let extended = RetentionPolicy {
                max_age: generous(current.max_age, wish.max_age_secs.map(Duration::from_secs)),
                max_bytes: generous(current.max_bytes, wish.max_bytes),
            };
            if extended != current {
                rules.per_exporter.insert(*exporter, extended);
            }
        }
    }
    for exporter in set.deleted_exporters() {
        if readers_of(set, &exporter).is_empty() {
            rules.per_exporter.insert(exporter, REMOVE_SEALED);
        }
    }
    rules
}

/// The policy of a deleted flow source no profile reads: every sealed window goes.
const REMOVE_SEALED: RetentionPolicy = RetentionPolicy {
    max_age: Some(Duration::ZERO),
    max_bytes: None,
};
