//! Which windows a retention run expires, and which expired parts it removes: pure functions of
//! the inventory, the rules and the time, so every rule is tested without files.

use std::collections::{BTreeMap, BTreeSet};

use super::RetentionRules;
use super::inventory::{Channel, ExpiredPart};

/// Why a window is expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Its end is older than the channel's `max_age`.
    Age,
    /// The channel's sealed bytes exceeded its `max_bytes`.
    ChannelSize,
    /// The store's sealed bytes exceeded `max_total_bytes`.
    TotalSize,
}

impl Reason {
    /// A short name for reports and logs: `age`, `channel_size`, `total_size`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Age => "age",
            Reason::ChannelSize => "channel_size",
            Reason::TotalSize => "total_size",
        }
    }
}

/// A window to expire: index of its channel in the inventory, its start, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Doomed {
    /// Index into the inventory's channels.
    pub channel: usize,
    /// Window start, ms.
    pub start_ms: i64,
    /// The first rule that expires it.
    pub reason: Reason,
}

/// The windows `rules` expire at `now_ms`, oldest first within each channel. Windows without a
/// sealed part or still busy are never chosen (and a busy window still counts toward sizes).
/// Parts expired already are not in [`Window::parts`](super::inventory::Window::parts): they
/// count toward no limit and are never chosen again.
pub(crate) fn decide(channels: &[Channel], rules: &RetentionRules, window_ms: i64, now_ms: i64) -> Vec<Doomed> {
    let mut doomed = Vec::new();
    // (start, channel) of every window kept so far, for the store-wide cap.
    let mut kept: BTreeSet<(i64, usize)> = BTreeSet::new();
    let mut kept_bytes = 0u64;
    for (i, channel) in channels.iter().enumerate() {
        let policy = rules.policy_for(&channel.exporter);
        let cutoff = policy
            .max_age
            .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
        let mut bytes = channel.bytes();
        let mut candidates = Vec::new();
        for (&start, window) in &channel.windows {
            let removable = !window.busy && !window.parts.is_empty();
            let end = start.saturating_add(window_ms);
            if removable && cutoff.is_some_and(|c| end < c) {
                doomed.push(Doomed {
                    channel: i,
                    start_ms: start,
                    reason: Reason::Age,
                });
                bytes -= window.bytes();
            } else if removable {
                candidates.push(start);
            }
        }
        let mut candidates = candidates.into_iter();
        if let Some(max) = policy.max_bytes {
            while bytes > max {
                let Some(start) = candidates.next() else { break };
                doomed.push(Doomed {
                    channel: i,
                    start_ms: start,
                    reason: Reason::ChannelSize,
                });
                bytes -= channel.windows[&start].bytes();
            }
        }
        kept.extend(candidates.map(|start| (start, i)));
        kept_bytes += bytes;
    }
    if let Some(max) = rules.max_total_bytes {
        let mut oldest = kept.into_iter();
        while kept_bytes > max {
            let Some((start, i)) = oldest.next() else { break };
            doomed.push(Doomed {
                channel: i,
                start_ms: start,
                reason: Reason::TotalSize,
            });
            kept_bytes -= channels[i].windows[&start].bytes();
        }
    }
    doomed.sort();
    doomed
}

/// Expired parts of one window that are due for removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    /// Index into the inventory's channels.
    pub channel: usize,
    /// Window start, ms.
    pub start_ms: i64,
    /// The parts whose grace has passed.
    pub parts: Vec<ExpiredPart>,
}

/// The expired parts whose grace has passed at `now_ms` (expired at or before `now - grace`), by
/// window: those of the inventory and those `fresh` expired by this run (`(channel, start,
/// parts)`, expired at `now_ms`: due only when the grace is zero). Sorted by channel and start.
pub(crate) fn due(
    channels: &[Channel],
    fresh: &[(usize, i64, Vec<ExpiredPart>)],
    grace_ms: i64,
    now_ms: i64,
) -> Vec<Due> {
    let is_due = |p: &&ExpiredPart| p.expired_ms.saturating_add(grace_ms) <= now_ms;
    let mut by_window: BTreeMap<(usize, i64), Vec<ExpiredPart>> = BTreeMap::new();
    let inventory = channels.iter().enumerate().flat_map(|(i, channel)| {
        channel
            .windows
            .iter()
            .map(move |(&start, window)| (i, start, window.expired.as_slice()))
    });
    let fresh = fresh.iter().map(|(i, start, parts)| (*i, *start, parts.as_slice()));
    for (i, start, parts) in inventory.chain(fresh) {
        let parts: Vec<ExpiredPart> = parts.iter().filter(is_due).cloned().collect();
        if !parts.is_empty() {
            by_window.entry((i, start)).or_default().extend(parts);
        }
    }
    by_window
        .into_iter()
        .map(|((channel, start_ms), parts)| Due {
            channel,
            start_ms,
            parts,
        })
        .collect()
}
