//! A shard: the time sampler owning the contexts that hash to it.

use super::batch::SampleBatch;
use super::histogram::HistogramConfig;
use super::round::{PlanPart, RoundAt, SealedPlan, ShardFlush};
use super::sampler::{SamplerConfig, SamplerStats, TimeSampler};
use crate::config::Config;
use crate::flush::Flush;

/// One shard of the aggregation state (the Agent's "pipeline").
#[derive(Debug)]
pub struct Shard {
    sampler: TimeSampler,
}

impl Shard {
    /// One of `shards` shards, with the histogram, expiry and
    /// context-limit settings of `cfg` (each gets its share of the limit;
    /// contexts shard evenly).
    pub fn new(cfg: &Config, shards: usize) -> Self {
        let limit = usize::try_from(cfg.dogstatsd_context_limit).unwrap_or(0);
        Self {
            sampler: TimeSampler::new(SamplerConfig {
                histograms: HistogramConfig::new(
                    &cfg.histogram_aggregates,
                    &cfg.histogram_percentiles,
                ),
                counter_expiry: cfg.dogstatsd_expiry_seconds,
                context_expiry: cfg.dogstatsd_context_expiry_seconds,
                context_limit: limit.div_ceil(shards.max(1)),
            }),
        }
    }

    /// Aggregates a batch a router packed for this shard. Batches of one
    /// router must arrive in the order it packed them, none skipped. The
    /// caller clears the batch.
    pub fn add_batch(&mut self, batch: &SampleBatch) {
        self.sampler.add_batch(batch);
    }

    /// This shard's part of the plan of the round at `at` (first stage
    /// of a flush round; see [`FlushRound`](super::FlushRound)).
    pub fn plan(&self, at: RoundAt) -> PlanPart {
        PlanPart(self.sampler.plan(at.now, at.all))
    }

    /// Flushes against the sealed plan of every shard (second stage).
    pub fn flush(&mut self, plan: &SealedPlan) -> ShardFlush {
        let mut out = Flush::default();
        self.sampler
            .flush(plan.now(), plan.all(), plan.merged(), &mut out);
        ShardFlush(out)
    }

    /// Counters.
    pub fn stats(&self) -> SamplerStats {
        self.sampler.stats()
    }
}
