//! How work spreads over threads, decided in core so every shell agrees
//! (spec §10.1): how many workers and pipelines, and which pipeline owns
//! a context.

use crate::config::Config;

/// Worker and pipeline (time sampler) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// Parsing/enrichment workers.
    pub workers: usize,
    /// Time-sampler pipelines; each owns the contexts that shard to it.
    pub pipelines: usize,
}

/// The Agent's `GetDogStatsDWorkerAndPipelineCount` for `cpus` CPUs.
pub fn topology(cpus: usize, cfg: &Config) -> Topology {
    let (mut workers, pipelines) = if cfg.dogstatsd_pipeline_autoadjust {
        let workers = (cpus / 2).max(2);
        let pipelines = if cfg.dogstatsd_pipeline_autoadjust_strategy == "per_origin" {
            workers
        } else {
            (workers - 1).max(1)
        };
        (workers, pipelines)
    } else {
        let pipelines = usize::try_from(cfg.dogstatsd_pipeline_count)
            .unwrap_or(0)
            .max(1);
        let workers = (cpus as i64 - 1 - pipelines as i64).max(2) as usize;
        (workers, pipelines)
    };
    if cfg.dogstatsd_workers_count > 0 {
        workers = cfg.dogstatsd_workers_count as usize;
    }
    Topology { workers, pipelines }
}

/// The pipeline that owns a context: fast range over the hash's upper 32
/// bits, so a context always lands on the same pipeline.
#[inline]
pub fn shard(context_hash: u64, pipelines: usize) -> usize {
    (((context_hash >> 32) * pipelines as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(cpus: usize, f: impl FnOnce(&mut Config)) -> (usize, usize) {
        let mut c = Config::default();
        f(&mut c);
        let t = topology(cpus, &c);
        (t.workers, t.pipelines)
    }

    #[test]
    fn agent_examples() {
        for (n, w) in [(16, 14), (11, 9), (8, 6), (4, 2), (2, 2), (1, 2)] {
            assert_eq!(topo(n, |_| {}), (w, 1), "{n} cpus");
        }
        for (n, w) in [(16, 11), (11, 6), (4, 2)] {
            assert_eq!(topo(n, |c| c.dogstatsd_pipeline_count = 4), (w, 4));
        }
        for (n, w, p) in [(16, 8, 7), (11, 5, 4), (8, 4, 3), (4, 2, 1)] {
            assert_eq!(topo(n, |c| c.dogstatsd_pipeline_autoadjust = true), (w, p));
        }
        assert_eq!(topo(16, |c| c.dogstatsd_workers_count = 3), (3, 1));
        assert_eq!(topo(16, |c| c.dogstatsd_pipeline_count = 0), (14, 1));
    }

    #[test]
    fn shard_is_in_range_and_spread() {
        let mut counts = [0usize; 7];
        let mut h = 0x1234_5678_9abc_def0u64;
        for _ in 0..70_000 {
            h = h
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            counts[shard(h, 7)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 9_000), "{counts:?}");
        assert_eq!(shard(u64::MAX, 1), 0);
    }
}
