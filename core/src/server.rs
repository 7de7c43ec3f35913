//! The whole server inline: one worker and its pipelines in one object,
//! driven by `push(bytes, now)` and `flush(now)`. What the wasm shell, the
//! `aggregate` command and tests use; the native daemon runs the same
//! parts on threads.

use crate::aggregate::{FlushPlan, Pipeline, PushCounts, SamplerStats, Worker, WorkerStats};
use crate::config::Config;
use crate::flush::Flush;
use crate::pipeline::ConfigError;
use crate::protocol::Transport;

/// A DogStatsD server with no I/O.
#[derive(Debug)]
pub struct Server {
    worker: Worker,
    pipelines: Vec<Pipeline>,
}

/// Everything counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Worker counters (parsing, routing, no-aggregation).
    pub worker: WorkerStats,
    /// Pipeline counters, summed.
    pub pipelines: SamplerStats,
}

impl Server {
    /// A server with one pipeline.
    pub fn new(cfg: &Config) -> Result<Self, ConfigError> {
        Self::with_pipelines(cfg, 1)
    }

    /// A server sharding contexts over `pipelines` pipelines; the output
    /// is the same for any count.
    pub fn with_pipelines(cfg: &Config, pipelines: usize) -> Result<Self, ConfigError> {
        let n = pipelines.max(1);
        Ok(Self {
            worker: Worker::new(cfg, n)?,
            pipelines: (0..n).map(|_| Pipeline::new(cfg, n)).collect(),
        })
    }

    /// Processes a packet received at `now` (unix seconds).
    pub fn push(&mut self, packet: &[u8], transport: Transport, now: i64) -> PushCounts {
        let counts = self.worker.push(packet, transport, now);
        for (batch, pipeline) in self
            .worker
            .batches_mut()
            .iter_mut()
            .zip(&mut self.pipelines)
        {
            if !batch.is_empty() {
                pipeline.add_batch(batch);
                batch.clear();
            }
        }
        counts
    }

    /// Flushes closed buckets (all of them when `all`: shutdown, edge
    /// functions) plus pending events, service checks and timestamped
    /// series. Records are sorted, so the result does not depend on the
    /// number of pipelines.
    pub fn flush(&mut self, now: i64, all: bool) -> Flush {
        let mut out = Flush::default();
        let mut plan = FlushPlan::default();
        for p in &self.pipelines {
            plan.merge(&p.plan(now, all));
        }
        for p in &mut self.pipelines {
            p.flush(now, all, &plan, &mut out);
        }
        self.worker.drain_into(&mut out);
        sort_flush(&mut out);
        out
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        let mut pipelines = SamplerStats::default();
        for p in &self.pipelines {
            pipelines += p.stats();
        }
        ServerStats {
            worker: self.worker.stats(),
            pipelines,
        }
    }
}

/// Deterministic order: series by timestamp, name, host, tags; sketches
/// likewise. Events and service checks keep arrival order.
pub fn sort_flush(out: &mut Flush) {
    crate::order::sort_by(&mut out.series, |a, b| {
        (a.timestamp, &a.metric, &a.host, &a.tags).cmp(&(b.timestamp, &b.metric, &b.host, &b.tags))
    });
    crate::order::sort_by(&mut out.sketches, |a, b| {
        (a.timestamp, &a.metric, &a.host, &a.tags).cmp(&(b.timestamp, &b.metric, &b.host, &b.tags))
    });
}
