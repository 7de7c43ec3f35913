//! The router: the front half (parse, map, enrich) plus routing. Metric
//! samples are packed into one batch per shard, chosen by context hash;
//! timestamped samples become series at once (no-aggregation pipeline);
//! events and service checks are kept until the next flush round takes
//! them ([`Router::take_pending`]).
//!
//! The route cache is private to the router. Its bare route references
//! (samples sent without their bytes) are valid only because a router's
//! batches reach each shard in order and none is ever dropped.

use std::sync::Arc;

use super::batch::{PackedSample, SampleBatch, SampleKind};
use super::hash::{HOST_SEED, NAME_SEED, TAG_SEED, combine, hash_bytes, hash_parts};
use super::route_cache::{Route, RouteBytes, RouteCache};
use super::schedule::shard;
use crate::config::Config;
use crate::enrich::EnrichedMetric;
use crate::flush::{Event, Flush, Series, SeriesType, ServiceCheck};
use crate::frontend::{ConfigError, Frontend, ProcessStats, Processed, Sink};
use crate::protocol::{MetricMessage, MetricType, MetricValues, PacketOrigin};

/// What one push did with its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Messages accepted (metrics, events, service checks).
    pub accepted: u32,
    /// Messages rejected (parse errors, unterminated).
    pub rejected: u32,
}

/// Counters of a router: the front half's and routing's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// What the front half saw.
    pub process: ProcessStats,
    /// Metric samples routed to pipelines.
    pub samples: u64,
    /// Timestamped samples shipped unaggregated.
    pub no_agg_samples: u64,
    /// Timestamped samples of a type the no-aggregation pipeline does not
    /// support (anything but gauges and counts), dropped.
    pub no_agg_unsupported: u64,
    /// Metric messages routed from the route cache (no mapping,
    /// enrichment or tag hashing).
    pub route_cache_hits: u64,
    /// Metric messages that had to be routed in full.
    pub route_cache_misses: u64,
}

/// Where [`Routing::pack`] put a message's samples.
struct Packed {
    pipeline: usize,
    /// Index of its first sample in that pipeline's batch.
    first: usize,
}

/// Parses, enriches and routes packets for `shards` shards.
#[derive(Debug)]
pub struct Router {
    frontend: Frontend,
    routing: Routing,
}

/// What a router holds for the next flush and owes no shard: events,
/// service checks and timestamped series. Handed to
/// [`FlushRound::add_pending`](super::FlushRound::add_pending).
#[derive(Debug, Default)]
#[must_use = "pending records are lost unless added to a flush round"]
pub struct Pending(pub(crate) Flush);

/// Everything routing needs; the front half's sink.
#[derive(Debug)]
struct Routing {
    batches: Vec<SampleBatch>,
    copy_prefix: Option<Vec<u8>>,
    scratch: Scratch,
    routes: RouteCache,
    pending: Flush,
    stats: RouterStats,
    /// Arrival time of the packet being processed.
    now: i64,
    counts: PushCounts,
}

#[derive(Debug, Default)]
struct Scratch {
    /// The message's tag bytes, back to back.
    bytes: Vec<u8>,
    /// `(hash, start, len)` of each tag in `bytes`, then sorted by hash
    /// (bytes break ties) and de-duplicated: the canonical tag set.
    index: Vec<(u64, u32, u32)>,
    /// The canonical set's hashes (the context's tag identity).
    sorted: Vec<u64>,
}

