//! The `push_flush` oracle: an arbitrary sequence of pushes and flushes
//! against core's inline [`Server`], under a small arbitrary
//! configuration. `core/tests/fuzz_corpus.rs` compiles this file with
//! `#[path]` too.
//!
//! The input is decoded with `arbitrary` into a [`Scenario`]: a
//! [`SmallConfig`], a pipeline count, a route-cache size and up to
//! [`MAX_OPS`] operations: raw packets, packets of generated metric lines
//! (any value, type, sample rate, tags, `T`), flushes and flush-alls, each
//! at a time that may jump forward or back or be any `i64`.
//!
//! Two compositions of core's parts run the same scenario: the inline
//! [`Server`] (one router, one shard, no route cache) and the threaded
//! form run on one thread (one or two [`Router`]s taking packets in turn,
//! up to four [`Shard`]s, the scenario's route cache, [`FlushRound`]),
//! which lets the checks tell aggregated series from the no-aggregation
//! ones. Times are clamped to what a [`Timestamp`] holds. Checks:
//!
//! * both give the same push counts and the same flushes (the route cache
//!   never changes the output), and every line is either accepted or
//!   rejected;
//! * every sample routed to a pipeline is aggregated there;
//! * aggregated series and sketches come from closed buckets only (bucket
//!   starts, ending at or before the flush's cutoff), with interval 10 and
//!   never of type count; rates are never NaN (a NaN counter flushes
//!   nothing); a non-finite gauge can only be a histogram's `.avg` or
//!   `.sum`; sketches are non-empty with finite `min <= max`;
//! * every flush encodes into intake payloads that decode back to what was
//!   flushed (series v2 and sketches protobuf, check runs and events JSON;
//!   series v1 is valid JSON with every point).

use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};

use dogstatsd_core::aggregate::{
    BUCKET_SECONDS, FlushMode, FlushRound, Pending, Router, Shard, bucket_start,
};
use dogstatsd_core::config::{Config, MapperProfileConfig, MappingConfig};
use dogstatsd_core::flush::{Event, Flush, Series, SeriesType, ServiceCheck, SketchSeries};
use dogstatsd_core::payload::{
    PayloadLimits, decode_check_runs, decode_events, decode_series_v2, decode_sketches,
    encode_check_runs, encode_events, encode_series_v1, encode_series_v2, encode_sketches,
};
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

/// Operations per scenario, at most.
pub const MAX_OPS: usize = 48;

/// A configuration small enough to explore.
#[derive(Debug, Arbitrary)]
pub struct SmallConfig {
    /// Bit i: aggregate i of `max, min, median, avg, sum, count`; bit 6:
    /// an unknown one.
    aggregates: u8,
    /// Each as `p/100` (so 101..=255 are out of range and skipped).
    percentiles: Vec<u8>,
    namespace: bool,
    /// Bit 0: `env:fuzz`, bit 1: `host:extra`, bit 2: `dd.internal.resource:host:r`.
    tags: u8,
    hostname: bool,
    expiry_seconds: i16,
    context_expiry_seconds: i16,
    no_aggregation_pipeline: bool,
    origin_detection: bool,
    copy_to_distribution: bool,
    mapper: bool,
}

/// A time: mostly a step from the previous one, sometimes any value.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Time {
    /// Forward by this many seconds.
    Forward(u8),
    /// Back by this many seconds.
    Back(u8),
    /// Any unix second.
    Absolute(i64),
}

/// A metric value.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Value {
    /// A small integer.
    Small(i8),
    /// Any `f64` (NaN, infinities and subnormals included).
    Bits(u64),
    /// The largest finite value, negated when the flag is set.
    Huge(bool),
}

/// One generated metric line.
#[derive(Debug, Clone, Arbitrary)]
pub struct LineSpec {
    /// Index into [`NAMES`].
    name: u8,
    /// Index into [`TYPES`].
    metric_type: u8,
    values: Vec<Value>,
    /// A raw `f64` for `|@`.
    rate: Option<u64>,
    /// Bitmask over [`TAGS`].
    tags: u16,
    timestamp: Option<i64>,
    /// `|card:` / `|c:` fields.
    origin: Option<bool>,
}

/// One operation.
#[derive(Debug, Clone, Arbitrary)]
pub enum Op {
    /// A packet of arbitrary bytes.
    Raw {
        /// The packet.
        bytes: Vec<u8>,
        /// When it arrived.
        at: Time,
        /// Index into the transports.
        transport: u8,
    },
    /// A packet of generated lines.
    Lines {
        /// The lines, joined by `\n`.
        lines: Vec<LineSpec>,
        /// When it arrived.
        at: Time,
    },
    /// `flush(now, false)`.
    Flush(Time),
    /// `flush(now, true)`.
    FlushAll(Time),
}

