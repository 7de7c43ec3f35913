//! A worker: the front half (parse, map, enrich) plus routing. Metric
//! samples are packed into one batch per pipeline, chosen by context hash;
//! timestamped samples become series at once (no-aggregation pipeline);
//! events and service checks are kept as they are.

use std::sync::Arc;

use super::batch::{PackedSample, SampleBatch, SampleKind};
use super::hash::{HOST_SEED, NAME_SEED, TAG_SEED, combine, hash_bytes, hash_parts};
use super::schedule::shard;
use crate::config::Config;
use crate::enrich::EnrichedMetric;
use crate::flush::{Event, Flush, Series, SeriesType, ServiceCheck};
use crate::pipeline::{ConfigError, ProcessStats, Processed, Processor};
use crate::protocol::{MetricType, MetricValues, Transport};

/// What one push did with its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushCounts {
    /// Messages accepted (metrics, events, service checks).
    pub accepted: u32,
    /// Messages rejected (parse errors, unterminated).
    pub rejected: u32,
}

/// Counters of a worker beyond parsing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// What the front half saw.
    pub process: ProcessStats,
    /// Metric samples routed to pipelines.
    pub samples: u64,
    /// Timestamped samples shipped unaggregated.
    pub no_agg_samples: u64,
    /// Timestamped samples of a type the no-aggregation pipeline does not
    /// support (anything but gauges and counts), dropped.
    pub no_agg_unsupported: u64,
}

/// Parses, enriches and routes packets for `pipelines` time samplers.
#[derive(Debug)]
pub struct Worker {
    processor: Processor,
    batches: Vec<SampleBatch>,
    copy_prefix: Option<Vec<u8>>,
    scratch: Scratch,
    pending: Flush,
    stats: WorkerStats,
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
        self.index.sort_unstable_by_key(|t| t.0);
        // Equal hashes are duplicates, or (never seen in practice) distinct
        // tags colliding: order those by bytes so the set stays canonical.
        if self.index.windows(2).any(|w| w[0].0 == w[1].0) {
            self.index
                .sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| of(a).cmp(of(b))));
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

impl Worker {
    /// A worker feeding `pipelines` pipelines (at least one).
    pub fn new(cfg: &Config, pipelines: usize) -> Result<Self, ConfigError> {
        Ok(Self {
            processor: Processor::new(cfg)?,
            batches: (0..pipelines.max(1))
                .map(|_| SampleBatch::default())
                .collect(),
            copy_prefix: cfg.histogram_copy_to_distribution.then(|| {
                cfg.histogram_copy_to_distribution_prefix
                    .as_bytes()
                    .to_vec()
            }),
            scratch: Scratch::default(),
            pending: Flush::default(),
            stats: WorkerStats::default(),
        })
    }

    /// Processes one packet received at `now` (unix seconds).
    pub fn push(&mut self, packet: &[u8], transport: Transport, now: i64) -> PushCounts {
        let Self {
            processor,
            batches,
            copy_prefix,
            scratch,
            pending,
            stats,
        } = self;
        let mut counts = PushCounts::default();
        processor.process_packet(packet, transport, |p| match p {
            Processed::Metric(m) => {
                counts.accepted += 1;
                route_metric(
                    &m,
                    now,
                    batches,
                    copy_prefix.as_deref(),
                    scratch,
                    pending,
                    stats,
                );
            }
            Processed::Event(e) => {
                counts.accepted += 1;
                pending.events.push(Event::from(&e));
            }
            Processed::ServiceCheck(sc) => {
                counts.accepted += 1;
                pending.service_checks.push(ServiceCheck::from(&sc));
            }
            Processed::Error { .. } => counts.rejected += 1,
        });
        stats.process = processor.stats();
        counts
    }

    /// The batch bound for pipeline `i`; the caller hands it to that
    /// pipeline and clears it.
    pub fn batch_mut(&mut self, i: usize) -> &mut SampleBatch {
        &mut self.batches[i]
    }

    /// All batches, one per pipeline.
    pub fn batches_mut(&mut self) -> &mut [SampleBatch] {
        &mut self.batches
    }

    /// Moves pending events, service checks and timestamped series into
    /// `out`.
    pub fn drain_into(&mut self, out: &mut Flush) {
        out.series.append(&mut self.pending.series);
        out.events.append(&mut self.pending.events);
        out.service_checks.append(&mut self.pending.service_checks);
    }

    /// Counters.
    pub fn stats(&self) -> WorkerStats {
        self.stats
    }

    /// The front half (for its mapper statistics).
    pub fn processor(&self) -> &Processor {
        &self.processor
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

fn route_metric(
    m: &EnrichedMetric<'_>,
    now: i64,
    batches: &mut [SampleBatch],
    copy_prefix: Option<&[u8]>,
    scratch: &mut Scratch,
    pending: &mut Flush,
    stats: &mut WorkerStats,
) {
    let is_histogram = matches!(m.metric_type, MetricType::Histogram | MetricType::Timing);
    scratch.canonical_tags(m.tags.iter());
    let host_hash = hash_bytes(m.host, HOST_SEED);

    if let Some(ts) = m.timestamp {
        no_aggregation(m, ts, pending, stats);
        if let (true, Some(prefix)) = (is_histogram, copy_prefix) {
            // Aggregated into the sketch bucket of its `T` (spec §14.13).
            pack(
                m,
                &[prefix],
                SampleKind::Distribution,
                ts,
                host_hash,
                batches,
                scratch,
                stats,
            );
        }
        return;
    }
    pack(
        m,
        &[],
        sample_kind(m.metric_type),
        now,
        host_hash,
        batches,
        scratch,
        stats,
    );
    if let (true, Some(prefix)) = (is_histogram, copy_prefix) {
        pack(
            m,
            &[prefix],
            SampleKind::Distribution,
            now,
            host_hash,
            batches,
            scratch,
            stats,
        );
    }
}

/// Packs every value of `m` (name prefixed by `extra_prefix`) into the
/// batch of the pipeline owning its context.
#[allow(clippy::too_many_arguments)]
fn pack(
    m: &EnrichedMetric<'_>,
    extra_prefix: &[&[u8]],
    kind: SampleKind,
    timestamp: i64,
    host_hash: u64,
    batches: &mut [SampleBatch],
    scratch: &Scratch,
    stats: &mut WorkerStats,
) {
    let parts: [&[u8]; 3] = [
        extra_prefix.first().copied().unwrap_or_default(),
        m.name.prefix,
        m.name.name,
    ];
    let name_hash = hash_parts(&parts, NAME_SEED);
    let key = combine(name_hash, host_hash, &scratch.sorted);
    let batch = &mut batches[shard(key, batches.len())];
    let name = batch.push_bytes(&parts);
    let host = batch.push_bytes(&[m.host]);
    let tags_start = batch.arena.len();
    for i in 0..scratch.index.len() {
        SampleBatch::pack_tag(&mut batch.arena, scratch.tag(i));
    }
    let tags = batch.range_since(tags_start);
    let hashes = batch.push_hashes(&scratch.sorted);
    let mut sample = PackedSample {
        key,
        name_hash,
        host_hash,
        name,
        host,
        tags,
        hashes,
        kind,
        value: 0.0,
        member: 0..0,
        sample_rate: m.sample_rate,
        timestamp,
    };
    match m.values {
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
fn no_aggregation(m: &EnrichedMetric<'_>, ts: i64, pending: &mut Flush, stats: &mut WorkerStats) {
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
    tags.sort();
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
