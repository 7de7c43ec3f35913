//! Time as core sees it: always handed in by the caller, and the flush
//! cadence derived from it.

use std::time::Duration;

/// The Agent's flush cadence.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(15);

/// A point in time: milliseconds since the Unix epoch, always the
/// caller's (core reads no clock). Buckets are aligned to Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// From seconds since the Unix epoch.
    pub const fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(1000))
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `d` later.
    #[must_use]
    pub fn after(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// How long from `self` until `later` (zero when it has passed).
    pub fn until(self, later: Self) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }
}

/// When periodic flushes are due: every `interval` from the first time it
/// is shown. Shared by [`crate::Server`] and threaded shells so they tick
/// alike.
#[derive(Debug, Clone)]
pub struct Cadence {
    interval: Duration,
    next: Option<Timestamp>,
}

impl Cadence {
    /// A flush every `interval` (at least 1 ms).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: interval.max(Duration::from_millis(1)),
            next: None,
        }
    }

    /// Starts the clock at `now` if it is not running.
    pub fn start(&mut self, now: Timestamp) {
        if self.next.is_none() {
            self.next = Some(now.after(self.interval));
        }
    }

    /// When the next flush is due; `None` before [`start`](Self::start).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next
    }

    /// True when a flush is due at `now`; the next one is then scheduled
    /// past `now` (a late call is one flush, not one per missed tick).
    pub fn handle_timeout(&mut self, now: Timestamp) -> bool {
        self.start(now);
        let Some(mut next) = self.next.filter(|&n| n <= now) else {
            return false;
        };
        while next <= now {
            next = next.after(self.interval);
        }
        self.next = Some(next);
        true
    }
}