/// A whole run.
#[derive(Debug, Arbitrary)]
pub struct Scenario {
    config: SmallConfig,
    /// 1 + this % 4 pipelines, fed by 1 + (this / 4) % 2 workers taking
    /// packets in turn (workers' route caches naming the same contexts).
    pipelines: u8,
    /// Route-cache size of the server under test (the reference has none).
    route_cache: u8,
    ops: Vec<Op>,
}

const NAMES: &[&str] = &[
    "a",
    "b.c",
    "app.x.hits",
    "a.max",
    "jvm.heap",
    "dd.internal.x",
    "résumé",
];
const TYPES: &[&str] = &["c", "g", "h", "ms", "d", "s", "x"];
const TAGS: &[&str] = &[
    "env:prod",
    "env:dev",
    "host:h1",
    "host:",
    "device:sda",
    "device:sdb",
    "dd.internal.resource:host:rh",
    "dd.internal.resource:device:rd",
    "dd.internal.resource:database_instance:db1",
    "dd.internal.card:high",
    "dd.internal.entity_id:pod",
    "a",
    "a",
    "b:",
    ":",
    "k:v,w",
];
const AGGREGATES: &[&str] = &["max", "min", "median", "avg", "sum", "count", "bogus"];

impl SmallConfig {
    fn config(&self) -> Config {
        let mut cfg = Config {
            histogram_aggregates: AGGREGATES
                .iter()
                .enumerate()
                .filter(|(i, _)| self.aggregates & (1 << i) != 0)
                .map(|(_, a)| a.to_string())
                .collect(),
            histogram_percentiles: self
                .percentiles
                .iter()
                .take(4)
                .map(|&p| format!("{}", f64::from(p) / 100.0))
                .collect(),
            dogstatsd_expiry_seconds: i64::from(self.expiry_seconds),
            dogstatsd_context_expiry_seconds: i64::from(self.context_expiry_seconds),
            dogstatsd_no_aggregation_pipeline: self.no_aggregation_pipeline,
            dogstatsd_origin_detection_client: self.origin_detection,
            histogram_copy_to_distribution: self.copy_to_distribution,
            histogram_copy_to_distribution_prefix: "copy.".into(),
            ..Config::default()
        };
        if self.namespace {
            cfg.statsd_metric_namespace = "ns".into();
        }
        if self.hostname {
            cfg.hostname = "default-host".into();
        }
        for (bit, tag) in ["env:fuzz", "host:extra", "dd.internal.resource:host:r"]
            .iter()
            .enumerate()
        {
            if self.tags & (1 << bit) != 0 {
                cfg.dogstatsd_tags.push(tag.to_string());
            }
        }
        if self.mapper {
            cfg.dogstatsd_mapper_profiles = vec![MapperProfileConfig {
                name: "fuzz".into(),
                prefix: "app.".into(),
                mappings: vec![MappingConfig::new(
                    "app.*.hits",
                    "",
                    "app.hits",
                    &[("part", "$1"), ("host", "mapped")],
                )],
            }];
        }
        cfg
    }
}

impl Value {
    fn render(self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = match self {
            Self::Small(v) => write!(out, "{v}"),
            Self::Bits(b) => write!(out, "{:e}", f64::from_bits(b)),
            Self::Huge(neg) => write!(out, "{:e}", if neg { f64::MIN } else { f64::MAX }),
        };
    }
}

impl LineSpec {
    fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str(NAMES[usize::from(self.name) % NAMES.len()]);
        let metric_type = TYPES[usize::from(self.metric_type) % TYPES.len()];
        if metric_type == "s" {
            let _ = write!(out, ":m{}", self.values.len() % 3);
        } else {
            for v in self.values.iter().take(4) {
                out.push(':');
                v.render(out);
            }
            if self.values.is_empty() {
                out.push_str(":1");
            }
        }
        out.push('|');
        out.push_str(metric_type);
        if let Some(rate) = self.rate {
            let _ = write!(out, "|@{:e}", f64::from_bits(rate));
        }
        let tags: Vec<&str> = (0..TAGS.len())
            .filter(|i| self.tags & (1 << i) != 0)
            .map(|i| TAGS[i])
            .collect();
        if !tags.is_empty() {
            out.push_str("|#");
            out.push_str(&tags.join(","));
        }
        if let Some(ts) = self.timestamp {
            let _ = write!(out, "|T{ts}");
        }
        match self.origin {
            Some(true) => out.push_str("|card:low|c:ci-1"),
            Some(false) => out.push_str("|card:orchestrator"),
            None => {}
        }
    }
}

