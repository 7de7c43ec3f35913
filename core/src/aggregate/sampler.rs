//! The time sampler: 10-second buckets of per-context aggregates for the
//! contexts of one shard, flushed when closed (spec §9.2–§9.8).

use std::collections::HashSet;
use std::sync::Arc;

use super::batch::{SampleBatch, SampleKind};
use super::context::{ContextId, ContextStore, Unresolved};
use super::histogram::{Histogram, HistogramConfig};
use super::inthash::{BytesBuild, IntBuild};
use super::slots::Slots;
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
    Set(Box<HashSet<Box<[u8]>, BytesBuild>>),
    Histogram(Box<Histogram>),
}

#[derive(Debug, Default)]
struct Bucket {
    start: i64,
    series: Slots<MetricState>,
    sketches: Slots<AgentSketch>,
}

/// Settings a sampler needs.
#[derive(Debug, Clone)]
pub(crate) struct SamplerConfig {
    pub(crate) histograms: HistogramConfig,
    pub(crate) counter_expiry: i64,
    pub(crate) context_expiry: i64,
    /// Most live contexts (0: no limit).
    pub(crate) context_limit: usize,
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
    /// Samples dropped because their context was new and the context
    /// limit was reached.
    pub context_limit_dropped: u64,
    /// Samples dropped because they came without their context's bytes
    /// for a route this pipeline never received with bytes: a batch was
    /// lost between worker and pipeline (never expected).
    pub unknown_route_dropped: u64,
}

impl std::ops::AddAssign for SamplerStats {
    /// Sums the counters of several pipelines.
    fn add_assign(&mut self, o: Self) {
        self.samples += o.samples;
        self.non_finite_dropped += o.non_finite_dropped;
        self.contexts += o.contexts;
        self.contexts_expired += o.contexts_expired;
        self.context_limit_dropped += o.context_limit_dropped;
        self.unknown_route_dropped += o.unknown_route_dropped;
    }
}

/// What all pipelines agree on before a flush: whether any holds series
/// at all, and which closed buckets hold series in some pipeline. With it
/// counter zero-fill is decided as one pipeline holding every context
/// would decide it, so the output does not depend on the pipeline count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FlushPlan {
    has_series: bool,
    series_buckets: Vec<i64>,
}

impl FlushPlan {
    /// Adds another pipeline's view.
    pub(crate) fn merge(&mut self, other: &Self) {
        self.has_series |= other.has_series;
        for &start in &other.series_buckets {
            if !self.series_buckets.contains(&start) {
                self.series_buckets.push(start);
            }
        }
    }
}

/// One shard's aggregation state.
#[derive(Debug)]
pub(crate) struct TimeSampler {
    cfg: SamplerConfig,
    contexts: ContextStore,
    buckets: Vec<Bucket>,
    /// Emptied buckets kept for their map capacity.
    spare: Vec<Bucket>,
    last_cutoff: i64,
    stats: SamplerStats,
}

impl TimeSampler {
    pub(crate) fn new(cfg: SamplerConfig) -> Self {
        Self {
            contexts: ContextStore::new(cfg.context_limit),
            cfg,
            buckets: Vec::new(),
            spare: Vec::new(),
            last_cutoff: 0,
            stats: SamplerStats::default(),
        }
    }

    /// The index of the bucket starting at `start`, opened if need be.
    fn bucket(&mut self, start: i64) -> usize {
        // Almost always the newest bucket.
        match self.buckets.iter().rposition(|b| b.start == start) {
            Some(i) => i,
            None => {
                let mut b = self.spare.pop().unwrap_or_default();
                b.start = start;
                self.buckets.push(b);
                self.buckets.len() - 1
            }
        }
    }

