//! Aggregation, sans-IO: contexts, 10-second buckets, per-type maths,
//! counter zero-fill, the no-aggregation pipeline, and the parts a
//! threaded shell composes (spec §9, §10):
//!
//! - [`Router`]: parse, map, enrich, route into one [`SampleBatch`] per
//!   shard; owns its route cache.
//! - [`Shard`]: the contexts that hash to it, their buckets.
//! - [`FlushRound`]: the flush protocol. Routers first hand over what they
//!   hold (their batches to the shards, their [`Pending`] records to the
//!   round), then every shard's plan is merged, then every shard flushes
//!   against the sealed plan, then the round sorts the result.
//!
//! [`crate::server::Server`] composes them inline on one thread; the
//! native daemon runs routers and shards on threads.

mod batch;
mod context;
mod hash;
mod histogram;
mod intern;
pub(crate) mod inthash;
mod round;
mod route_cache;
mod router;
mod sampler;
mod schedule;
mod shard;
mod slots;

pub use batch::SampleBatch;
pub use round::{FlushMode, FlushRound, PlanPart, RoundAt, SealedPlan, SealedRound, ShardFlush};
pub use router::{Pending, PushCounts, Router, RouterStats};
pub use sampler::{BUCKET_SECONDS, SamplerStats, bucket_start};
pub use schedule::{Topology, shard, topology};
pub use shard::Shard;