impl Scratch {
    /// Hashes the tags once and puts them in canonical order, shared by
    /// the sample and its distribution copy.
    fn canonical_tags<'t>(&mut self, tags: impl Iterator<Item = &'t [u8]>) {
        self.bytes.clear();
        self.index.clear();
        self.sorted.clear();
        for tag in tags {
            let start = self.bytes.len() as u32;
            self.bytes.extend_from_slice(tag);
            self.index
                .push((hash_bytes(tag, TAG_SEED), start, tag.len() as u32));
        }
        let bytes = &self.bytes;
        let of =
            |&(_, start, len): &(u64, u32, u32)| &bytes[start as usize..(start + len) as usize];
        // std's sort directly: this runs for every message the route cache
        // misses, where `order`'s index indirection cost 15 % more
        // instructions per message (callgrind, route cache off).
        self.index.sort_by_key(|t| t.0);
        // Equal hashes are duplicates, or (never seen in practice) distinct
        // tags colliding: order those by bytes so the set stays canonical.
        if self.index.windows(2).any(|w| w[0].0 == w[1].0) {
            crate::order::sort_by(&mut self.index, |a, b| {
                a.0.cmp(&b.0).then_with(|| of(a).cmp(of(b)))
            });
            self.index.dedup_by(|a, b| a.0 == b.0 && of(a) == of(b));
        }
        self.sorted.extend(self.index.iter().map(|t| t.0));
    }

    /// The canonical tags' bytes, in order.
    fn tag(&self, i: usize) -> &[u8] {
        let (_, start, len) = self.index[i];
        &self.bytes[start as usize..(start + len) as usize]
    }
}

impl Router {
    /// A router feeding `shards` shards (at least one).
    pub fn new(cfg: &Config, shards: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            frontend: Frontend::new(cfg)?,
            routing: Routing {
                batches: (0..shards.max(1)).map(|_| SampleBatch::default()).collect(),
                copy_prefix: cfg.histogram_copy_to_distribution.then(|| {
                    cfg.histogram_copy_to_distribution_prefix
                        .as_bytes()
                        .to_vec()
                }),
                scratch: Scratch::default(),
                // Under a context limit a pipeline that refused a new
                // context must get its bytes again to take it later, so
                // cached routes keep their bytes and send them every time.
                routes: RouteCache::new(
                    usize::try_from(cfg.dogstatsd_route_cache_size).unwrap_or(0),
                    cfg.dogstatsd_context_limit > 0,
                ),
                pending: Flush::default(),
                stats: RouterStats::default(),
                now: 0,
                counts: PushCounts::default(),
            },
        })
    }

    /// Processes one packet from `origin` received at `now` (unix
    /// seconds). Its samples wait in [`batches_mut`](Self::batches_mut)
    /// until the caller hands them to their shards.
    pub fn push(&mut self, packet: &[u8], origin: &PacketOrigin<'_>, now: i64) -> PushCounts {
        let r = &mut self.routing;
        r.now = now;
        r.counts = PushCounts::default();
        self.frontend
            .process_packet_into(packet, origin.transport, r);
        r.stats.process = self.frontend.stats();
        (r.stats.route_cache_hits, r.stats.route_cache_misses) = r.routes.counts();
        r.counts
    }

    /// The batches, one per shard (index = shard). A shell hands each to
    /// its shard, in order and never dropping one (route references in a
    /// batch assume the shard saw every earlier batch of this router),
    /// and leaves the emptied batch (or a cleared one) in its place.
    pub fn batches_mut(&mut self) -> &mut [SampleBatch] {
        &mut self.routing.batches
    }

    /// Takes what waits for the next flush round outside the shards.
    pub fn take_pending(&mut self) -> Pending {
        Pending(std::mem::take(&mut self.routing.pending))
    }

    /// Counters.
    pub fn stats(&self) -> RouterStats {
        self.routing.stats
    }

    /// The front half (for its mapper statistics).
    pub fn frontend(&self) -> &Frontend {
        &self.frontend
    }
}