impl Time {
    fn apply(self, now: i64) -> i64 {
        match self {
            Self::Forward(s) => now.saturating_add(i64::from(s)),
            Self::Back(s) => now.saturating_sub(i64::from(s)),
            Self::Absolute(t) => t,
        }
    }
}

const TRANSPORTS: &[Transport] = &[
    Transport::Udp,
    Transport::UnixDatagram,
    Transport::UnixStream,
    Transport::NamedPipe,
    Transport::Push,
];

/// The server under test, as its parts.
struct Parts {
    routers: Vec<Router>,
    /// The router taking the next packet.
    turn: usize,
    shards: Vec<Shard>,
    /// Events, service checks and timestamped series in arrival order
    /// (taken from whichever router took them).
    pending: Vec<Pending>,
}

impl Parts {
    fn push(&mut self, packet: &[u8], transport: Transport, now: i64) -> (u32, u32) {
        let turn = self.turn % self.routers.len();
        self.turn += 1;
        let router = &mut self.routers[turn];
        let counts = router.push(packet, &transport.into(), now);
        self.pending.push(router.take_pending());
        let routed: usize = router.batches_mut().iter().map(|b| b.len()).sum();
        let before: u64 = self.shards.iter().map(|p| p.stats().samples).sum();
        for (batch, shard) in router.batches_mut().iter_mut().zip(&mut self.shards) {
            shard.add_batch(batch);
            batch.clear();
        }
        let after: u64 = self.shards.iter().map(|p| p.stats().samples).sum();
        assert_eq!(
            after - before,
            routed as u64,
            "routed samples not aggregated"
        );
        (counts.accepted, counts.rejected)
    }

    /// Aggregated records and the routers' pending ones, separately (two
    /// rounds: one over the shards, one over the pending records).
    fn flush(&mut self, now: i64, mode: FlushMode) -> (Flush, Flush) {
        let mut round = FlushRound::new(now, mode);
        for s in &self.shards {
            round.add_plan(s.plan(round.at()));
        }
        let mut sealed = round.seal();
        for s in &mut self.shards {
            let part = s.flush(sealed.plan());
            sealed.add_flush(part);
        }
        let aggregated = sealed.finish();
        let mut pending = FlushRound::new(now, mode);
        for p in self.pending.drain(..) {
            pending.add_pending(p);
        }
        (aggregated, pending.seal().finish())
    }
}

/// The fuzz entry point of the `push_flush` target.
pub fn check_push_flush_input(data: &[u8]) {
    let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    check_scenario(&scenario);
}

/// Runs a scenario through both servers and checks every flush.
pub fn check_scenario(s: &Scenario) {
    let cfg = s.config.config();
    let pipelines = 1 + usize::from(s.pipelines % 4);
    let reference_cfg = Config {
        dogstatsd_route_cache_size: 0,
        ..cfg.clone()
    };
    let tested_cfg = Config {
        dogstatsd_route_cache_size: i64::from(s.route_cache % 8),
        ..cfg.clone()
    };
    // One pipeline: the output must not depend on how contexts are sharded.
    let mut reference = Server::with_shards(&reference_cfg, 1).expect("the fuzz config is valid");
    let routers = 1 + usize::from(s.pipelines / 4 % 2);
    let mut parts = Parts {
        routers: (0..routers)
            .map(|_| Router::new(&tested_cfg, pipelines).expect("the fuzz config is valid"))
            .collect(),
        turn: 0,
        shards: (0..pipelines)
            .map(|_| Shard::new(&tested_cfg, pipelines))
            .collect(),
        pending: Vec::new(),
    };
    let mut now: i64 = 1_700_000_000;
    let mut text = String::new();
    for op in s.ops.iter().take(MAX_OPS) {
        match op {
            Op::Raw {
                bytes,
                at,
                transport,
            } => {
                now = clamp(at.apply(now));
                let t = TRANSPORTS[usize::from(*transport) % TRANSPORTS.len()];
                push_both(&mut reference, &mut parts, bytes, t, now);
            }
            Op::Lines { lines, at } => {
                now = clamp(at.apply(now));
                text.clear();
                for (i, l) in lines.iter().take(8).enumerate() {
                    if i > 0 {
                        text.push('\n');
                    }
                    l.render(&mut text);
                }
                push_both(
                    &mut reference,
                    &mut parts,
                    text.as_bytes(),
                    Transport::Push,
                    now,
                );
            }
            Op::Flush(at) | Op::FlushAll(at) => {
                now = clamp(at.apply(now));
                let all = matches!(op, Op::FlushAll(_));
                let mode = if all {
                    FlushMode::All
                } else {
                    FlushMode::Closed
                };
                let want = reference.flush(Timestamp::from_secs(now), mode);
                let (aggregated, pending) = parts.flush(now, mode);
                check_aggregated(&aggregated, &cfg, now, all);
                let mut got = aggregated;
                got.series.extend(pending.series.iter().cloned());
                got.events = pending.events;
                got.service_checks = pending.service_checks;
                got.sort();
                assert_same_flush(&got, &want);
                check_encoding(&got, now);
            }
        }
    }
}

