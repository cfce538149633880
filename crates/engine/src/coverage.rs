//! Where in time a node's channels may hold flows, from their directories alone: the hours of
//! their hour directories, plus the time spans of the parts their outlier index names (see
//! [`crate::outliers`]). A master asks its slaves for it to leave out of a time-bounded query the
//! slaves that hold nothing in its range.
//!
//! A span is conservative, never short: a flow of a channel starts within one of its spans. An
//! hour directory counts whole, even when empty. A marked part counts with the span its rollups'
//! names give; an open marked part (it may still grow), one without rollups, a channel whose
//! index is not complete, or a directory whose name does not parse count as [`ANYWHERE`].

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::addr::Addr16;
use crate::error::{EngineError, Result};
use crate::layout::{
    DAY_MS, FileKind, HOUR_MS, classify, flows_root, list_dirs, parse_date_dir, parse_exporter_dir, parse_hour_dir,
};
use crate::outliers::{OUTLIERS_DIR, is_complete, marked_parts};
use crate::rollup::RollupFile;

/// A closed range of `flow_start`, ms since the epoch.
pub type Span = (i64, i64);

/// The span of every time.
pub const ANYWHERE: Span = (i64::MIN, i64::MAX);

/// Whether `a` and `b` share a time.
pub fn meets(a: Span, b: Span) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The most marked parts whose spans the whole answer (no `within`) reads: a channel with more
/// counts as [`ANYWHERE`] there, so that answer stays quick whatever the index holds.
pub const MOST_MARKED_PARTS: usize = 1000;

/// Days back from now whose hours the whole answer lists; older date directories count whole.
pub const RECENT_DAYS: i64 = 2;

/// The spans of each channel of `data_dir`, sorted and merged.
///
/// With `within`, only the spans meeting it (a channel with none keeps an empty list), to the
/// hour. Without, every span, coarser and quick on long retention: a date directory older than
/// [`RECENT_DAYS`] counts as its whole day (its hours are not listed), and a channel with more
/// than [`MOST_MARKED_PARTS`] marked parts as [`ANYWHERE`].
pub fn channel_coverage(data_dir: &Path, within: Option<Span>) -> Result<BTreeMap<Addr16, Vec<Span>>> {
    let mut out = BTreeMap::new();
    for (name, dir) in list_dirs(&flows_root(data_dir))? {
        let Some(exporter) = parse_exporter_dir(&name) else {
            continue;
        };
        let mut spans = of_channel(&dir, within)?;
        if let Some(within) = within {
            spans.retain(|s| meets(*s, within));
        }
        out.insert(exporter, spans);
    }
    Ok(out)
}

/// The spans of one channel directory (those of days missing `within` left out).
fn of_channel(channel: &Path, within: Option<Span>) -> Result<Vec<Span>> {
    if !is_complete(channel) {
        return Ok(vec![ANYWHERE]);
    }
    // The whole answer lists the hours of the recent days only.
    let recent_from = crate::clock::now_ms() - RECENT_DAYS * DAY_MS;
    let mut spans = Vec::new();
    for (name, date_dir) in list_dirs(channel)? {
        if name == OUTLIERS_DIR {
            continue;
        }
        let Some(day) = parse_date_dir(&name) else {
            return Ok(vec![ANYWHERE]);
        };
        let whole_day = (day, day + DAY_MS - 1);
        match within {
            None if day < recent_from => {
                spans.push(whole_day);
                continue;
            }
            Some(within) if !meets(whole_day, within) => continue,
            _ => {}
        }
        for (name, _) in list_dirs(&date_dir)? {
            let Some(hour) = parse_hour_dir(&name) else {
                return Ok(vec![ANYWHERE]);
            };
            let start = day + hour * HOUR_MS;
            spans.push((start, start + HOUR_MS - 1));
        }
    }
    let marked = marked_parts(channel)?;
    if within.is_none() && marked.len() > MOST_MARKED_PARTS {
        return Ok(vec![ANYWHERE]);
    }
    spans.extend(marked_spans(&marked)?);
    Ok(merge(spans))
}

