//! Intake payloads: the request bodies the Agent POSTs to a Datadog
//! intake (`spec/intake.md`), built from a [`Flush`].
//!
//! | endpoint | path | body |
//! |---|---|---|
//! | [`Endpoint::SeriesV2`] | `/api/v2/series` | protobuf `MetricPayload` |
//! | [`Endpoint::SeriesV1`] | `/api/v1/series` | JSON `{"series":[…]}` (old intakes) |
//! | [`Endpoint::Sketches`] | `/api/beta/sketches` | protobuf `SketchPayload` |
//! | [`Endpoint::CheckRuns`] | `/api/v1/check_run` | JSON array |
//! | [`Endpoint::Events`] | `/intake/` | JSON `{"apiKey":"","events":{…},…}` |
//!
//! The protobuf is written by hand, field by field, exactly as the Agent's
//! streaming serializer writes it (proto3 defaults omitted, points as
//! timestamp then value, origin metadata), so bodies match the Agent's
//! byte for byte (`tests/data/conformance/intake-examples.md`). Field
//! numbers come from the `schema` module, named after the Agent's
//! `agent_payload.proto`; `tests/payload_prost.rs` decodes the bodies with
//! `prost` and that schema.
//!
//! # Splitting
//!
//! Items — one series context with all its points, one sketch context
//! with all its buckets, one event, one check run — are never split. They
//! are added to a payload while its **uncompressed** size (header, items
//! and footer) stays within the limit of [`PayloadLimits`] and, for series,
//! while the point count stays within `max_series_points_per_payload`;
//! then a new payload starts. An item that does not fit even an empty
//! payload is dropped and counted. Empty payloads are never produced.
//! Compression, and with it the Agent's compressed-size limits, is the
//! shell's job: [`PayloadLimits`] carries those values for it.
//!
//! Several [`Series`] (or [`SketchSeries`]) of one context — the same
//! metric, host, tags (and type and interval) — are merged into one
//! protobuf series with several points, in input order, as the Agent does
//! when a flush covers several buckets. Empty sketches are skipped.
//!
//! # Decoding
//!
//! [`decode_series_v2`], [`decode_sketches`], [`decode_check_runs`] and
//! [`decode_events`] turn (uncompressed) bodies back into flush records,
//! for a test intake that records what it received.
//!
//! # Use
//!
//! [`PayloadEncoder`] produces one payload at a time into a buffer the
//! caller owns (and can reuse); the `encode_*` functions collect owned
//! [`Payload`]s. Both tell the shell everything the HTTP request needs
//! besides the API key, agent version and compression:
//! [`Endpoint::path`], [`Endpoint::content_type`] and
//! [`Endpoint::extra_headers`] (the `DD-Agent-Payload` version for
//! protobuf bodies).
//!
//! ```
//! use dogstatsd_core::payload::{PayloadEncoder, PayloadLimits};
//! # let series: Vec<dogstatsd_core::flush::Series> = Vec::new();
//! let limits = PayloadLimits::default();
//! let mut enc = PayloadEncoder::series_v2(&series, &limits);
//! let mut body = Vec::new();
//! while let Some(info) = enc.next_payload(&mut body) {
//!     // POST `body` to info.endpoint.path() with info.endpoint.content_type() …
//!     assert_eq!(info.bytes, body.len());
//!     body.clear();
//! }
//! assert_eq!(enc.stats().dropped_items, 0);
//! ```

mod decode;
mod json;
mod proto;
mod schema;
mod series;
mod sketches;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::aggregate::inthash::BytesBuild;

use crate::flush::{Event, Flush, Series, SeriesType, ServiceCheck, SketchSeries};

pub use decode::{
    DecodeError, decode_check_runs, decode_events, decode_series_v2, decode_sketches,
};

/// Name of the header carrying the agent-payload version on protobuf
/// requests.
pub const AGENT_PAYLOAD_HEADER: &str = "DD-Agent-Payload";

