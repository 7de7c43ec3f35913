//! The Agent forwarder's exponential backoff (`forwarder_backoff_*`), as a
//! pure type: the random source is a seeded generator, never a clock.
//!
//! After `n` consecutive errors an endpoint waits `t = base × 2^n`
//! seconds when that is above `max` (then exactly `max`), else a uniformly
//! random time in `[t / factor, t)`. The error count stops growing at the
//! first `n` whose `t` exceeds `max` (`floor(log2(max / base)) + 1`) and
//! drops by `recovery_interval` on each success. Defaults: factor 2, base
//! 2 s, max 64 s, recovery interval 2.

use std::time::Duration;

/// Default `forwarder_backoff_base`: 2 s.
pub const DEFAULT_BASE: Duration = Duration::from_secs(2);

/// Default `forwarder_backoff_max`: 64 s.
pub const DEFAULT_CAP: Duration = Duration::from_secs(64);

/// Default `forwarder_backoff_factor`.
pub const DEFAULT_FACTOR: f64 = 2.0;

/// Default `forwarder_recovery_interval`.
pub const DEFAULT_RECOVERY_INTERVAL: u32 = 2;

/// A small seeded generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform value in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One endpoint's backoff: its error count and jitter source.
#[derive(Debug, Clone)]
pub struct Backoff {
    errors: u32,
    max_errors: u32,
    base: Duration,
    cap: Duration,
    factor: f64,
    recovery_interval: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// A backoff with the given base and cap, the Agent's factor and
    /// recovery interval, jitter drawn from `seed`.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self::with_policy(base, cap, DEFAULT_FACTOR, DEFAULT_RECOVERY_INTERVAL, seed)
    }

    /// Every knob: `factor` below 1 is taken as 1 (no jitter), a zero
    /// base as 1 ms.
    pub fn with_policy(
        base: Duration,
        cap: Duration,
        factor: f64,
        recovery_interval: u32,
        seed: u64,
    ) -> Self {
        let base = base.max(Duration::from_millis(1));
        let cap = cap.max(base);
        let ratio = cap.as_secs_f64() / base.as_secs_f64();
        let max_errors = ratio.log2().floor().clamp(0.0, 62.0) as u32 + 1;
        Self {
            errors: 0,
            max_errors,
            base,
            cap,
            factor: if factor.is_finite() && factor >= 1.0 {
                factor
            } else {
                1.0
            },
            recovery_interval,
            rng: SplitMix64::new(seed),
        }
    }

    /// Consecutive errors counted now.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// The most errors ever counted (the first count that reaches the cap).
    pub fn max_errors(&self) -> u32 {
        self.max_errors
    }

    /// The upper end of the wait after `errors` errors (0 for none).
    pub fn bound(&self, errors: u32) -> Duration {
        if errors == 0 {
            return Duration::ZERO;
        }
        let t = self.base.as_secs_f64() * 2f64.powi(errors.min(62) as i32);
        if t > self.cap.as_secs_f64() {
            self.cap
        } else {
            Duration::from_secs_f64(t)
        }
    }

    /// The wait before the next attempt at the current error count.
    pub fn delay(&mut self) -> Duration {
        let bound = self.bound(self.errors);
        if bound.is_zero() || bound == self.cap {
            return bound;
        }
        let hi = bound.as_secs_f64();
        let lo = hi / self.factor;
        Duration::from_secs_f64(lo + self.rng.next_unit() * (hi - lo))
    }

    /// An attempt failed in a way that is retried.
    pub fn on_retry(&mut self) {
        self.errors = (self.errors + 1).min(self.max_errors);
    }

    /// An attempt succeeded.
    pub fn on_success(&mut self) {
        self.errors = self.errors.saturating_sub(self.recovery_interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_errors_no_wait() {
        let mut b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 1);
        assert_eq!(b.delay(), Duration::ZERO);
        assert_eq!(b.bound(0), Duration::ZERO);
    }

    #[test]
    fn agent_defaults_double_from_four_seconds_to_the_cap() {
        let b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 1);
        assert_eq!(b.bound(1), Duration::from_secs(4));
        assert_eq!(b.bound(4), Duration::from_secs(32));
        assert_eq!(b.bound(5), Duration::from_secs(64));
        assert_eq!(b.bound(6), DEFAULT_CAP);
        // floor(log2(64 / 2)) + 1
        assert_eq!(b.max_errors(), 6);
    }

    #[test]
    fn delays_fall_between_half_the_bound_and_the_bound() {
        let mut b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 7);
        b.on_retry();
        b.on_retry();
        let ds: Vec<Duration> = (0..1000).map(|_| b.delay()).collect();
        assert!(ds.iter().all(|d| *d >= Duration::from_secs(4)));
        assert!(ds.iter().all(|d| *d < Duration::from_secs(8)));
        assert!(ds.iter().any(|d| *d < Duration::from_millis(4400)));
        assert!(ds.iter().any(|d| *d > Duration::from_millis(7600)));
        for _ in 0..10 {
            b.on_retry();
        }
        assert_eq!(b.delay(), DEFAULT_CAP, "beyond the cap the wait is the cap");
    }

    #[test]
    fn success_steps_down_by_the_recovery_interval() {
        let mut b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 7);
        for _ in 0..100 {
            b.on_retry();
        }
        assert_eq!(b.errors(), 6);
        b.on_success();
        assert_eq!(b.errors(), 4);
        b.on_success();
        b.on_success();
        assert_eq!(b.errors(), 0);
        b.on_success();
        assert_eq!(b.errors(), 0);
    }

    #[test]
    fn same_seed_same_jitter() {
        let run = |seed| {
            let mut b = Backoff::new(Duration::from_millis(10), DEFAULT_CAP, seed);
            b.on_retry();
            (0..10).map(|_| b.delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
