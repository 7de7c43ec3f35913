//! The Agent's DDSketch for distributions (`spec/sketch.md`).
//!
//! This is not the sketches-go DDSketch: the Datadog intake only accepts
//! this variant, with its fixed mapping (relative accuracy 1/128, bias
//! 1338, [`key`]), a sparse store of at most 4096 `(i16 key, count)` bins,
//! and an exact summary (count, sum, min, max, avg) kept beside the bins.
//! The golden vectors in `tests/data/conformance/sketch.json` (produced by
//! the Agent's own Go code) pin every detail; `core/tests/sketch_conformance.rs`
//! checks them all.
//!
//! # Bin width
//!
//! [`AgentSketch`] uses 32-bit bin counts, like the current Agent and
//! Datadog's Rust data plane (project decision, spec §6): a key's count only
//! splits over several bins past 4 294 967 295. [`LegacyAgentSketch`] is
//! the same sketch with the 16-bit bins of older Agents; both encode to the
//! same wire format and the intake accepts either.
//!
//! # Inserting
//!
//! * [`Sketch::insert`] — one unsampled value.
//! * [`Sketch::insert_sampled`] — one DogStatsD sample with its sample rate
//!   (spec §4, dogstatsd.md §9.4/§14.4): a rate outside (0, 1] counts as 1;
//!   otherwise the bins and the count grow by `trunc(1/r)` while the sum
//!   grows by `v × (1/r)` (not truncated). This is the call the aggregator
//!   makes for every `|d` sample.
//! * [`Sketch::insert_n`] — `n` copies of one value, as one weighted insert.
//! * [`Sketch::insert_interpolate`] — the histogram-bucket conversion
//!   (OTLP; not used by DogStatsD).
//!
//! Non-finite values (NaN, ±∞) are **ignored** by every insert method: the
//! Agent drops them before the sketch (dogstatsd.md §9.6). Callers that
//! count dropped samples must check `is_finite()` themselves.
//!
//! # Differences in mechanics, not in results
//!
//! The Agent buffers up to 512 keys and merges them into the store in
//! batches. Here every insert goes straight into the sorted store (an
//! index guess from the key's offset, which hits for dense bins, else a
//! binary search; in the steady state an increment in place), so the sketch
//! is always readable through `&self` and needs no buffer memory at all: a
//! sketch is 64 bytes inline plus 8 bytes per bin of capacity on the heap
//! (exactly 8 for a context with a single key). The bins are the same as the
//! Agent's: collapsing at the bin limit always moves mass into the lowest
//! kept bin, so its result does not depend on when it runs unless a bin
//! saturates, which with 32-bit bins takes more than 4.29e9 values in the
//! collapsed range (the conformance and property tests compare against a
//! batch model). With [`LegacyAgentSketch`]'s 16-bit bins a collapsed bin
//! can saturate after 65535 values, and then the Agent's overflow bins
//! depend on batch boundaries; this sketch collapses after every insert.
//! Inserting is allocation-free once a value's key has a bin; a new key
//! costs one insertion into the bin vector.
//!
//! Bin values (`γ^(k−1338)`, [`value`]) are computed with the same
//! square-and-multiply as Go's `math.Pow`, so they, the min of
//! interpolated sketches and the quantile estimates match the Agent's bit
//! for bit rather than within an ulp.
//!
//! # Accuracy
//!
//! [`Sketch::quantile`] follows the Agent's rule exactly (spec §7), quirks
//! included. For values with magnitudes between ~1e-9 and ~4e211 whose bins
//! were not collapsed, the estimate is within a factor `γ^1.5` (relative
//! error ≤ 2.36 %) of the exact quantile `sorted[round_half_even(q(n−1))]`;
//! magnitudes below 1e-9 are estimated as 0 or within the first bin's range.

mod mapping;
mod store;

pub use mapping::{
    BIAS, GAMMA, INF_KEY, LN_GAMMA, MAX_FINITE_KEY, NORM_MIN, RELATIVE_ACCURACY, key, value,
};
pub use store::{BIN_LIMIT, Bin};

/// Bin width of the current Agent (32-bit counts).
pub const BIN_MAX_U32: u32 = u32::MAX;

/// Bin width of older Agents (16-bit counts).
pub const BIN_MAX_U16: u32 = u16::MAX as u32;

/// Relative error bound of [`Sketch::quantile`] for values within the
/// indexable range whose bins were not collapsed: `γ^1.5 − 1`.
pub const QUANTILE_RELATIVE_ERROR: f64 = 0.0236;

/// The Agent-compatible sketch with 32-bit bins: what the aggregator builds
/// for every distribution context and bucket.
pub type AgentSketch = Sketch<BIN_MAX_U32>;