/// The spans of the marked parts `stems` (stem paths, sorted): each part's rollups' span (all of
/// them must agree), or [`ANYWHERE`] if it is open, being sealed, or has no rollups. A part
/// whose files are gone (retention removed it since the index was read) has none. Each hour
/// directory is read once.
fn marked_spans(stems: &[PathBuf]) -> Result<Vec<Span>> {
    let mut by_dir: BTreeMap<&Path, Vec<&str>> = BTreeMap::new();
    for stem in stems {
        if let (Some(dir), Some(name)) = (stem.parent(), stem.file_name().and_then(|n| n.to_str())) {
            by_dir.entry(dir).or_default().push(name);
        }
    }
    let mut out = Vec::new();
    for (dir, wanted) in by_dir {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(EngineError::io("list directory", dir)(e)),
        };
        // Per wanted stem: whether it has files, and its span so far (`None`: all time).
        let mut parts: BTreeMap<&str, (bool, Option<Option<Span>>)> =
            wanted.iter().map(|&stem| (stem, (false, None))).collect();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some((kind, stem)) = classify(&path) else {
                continue;
            };
            let Some((seen, span)) = parts.get_mut(stem) else {
                continue;
            };
            *seen = true;
            let this = match kind {
                FileKind::Wal | FileKind::SealTmp => None,
                FileKind::Rollup => match RollupFile::parse(&path) {
                    Some(rollup) => Some((rollup.first_start_ms, rollup.last_start_ms)),
                    None => continue,
                },
                FileKind::Sealed | FileKind::Expired => continue,
            };
            *span = match *span {
                None if this.is_some() => Some(this),
                Some(Some(prev)) if Some(prev) == this => Some(Some(prev)),
                _ => Some(None),
            };
        }
        for (seen, span) in parts.into_values() {
            if seen {
                out.push(span.flatten().unwrap_or(ANYWHERE));
            }
        }
    }
    Ok(out)
}