/// Value sent in [`AGENT_PAYLOAD_HEADER`]: the version of the
/// `DataDog/agent-payload` protobuf definitions the bodies follow (the
/// value a 7.7x Agent build carries).
pub const AGENT_PAYLOAD_VERSION: &str = "v5.0.174";

/// `Content-Type` of protobuf bodies.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";

/// `Content-Type` of JSON bodies.
pub const CONTENT_TYPE_JSON: &str = "application/json";

const PROTOBUF_HEADERS: &[(&str, &str)] = &[(AGENT_PAYLOAD_HEADER, AGENT_PAYLOAD_VERSION)];

/// Where a payload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /api/v2/series`, protobuf `MetricPayload`.
    SeriesV2,
    /// `POST /api/v1/series`, JSON (only for intakes without v2).
    SeriesV1,
    /// `POST /api/beta/sketches`, protobuf `SketchPayload`.
    Sketches,
    /// `POST /api/v1/check_run`, JSON array of service checks.
    CheckRuns,
    /// `POST /intake/`, JSON events grouped by source type.
    Events,
}

impl Endpoint {
    /// URL path, appended to the intake's base URL.
    pub const fn path(self) -> &'static str {
        match self {
            Self::SeriesV2 => "/api/v2/series",
            Self::SeriesV1 => "/api/v1/series",
            Self::Sketches => "/api/beta/sketches",
            Self::CheckRuns => "/api/v1/check_run",
            Self::Events => "/intake/",
        }
    }

    /// `Content-Type` header value.
    pub const fn content_type(self) -> &'static str {
        if self.is_protobuf() {
            CONTENT_TYPE_PROTOBUF
        } else {
            CONTENT_TYPE_JSON
        }
    }

    /// True for protobuf bodies.
    pub const fn is_protobuf(self) -> bool {
        matches!(self, Self::SeriesV2 | Self::Sketches)
    }

    /// Headers specific to this body type, besides `Content-Type`: the
    /// `DD-Agent-Payload` version for protobuf bodies, nothing for JSON.
    /// (`DD-Api-Key`, `DD-Agent-Version`, `User-Agent` and
    /// `Content-Encoding` are the shell's.)
    pub const fn extra_headers(self) -> &'static [(&'static str, &'static str)] {
        if self.is_protobuf() {
            PROTOBUF_HEADERS
        } else {
            &[]
        }
    }
}

/// Payload size limits, named after their `datadog.yaml` keys, with the
/// Agent's defaults.
///
/// Core splits on the uncompressed sizes and the point count; the
/// compressed limits are carried for the shell, which compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct PayloadLimits {
    /// `serializer_max_series_points_per_payload`: points per series
    /// payload. Defaults to 10 000.
    #[serde(rename = "serializer_max_series_points_per_payload")]
    pub max_series_points_per_payload: usize,
    /// `serializer_max_series_uncompressed_payload_size`: bytes of an
    /// uncompressed series body. Defaults to 5 242 880.
    #[serde(rename = "serializer_max_series_uncompressed_payload_size")]
    pub max_series_uncompressed_payload_size: usize,
    /// `serializer_max_series_payload_size`: bytes of a compressed series
    /// body (not enforced by core). Defaults to 512 000.
    #[serde(rename = "serializer_max_series_payload_size")]
    pub max_series_payload_size: usize,
    /// `serializer_max_uncompressed_payload_size`: bytes of an uncompressed
    /// sketch, event or check-run body. Defaults to 4 194 304.
    #[serde(rename = "serializer_max_uncompressed_payload_size")]
    pub max_uncompressed_payload_size: usize,
    /// `serializer_max_payload_size`: bytes of a compressed sketch, event
    /// or check-run body (not enforced by core). Defaults to 2 621 440.
    #[serde(rename = "serializer_max_payload_size")]
    pub max_payload_size: usize,
}