/// The same sketch with the 16-bit bins of older Agents.
pub type LegacyAgentSketch = Sketch<BIN_MAX_U16>;

/// Errors from sketch operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SketchError {
    /// [`Sketch::insert_interpolate`] got `upper` mapping below `lower`.
    #[error("non-monotonic boundaries")]
    NonMonotonicBoundaries,
    /// A bound or value was NaN or infinite.
    #[error("non-finite value")]
    NonFinite,
    /// [`Sketch::from_parts`] got bins out of key order or with a zero count.
    #[error("bins must be sorted by key and have non-zero counts")]
    InvalidBins,
}

/// The exact summary kept beside the bins (spec §5).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Summary {
    cnt: u64,
    sum: f64,
    min: f64,
    max: f64,
    avg: f64,
}

impl Summary {
    fn insert(&mut self, v: f64) {
        if self.cnt == 0 || v > self.max {
            self.max = v;
        }
        if self.cnt == 0 || v < self.min {
            self.min = v;
        }
        self.cnt += 1;
        self.sum += v;
        self.avg += (v - self.avg) / self.cnt as f64;
    }

    /// Weighted insert: merge with `{trunc(w), w × v, v, v, v}`.
    fn insert_weighted(&mut self, v: f64, cnt: u64, w: f64) {
        self.merge(&Self {
            cnt,
            sum: w * v,
            min: v,
            max: v,
            avg: v,
        });
    }

    fn merge(&mut self, o: &Self) {
        if self.cnt == 0 {
            *self = *o;
            return;
        }
        if o.cnt == 0 {
            return;
        }
        if o.max > self.max {
            self.max = o.max;
        }
        if o.min < self.min {
            self.min = o.min;
        }
        self.cnt = self.cnt.saturating_add(o.cnt);
        self.sum += o.sum;
        self.avg += (o.avg - self.avg) * o.cnt as f64 / self.cnt as f64;
    }
}

/// The Agent's DDSketch, generic over the bin width `W` (the largest count
/// one bin holds). Use [`AgentSketch`] (`W` = 2³²−1); see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch<const W: u32> {
    bins: Vec<Bin>,
    summary: Summary,
}

impl<const W: u32> Sketch<W> {
    /// An empty sketch. Does not allocate.
    pub const fn new() -> Self {
        Self {
            bins: Vec::new(),
            summary: Summary {
                cnt: 0,
                sum: 0.0,
                min: 0.0,
                max: 0.0,
                avg: 0.0,
            },
        }
    }

    /// Rebuilds a sketch from its serialised form (a Dogsketch: summary and
    /// bins in store order), e.g. in a test intake.
    pub fn from_parts(
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
        avg: f64,
        bins: impl IntoIterator<Item = Bin>,
    ) -> Result<Self, SketchError> {
        let bins: Vec<Bin> = bins.into_iter().collect();
        if bins.iter().any(|b| b.n == 0 || b.n > W) || bins.windows(2).any(|w| w[0].key > w[1].key)
        {
            return Err(SketchError::InvalidBins);
        }
        Ok(Self {
            bins,
            summary: Summary {
                cnt: count,
                sum,
                min,
                max,
                avg,
            },
        })
    }

    /// Inserts one unsampled value. Non-finite values are ignored.
    #[inline]
    pub fn insert(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.summary.insert(v);
        store::add(&mut self.bins, key(v), 1, W);
    }

    /// Inserts `n` copies of `v` as one weighted insert: count +n, sum
    /// +n·v, one bin update. (`n` separate [`insert`](Self::insert) calls
    /// give the same bins and count; the sum and average may differ in the
    /// last bits.) `n == 0` and non-finite values are ignored.
    pub fn insert_n(&mut self, v: f64, n: u32) {
        if !v.is_finite() || n == 0 {
            return;
        }
        self.summary.insert_weighted(v, u64::from(n), f64::from(n));
        store::add(&mut self.bins, key(v), u64::from(n), W);
    }

    /// Inserts one DogStatsD sample received with `sample_rate` (spec §4):
    ///
    /// * a rate ≤ 0, > 1 or NaN counts as 1, as does 1 itself: a plain
    ///   [`insert`](Self::insert);
    /// * otherwise with `w = 1 / rate`, the bins and the count grow by
    ///   `trunc(w)` and the sum by `w × v` (so `@0.333` adds 3 to the count
    ///   and `3.003… × v` to the sum; `@1e-5` adds 99999, because 1/1e-5 is
    ///   99999.99999999999).
    ///
    /// `trunc(w)` is capped at 4294967295 so an absurd rate cannot allocate
    /// millions of split bins. Non-finite values are ignored.
    pub fn insert_sampled(&mut self, v: f64, sample_rate: f64) {
        if !(sample_rate > 0.0 && sample_rate < 1.0) {
            self.insert(v);
            return;
        }
        if !v.is_finite() {
            return;
        }
        let w = 1.0 / sample_rate;
        // Saturating float-to-int cast, then the cap.
        let n = (w.trunc() as u64).min(u64::from(u32::MAX));
        self.summary.insert_weighted(v, n, w);
        store::add(&mut self.bins, key(v), n, W);
    }