/// Seconds a [`Timestamp`] (milliseconds in an `i64`) can hold.
fn clamp(now: i64) -> i64 {
    now.clamp(i64::MIN / 1000, i64::MAX / 1000)
}

fn push_both(reference: &mut Server, parts: &mut Parts, packet: &[u8], t: Transport, now: i64) {
    let want = reference.handle_packet(Timestamp::from_secs(now), t.into(), packet);
    let got = parts.push(packet, t, now);
    assert_eq!(got, (want.accepted, want.rejected), "push counts");
    // No filter list and no required newline: every line is one or the other.
    let lines = crate::checks::reference_lines(packet, false).len();
    assert_eq!(
        (want.accepted + want.rejected) as usize,
        lines,
        "accepted + rejected != lines of {:?}",
        String::from_utf8_lossy(packet)
    );
}

fn series_key(s: &Series) -> (i64, String, String, Vec<String>, &'static str, u32, u64) {
    (
        s.timestamp,
        s.metric.clone(),
        s.host.to_string(),
        s.tags.iter().map(|t| t.to_string()).collect(),
        s.series_type.name(),
        s.interval,
        s.value.to_bits(),
    )
}

type SketchBits = (u64, [u64; 4], Vec<(i16, u32)>);

fn sketch_bits(s: &SketchSeries) -> SketchBits {
    let k = &s.sketch;
    (
        k.count(),
        [k.sum(), k.min(), k.max(), k.avg()].map(f64::to_bits),
        k.bins().iter().map(|b| (b.key, b.n)).collect(),
    )
}