impl Default for PayloadLimits {
    fn default() -> Self {
        Self {
            max_series_points_per_payload: 10_000,
            max_series_uncompressed_payload_size: 5_242_880,
            max_series_payload_size: 512_000,
            max_uncompressed_payload_size: 4_194_304,
            max_payload_size: 2_621_440,
        }
    }
}

/// What [`PayloadEncoder::next_payload`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct PayloadInfo {
    /// Where the body goes.
    pub endpoint: Endpoint,
    /// Bytes appended to the caller's buffer: the whole body.
    pub bytes: usize,
    /// Items in the body (series/sketch contexts, events, check runs).
    pub items: usize,
    /// Points in the body (series points, sketch buckets; for events and
    /// check runs the same as `items`).
    pub points: usize,
}

/// An owned payload, as collected by the `encode_*` functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Where the body goes (path, content type, extra headers).
    pub endpoint: Endpoint,
    /// The uncompressed body.
    pub body: Vec<u8>,
    /// Items in the body.
    pub items: usize,
    /// Points in the body.
    pub points: usize,
}

/// Totals over the payloads an encoder produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeStats {
    /// Payloads produced.
    pub payloads: usize,
    /// Items encoded.
    pub items: usize,
    /// Points encoded.
    pub points: usize,
    /// Body bytes written.
    pub bytes: usize,
    /// Items dropped because they did not fit an empty payload.
    pub dropped_items: usize,
    /// Points inside the dropped items.
    pub dropped_points: usize,
}

impl EncodeStats {
    fn add(&mut self, o: &Self) {
        self.payloads += o.payloads;
        self.items += o.items;
        self.points += o.points;
        self.bytes += o.bytes;
        self.dropped_items += o.dropped_items;
        self.dropped_points += o.dropped_points;
    }
}

