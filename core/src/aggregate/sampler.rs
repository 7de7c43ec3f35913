//! The time sampler: 10-second buckets of per-context aggregates for the
//! contexts of one shard, flushed when closed (spec §9.2–§9.8).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::batch::{SampleBatch, SampleKind};
use super::context::{ContextId, ContextStore};
use super::histogram::{Histogram, HistogramConfig};
use super::inthash::IntBuild;
use crate::flush::{Flush, Series, SeriesType, SketchSeries};
use crate::sketch::AgentSketch;

/// Bucket width and series interval, in seconds.
pub const BUCKET_SECONDS: i64 = 10;

/// Start of the bucket holding unix second `t`.
///
/// Times come from the caller's clock and from `|T` fields, so any `i64`
/// is possible: the time arithmetic here saturates instead of overflowing
/// (the few buckets within 10 s of `i64::MIN`/`MAX` are not aligned).
pub fn bucket_start(t: i64) -> i64 {
    t.div_euclid(BUCKET_SECONDS).saturating_mul(BUCKET_SECONDS)
}

/// Boxed variants keep the common counters and gauges at 16 bytes.
#[derive(Debug)]
#[allow(clippy::box_collection)]
enum MetricState {
    Counter(f64),
    Gauge(f64),
    Set(Box<HashSet<Box<[u8]>>>),
    Histogram(Box<Histogram>),
}

#[derive(Debug, Default)]
struct Bucket {
    start: i64,
    series: HashMap<ContextId, MetricState, IntBuild>,
    sketches: HashMap<ContextId, AgentSketch, IntBuild>,
}

/// Settings a sampler needs.
#[derive(Debug, Clone)]
pub(crate) struct SamplerConfig {
    pub(crate) histograms: HistogramConfig,
    pub(crate) counter_expiry: i64,
    pub(crate) context_expiry: i64,
}

/// Counters about what a sampler dropped or holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SamplerStats {
    /// Samples added.
    pub samples: u64,
    /// Samples dropped because their value was NaN or ±Inf.
    pub non_finite_dropped: u64,
    /// Live contexts.
    pub contexts: u64,
    /// Contexts expired so far.
    pub contexts_expired: u64,
}

/// One shard's aggregation state.
#[derive(Debug)]
pub(crate) struct TimeSampler {
    cfg: SamplerConfig,
    contexts: ContextStore,
    buckets: Vec<Bucket>,
    /// Emptied buckets kept for their map capacity.
    spare: Vec<Bucket>,
    /// Counter context → when it was last sampled (zero-fill, §9.8).
    counters: HashMap<ContextId, i64, IntBuild>,
    last_cutoff: i64,
    stats: SamplerStats,
}

impl TimeSampler {
    pub(crate) fn new(cfg: SamplerConfig) -> Self {
        Self {
            cfg,
            contexts: ContextStore::default(),
            buckets: Vec::new(),
            spare: Vec::new(),
            counters: HashMap::default(),
            last_cutoff: 0,
            stats: SamplerStats::default(),
        }
    }

