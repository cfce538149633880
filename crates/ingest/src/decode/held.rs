//! Data sets that arrived before their template, held (bounded by count and bytes, oldest
//! dropped first) until the template comes.

use std::collections::VecDeque;

use super::record::ExportCtx;
use super::template::DomainKey;

/// One held data set with the header context it arrived with.
#[derive(Debug, Clone)]
pub(crate) struct HeldSet {
    pub key: DomainKey,
    pub template_id: u16,
    pub ctx: ExportCtx,
    pub body: Vec<u8>,
}

/// The bounded queue of held sets.
#[derive(Debug, Default)]
pub(crate) struct HeldQueue {
    sets: VecDeque<HeldSet>,
    bytes: usize,
}

impl HeldQueue {
    /// Holds a set; returns how many older sets were dropped to stay within the bounds.
    /// A set larger than `max_bytes` (or any set when `max_sets` is 0) is dropped at once.
    pub(crate) fn hold(&mut self, set: HeldSet, max_sets: usize, max_bytes: usize) -> u32 {
        if max_sets == 0 || set.body.len() > max_bytes {
            return 1;
        }
        let mut dropped = 0;
        while self.sets.len() >= max_sets || self.bytes + set.body.len() > max_bytes {
            match self.sets.pop_front() {
                Some(old) => {
                    self.bytes -= old.body.len();
                    dropped += 1;
                }
                None => break,
            }
        }
        self.bytes += set.body.len();
        self.sets.push_back(set);
        dropped
    }

    /// Removes and returns, oldest first, the sets of `key` whose template `known` accepts.
    pub(crate) fn take_ready(&mut self, key: &DomainKey, known: impl Fn(u16) -> bool) -> Vec<HeldSet> {
        if !self.sets.iter().any(|s| s.key == *key && known(s.template_id)) {
            return Vec::new();
        }
        let mut ready = Vec::new();
        let mut keep = VecDeque::with_capacity(self.sets.len());
        for s in self.sets.drain(..) {
            if s.key == *key && known(s.template_id) {
                self.bytes -= s.body.len();
                ready.push(s);
            } else {
                keep.push_back(s);
            }
        }
        self.sets = keep;
        ready
    }

    /// Number of held sets.
    pub(crate) fn len(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(domain: u32, template_id: u16, n: usize) -> HeldSet {
        let key = DomainKey {
            exporter: [0; 16],
            version: 9,
            domain,
        };
        let ctx = ExportCtx {
            exporter: [0; 16],
            domain,
            export_ms: 0,
            uptime_ms: None,
        };
        HeldSet {
            key,
            template_id,
            ctx,
            body: vec![0; n],
        }
    }

    #[test]
    fn bounds_drop_oldest_and_release_matches_only() {
        let mut q = HeldQueue::default();
        assert_eq!(q.hold(set(1, 256, 10), 3, 100), 0);
        assert_eq!(q.hold(set(2, 256, 10), 3, 100), 0);
        assert_eq!(q.hold(set(1, 257, 10), 3, 100), 0);
        assert_eq!(q.hold(set(1, 256, 10), 3, 100), 1); // count bound
        assert_eq!(q.hold(set(1, 258, 85), 3, 100), 2); // byte bound
        assert_eq!(q.hold(set(1, 258, 101), 3, 100), 1); // too big on its own
        assert_eq!(q.len(), 2);
        let key = DomainKey {
            exporter: [0; 16],
            version: 9,
            domain: 1,
        };
        let got = q.take_ready(&key, |id| id == 256);
        assert_eq!(got.len(), 1);
        assert_eq!(q.len(), 1);
        assert_eq!(q.bytes, 85);
    }
}
