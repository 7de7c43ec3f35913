//! The flush protocol as types: a round goes through its stages in one
//! order only.
//!
//! 1. [`FlushRound::new`]: the round's time and [`FlushMode`]. Routers
//!    hand their batches to the shards (in order) and their [`Pending`]
//!    records to the round ([`FlushRound::add_pending`]).
//! 2. Each shard answers [`Shard::plan`](super::Shard::plan) with a
//!    [`PlanPart`]; the round merges them ([`FlushRound::add_plan`]) so
//!    counter zero-fill is decided as if one shard held every context.
//! 3. [`FlushRound::seal`] gives a [`SealedRound`] whose
//!    [`SealedPlan`] is the only way to call
//!    [`Shard::flush`](super::Shard::flush); each shard's
//!    [`ShardFlush`] goes back with [`SealedRound::add_flush`].
//! 4. [`SealedRound::finish`] sorts the records: the result does not
//!    depend on the number of shards or routers.

use std::sync::Arc;

use super::router::Pending;
use super::sampler::FlushPlan;
use crate::flush::Flush;

/// Which buckets a flush takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Buckets closed at the round's time: the periodic flush.
    Closed,
    /// Every bucket, open ones too: an explicit flush, or the final one at
    /// stop with `dogstatsd_flush_incomplete_buckets`.
    All,
}

impl FlushMode {
    /// The final flush's mode: every bucket with
    /// `dogstatsd_flush_incomplete_buckets`, closed ones otherwise.
    pub fn at_stop(flush_incomplete_buckets: bool) -> Self {
        if flush_incomplete_buckets {
            Self::All
        } else {
            Self::Closed
        }
    }
}

/// A round's time and mode, what a shard plans against (cheap to send to
/// shard threads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundAt {
    pub(crate) now: i64,
    pub(crate) all: bool,
}

/// A shard's view for the round's plan.
#[derive(Debug)]
#[must_use = "a plan part must be added to its round"]
pub struct PlanPart(pub(crate) FlushPlan);

/// What a shard flushed.
#[derive(Debug)]
#[must_use = "a shard's flush must be added to its round"]
pub struct ShardFlush(pub(crate) Flush);

/// A flush round collecting pending records and plan parts.
#[derive(Debug)]
pub struct FlushRound {
    now: i64,
    all: bool,
    plan: FlushPlan,
    out: Flush,
}

impl FlushRound {
    /// A round at `now` (unix seconds).
    pub fn new(now: i64, mode: FlushMode) -> Self {
        Self {
            now,
            all: mode == FlushMode::All,
            plan: FlushPlan::default(),
            out: Flush::default(),
        }
    }

    /// The round's time and mode, for [`Shard::plan`](super::Shard::plan).
    pub fn at(&self) -> RoundAt {
        RoundAt {
            now: self.now,
            all: self.all,
        }
    }

    /// A router's pending records (events, service checks, timestamped
    /// series).
    pub fn add_pending(&mut self, pending: Pending) {
        let mut p = pending.0;
        self.out.series.append(&mut p.series);
        self.out.events.append(&mut p.events);
        self.out.service_checks.append(&mut p.service_checks);
    }

    /// A shard's plan part.
    pub fn add_plan(&mut self, part: PlanPart) {
        self.plan.merge(&part.0);
    }

    /// Every shard's part is in: the plan is final.
    pub fn seal(self) -> SealedRound {
        SealedRound {
            plan: SealedPlan(Arc::new((self.now, self.all, self.plan))),
            out: self.out,
        }
    }
}

/// The merged plan of a sealed round; cheap to clone and send to shard
/// threads.
#[derive(Debug, Clone)]
pub struct SealedPlan(Arc<(i64, bool, FlushPlan)>);

impl SealedPlan {
    pub(crate) fn now(&self) -> i64 {
        self.0.0
    }

    pub(crate) fn all(&self) -> bool {
        self.0.1
    }

    pub(crate) fn merged(&self) -> &FlushPlan {
        &self.0.2
    }
}

/// A round whose plan is final, collecting the shards' flushes.
#[derive(Debug)]
pub struct SealedRound {
    plan: SealedPlan,
    out: Flush,
}

impl SealedRound {
    /// The plan every shard flushes against.
    pub fn plan(&self) -> &SealedPlan {
        &self.plan
    }

    /// A shard's flush.
    pub fn add_flush(&mut self, part: ShardFlush) {
        let mut f = part.0;
        self.out.series.append(&mut f.series);
        self.out.sketches.append(&mut f.sketches);
        self.out.events.append(&mut f.events);
        self.out.service_checks.append(&mut f.service_checks);
    }

    /// The round's records in deterministic order ([`Flush::sort`]).
    #[must_use]
    pub fn finish(self) -> Flush {
        let mut out = self.out;
        out.sort();
        out
    }
}

impl Flush {
    /// Deterministic order: series by timestamp, name, host, tags;
    /// sketches likewise; events and service checks keep arrival order.
    /// A flush round's result is in this order whatever the number of
    /// shards and routers.
    pub fn sort(&mut self) {
        crate::order::sort_by(&mut self.series, |a, b| {
            (a.timestamp, &a.metric, &a.host, &a.tags).cmp(&(
                b.timestamp,
                &b.metric,
                &b.host,
                &b.tags,
            ))
        });
        crate::order::sort_by(&mut self.sketches, |a, b| {
            (a.timestamp, &a.metric, &a.host, &a.tags).cmp(&(
                b.timestamp,
                &b.metric,
                &b.host,
                &b.tags,
            ))
        });
    }
}