#[derive(Debug, Clone, Copy)]
enum Source<'a> {
    SeriesV2(&'a [Series]),
    SeriesV1(&'a [Series]),
    Sketches(&'a [SketchSeries]),
    CheckRuns {
        checks: &'a [ServiceCheck],
        now: i64,
    },
    Events {
        events: &'a [Event],
        hostname: &'a str,
    },
}

/// Splits a flush's items into payloads, one at a time, into buffers the
/// caller provides. Build one per endpoint and item list, then call
/// [`next_payload`](Self::next_payload) until it returns `None`.
#[derive(Debug)]
pub struct PayloadEncoder<'a> {
    source: Source<'a>,
    /// Input indices in visiting order (grouped by context / sorted by
    /// event group).
    order: Vec<u32>,
    /// Item `u` is `order[bounds[u]..bounds[u + 1]]`.
    bounds: Vec<u32>,
    next: usize,
    max_bytes: usize,
    max_points: usize,
    stats: EncodeStats,
    scratch: Vec<u8>,
}

impl<'a> PayloadEncoder<'a> {
    fn build(
        source: Source<'a>,
        order: Vec<u32>,
        bounds: Vec<u32>,
        max_bytes: usize,
        max_points: usize,
    ) -> Self {
        Self {
            source,
            order,
            bounds,
            next: 0,
            max_bytes,
            max_points,
            stats: EncodeStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Series for `/api/v2/series` (protobuf). Series of one context are
    /// merged into one protobuf series with several points.
    pub fn series_v2(series: &'a [Series], limits: &PayloadLimits) -> Self {
        let (order, bounds) = group_series(series);
        Self::build(
            Source::SeriesV2(series),
            order,
            bounds,
            limits.max_series_uncompressed_payload_size,
            limits.max_series_points_per_payload,
        )
    }

    /// Series for `/api/v1/series` (JSON), for intakes without the v2 API.
    pub fn series_v1(series: &'a [Series], limits: &PayloadLimits) -> Self {
        let (order, bounds) = group_series(series);
        Self::build(
            Source::SeriesV1(series),
            order,
            bounds,
            limits.max_series_uncompressed_payload_size,
            limits.max_series_points_per_payload,
        )
    }

    /// Sketches for `/api/beta/sketches` (protobuf). Buckets of one context
    /// become several `Dogsketch` points of one sketch; empty sketches are
    /// skipped.
    pub fn sketches(sketches: &'a [SketchSeries], limits: &PayloadLimits) -> Self {
        let (order, bounds) = group_sketches(sketches);
        Self::build(
            Source::Sketches(sketches),
            order,
            bounds,
            limits.max_uncompressed_payload_size,
            usize::MAX,
        )
    }

    /// Service checks for `/api/v1/check_run` (JSON). A check with
    /// timestamp 0 gets `now` (Unix seconds), the time the server received
    /// it as far as the intake is concerned.
    pub fn check_runs(checks: &'a [ServiceCheck], now: i64, limits: &PayloadLimits) -> Self {
        let order = (0..checks.len() as u32).collect();
        let bounds = (0..=checks.len() as u32).collect();
        Self::build(
            Source::CheckRuns { checks, now },
            order,
            bounds,
            limits.max_uncompressed_payload_size,
            usize::MAX,
        )
    }

    /// Events for `/intake/` (JSON), grouped by source type (`api` when
    /// empty) in source-type order; `hostname` is the server's own
    /// hostname (`internalHostname`).
    pub fn events(events: &'a [Event], hostname: &'a str, limits: &PayloadLimits) -> Self {
        let mut order: Vec<u32> = (0..events.len() as u32).collect();
        crate::order::sort_by(&mut order, |&a, &b| {
            json::group(&events[a as usize]).cmp(json::group(&events[b as usize]))
        });
        let bounds = (0..=events.len() as u32).collect();
        Self::build(
            Source::Events { events, hostname },
            order,
            bounds,
            limits.max_uncompressed_payload_size,
            usize::MAX,
        )
    }

    /// The endpoint every payload of this encoder goes to.
    pub fn endpoint(&self) -> Endpoint {
        match self.source {
            Source::SeriesV2(_) => Endpoint::SeriesV2,
            Source::SeriesV1(_) => Endpoint::SeriesV1,
            Source::Sketches(_) => Endpoint::Sketches,
            Source::CheckRuns { .. } => Endpoint::CheckRuns,
            Source::Events { .. } => Endpoint::Events,
        }
    }

    /// Totals so far (payloads, items, points, bytes, drops).
    pub fn stats(&self) -> EncodeStats {
        self.stats
    }

    fn header(&self) -> &'static [u8] {
        match self.source {
            Source::SeriesV2(_) | Source::Sketches(_) => b"",
            Source::SeriesV1(_) => b"{\"series\":[",
            Source::CheckRuns { .. } => b"[",
            Source::Events { .. } => json::EVENTS_HEADER,
        }
    }

    fn footer(&self, out: &mut Vec<u8>) {
        match self.source {
            Source::SeriesV2(_) => {}
            Source::Sketches(_) => out.extend_from_slice(sketches::FOOTER),
            Source::SeriesV1(_) => out.extend_from_slice(b"]}"),
            Source::CheckRuns { .. } => out.push(b']'),
            Source::Events { hostname, .. } => json::events_footer(out, hostname),
        }
    }

    fn footer_len(&self) -> usize {
        let mut tmp = Vec::new();
        self.footer(&mut tmp);
        tmp.len()
    }

    /// Writes item `u` (with its separator from the previous item `prev`
    /// of the same payload, if any) into `out`; returns its point count.
    fn write_item(&self, u: usize, prev: Option<usize>, out: &mut Vec<u8>) -> usize {
        let idx = &self.order[self.bounds[u] as usize..self.bounds[u + 1] as usize];
        match self.source {
            Source::SeriesV2(all) => series::write_v2(out, all, idx),
            Source::SeriesV1(all) => {
                if prev.is_some() {
                    out.push(b',');
                }
                series::write_v1(out, all, idx);
            }
            Source::Sketches(all) => sketches::write(out, all, idx),
            Source::CheckRuns { checks, now } => {
                if prev.is_some() {
                    out.push(b',');
                }
                json::write_check(out, &checks[idx[0] as usize], now);
            }
            Source::Events { events, .. } => {
                let e = &events[idx[0] as usize];
                let g = json::group(e);
                let prev_group = prev
                    .map(|p| json::group(&events[self.order[self.bounds[p] as usize] as usize]));
                match prev_group {
                    Some(pg) if pg == g => out.push(b','),
                    Some(_) => {
                        out.extend_from_slice(b"],");
                        crate::output::json_str(out, g.as_bytes());
                        out.extend_from_slice(b":[");
                    }
                    None => {
                        crate::output::json_str(out, g.as_bytes());
                        out.extend_from_slice(b":[");
                    }
                }
                json::write_event(out, e);
            }
        }
        idx.len()
    }

    /// Appends the next payload's body to `out` (which is not cleared) and
    /// describes it; `None` once every item is in a payload or dropped.
    /// The body is complete (header, items, footer) and within the limits.
    pub fn next_payload(&mut self, out: &mut Vec<u8>) -> Option<PayloadInfo> {
        let start = out.len();
        let header = self.header();
        let footer_len = self.footer_len();
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut items = 0;
        let mut points = 0;
        let mut prev = None;
        while self.next + 1 < self.bounds.len() {
            let u = self.next;
            scratch.clear();
            let pts = self.write_item(u, prev, &mut scratch);
            let body = if items == 0 {
                header.len()
            } else {
                out.len() - start
            };
            let fits = body + scratch.len() + footer_len <= self.max_bytes
                && points + pts <= self.max_points;
            if !fits {
                if items == 0 {
                    self.stats.dropped_items += 1;
                    self.stats.dropped_points += pts;
                    self.next += 1;
                    continue;
                }
                break;
            }
            if items == 0 {
                out.extend_from_slice(header);
            }
            out.extend_from_slice(&scratch);
            items += 1;
            points += pts;
            prev = Some(u);
            self.next += 1;
        }
        self.scratch = scratch;
        if items == 0 {
            return None;
        }
        self.footer(out);
        let bytes = out.len() - start;
        self.stats.payloads += 1;
        self.stats.items += items;
        self.stats.points += points;
        self.stats.bytes += bytes;
        Some(PayloadInfo {
            endpoint: self.endpoint(),
            bytes,
            items,
            points,
        })
    }

    /// Drains the encoder into owned payloads appended to `out`; returns
    /// the totals.
    pub fn collect_into(mut self, out: &mut Vec<Payload>) -> EncodeStats {
        let mut body = Vec::new();
        while let Some(info) = self.next_payload(&mut body) {
            out.push(Payload {
                endpoint: info.endpoint,
                body: std::mem::take(&mut body),
                items: info.items,
                points: info.points,
            });
        }
        self.stats
    }
}

/// Groups indices by first occurrence of their key (`None` skips an
/// item); returns the visiting order and the group bounds. A counting sort
/// over group ids: no allocation per group.
fn group_by<K: Eq + std::hash::Hash>(
    keys: impl Iterator<Item = Option<K>>,
) -> (Vec<u32>, Vec<u32>) {
    const SKIP: u32 = u32::MAX;
    // A fixed-key hasher: no OS randomness (wasm32-unknown-unknown has
    // none), and the keys are our own flush, not attacker-chosen.
    let mut group_of: HashMap<K, u32, BytesBuild> = HashMap::default();
    let mut ids = Vec::new();
    let mut sizes: Vec<u32> = Vec::new();
    for k in keys {
        let id = match k {
            None => SKIP,
            Some(k) => match group_of.entry(k) {
                Entry::Occupied(g) => *g.get(),
                Entry::Vacant(v) => {
                    sizes.push(0);
                    *v.insert(sizes.len() as u32 - 1)
                }
            },
        };
        if id != SKIP {
            sizes[id as usize] += 1;
        }
        ids.push(id);
    }
    let mut bounds = Vec::with_capacity(sizes.len() + 1);
    let mut total = 0;
    bounds.push(0);
    for n in &sizes {
        total += n;
        bounds.push(total);
    }
    let mut fill: Vec<u32> = bounds[..sizes.len()].to_vec();
    let mut order = vec![0; total as usize];
    for (i, id) in ids.into_iter().enumerate() {
        if id != SKIP {
            order[fill[id as usize] as usize] = i as u32;
            fill[id as usize] += 1;
        }
    }
    (order, bounds)
}

type SeriesKey<'a> = (&'a str, SeriesType, u32, &'a str, &'a [std::sync::Arc<str>]);

fn group_series(series: &[Series]) -> (Vec<u32>, Vec<u32>) {
    group_by(series.iter().map(|s| -> Option<SeriesKey<'_>> {
        Some((&s.metric, s.series_type, s.interval, &s.host, &s.tags))
    }))
}

