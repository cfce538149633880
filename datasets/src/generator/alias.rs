//! Walker/Vose alias tables: O(1) draws from a fixed discrete distribution, one random `u64`
//! per draw. Used for every skewed choice of the generator (hosts, ports, flags, exporters).

use rand::RngCore;

/// A discrete distribution over `0..len`, built once from weights.
#[derive(Debug, Clone)]
pub(crate) struct AliasTable {
    /// Acceptance threshold of each column, scaled to `u32`.
    accept: Vec<u32>,
    /// Where a rejected draw of each column goes.
    alias: Vec<u32>,
}

impl AliasTable {
    /// A table from non-negative weights; `None` if there are none, or none is positive.
    pub(crate) fn new(weights: &[f64]) -> Option<Self> {
        let n = weights.len();
        let total: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
        if n == 0 || n > u32::MAX as usize || total <= 0.0 {
            return None;
        }
        let mut scaled: Vec<f64> = weights
            .iter()
            .map(|w| {
                if w.is_finite() && *w > 0.0 {
                    w * n as f64 / total
                } else {
                    0.0
                }
            })
            .collect();
        let mut accept = vec![u32::MAX; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| scaled[*i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            accept[s] = (scaled[s] * u32::MAX as f64) as u32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left has probability 1 up to rounding: always accept.
        Some(Self { accept, alias })
    }

    /// Zipf weights `1 / rank^s` over `n` ranks (rank 0 most likely); `None` if `n == 0`.
    pub(crate) fn zipf(n: usize, s: f64) -> Option<Self> {
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        Self::new(&weights)
    }

    /// Number of outcomes.
    pub(crate) fn len(&self) -> usize {
        self.accept.len()
    }

    /// One draw.
    #[inline]
    pub(crate) fn sample<R: RngCore>(&self, rng: &mut R) -> usize {
        let x = rng.next_u64();
        // High half picks the column (multiply-shift, no modulo bias worth caring about),
        // low half decides between the column and its alias.
        let col = (((x >> 32) * self.accept.len() as u64) >> 32) as usize;
        if (x as u32) < self.accept[col] {
            col
        } else {
            self.alias[col] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn draws_follow_the_weights() {
        let t = AliasTable::new(&[1.0, 0.0, 3.0, 6.0]).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[t.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0, "zero weight is never drawn");
        let share = |i: usize| f64::from(counts[i]) / 100_000.0;
        assert!((share(0) - 0.1).abs() < 0.01, "{counts:?}");
        assert!((share(2) - 0.3).abs() < 0.01, "{counts:?}");
        assert!((share(3) - 0.6).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn zipf_rank_zero_is_most_likely_and_empty_is_rejected() {
        let t = AliasTable::zipf(100, 1.0).unwrap();
        assert_eq!(t.len(), 100);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = vec![0u32; 100];
        for _ in 0..50_000 {
            counts[t.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[9] && counts[9] > counts[99]);
        assert!(AliasTable::zipf(0, 1.0).is_none());
        assert!(AliasTable::new(&[0.0, f64::NAN]).is_none());
    }
}
