//! The checks a profile passes before the catalog stores it: names, parent, sources, channels
//! and their filters, time span; and that no other profile loses what it reads.

use std::collections::BTreeSet;

use super::error::ProfileError;
use super::model::{LIVE_PROFILE, Profile, ProfileSet};
use super::predicate::{filter_expr, live_source};
use crate::sql::FLOWS_TABLE;

/// Schema names a profile may not take.
const RESERVED: [&str; 4] = [LIVE_PROFILE, "information_schema", "flowfold", "public"];

/// Longest profile or channel name.
const MAX_NAME: usize = 63;

/// A usable SQL identifier: `[a-z][a-z0-9_]*`, at most 63 characters.
fn check_name(name: &str, what: &str) -> Result<(), ProfileError> {
    let bad = |reason: String| ProfileError::BadName {
        name: name.to_string(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(bad(format!("a {what} name is needed"))),
        Some(c) if !c.is_ascii_lowercase() => return Err(bad(format!("a {what} name starts with a letter a-z"))),
        _ => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(bad(format!(
            "'{c}' is not allowed: a {what} name has lower case letters, digits and _"
        )));
    }
    if name.len() > MAX_NAME {
        return Err(bad(format!("a {what} name has at most {MAX_NAME} characters")));
    }
    Ok(())
}

/// Checks `profile` as it would be stored in `set` (replacing the profile of its name, if any).
pub fn check_profile(set: &ProfileSet, profile: &Profile) -> Result<(), ProfileError> {
    let invalid = |reason: String| ProfileError::Invalid {
        profile: profile.name.clone(),
        reason,
    };
    check_name(&profile.name, "profile")?;
    if RESERVED.contains(&profile.name.as_str()) {
        return Err(ProfileError::BadName {
            name: profile.name.clone(),
            reason: "the name is reserved".into(),
        });
    }
    check_parent(set, profile)?;
    check_sources(set, profile)?;
    if profile.channels.is_empty() {
        return Err(invalid("a profile needs at least one channel".into()));
    }
    let mut names = BTreeSet::new();
    for channel in &profile.channels {
        check_name(&channel.name, "channel")?;
        if channel.name == FLOWS_TABLE {
            return Err(ProfileError::BadName {
                name: channel.name.clone(),
                reason: format!("'{FLOWS_TABLE}' is the profile's table of all its channels"),
            });
        }
        if !names.insert(channel.name.as_str()) {
            return Err(invalid(format!("channel '{}' is given twice", channel.name)));
        }
        filter_expr(&channel.filter).map_err(|reason| ProfileError::BadFilter {
            profile: profile.name.clone(),
            channel: channel.name.clone(),
            reason,
        })?;
    }
    if let Some(span) = profile.span
        && let (Some(start), Some(end)) = (span.start_ms, span.end_ms)
        && start >= end
    {
        return Err(invalid(format!("its span ends ({end}) before it starts ({start})")));
    }
    check_children_keep_sources(set, profile)
}

/// The parent exists and is not the profile itself or one of its descendants.
fn check_parent(set: &ProfileSet, profile: &Profile) -> Result<(), ProfileError> {
    let mut ancestor = profile.parent.as_str();
    while ancestor != LIVE_PROFILE {
        if ancestor == profile.name {
            return Err(ProfileError::Invalid {
                profile: profile.name.clone(),
                reason: format!("parent '{}' would make a cycle", profile.parent),
            });
        }
        ancestor = match set.get(ancestor) {
            Some(p) => &p.parent,
            None => return Err(ProfileError::NoProfile(ancestor.to_string())),
        };
    }
    Ok(())
}

/// Every source is a channel of the parent (any address is a possible live channel).
fn check_sources(set: &ProfileSet, profile: &Profile) -> Result<(), ProfileError> {
    let mut seen = BTreeSet::new();
    for source in &profile.sources {
        if !seen.insert(source.as_str()) {
            return Err(ProfileError::Invalid {
                profile: profile.name.clone(),
                reason: format!("source '{source}' is given twice"),
            });
        }
        if profile.parent == LIVE_PROFILE {
            live_source(source).ok_or_else(|| ProfileError::BadName {
                name: source.clone(),
                reason: "a source of the live profile is a channel table (exporter_10_0_0_1) or an exporter \
                         address"
                    .into(),
            })?;
        } else {
            let parent = set
                .get(&profile.parent)
                .ok_or_else(|| ProfileError::NoProfile(profile.parent.clone()))?;
            if parent.channel(source).is_none() {
                return Err(ProfileError::NoChannel {
                    profile: parent.name.clone(),
                    channel: source.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Children of the profile still find the channels they read.
fn check_children_keep_sources(set: &ProfileSet, profile: &Profile) -> Result<(), ProfileError> {
    for child in set.children(&profile.name) {
        if let Some(lost) = child.sources.iter().find(|s| profile.channel(s).is_none()) {
            return Err(ProfileError::Invalid {
                profile: profile.name.clone(),
                reason: format!("profile '{}' reads its channel '{lost}'", child.name),
            });
        }
    }
    Ok(())
}

/// A profile may be deleted when no profile has it as parent.
pub fn check_delete(set: &ProfileSet, name: &str) -> Result<(), ProfileError> {
    if set.get(name).is_none() {
        return Err(ProfileError::NoProfile(name.to_string()));
    }
    let children: Vec<&str> = set.children(name).map(|p| p.name.as_str()).collect();
    if !children.is_empty() {
        return Err(ProfileError::Invalid {
            profile: name.to_string(),
            reason: format!("profiles {} are its children; delete them first", children.join(", ")),
        });
    }
    Ok(())
}
