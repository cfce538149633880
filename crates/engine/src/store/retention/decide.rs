//! Which windows a retention run removes: a pure function of the inventory, the rules and the
//! time, so every rule is tested without files.

use std::collections::BTreeSet;

use super::RetentionRules;
use super::inventory::Channel;

/// Why a window is removed.
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

/// A window to remove: index of its channel in the inventory, its start, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Doomed {
    /// Index into the inventory's channels.
    pub channel: usize,
    /// Window start, ms.
    pub start_ms: i64,
    /// The first rule that removes it.
    pub reason: Reason,
}

/// The windows `rules` remove at `now_ms`, oldest first within each channel. Windows without a
/// sealed part or still busy are never chosen (and a busy window still counts toward sizes).
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
