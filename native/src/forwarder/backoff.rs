//! Capped full-jitter exponential backoff, shared by all of a forwarder's
//! sends (the Agent trace writer's sender, `spec/dogstatsd.md` §11.2), as
//! a pure type: the random source is a seeded generator, never a clock.
//!
//! * `delay()` with attempt 0 is zero; otherwise a uniformly random
//!   duration in `[0, min(cap, base × 2^attempt))` (base 100 ms, cap 10 s).
//! * A retriable failure increments the attempt; a success halves it.

use std::time::Duration;

/// Default base of the exponential: 100 ms.
pub const DEFAULT_BASE: Duration = Duration::from_millis(100);

/// Default cap: 10 s.
pub const DEFAULT_CAP: Duration = Duration::from_secs(10);

/// Attempts beyond this do not grow the bound any further (the cap is
/// reached long before; this only keeps the shift in range).
const MAX_ATTEMPT: u32 = 40;

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
}

/// The shared backoff state.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    base: Duration,
    cap: Duration,
    rng: SplitMix64,
}

impl Backoff {
    /// A backoff with the given base and cap, jitter drawn from `seed`.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            attempt: 0,
            base,
            cap,
            rng: SplitMix64::new(seed),
        }
    }

    /// The current attempt number.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The exclusive upper bound of the delay at `attempt`.
    pub fn bound(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let factor = 1u128 << attempt.min(MAX_ATTEMPT);
        let nanos = self.base.as_nanos().saturating_mul(factor);
        let nanos = nanos.min(self.cap.as_nanos());
        Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }

    /// The delay before the next send: 0 at attempt 0, else uniform in
    /// `[0, bound(attempt))`.
    pub fn delay(&mut self) -> Duration {
        let bound = self.bound(self.attempt).as_nanos() as u64;
        if bound == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.rng.next_u64() % bound)
    }

    /// A send failed in a way that is retried.
    pub fn on_retry(&mut self) {
        self.attempt = (self.attempt + 1).min(MAX_ATTEMPT);
    }

    /// A send succeeded.
    pub fn on_success(&mut self) {
        self.attempt /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_attempt_means_no_delay() {
        let mut b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 1);
        assert_eq!(b.delay(), Duration::ZERO);
        assert_eq!(b.bound(0), Duration::ZERO);
    }

    #[test]
    fn bounds_double_up_to_the_cap() {
        let b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 1);
        assert_eq!(b.bound(1), Duration::from_millis(200));
        assert_eq!(b.bound(2), Duration::from_millis(400));
        assert_eq!(b.bound(6), Duration::from_millis(6400));
        assert_eq!(b.bound(7), DEFAULT_CAP);
        assert_eq!(b.bound(1000), DEFAULT_CAP);
    }

    #[test]
    fn delays_are_within_the_bound_and_spread() {
        let mut b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 7);
        b.on_retry();
        b.on_retry();
        let ds: Vec<Duration> = (0..1000).map(|_| b.delay()).collect();
        assert!(ds.iter().all(|d| *d < Duration::from_millis(400)));
        assert!(ds.iter().any(|d| *d < Duration::from_millis(40)));
        assert!(ds.iter().any(|d| *d > Duration::from_millis(360)));
    }

    #[test]
    fn success_halves_the_attempt() {
        let mut b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, 7);
        for _ in 0..5 {
            b.on_retry();
        }
        assert_eq!(b.attempt(), 5);
        b.on_success();
        assert_eq!(b.attempt(), 2);
        b.on_success();
        b.on_success();
        assert_eq!(b.attempt(), 0);
        for _ in 0..100 {
            b.on_retry();
        }
        assert_eq!(b.attempt(), MAX_ATTEMPT);
        assert_eq!(b.bound(b.attempt()), DEFAULT_CAP);
    }

    #[test]
    fn same_seed_same_jitter() {
        let run = |seed| {
            let mut b = Backoff::new(DEFAULT_BASE, DEFAULT_CAP, seed);
            b.on_retry();
            (0..10).map(|_| b.delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