impl Sink for Routing {
    fn fast_path(&mut self, m: &MetricMessage<'_>) -> bool {
        let is_histogram = matches!(m.metric_type, MetricType::Histogram | MetricType::Timing);
        // A `card:` field changes which tags enrichment keeps
        // (`dd.internal.card:`), so the route is not a function of the
        // name and tag field alone: no shortcut.
        if m.timestamp.is_some()
            || m.origin.cardinality.is_some()
            || (is_histogram && self.copy_prefix.is_some())
        {
            return false;
        }
        let Some(hit) = self.routes.get(m.name, m.tags.as_bytes()) else {
            return false;
        };
        let batch = &mut self.batches[hit.pipeline as usize];
        // The samples that filled a slot carried its bytes, so its later
        // samples go bare; unless the cache keeps route bytes, and then
        // its routes must send them every time.
        let (key, name, host, tags, bare) = match self.routes.kept(hit) {
            None => (0, 0..0, 0..0, 0..0, true),
            Some(k) => (
                k.key,
                batch.push_bytes(&[k.name]),
                batch.push_bytes(&[k.host]),
                batch.push_bytes(&[k.packed_tags]),
                false,
            ),
        };
        let sample = PackedSample {
            key,
            name,
            host,
            tags,
            kind: sample_kind(m.metric_type),
            value: 0.0,
            member: 0..0,
            sample_rate: m.sample_rate,
            timestamp: self.now,
            route: Some(hit.from),
            bare,
        };
        push_values(batch, sample, m.values, &mut self.stats);
        self.counts.accepted += 1;
        true
    }

    fn processed(&mut self, p: Processed<'_>) {
        match p {
            Processed::Metric(m) => {
                self.counts.accepted += 1;
                self.route_metric(&m);
            }
            Processed::Event(e) => {
                self.counts.accepted += 1;
                self.pending.events.push(Event::from(e));
            }
            Processed::ServiceCheck(sc) => {
                self.counts.accepted += 1;
                self.pending.service_checks.push(ServiceCheck::from(&sc));
            }
            Processed::Error { .. } => self.counts.rejected += 1,
        }
    }
}

fn sample_kind(t: MetricType) -> SampleKind {
    match t {
        MetricType::Count => SampleKind::Count,
        MetricType::Gauge => SampleKind::Gauge,
        MetricType::Set => SampleKind::Set,
        MetricType::Histogram | MetricType::Timing => SampleKind::Histogram,
        MetricType::Distribution => SampleKind::Distribution,
    }
}

impl Routing {
    fn route_metric(&mut self, m: &EnrichedMetric<'_>) {
        let is_histogram = matches!(m.metric_type, MetricType::Histogram | MetricType::Timing);
        self.scratch.canonical_tags(m.tags.iter());
        let host_hash = hash_bytes(m.host, HOST_SEED);
        let copy_prefix = self.copy_prefix.take();
        if let Some(ts) = m.timestamp {
            no_aggregation(m, ts, &mut self.pending, &mut self.stats);
            if let (true, Some(prefix)) = (is_histogram, &copy_prefix) {
                // Aggregated into the sketch bucket of its `T` (spec §14.13).
                self.pack(m, prefix, SampleKind::Distribution, ts, host_hash);
            }
        } else {
            let packed = self.pack(m, b"", sample_kind(m.metric_type), self.now, host_hash);
            match (is_histogram, &copy_prefix) {
                (true, Some(prefix)) => {
                    self.pack(m, prefix, SampleKind::Distribution, self.now, host_hash);
                }
                _ => self.remember(m, packed),
            }
        }
        self.copy_prefix = copy_prefix;
    }

