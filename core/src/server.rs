//! The whole server as one state machine on one thread: a [`Router`] and
//! its [`Shard`]s composed inline, the flush cadence, and the final flush
//! at stop. What the wasm shell, the `aggregate` command and tests drive;
//! the native daemon composes the same parts on threads.
//!
//! Calls, in the style of quinn-proto's `Connection`:
//!
//! - input: [`handle_packet`](Server::handle_packet),
//!   [`handle_timeout`](Server::handle_timeout), [`flush`](Server::flush),
//!   [`stop`](Server::stop);
//! - output: [`poll_timeout`](Server::poll_timeout) (when to call
//!   `handle_timeout` next), [`poll_output`](Server::poll_output) (the
//!   flushes the cadence and the stop produced);
//! - getters: [`stats`](Server::stats).
//!
//! After every input call, drain `poll_output` and ask `poll_timeout`
//! again.

use std::collections::VecDeque;
use std::time::Duration;

use crate::aggregate::{
    FlushMode, FlushRound, PushCounts, Router, RouterStats, SamplerStats, Shard,
};
use crate::config::Config;
use crate::flush::Flush;
use crate::frontend::ConfigError;
use crate::protocol::PacketOrigin;
use crate::time::{Cadence, FLUSH_INTERVAL, Timestamp};

/// What the server hands out.
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// The records of one flush round (periodic, or the final one at
    /// stop), ready to write or to encode into payloads
    /// ([`crate::payload`]). Possibly empty.
    Flush(Flush),
}

/// A DogStatsD server with no I/O.
#[derive(Debug)]
pub struct Server {
    router: Router,
    shards: Vec<Shard>,
    cadence: Cadence,
    /// `dogstatsd_flush_incomplete_buckets`.
    incomplete_at_stop: bool,
    stopped: bool,
    outputs: VecDeque<Output>,
}

/// Everything counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Router counters (parsing, routing, no-aggregation).
    pub router: RouterStats,
    /// Shard counters, summed.
    pub shards: SamplerStats,
}

impl Server {
    /// A server with one shard and the Agent's flush cadence.
    pub fn new(cfg: &Config) -> Result<Self, ConfigError> {
        Self::with_shards(cfg, 1)
    }

    /// A server sharding contexts over `shards` shards; the output is the
    /// same for any count.
    pub fn with_shards(cfg: &Config, shards: usize) -> Result<Self, ConfigError> {
        let n = shards.max(1);
        Ok(Self {
            router: Router::new(cfg, n)?,
            shards: (0..n).map(|_| Shard::new(cfg, n)).collect(),
            cadence: Cadence::new(FLUSH_INTERVAL),
            incomplete_at_stop: cfg.dogstatsd_flush_incomplete_buckets,
            stopped: false,
            outputs: VecDeque::new(),
        })
    }

    /// Another flush cadence than the Agent's 15 s (at least 1 ms).
    #[must_use]
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.cadence = Cadence::new(interval);
        self
    }

    /// Takes a packet from `origin` received at `now`. The first input
    /// starts the flush cadence.
    pub fn handle_packet(
        &mut self,
        now: Timestamp,
        origin: PacketOrigin<'_>,
        packet: &[u8],
    ) -> PushCounts {
        self.cadence.start(now);
        let counts = self.router.push(packet, &origin, now.as_secs());
        deliver(&mut self.router, &mut self.shards);
        counts
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next;
    /// `None` before the first input and after [`stop`](Self::stop). Ask
    /// again after every input call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.stopped {
            return None;
        }
        self.cadence.poll_timeout()
    }

    /// The clock reached `now`: runs the periodic flush when it is due
    /// (closed buckets only). A late call runs one flush, not one per
    /// missed tick.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.stopped || !self.cadence.handle_timeout(now) {
            return;
        }
        let f = self.round(now, FlushMode::Closed);
        self.outputs.push_back(Output::Flush(f));
    }

    /// An explicit flush at `now` (an edge function's end, `POST
    /// /flush`), answered at once; it includes every packet handled
    /// before. Does not move the cadence.
    #[must_use]
    pub fn flush(&mut self, now: Timestamp, mode: FlushMode) -> Flush {
        self.round(now, mode)
    }

    /// The final flush: every bucket when `dogstatsd_flush_incomplete_buckets`
    /// is on (the default here, so nothing is lost at stop), else the
    /// closed ones only, as the Agent does. Handed out by
    /// [`poll_output`](Self::poll_output); the cadence stops.
    pub fn stop(&mut self, now: Timestamp) {
        if self.stopped {
            return;
        }
        let f = self.round(now, FlushMode::at_stop(self.incomplete_at_stop));
        self.outputs.push_back(Output::Flush(f));
        self.stopped = true;
    }

    /// The next output; call until `None` after every input call.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        let mut shards = SamplerStats::default();
        for s in &self.shards {
            shards += s.stats();
        }
        ServerStats {
            router: self.router.stats(),
            shards,
        }
    }

    /// One flush round over the inline parts.
    fn round(&mut self, now: Timestamp, mode: FlushMode) -> Flush {
        let mut round = FlushRound::new(now.as_secs(), mode);
        round.add_pending(self.router.take_pending());
        for s in &self.shards {
            round.add_plan(s.plan(round.at()));
        }
        let mut round = round.seal();
        for s in &mut self.shards {
            let part = s.flush(round.plan());
            round.add_flush(part);
        }
        round.finish()
    }
}