fn group_sketches(sketches: &[SketchSeries]) -> (Vec<u32>, Vec<u32>) {
    group_by(
        sketches
            .iter()
            .map(|s| (!s.sketch.is_empty()).then_some((s.metric.as_str(), &*s.host, &*s.tags))),
    )
}

/// Encodes series for `/api/v2/series`, appending payloads to `out`.
pub fn encode_series_v2(
    series: &[Series],
    limits: &PayloadLimits,
    out: &mut Vec<Payload>,
) -> EncodeStats {
    PayloadEncoder::series_v2(series, limits).collect_into(out)
}

/// Encodes series for `/api/v1/series` (JSON), appending payloads to `out`.
pub fn encode_series_v1(
    series: &[Series],
    limits: &PayloadLimits,
    out: &mut Vec<Payload>,
) -> EncodeStats {
    PayloadEncoder::series_v1(series, limits).collect_into(out)
}

/// Encodes sketches for `/api/beta/sketches`, appending payloads to `out`.
pub fn encode_sketches(
    sketches: &[SketchSeries],
    limits: &PayloadLimits,
    out: &mut Vec<Payload>,
) -> EncodeStats {
    PayloadEncoder::sketches(sketches, limits).collect_into(out)
}

/// Encodes service checks for `/api/v1/check_run`, appending payloads to
/// `out`; timestamps of 0 become `now`.
pub fn encode_check_runs(
    checks: &[ServiceCheck],
    now: i64,
    limits: &PayloadLimits,
    out: &mut Vec<Payload>,
) -> EncodeStats {
    PayloadEncoder::check_runs(checks, now, limits).collect_into(out)
}