    fn bucket(&mut self, start: i64) -> &mut Bucket {
        // Almost always the newest bucket.
        let i = match self.buckets.iter().rposition(|b| b.start == start) {
            Some(i) => i,
            None => {
                let mut b = self.spare.pop().unwrap_or_default();
                b.start = start;
                self.buckets.push(b);
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[i]
    }

    /// Aggregates every sample of `batch` into the bucket of its timestamp.
    pub(crate) fn add_batch(&mut self, batch: &SampleBatch) {
        for s in &batch.samples {
            self.stats.samples += 1;
            let id = self.contexts.resolve(batch, s, s.timestamp);
            let start = bucket_start(s.timestamp);
            if s.kind == SampleKind::Count {
                // Tracked before the value is checked (spec §14.6).
                self.counters.insert(id, s.timestamp);
            }
            if s.kind != SampleKind::Set && !s.value.is_finite() {
                self.stats.non_finite_dropped += 1;
                continue;
            }
            let bucket = self.bucket(start);
            match s.kind {
                SampleKind::Distribution => {
                    let sketch = bucket.sketches.entry(id).or_default();
                    sketch.insert_sampled(s.value, s.sample_rate);
                }
                kind => {
                    let state = bucket.series.entry(id).or_insert_with(|| match kind {
                        SampleKind::Count => MetricState::Counter(0.0),
                        SampleKind::Gauge => MetricState::Gauge(0.0),
                        SampleKind::Set => MetricState::Set(Box::default()),
                        _ => MetricState::Histogram(Box::default()),
                    });
                    // The first type seen in a bucket decides (spec §9.1).
                    add_to(state, s.value, s.sample_rate, batch.bytes(&s.member));
                }
            }
        }
    }

    /// Flushes closed buckets (all buckets when `all`) into `out` and
    /// expires idle contexts. `now` is unix seconds.
    pub(crate) fn flush(&mut self, now: i64, all: bool, out: &mut Flush) {
        let cutoff = if all { i64::MAX } else { bucket_start(now) };
        let mut closed: Vec<Bucket> = Vec::new();
        let mut i = 0;
        while i < self.buckets.len() {
            if self.buckets[i].start.saturating_add(BUCKET_SECONDS) <= cutoff {
                closed.push(self.buckets.swap_remove(i));
            } else {
                i += 1;
            }
        }
        closed.sort_by_key(|b| b.start);
        let zero_fill_cutoff = if all {
            bucket_start(now).saturating_add(BUCKET_SECONDS)
        } else {
            cutoff
        };
        let mut expired_counters: Vec<ContextId> = Vec::new();
        // As the Agent: any series bucket, open or closed, means no synthetic one.
        let has_series = closed
            .iter()
            .chain(self.buckets.iter())
            .any(|b| !b.series.is_empty());
        if has_series {
            for b in closed.iter_mut() {
                if !b.series.is_empty() {
                    self.zero_fill(b, &mut expired_counters);
                }
            }
        } else if !self.counters.is_empty()
            && self.last_cutoff.saturating_add(BUCKET_SECONDS) <= zero_fill_cutoff
        {
            // No data at all: one synthetic bucket of zeros (spec §14.7).
            let mut b = self.spare.pop().unwrap_or_default();
            b.start = zero_fill_cutoff.saturating_sub(BUCKET_SECONDS);
            self.zero_fill(&mut b, &mut expired_counters);
            closed.push(b);
        }
        for id in expired_counters {
            self.counters.remove(&id);
        }
        for mut b in closed {
            self.emit(&mut b, out);
            b.series.clear();
            b.sketches.clear();
            self.spare.push(b);
        }
        self.spare.truncate(4);
        self.last_cutoff = zero_fill_cutoff;
        let expiry_cutoff = now.saturating_sub(self.cfg.context_expiry);
        let counters = &self.counters;
        let in_use: HashSet<ContextId> = self
            .buckets
            .iter()
            .flat_map(|b| b.series.keys().chain(b.sketches.keys()).copied())
            .collect();
        let expired = self.contexts.expire(expiry_cutoff, |id| {
            counters.contains_key(&id) || in_use.contains(&id)
        });
        self.stats.contexts_expired += expired as u64;
        self.stats.contexts = self.contexts.len() as u64;
    }

    fn zero_fill(&mut self, b: &mut Bucket, expired: &mut Vec<ContextId>) {
        for (&id, &last) in &self.counters {
            if last.saturating_add(self.cfg.counter_expiry) > b.start {
                // Adding 0 to a sampled counter changes nothing; unlike the
                // Agent, a context that became another type in this bucket
                // is left alone instead of being fed a 0 (a gauge would
                // read 0).
                b.series.entry(id).or_insert(MetricState::Counter(0.0));
                self.contexts.touch(id, b.start);
            } else {
                expired.push(id);
            }
        }
    }

    fn emit(&self, b: &mut Bucket, out: &mut Flush) {
        let interval = BUCKET_SECONDS as f64;
        let mut ids: Vec<ContextId> = b.series.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(state) = b.series.get_mut(&id) else {
                continue;
            };
            let name = self.contexts.name(id);
            let tags = self.contexts.sorted_tags(id);
            let host = self.contexts.host(id);
            let mut push = |metric: String, series_type, value| {
                out.series.push(Series {
                    metric,
                    series_type,
                    interval: BUCKET_SECONDS as u32,
                    timestamp: b.start,
                    value,
                    tags: Arc::clone(&tags),
                    host: Arc::clone(&host),
                });
            };
            match state {
                // `0|c|@0` sums to NaN and flushes nothing (spec §14.5).
                MetricState::Counter(v) if v.is_nan() => {}
                MetricState::Counter(v) => push(name.to_string(), SeriesType::Rate, *v / interval),
                MetricState::Gauge(v) => push(name.to_string(), SeriesType::Gauge, *v),
                MetricState::Set(members) => {
                    push(name.to_string(), SeriesType::Gauge, members.len() as f64)
                }
                MetricState::Histogram(h) => {
                    h.flush(&self.cfg.histograms, interval, |suffix, v, rate| {
                        let t = if rate {
                            SeriesType::Rate
                        } else {
                            SeriesType::Gauge
                        };
                        push(format!("{name}{suffix}"), t, v);
                    })
                }
            }
        }
        let mut ids: Vec<ContextId> = b.sketches.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(sketch) = b.sketches.remove(&id) else {
                continue;
            };
            out.sketches.push(SketchSeries {
                metric: self.contexts.name(id).to_string(),
                timestamp: b.start,
                tags: self.contexts.sorted_tags(id),
                host: self.contexts.host(id),
                sketch,
            });
        }
    }

    pub(crate) fn stats(&self) -> SamplerStats {
        let mut s = self.stats;
        s.contexts = self.contexts.len() as u64;
        s
    }
}

fn add_to(state: &mut MetricState, value: f64, rate: f64, member: &[u8]) {
    match state {
        MetricState::Counter(sum) => *sum += value * (1.0 / rate),
        MetricState::Gauge(last) => *last = value,
        MetricState::Set(members) => {
            // Only set samples carry a member; another type mixed into a
            // set context adds the empty member, as the Agent's raw value.
            if !members.contains(member) {
                members.insert(member.into());
            }
        }
        MetricState::Histogram(h) => h.add(value, rate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::server::Server;

    #[test]
    fn any_time_and_expiry_flushes_without_overflow() {
        // Found by the push_flush fuzz target: `bucket_start(now) + 10`
        // overflowed on a flush-all at a time near `i64::MAX`.
        for expiry in [i64::MIN, -1, 0, 300, i64::MAX] {
            let cfg = Config {
                dogstatsd_expiry_seconds: expiry,
                dogstatsd_context_expiry_seconds: expiry,
                ..Config::default()
            };
            let mut s = Server::new(&cfg).unwrap();
            for now in [i64::MAX, i64::MIN, i64::MAX - 5, i64::MIN + 5, 0, -7] {
                s.push(
                    b"c:1|c\ng:2|g\nh:3|h\nd:4|d",
                    crate::protocol::Transport::Push,
                    now,
                );
                s.flush(now, false);
                s.flush(now, true);
            }
        }
        assert_eq!(bucket_start(i64::MIN), i64::MIN);
        assert_eq!(bucket_start(i64::MAX), i64::MAX - 7);
        assert_eq!(bucket_start(-1), -10);
    }
}