/// Hands every batch the router filled to its shard, inline.
pub(crate) fn deliver(router: &mut Router, shards: &mut [Shard]) {
    for (batch, shard) in router.batches_mut().iter_mut().zip(shards) {
        if !batch.is_empty() {
            shard.add_batch(batch);
            batch.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Transport;

    fn udp() -> PacketOrigin<'static> {
        Transport::Udp.into()
    }

    #[test]
    fn cadence_is_the_configured_interval() {
        let cfg = Config::default();
        let mut s = Server::new(&cfg)
            .unwrap()
            .with_flush_interval(Duration::from_secs(10));
        assert_eq!(s.poll_timeout(), None);
        let t0 = Timestamp::from_secs(1_700_000_001);
        let _ = s.handle_packet(t0, udp(), b"a:1|c");
        let due = s.poll_timeout().unwrap();
        assert_eq!(due, Timestamp::from_secs(1_700_000_011));
        s.handle_timeout(Timestamp::from_secs(1_700_000_005));
        assert!(s.poll_output().is_none(), "not due yet");
        s.handle_timeout(due);
        let Some(Output::Flush(f)) = s.poll_output() else {
            panic!("a flush at the deadline");
        };
        assert_eq!(f.series.len(), 1);
        assert!(s.poll_output().is_none());
        // A late wake-up runs one flush and schedules past `now`.
        s.handle_timeout(Timestamp::from_secs(1_700_000_045));
        assert!(s.poll_output().is_some());
        assert!(s.poll_output().is_none());
        assert_eq!(s.poll_timeout(), Some(Timestamp::from_secs(1_700_000_051)));
    }

    #[test]
    fn stop_flushes_open_buckets_by_default_and_not_when_disabled() {
        for (incomplete, expect) in [(true, 1), (false, 0)] {
            let cfg = Config {
                dogstatsd_flush_incomplete_buckets: incomplete,
                ..Config::default()
            };
            let mut s = Server::new(&cfg).unwrap();
            let now = Timestamp::from_secs(1_700_000_001);
            let _ = s.handle_packet(now, udp(), b"a:1|c");
            s.stop(now);
            let Some(Output::Flush(f)) = s.poll_output() else {
                panic!("the final flush");
            };
            assert_eq!(f.series.len(), expect, "incomplete={incomplete}");
            assert_eq!(s.poll_timeout(), None);
        }
        assert!(Config::default().dogstatsd_flush_incomplete_buckets);
    }

    #[test]
    fn last_gauge_wins_and_shard_count_does_not_matter() {
        let cfg = Config::default();
        let now = Timestamp::from_secs(1_700_000_001);
        let mut outs = Vec::new();
        for shards in [1, 3, 8] {
            let mut s = Server::with_shards(&cfg, shards).unwrap();
            for v in 1..=100 {
                let line = format!("g:{v}|g\nc:1|c|#k:{}", v % 7);
                let _ = s.handle_packet(now, udp(), line.as_bytes());
            }
            let f = s.flush(now, FlushMode::All);
            let g = f.series.iter().find(|x| x.metric == "g").unwrap();
            assert_eq!(g.value, 100.0);
            outs.push(format!("{:?}", f.series));
        }
        assert!(outs.windows(2).all(|w| w[0] == w[1]));
    }
}