    /// Aggregates every sample of `batch` into the bucket of its timestamp.
    pub(crate) fn add_batch(&mut self, batch: &SampleBatch) {
        for s in &batch.samples {
            self.stats.samples += 1;
            let id = match self.contexts.resolve(batch, s, s.timestamp) {
                Ok(id) => id,
                Err(Unresolved::Limit) => {
                    self.stats.context_limit_dropped += 1;
                    continue;
                }
                Err(Unresolved::UnknownRoute) => {
                    self.stats.unknown_route_dropped += 1;
                    continue;
                }
            };
            let start = bucket_start(s.timestamp);
            if s.kind == SampleKind::Count {
                // Tracked before the value is checked (spec §14.6).
                self.contexts.mark_counter(id, s.timestamp);
            }
            if s.kind != SampleKind::Set && !s.value.is_finite() {
                self.stats.non_finite_dropped += 1;
                continue;
            }
            let i = self.bucket(start);
            let bucket = &mut self.buckets[i];
            let hint = self.contexts.slot_hint(id);
            match s.kind {
                SampleKind::Distribution => {
                    let sketch = bucket
                        .sketches
                        .get_or_insert_with(id, hint, AgentSketch::default);
                    sketch.insert_sampled(s.value, s.sample_rate);
                }
                kind => {
                    let state = bucket.series.get_or_insert_with(id, hint, || match kind {
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
    /// What this sampler would decide alone about zero-fill in a flush at
    /// `now`; merged over every pipeline it makes the decision the same
    /// whatever the sharding ([`FlushPlan`]).
    pub(crate) fn plan(&self, now: i64, all: bool) -> FlushPlan {
        let cutoff = if all { i64::MAX } else { bucket_start(now) };
        let with_series = |b: &&Bucket| !b.series.is_empty();
        FlushPlan {
            has_series: self.buckets.iter().any(|b| with_series(&b)),
            series_buckets: self
                .buckets
                .iter()
                .filter(with_series)
                .filter(|b| b.start.saturating_add(BUCKET_SECONDS) <= cutoff)
                .map(|b| b.start)
                .collect(),
        }
    }

    pub(crate) fn flush(&mut self, now: i64, all: bool, plan: &FlushPlan, out: &mut Flush) {
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
        // Counters are zero-filled into every closed bucket that holds
        // series in any pipeline, so a pipeline may need one it lacks.
        for &start in &plan.series_buckets {
            if !closed.iter().any(|b| b.start == start) {
                let mut b = self.spare.pop().unwrap_or_default();
                b.start = start;
                closed.push(b);
            }
        }
        crate::order::sort_by_key(&mut closed, |b| b.start);
        let zero_fill_cutoff = if all {
            bucket_start(now).saturating_add(BUCKET_SECONDS)
        } else {
            cutoff
        };
        let mut expired_counters: Vec<ContextId> = Vec::new();
        // As the Agent: any series bucket, open or closed, means no synthetic one.
        if plan.has_series {
            for b in closed.iter_mut() {
                if plan.series_buckets.contains(&b.start) {
                    self.zero_fill(b, &mut expired_counters);
                }
            }
        } else if self.contexts.has_counters()
            && self.last_cutoff.saturating_add(BUCKET_SECONDS) <= zero_fill_cutoff
        {
            // No data at all: one synthetic bucket of zeros (spec §14.7).
            let mut b = self.spare.pop().unwrap_or_default();
            b.start = zero_fill_cutoff.saturating_sub(BUCKET_SECONDS);
            self.zero_fill(&mut b, &mut expired_counters);
            closed.push(b);
        }
        for id in expired_counters {
            self.contexts.forget_counter(id);
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
        let in_use: HashSet<ContextId, IntBuild> = self
            .buckets
            .iter()
            .flat_map(|b| b.series.ids().chain(b.sketches.ids()))
            .collect();
        let expired = self
            .contexts
            .expire(expiry_cutoff, |id| in_use.contains(&id));
        self.stats.contexts_expired += expired as u64;
        self.stats.contexts = self.contexts.len() as u64;
    }

    fn zero_fill(&mut self, b: &mut Bucket, expired: &mut Vec<ContextId>) {
        let counters: Vec<(ContextId, i64)> = self.contexts.counters().collect();
        for (id, last) in counters {
            if last.saturating_add(self.cfg.counter_expiry) > b.start {
                // Adding 0 to a sampled counter changes nothing; unlike the
                // Agent, a context that became another type in this bucket
                // is left alone instead of being fed a 0 (a gauge would
                // read 0).
                let hint = self.contexts.slot_hint(id);
                b.series
                    .get_or_insert_with(id, hint, || MetricState::Counter(0.0));
                self.contexts.touch(id, b.start);
            } else {
                expired.push(id);
            }
        }
    }

    fn emit(&self, b: &mut Bucket, out: &mut Flush) {
        let interval = BUCKET_SECONDS as f64;
        for (id, mut state) in b.series.drain_sorted() {
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
            match &mut state {
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
        for (id, sketch) in b.sketches.drain_sorted() {
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
    use crate::aggregate::{FlushMode, FlushRound, Router, Shard};
    use crate::config::Config;

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
            // The parts, not `Server`: its millisecond clock cannot
            // reach these seconds.
            let mut router = Router::new(&cfg, 1).unwrap();
            let mut shard = Shard::new(&cfg, 1);
            for now in [i64::MAX, i64::MIN, i64::MAX - 5, i64::MIN + 5, 0, -7] {
                router.push(
                    b"c:1|c\ng:2|g\nh:3|h\nd:4|d",
                    &crate::protocol::Transport::Push.into(),
                    now,
                );
                shard.add_batch(&router.batches_mut()[0]);
                router.batches_mut()[0].clear();
                for mode in [FlushMode::Closed, FlushMode::All] {
                    let mut round = FlushRound::new(now, mode);
                    round.add_pending(router.take_pending());
                    round.add_plan(shard.plan(round.at()));
                    let mut round = round.seal();
                    let part = shard.flush(round.plan());
                    round.add_flush(part);
                    let _ = round.finish();
                }
            }
        }
        assert_eq!(bucket_start(i64::MIN), i64::MIN);
        assert_eq!(bucket_start(i64::MAX), i64::MAX - 7);
        assert_eq!(bucket_start(-1), -10);
    }
}