/// `spans` sorted, with those that overlap or touch merged.
pub fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (first, last) in spans {
        match out.last_mut() {
            Some(prev) if first <= prev.1.saturating_add(1) => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::from_v4_u32;
    use crate::layout::hour_dir;
    use crate::{FlowBatchBuilder, FlowRecord, FlowStore, StoreConfig};

    #[test]
    fn merging_joins_spans_that_overlap_or_touch() {
        assert_eq!(
            merge(vec![(10, 19), (0, 9), (30, 40), (35, 36)]),
            vec![(0, 19), (30, 40)]
        );
        assert_eq!(merge(vec![ANYWHERE, (5, 6)]), vec![ANYWHERE]);
        assert!(merge(Vec::new()).is_empty());
    }

    /// A store over `data_dir` holding flows of `exporter` starting at `starts` (not closed).
    fn store_with(data_dir: &Path, exporter: Addr16, starts: &[i64]) -> FlowStore {
        let config = StoreConfig {
            fsync_interval: std::time::Duration::ZERO,
            ..StoreConfig::new(data_dir)
        };
        let (mut store, _) = FlowStore::open(config).unwrap();
        let mut b = FlowBatchBuilder::with_capacity(starts.len());
        for &flow_start in starts {
            b.append(&FlowRecord {
                flow_start,
                exporter,
                ..Default::default()
            });
        }
        store.append(&b.finish()).unwrap();
        store
    }

    /// Channel a: a flow two hours back and one 3 days ahead (an implausible time, filed in the
    /// current window and marked); channel b: one in the current hour.
    #[test]
    fn a_channel_covers_its_hours_and_its_marked_parts_spans() {
        let tmp = tempfile::tempdir().unwrap();
        let now = crate::clock::now_ms();
        let hour = now - now.rem_euclid(HOUR_MS);
        let ahead = now + 3 * 24 * HOUR_MS;
        let a = from_v4_u32(0x0a00_0001);
        let b = from_v4_u32(0x0a00_0002);
        store_with(tmp.path(), a, &[hour - 2 * HOUR_MS + 60_000, ahead])
            .close()
            .unwrap();
        store_with(tmp.path(), b, &[hour + 1]).close().unwrap();

        let marked = marked_parts(&crate::layout::channel_dir(tmp.path(), &a)).unwrap();
        assert_eq!(marked.len(), 1, "the part holding the flow ahead is marked");
        let hours = channel_coverage(tmp.path(), Some(ANYWHERE)).unwrap();
        assert_eq!(
            hours[&a],
            vec![
                (hour - 2 * HOUR_MS, hour - HOUR_MS - 1),
                (hour, hour + HOUR_MS - 1),
                (ahead, ahead)
            ],
            "two hour directories and the marked part's span (from its rollups)"
        );
        assert_eq!(hours[&b], vec![(hour, hour + HOUR_MS - 1)]);
        assert_eq!(
            channel_coverage(tmp.path(), None).unwrap(),
            hours,
            "the whole answer lists the recent days' hours"
        );

        let past = (hour - 2 * HOUR_MS, hour - HOUR_MS - 1);
        let within = channel_coverage(tmp.path(), Some(past)).unwrap();
        assert_eq!(within[&a], vec![past]);
        assert!(within[&b].is_empty(), "b has nothing two hours back");
        let later = channel_coverage(tmp.path(), Some((ahead, ahead))).unwrap();
        assert_eq!(later[&a], vec![(ahead, ahead)], "found through the index alone");
    }

    #[test]
    fn an_open_marked_part_or_an_unindexed_channel_may_hold_flows_anywhere() {
        let tmp = tempfile::tempdir().unwrap();
        let now = crate::clock::now_ms();
        let a = from_v4_u32(0x0a00_0001);
        let store = store_with(tmp.path(), a, &[now, now + 3 * 24 * HOUR_MS]);
        assert_eq!(
            channel_coverage(tmp.path(), None).unwrap()[&a],
            vec![ANYWHERE],
            "the open part may still grow"
        );
        store.close().unwrap();
        assert_ne!(channel_coverage(tmp.path(), None).unwrap()[&a], vec![ANYWHERE]);

        let channel = crate::layout::channel_dir(tmp.path(), &a);
        fs::remove_file(channel.join(OUTLIERS_DIR).join("complete")).unwrap();
        assert_eq!(channel_coverage(tmp.path(), None).unwrap()[&a], vec![ANYWHERE]);

        let odd = tempfile::tempdir().unwrap();
        let odd_channel = crate::layout::channel_dir(odd.path(), &a);
        fs::create_dir_all(hour_dir(&odd_channel, now).unwrap()).unwrap();
        fs::create_dir_all(odd_channel.join("date=someday")).unwrap();
        crate::outliers::complete(&odd_channel).unwrap();
        assert_eq!(channel_coverage(odd.path(), None).unwrap()[&a], vec![ANYWHERE]);
    }

    #[test]
    fn the_whole_answer_gives_up_on_a_channel_with_too_many_marked_parts() {
        let tmp = tempfile::tempdir().unwrap();
        let a = from_v4_u32(0x0a00_0001);
        let channel = crate::layout::channel_dir(tmp.path(), &a);
        let start = 1_795_345_500_000; // 2026-11-22 11:05 UTC
        fs::create_dir_all(hour_dir(&channel, start).unwrap()).unwrap();
        crate::outliers::complete(&channel).unwrap();
        let index = channel.join(OUTLIERS_DIR);
        for part in 0..=MOST_MARKED_PARTS as u32 {
            let stem = crate::layout::WindowName { start_ms: start, part }.stem().unwrap();
            fs::write(index.join(stem), b"").unwrap();
        }
        assert_eq!(channel_coverage(tmp.path(), None).unwrap()[&a], vec![ANYWHERE]);
        let hour = start - start.rem_euclid(HOUR_MS);
        assert_eq!(
            channel_coverage(tmp.path(), Some(ANYWHERE)).unwrap()[&a],
            vec![(hour, hour + HOUR_MS - 1)],
            "asked for a range, every marked part is read (these have no files)"
        );
    }

    #[test]
    fn an_old_day_counts_whole_in_the_whole_answer_and_to_the_hour_for_a_range() {
        let tmp = tempfile::tempdir().unwrap();
        let old = crate::clock::now_ms() - 5 * DAY_MS;
        let a = from_v4_u32(0x0a00_0001);
        store_with(tmp.path(), a, &[old]).close().unwrap();
        let day = old - old.rem_euclid(DAY_MS);
        let hour = old - old.rem_euclid(HOUR_MS);
        assert_eq!(
            channel_coverage(tmp.path(), None).unwrap()[&a],
            vec![(day, day + DAY_MS - 1)]
        );
        assert_eq!(
            channel_coverage(tmp.path(), Some(ANYWHERE)).unwrap()[&a],
            vec![(hour, hour + HOUR_MS - 1)]
        );
    }
}