/// Encodes events for `/intake/`, appending payloads to `out`.
pub fn encode_events(
    events: &[Event],
    hostname: &str,
    limits: &PayloadLimits,
    out: &mut Vec<Payload>,
) -> EncodeStats {
    PayloadEncoder::events(events, hostname, limits).collect_into(out)
}

/// Options for [`encode_flush`].
#[derive(Debug, Clone, Copy)]
pub struct FlushEncoding<'a> {
    /// The server's own hostname (events' `internalHostname`).
    pub hostname: &'a str,
    /// Current Unix seconds, for check runs without a timestamp.
    pub now: i64,
    /// `use_v2_api.series`: protobuf v2 series (default) or v1 JSON.
    pub series_v2: bool,
    /// Size limits.
    pub limits: PayloadLimits,
}

/// Encodes a whole flush: series, then sketches, check runs and events,
/// appending every payload to `out`; returns the combined totals.
pub fn encode_flush(
    flush: &Flush,
    opts: &FlushEncoding<'_>,
    out: &mut Vec<Payload>,
) -> EncodeStats {
    let l = &opts.limits;
    let mut stats = if opts.series_v2 {
        encode_series_v2(&flush.series, l, out)
    } else {
        encode_series_v1(&flush.series, l, out)
    };
    stats.add(&encode_sketches(&flush.sketches, l, out));
    stats.add(&encode_check_runs(&flush.service_checks, opts.now, l, out));
    stats.add(&encode_events(&flush.events, opts.hostname, l, out));
    stats
}
