//! Aggregation, sans-IO: contexts, 10-second buckets, per-type maths,
//! counter zero-fill, the no-aggregation pipeline, and the scheduling of
//! work over workers and pipelines (spec §9, §10).
//!
//! Data flows worker → [`SampleBatch`] per pipeline → [`Pipeline`]. A
//! shell runs workers and pipelines on threads; [`crate::server::Server`]
//! runs them inline.

mod batch;
mod context;
mod hash;
mod histogram;
mod intern;
pub(crate) mod inthash;
mod route_cache;
mod sampler;
mod schedule;
mod slots;
mod worker;

pub use batch::SampleBatch;
pub use sampler::{BUCKET_SECONDS, FlushPlan, SamplerStats, bucket_start};
pub use schedule::{Topology, shard, topology};
pub use worker::{PushCounts, Worker, WorkerStats};

use crate::config::Config;
use crate::flush::Flush;
use histogram::HistogramConfig;
use sampler::{SamplerConfig, TimeSampler};

/// One pipeline: the time sampler owning the contexts that shard to it.
#[derive(Debug)]
pub struct Pipeline {
    sampler: TimeSampler,
}

impl Pipeline {
    /// One of `pipelines` pipelines, with the histogram, expiry and
    /// context-limit settings of `cfg` (each gets its share of the limit;
    /// contexts shard evenly).
    pub fn new(cfg: &Config, pipelines: usize) -> Self {
        let limit = usize::try_from(cfg.dogstatsd_context_limit).unwrap_or(0);
        Self {
            sampler: TimeSampler::new(SamplerConfig {
                histograms: HistogramConfig::new(
                    &cfg.histogram_aggregates,
                    &cfg.histogram_percentiles,
                ),
                counter_expiry: cfg.dogstatsd_expiry_seconds,
                context_expiry: cfg.dogstatsd_context_expiry_seconds,
                context_limit: limit.div_ceil(pipelines.max(1)),
            }),
        }
    }

    /// Aggregates a batch a worker routed here. The caller clears it.
    pub fn add_batch(&mut self, batch: &SampleBatch) {
        self.sampler.add_batch(batch);
    }

    /// This pipeline's part of the [`FlushPlan`] for a flush at `now`;
    /// merge every pipeline's, then give the result to each [`flush`].
    ///
    /// [`flush`]: Self::flush
    pub fn plan(&self, now: i64, all: bool) -> FlushPlan {
        self.sampler.plan(now, all)
    }

    /// Flushes closed buckets (every bucket when `all`) into `out`; `now`
    /// is unix seconds, `plan` every pipeline's merged [`plan`] (a lone
    /// pipeline's own).
    ///
    /// [`plan`]: Self::plan
    pub fn flush(&mut self, now: i64, all: bool, plan: &FlushPlan, out: &mut Flush) {
        self.sampler.flush(now, all, plan, out);
    }

    /// Counters.
    pub fn stats(&self) -> SamplerStats {
        self.sampler.stats()
    }
}
