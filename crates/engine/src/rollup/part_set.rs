//! Which sealed parts a summed rollup (hourly or daily) stands for: their number and a hash of
//! their names, carried in the rollup's stem (`hour-<parts>-<hash>`, `day-<parts>-<hash>`).

use std::ffi::OsStr;

use super::RollupFile;

/// What a summed rollup sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SumLevel {
    /// The sealed parts of one hour directory (names as in the directory).
    Hour,
    /// The sealed parts of one date directory's hour directories (names as `hour=HH/<name>`).
    Day,
}

impl SumLevel {
    fn prefix(self) -> &'static str {
        match self {
            SumLevel::Hour => "hour-",
            SumLevel::Day => "day-",
        }
    }
}

/// The sealed parts a summed rollup sums: its level, how many, and a hash of their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartSet {
    /// Hour or day.
    pub level: SumLevel,
    /// Number of parts.
    pub parts: usize,
    /// FNV-1a (64 bits) of the sorted names, each followed by a zero byte: stable across builds,
    /// as it is stored in file names.
    pub fingerprint: u64,
}

impl PartSet {
    /// The set of the parts named `names` (in any order).
    pub fn of<'a>(level: SumLevel, names: impl IntoIterator<Item = &'a OsStr>) -> PartSet {
        let mut names: Vec<&[u8]> = names.into_iter().map(OsStr::as_encoded_bytes).collect();
        names.sort_unstable();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in names.iter().flat_map(|n| n.iter().chain(&[0u8])) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        PartSet {
            level,
            parts: names.len(),
            fingerprint: hash,
        }
    }

    /// The stem of this set's summed rollups.
    pub fn stem(&self) -> String {
        format!("{}{}-{:016x}", self.level.prefix(), self.parts, self.fingerprint)
    }

    /// The set a summed rollup's stem names; `None` for any other stem (a part's).
    pub fn from_stem(stem: &str) -> Option<PartSet> {
        let (level, rest) = [SumLevel::Hour, SumLevel::Day]
            .into_iter()
            .find_map(|level| Some((level, stem.strip_prefix(level.prefix())?)))?;
        let (parts, fingerprint) = rest.split_once('-')?;
        Some(PartSet {
            level,
            parts: parts.parse().ok()?,
            fingerprint: u64::from_str_radix(fingerprint, 16).ok()?,
        })
    }

    /// The set `rollup` sums, if it is a summed rollup.
    pub fn of_rollup(rollup: &RollupFile) -> Option<PartSet> {
        PartSet::from_stem(rollup.stem_path.file_name()?.to_str()?)
    }
}