    /// Packs every value of `m` (name prefixed by `extra_prefix`) into the
    /// batch of the pipeline owning its context.
    fn pack(
        &mut self,
        m: &EnrichedMetric<'_>,
        extra_prefix: &[u8],
        kind: SampleKind,
        timestamp: i64,
        host_hash: u64,
    ) -> Packed {
        let scratch = &self.scratch;
        let parts: [&[u8]; 3] = [extra_prefix, m.name.prefix, m.name.name];
        let name_hash = hash_parts(&parts, NAME_SEED);
        let key = combine(name_hash, host_hash, &scratch.sorted);
        let pipeline = shard(key, self.batches.len());
        let batch = &mut self.batches[pipeline];
        let name = batch.push_bytes(&parts);
        let host = batch.push_bytes(&[m.host]);
        let tags_start = batch.arena.len();
        for i in 0..scratch.index.len() {
            SampleBatch::pack_tag(&mut batch.arena, scratch.tag(i));
        }
        let tags = batch.range_since(tags_start);
        let first = batch.samples.len();
        let sample = PackedSample {
            key,
            name,
            host,
            tags,
            kind,
            value: 0.0,
            member: 0..0,
            sample_rate: m.sample_rate,
            timestamp,
            route: None,
            bare: false,
        };
        push_values(batch, sample, m.values, &mut self.stats);
        Packed { pipeline, first }
    }

    /// Caches the route just taken by `m`, and names it on the samples
    /// that took it: their pipeline learns the route with its bytes, so
    /// later samples of it can go bare.
    fn remember(&mut self, m: &EnrichedMetric<'_>, packed: Packed) {
        if m.origin.cardinality.is_some() {
            return;
        }
        let batch = &mut self.batches[packed.pipeline];
        let Some(s) = batch.samples.last() else {
            return;
        };
        let from = self.routes.insert(
            m.raw_name,
            m.raw_tags.as_bytes(),
            Route {
                pipeline: packed.pipeline as u32,
                bytes: RouteBytes {
                    key: s.key,
                    name: batch.bytes(&s.name),
                    host: batch.bytes(&s.host),
                    packed_tags: batch.bytes(&s.tags),
                },
            },
        );
        for s in &mut batch.samples[packed.first..] {
            s.route = from;
        }
    }
}

/// One packed sample per value (one for a set member). Inlined, so a
/// single value's sample is written straight into the batch instead of
/// being built on the stack and copied.
#[inline(always)]
fn push_values(
    batch: &mut SampleBatch,
    mut sample: PackedSample,
    values: MetricValues<'_>,
    stats: &mut RouterStats,
) {
    match values {
        // Nearly every message: no iterator.
        MetricValues::Single(v) => {
            sample.value = v;
            batch.samples.push(sample);
            stats.samples += 1;
        }
        MetricValues::Set(member) => {
            sample.member = batch.push_bytes(&[member]);
            batch.samples.push(sample);
            stats.samples += 1;
        }
        values => {
            for v in values.iter() {
                sample.value = v;
                batch.samples.push(sample.clone());
                stats.samples += 1;
            }
        }
    }
}

/// Timestamped samples: gauges as they are, counts as rate value/10,
/// anything else dropped (spec §9.7). Sample rates are ignored.
fn no_aggregation(m: &EnrichedMetric<'_>, ts: i64, pending: &mut Flush, stats: &mut RouterStats) {
    let series_type = match m.metric_type {
        MetricType::Gauge => SeriesType::Gauge,
        MetricType::Count => SeriesType::Rate,
        _ => {
            stats.no_agg_unsupported += m.values.len() as u64;
            return;
        }
    };
    let mut tags: Vec<Arc<str>> = m
        .tags
        .iter()
        .map(|t| Arc::from(String::from_utf8_lossy(t).as_ref()))
        .collect();
    crate::order::sort(&mut tags);
    tags.dedup();
    let tags: Arc<[Arc<str>]> = tags.into();
    let host: Arc<str> = Arc::from(String::from_utf8_lossy(m.host).as_ref());
    let metric = String::from_utf8_lossy(&m.name.to_vec()).into_owned();
    for v in m.values.iter() {
        stats.no_agg_samples += 1;
        pending.series.push(Series {
            metric: metric.clone(),
            series_type,
            interval: 10,
            timestamp: ts,
            value: if series_type == SeriesType::Rate {
                v / 10.0
            } else {
                v
            },
            tags: Arc::clone(&tags),
            host: Arc::clone(&host),
        });
    }
}