    /// Converts a histogram bucket `[lower, upper]` holding `count` values
    /// into bins, spreading the count over the keys between the bounds in
    /// proportion to their width (the Agent's `InsertInterpolate`, used for
    /// OTLP histograms; DogStatsD does not need it).
    pub fn insert_interpolate(
        &mut self,
        lower: f64,
        upper: f64,
        count: u32,
    ) -> Result<(), SketchError> {
        if !lower.is_finite() || !upper.is_finite() {
            return Err(SketchError::NonFinite);
        }
        let k0 = i32::from(key(lower));
        let k1 = i32::from(key(upper));
        if k1 < k0 {
            return Err(SketchError::NonMonotonicBoundaries);
        }
        let keys = k1 - k0 + 1;
        let at = |i: i32| (k0 + i) as i16;
        let mut left = u64::from(count);
        let distance = upper - lower;
        let whole = f64::from(count);
        let mut start = 0;
        let mut low_b = value(at(0));
        let mut rem = 0.0;
        let mut e = 1;
        while e < keys && left > 0 {
            let up_b = value(at(e));
            let f = (up_b - low_b) / distance * whole;
            if f > 1.0 {
                rem += f - f.trunc();
            }
            let mut kn = f.trunc() as u64;
            if rem > 1.0 {
                kn += 1;
                rem -= 1.0;
            }
            if kn > 0 {
                kn = kn.min(left);
                self.summary.insert_weighted(low_b, kn, kn as f64);
                store::add(&mut self.bins, at(start), kn, W);
                left -= kn;
                start = e;
                low_b = up_b;
            }
            e += 1;
        }
        if left > 0 {
            let v = value(at(start));
            self.summary.insert_weighted(v, left, left as f64);
            store::add(&mut self.bins, at(start), left, W);
        }
        Ok(())
    }

    /// Merges `other` into `self` (spec §3.3 and §5). `other` is unchanged.
    pub fn merge(&mut self, other: &Self) {
        store::merge(&mut self.bins, &other.bins, W);
        self.summary.merge(&other.summary);
    }

    /// Number of values (exact; equal to the sum of the bin counts).
    pub fn count(&self) -> u64 {
        self.summary.cnt
    }

    /// Sum of the values (exact float sum; can overflow to ±∞).
    pub fn sum(&self) -> f64 {
        self.summary.sum
    }

    /// Smallest value (0 when empty).
    pub fn min(&self) -> f64 {
        self.summary.min
    }

    /// Largest value (0 when empty).
    pub fn max(&self) -> f64 {
        self.summary.max
    }

    /// Running mean of the values (0 when empty). Computed incrementally as
    /// the Agent does, so it can differ from `sum / count` in the last bits.
    pub fn avg(&self) -> f64 {
        self.summary.avg
    }

    /// True when nothing was inserted (no sketch is sent for it).
    pub fn is_empty(&self) -> bool {
        self.summary.cnt == 0
    }

    /// The bins in store order (sorted by key; a split key repeats).
    pub fn bins(&self) -> &[Bin] {
        &self.bins
    }