fn sketch_key(s: &SketchSeries) -> (i64, String, String, Vec<String>, SketchBits) {
    (
        s.timestamp,
        s.metric.clone(),
        s.host.to_string(),
        s.tags.iter().map(|t| t.to_string()).collect(),
        sketch_bits(s),
    )
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn assert_same_flush(got: &Flush, want: &Flush) {
    // Sorting leaves records with equal keys (say a gauge `a.max` and the
    // `.max` of histogram `a`) in pipeline order: compare as multisets.
    assert_eq!(
        sorted(got.series.iter().map(series_key).collect()),
        sorted(want.series.iter().map(series_key).collect()),
        "series differ with the route cache"
    );
    assert_eq!(
        sorted(got.sketches.iter().map(sketch_key).collect()),
        sorted(want.sketches.iter().map(sketch_key).collect()),
        "sketches differ with the route cache"
    );
    assert_eq!(got.events, want.events);
    assert_eq!(got.service_checks, want.service_checks);
}

/// Invariants of what the pipelines flushed.
fn check_aggregated(f: &Flush, cfg: &Config, now: i64, all: bool) {
    let cutoff = bucket_start(now);
    // Buckets within 10 s of the ends of `i64` are not aligned (core
    // saturates there).
    let extreme = |ts: i64| !(i64::MIN + 20..=i64::MAX - 20).contains(&ts);
    let closed = |ts: i64| {
        (ts == bucket_start(ts) || extreme(ts))
            && (all || ts.checked_add(BUCKET_SECONDS).is_some_and(|e| e <= cutoff))
    };
    let has = |a: &str| cfg.histogram_aggregates.iter().any(|x| x == a);
    for s in &f.series {
        assert!(
            closed(s.timestamp),
            "series from an open bucket: {s:?} at {now}"
        );
        assert_eq!(s.interval, 10, "{s:?}");
        match s.series_type {
            SeriesType::Count => panic!("aggregation never makes count series: {s:?}"),
            SeriesType::Rate => assert!(!s.value.is_nan(), "NaN rate: {s:?}"),
            SeriesType::Gauge => {
                if !s.value.is_finite() {
                    let hist = (s.metric.ends_with(".avg") && has("avg"))
                        || (s.metric.ends_with(".sum") && has("sum"));
                    assert!(hist, "non-finite gauge: {s:?}");
                }
            }
        }
    }
    for s in &f.sketches {
        assert!(
            closed(s.timestamp),
            "sketch from an open bucket: {} at {now}",
            s.timestamp
        );
        let k = &s.sketch;
        assert!(k.count() > 0 && !k.bins().is_empty(), "empty sketch: {s:?}");
        assert!(
            k.min().is_finite() && k.max().is_finite() && k.min() <= k.max(),
            "{s:?}"
        );
        let n: u64 = k.bins().iter().map(|b| u64::from(b.n)).sum();
        assert_eq!(n, k.count(), "bin counts vs count: {s:?}");
    }
}

/// The tag set a v2 series decodes to: resources come back as tags,
/// except a `host` resource, which becomes the host.
fn v2_expected(s: &Series) -> Series {
    let mut host = s.host.clone();
    let mut tags: Vec<Arc<str>> = Vec::new();
    for t in s.tags.iter() {
        match t
            .strip_prefix("dd.internal.resource:")
            .and_then(|r| r.split_once(':'))
        {
            Some(("host", name)) => host = Arc::from(name),
            Some(("device", name)) => tags.push(Arc::from(format!("device:{name}"))),
            _ => tags.push(t.clone()),
        }
    }
    tags.sort_unstable();
    tags.dedup();
    Series {
        tags: tags.into(),
        host,
        // As the Agent, a double equal to 0 is not written (intake.md
        // §3.2), so -0.0 (a counter's tiny negative sum over 10 s
        // underflows to it) reads back as 0.0.
        value: if s.value == 0.0 { 0.0 } else { s.value },
        ..s.clone()
    }
}

/// Every flush encodes into payloads that decode back to it.
fn check_encoding(f: &Flush, now: i64) {
    let limits = PayloadLimits::default();

    let mut payloads = Vec::new();
    let stats = encode_series_v2(&f.series, &limits, &mut payloads);
    assert_eq!(stats.dropped_items, 0);
    let mut decoded = Vec::new();
    for p in &payloads {
        let n = decode_series_v2(&p.body, &mut decoded).expect("v2 series decode");
        assert_eq!(n, p.points);
    }
    assert_eq!(
        sorted(decoded.iter().map(series_key).collect()),
        sorted(
            f.series
                .iter()
                .map(v2_expected)
                .map(|s| series_key(&s))
                .collect()
        ),
        "series v2 round trip"
    );

    let mut payloads = Vec::new();
    encode_series_v1(&f.series, &limits, &mut payloads);
    let mut points = 0;
    for p in &payloads {
        let v: serde_json::Value = serde_json::from_slice(&p.body).expect("v1 series is JSON");
        for s in v["series"].as_array().expect("a series list") {
            points += s["points"].as_array().expect("points").len();
        }
    }
    assert_eq!(points, f.series.len(), "series v1 points");

    let mut payloads = Vec::new();
    encode_sketches(&f.sketches, &limits, &mut payloads);
    let mut decoded = Vec::new();
    for p in &payloads {
        decode_sketches(&p.body, &mut decoded).expect("sketches decode");
    }
    assert_eq!(
        sorted(decoded.iter().map(sketch_key).collect()),
        sorted(f.sketches.iter().map(sketch_key).collect()),
        "sketch round trip"
    );

    let mut payloads = Vec::new();
    encode_check_runs(&f.service_checks, now, &limits, &mut payloads);
    let mut decoded = Vec::new();
    for p in &payloads {
        decode_check_runs(&p.body, &mut decoded).expect("check runs decode");
    }
    let want: Vec<ServiceCheck> = f
        .service_checks
        .iter()
        .map(|c| ServiceCheck {
            timestamp: if c.timestamp == 0 { now } else { c.timestamp },
            container_id: None,
            ..c.clone()
        })
        .collect();
    assert_eq!(decoded, want, "check runs round trip");

    let mut payloads = Vec::new();
    encode_events(&f.events, "me", &limits, &mut payloads);
    let mut decoded = Vec::new();
    for p in &payloads {
        decode_events(&p.body, &mut decoded).expect("events decode");
    }
    let mut want: Vec<Event> = f
        .events
        .iter()
        .map(|e| Event {
            container_id: None,
            ..e.clone()
        })
        .collect();
    // Bodies list events by group (source type, `api` when none).
    want.sort_by(|a, b| {
        let g = |e: &Event| {
            if e.source_type.is_empty() {
                "api".to_string()
            } else {
                e.source_type.clone()
            }
        };
        g(a).cmp(&g(b))
    });
    assert_eq!(decoded, want, "events round trip");
}