    /// The bin keys in store order (the wire's `k` column).
    pub fn keys(&self) -> impl ExactSizeIterator<Item = i16> + '_ {
        self.bins.iter().map(|b| b.key)
    }

    /// The bin counts in store order (the wire's `n` column).
    pub fn counts(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.bins.iter().map(|b| b.n)
    }

    /// Estimates the `q`-quantile with the Agent's rule (spec §7): 0 when
    /// empty, `min` for `q ≤ 0`, `max` for `q ≥ 1`, NaN for a NaN `q`;
    /// otherwise an interpolation inside the bin holding rank
    /// `round_half_even(q × (count − 1))`, which is **not** clamped to
    /// `[min, max]`.
    pub fn quantile(&self, q: f64) -> f64 {
        let count = self.summary.cnt;
        if count == 0 {
            return 0.0;
        }
        if q.is_nan() {
            return f64::NAN;
        }
        if q <= 0.0 {
            return self.summary.min;
        }
        if q >= 1.0 {
            return self.summary.max;
        }
        let rank = (q * (count - 1) as f64).round_ties_even();
        let mut n = 0.0;
        for (i, b) in self.bins.iter().enumerate() {
            n += f64::from(b.n);
            if n <= rank {
                continue;
            }
            let weight = (n - rank) / f64::from(b.n);
            let mut lo = value(b.key);
            let hi = lo * GAMMA;
            if i == 0 {
                lo = self.summary.min;
            }
            return lo * weight + hi * (1.0 - weight);
        }
        self.summary.max
    }

    /// Empties the sketch, keeping the bin allocation for reuse.
    pub fn clear(&mut self) {
        self.bins.clear();
        self.summary = Summary::default();
    }

    /// Releases spare bin capacity (e.g. before keeping a finished sketch).
    pub fn shrink_to_fit(&mut self) {
        self.bins.shrink_to_fit();
    }

    /// Heap bytes held by the bins (capacity, not length).
    pub fn heap_size(&self) -> usize {
        self.bins.capacity() * size_of::<Bin>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_footprint() {
        assert!(size_of::<AgentSketch>() <= 64);
        assert_eq!(size_of::<Bin>(), 8);
        let mut s = AgentSketch::new();
        assert_eq!(s.heap_size(), 0);
        s.insert(3.0);
        s.insert(3.0);
        assert_eq!(s.heap_size(), 8);
        s.insert(4.0);
        assert!(s.heap_size() <= 4 * 8);
    }

    #[test]
    fn steady_state_inserts_do_not_reallocate() {
        let values: Vec<f64> = (1..2000).map(|i| f64::from(i) * 0.37).collect();
        let mut s = AgentSketch::new();
        values.iter().for_each(|&v| s.insert(v));
        let (ptr, cap) = (s.bins().as_ptr(), s.heap_size());
        for _ in 0..50 {
            for &v in &values {
                s.insert(v);
                s.insert_sampled(v, 0.25);
                s.insert_n(v, 3);
            }
        }
        assert_eq!((s.bins().as_ptr(), s.heap_size()), (ptr, cap));
        assert_eq!(s.count(), 1999 * (1 + 50 * (1 + 4 + 3)));
    }

    #[test]
    fn non_finite_ignored() {
        let mut s = AgentSketch::new();
        s.insert(f64::NAN);
        s.insert(f64::INFINITY);
        s.insert_n(f64::NEG_INFINITY, 3);
        s.insert_sampled(f64::NAN, 0.5);
        assert!(s.is_empty());
        assert!(s.bins().is_empty());
        assert_eq!(s.quantile(0.5), 0.0);
    }

    #[test]
    fn sampled_adds_truncated_weight_and_exact_sum() {
        let mut s = AgentSketch::new();
        s.insert_sampled(10.0, 0.3);
        assert_eq!(s.count(), 3);
        assert_eq!(s.sum(), (1.0 / 0.3) * 10.0);
        assert_eq!(s.bins(), [Bin { key: 1487, n: 3 }]);
        s.insert_sampled(10.0, 0.0);
        s.insert_sampled(10.0, 1.5);
        assert_eq!(s.count(), 5);
    }

    #[test]
    fn insert_n_matches_repeated_inserts_on_bins() {
        let mut a = AgentSketch::new();
        let mut b = AgentSketch::new();
        a.insert_n(2.5, 1000);
        for _ in 0..1000 {
            b.insert(2.5);
        }
        assert_eq!(a.bins(), b.bins());
        assert_eq!(a.count(), b.count());
        assert_eq!(a.sum(), 2500.0);
        assert_eq!((a.min(), a.max(), a.avg()), (2.5, 2.5, 2.5));
    }

    #[test]
    fn from_parts_round_trips_and_validates() {
        let mut s = AgentSketch::new();
        for v in [1.0, -3.0, 0.0, 7.5] {
            s.insert(v);
        }
        let t = AgentSketch::from_parts(
            s.count(),
            s.sum(),
            s.min(),
            s.max(),
            s.avg(),
            s.bins().iter().copied(),
        )
        .unwrap();
        assert_eq!(s, t);
        let bad = [Bin { key: 3, n: 1 }, Bin { key: 2, n: 1 }];
        assert_eq!(
            AgentSketch::from_parts(2, 0.0, 0.0, 0.0, 0.0, bad),
            Err(SketchError::InvalidBins)
        );
    }

    #[test]
    fn interpolate_rejects_bad_bounds() {
        let mut s = AgentSketch::new();
        assert_eq!(
            s.insert_interpolate(20.0, 10.0, 5),
            Err(SketchError::NonMonotonicBoundaries)
        );
        assert_eq!(
            s.insert_interpolate(f64::NAN, 10.0, 5),
            Err(SketchError::NonFinite)
        );
        assert!(s.is_empty());
    }
}
