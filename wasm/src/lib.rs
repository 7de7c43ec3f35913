//! # dogstatsd-wasm
//!
//! The WebAssembly shell around `dogstatsd-core`, for edge runtimes
//! (Cloudflare Workers, Deno, Vercel Edge) and Node. It exposes one class,
//! [`DogStatsD`], that takes DogStatsD packets and the current time from
//! JavaScript and hands back what core produced: `aggregate` records
//! (`spec/interface.md`), intake payloads ready to POST, and counters.
//!
//! Every protocol decision lives in core. This crate only converts types:
//! JS values in, core calls, core's own JSON writers
//! ([`dogstatsd_core::output`]) and payload encoders out. It reads no
//! clock: every time is the caller's `nowMs` (`Date.now()`), rounded down
//! to Unix seconds.
//!
//! Errors: invalid configuration throws an `Error` from the constructor;
//! a non-finite `nowMs`, push data that is neither a string nor bytes, or
//! a missing `apiKey` throw a `TypeError`/`Error` naming the argument.
//! Bad DogStatsD input never throws: it is counted (`rejected`,
//! `stats()`) and, in `parse`, reported as an `error` record.

use dogstatsd_core::aggregate::FlushMode;
use dogstatsd_core::config::Config;
use dogstatsd_core::flush::{Event, ServiceCheck};
use dogstatsd_core::frontend::{Frontend, Processed};
use dogstatsd_core::output;
use dogstatsd_core::payload::{FlushEncoding, Payload, encode_flush};
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;
use js_sys::{JSON, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

pub mod convert;

use convert::{ApiError, PayloadTotals};
use dogstatsd_core::config::PayloadSettings;

/// The core crate this shell wraps, re-exported for Rust users.
pub use dogstatsd_core as core;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/**
 * Configuration: the daemon's `datadog.yaml` keys, as a JSON object (or
 * the same as a JSON string). Values are read as leniently as the Agent
 * reads them (`"true"`, `"12"`, a space-separated string for a list).
 * Other `datadog.yaml` keys are ignored.
 */
export interface DogStatsDConfig {
  /** Host of metrics without a `host:` tag, and of events and checks. Default `""`. */
  hostname?: string;
  /** Tags added to every metric, event and service check. */
  dogstatsd_tags?: string[] | string;
  /** Prefix for every metric name (a `.` is appended when missing). */
  statsd_metric_namespace?: string;
  /** Name prefixes the namespace never applies to (default: the Agent's list). */
  statsd_metric_namespace_blacklist?: string[] | string;
  statsd_metric_namespace_blocklist?: string[] | string;
  /** Mapper profiles, or the same as a JSON string. */
  dogstatsd_mapper_profiles?: MapperProfile[] | string;
  /** Mapper LRU size. Default 1000. */
  dogstatsd_mapper_cache_size?: number | string;
  /** Histogram aggregates. Default `["max", "median", "avg", "count"]`. */
  histogram_aggregates?: string[] | string;
  /** Histogram percentiles in [0, 1]. Default `["0.95"]`. */
  histogram_percentiles?: (string | number)[] | string;
  /** Also send every histogram/timing sample as a distribution. */
  histogram_copy_to_distribution?: boolean | string;
  histogram_copy_to_distribution_prefix?: string;
  /** Read `|T` timestamps and ship those metrics unaggregated. Default true. */
  dogstatsd_no_aggregation_pipeline?: boolean | string;
  /** Read the client origin fields `c:`, `e:`, `card:`. Default false. */
  dogstatsd_origin_detection_client?: boolean | string;
  /** Counter zero-fill, seconds. Default 300. */
  dogstatsd_expiry_seconds?: number | string;
  /** Idle context eviction, seconds. Default 20. */
  dogstatsd_context_expiry_seconds?: number | string;
  /** Most live contexts; samples of new ones beyond it are dropped and
   * counted (`contextLimitDropped`). Default 0: no limit. */
  dogstatsd_context_limit?: number | string;
  /** Message limits (0: none). Defaults 0, 4096 and 1024. */
  dogstatsd_max_metrics_tags?: number | string;
  dogstatsd_max_tag_length?: number | string;
  dogstatsd_max_name_length?: number | string;
  /** Payload limits (uncompressed sizes and points are enforced). */
  serializer_max_series_points_per_payload?: number;
  serializer_max_series_uncompressed_payload_size?: number;
  serializer_max_series_payload_size?: number;
  serializer_max_uncompressed_payload_size?: number;
  serializer_max_payload_size?: number;
  /** `series: false` sends series as v1 JSON instead of v2 protobuf. */
  use_v2_api?: { series?: boolean | string };
  /** Flat spelling of `use_v2_api.series` (`DD_USE_V2_API_SERIES`); wins over `use_v2_api.series`, as the Agent's environment wins over its file. */
  use_v2_api_series?: boolean | string;
  /** Adds `Allow-Arbitrary-Tag-Value: true` to every payload request. */
  allow_arbitrary_tags?: boolean | string;
  /** Checked as the daemon checks it (zstd, zlib, gzip, none; an unknown kind throws), but bodies from `flushPayloads` are never compressed here: the request carries no `Content-Encoding`. */
  serializer_compressor_kind?: string;
  [key: string]: unknown;
}

/** One `dogstatsd_mapper_profiles` entry. */
export interface MapperProfile {
  name: string;
  prefix: string;
  mappings: {
    match: string;
    match_type?: "wildcard" | "regex" | "";
    name: string;
    tags?: Record<string, string>;
  }[];
}

/** A JSON number; non-finite values are written as these strings. */
export type JsonNumber = number | "NaN" | "+Inf" | "-Inf";

/** What `push` did with the messages of one packet. */
export interface PushResult {
  /** Metrics, events and service checks taken in. */
  accepted: number;
  /** Messages that could not be parsed (counted, never thrown). */
  rejected: number;
}

export interface FlushOptions {
  /** Flush every bucket, also the open one (shutdown, end of an edge request). Default false: closed buckets only. */
  all?: boolean;
}

export interface PayloadOptions extends FlushOptions {
  /** Sent as `DD-Api-Key`. */
  apiKey: string;
  /** Sent as `DD-Agent-Version` and in `User-Agent: datadog-agent/<version>`. Default "7.60.0". */
  agentVersion?: string;
}

/** `aggregate` series record. */
export interface SeriesRecord {
  kind: "series";
  metric: string;
  type: "count" | "rate" | "gauge";
  interval: number;
  /** Unix seconds: bucket start, or the message's own `|T`. */
  timestamp: number;
  value: JsonNumber;
  /** Sorted and de-duplicated. */
  tags: string[];
  host: string;
}

/** `aggregate` sketch record (distributions). */
export interface SketchRecord {
  kind: "sketch";
  metric: string;
  timestamp: number;
  tags: string[];
  host: string;
  count: number;
  sum: JsonNumber;
  min: JsonNumber;
  max: JsonNumber;
  avg: JsonNumber;
  p50: JsonNumber;
  p95: JsonNumber;
  p99: JsonNumber;
}

/** Event record (same in `parse` and `aggregate`). */
export interface EventRecord {
  kind: "event";
  title: string;
  text: string;
  /** Unix seconds; 0 when the message had none. */
  timestamp: number;
  hostname: string;
  aggregation_key: string;
  priority: "normal" | "low";
  source_type: string;
  alert_type: "info" | "warning" | "error" | "success";
  tags: string[];
  container_id?: string;
}

/** Service check record (same in `parse` and `aggregate`). */
export interface ServiceCheckRecord {
  kind: "service_check";
  name: string;
  /** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
  status: 0 | 1 | 2 | 3;
  timestamp: number;
  hostname: string;
  message: string;
  tags: string[];
  container_id?: string;
}

export type AggregateRecord = SeriesRecord | SketchRecord | EventRecord | ServiceCheckRecord;

/** `parse` metric record (one per message, also for multi-value messages). */
export interface MetricRecord {
  kind: "metric";
  name: string;
  type: "count" | "gauge" | "timing" | "histogram" | "distribution" | "set";
  /** Absent for sets. */
  values?: JsonNumber[];
  /** Sets only. */
  set_values?: string[];
  sample_rate: JsonNumber;
  tags: string[];
  host: string;
  container_id: string | null;
  timestamp: number | null;
  cardinality?: string;
  entity_id?: string;
}

/** `parse` record of a rejected message. */
export interface ErrorRecord {
  kind: "error";
  error: string;
  input: string;
}

export type ParseRecord = MetricRecord | EventRecord | ServiceCheckRecord | ErrorRecord;

/** One HTTP request for a Datadog-compatible intake. */
export interface IntakePayload {
  method: "POST";
  /** Appended to the intake's base URL, e.g. `/api/v2/series`. */
  path: "/api/v2/series" | "/api/v1/series" | "/api/beta/sketches" | "/api/v1/check_run" | "/intake/";
  /** Content-Type, DD-Api-Key, DD-Agent-Version, User-Agent, DD-Agent-Payload (protobuf), Allow-Arbitrary-Tag-Value (when configured). No Content-Encoding: the body is not compressed. */
  headers: Record<string, string>;
  body: Uint8Array;
  /** Series/sketch contexts, events or check runs in the body. */
  items: number;
  /** Points in the body. */
  points: number;
}

/** Counters since construction. */
export interface Stats {
  metricPackets: number;
  metricParseErrors: number;
  eventPackets: number;
  eventParseErrors: number;
  serviceCheckPackets: number;
  serviceCheckParseErrors: number;
  unterminatedMetricErrors: number;
  /** Metric messages dropped over `dogstatsd_max_metrics_tags`,
   * `dogstatsd_max_tag_length`, `dogstatsd_max_name_length`. */
  tooManyTags: number;
  tagTooLong: number;
  nameTooLong: number;
  /** Metric samples routed to aggregation. */
  samples: number;
  /** Timestamped samples shipped unaggregated. */
  noAggSamples: number;
  /** Timestamped samples of an unsupported type, dropped. */
  noAggUnsupported: number;
  /** Samples added to buckets. */
  aggregatedSamples: number;
  /** Samples dropped for a NaN or infinite value. */
  nonFiniteDropped: number;
  /** Live contexts. */
  contexts: number;
  contextsExpired: number;
  /** Samples of new contexts dropped at `dogstatsd_context_limit`. */
  contextLimitDropped: number;
  /** Samples that arrived without their context's bytes for a route the
   * aggregator never received with them (a lost batch; never expected). */
  unknownRouteDropped: number;
  /** Payloads built by `flushPayloads`, and their body bytes. */
  payloads: number;
  payloadBytes: number;
  /** Items (and their points) too big for any payload, dropped. */
  payloadItemsDropped: number;
  payloadPointsDropped: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// The constructor's argument.
    #[wasm_bindgen(typescript_type = "DogStatsDConfig | string")]
    pub type ConfigInput;

    /// `push`'s data.
    #[wasm_bindgen(typescript_type = "Uint8Array | ArrayBuffer | string")]
    pub type PushData;

    /// `flush`'s options.
    #[wasm_bindgen(typescript_type = "FlushOptions")]
    pub type FlushOptions;

    /// `flushPayloads`' options.
    #[wasm_bindgen(typescript_type = "PayloadOptions")]
    pub type PayloadOptions;
}

fn js_error(e: ApiError) -> JsError {
    JsError::new(&e.0)
}

fn type_error(msg: &str) -> JsValue {
    js_sys::TypeError::new(msg).into()
}

/// Parses JSON that this crate wrote.
fn parse_own_json(bytes: &[u8]) -> Result<JsValue, JsValue> {
    JSON::parse(std::str::from_utf8(bytes).map_err(|_| not_utf8())?)
}

/// Core's writers replace invalid UTF-8, so this is never thrown. (No
/// `Utf8Error` in the message: its `Display` is not linked then.)
fn not_utf8() -> JsValue {
    JsError::new("internal: output not UTF-8").into()
}

/// The bytes of a `Uint8Array` (a Node `Buffer` is one) or an
/// `ArrayBuffer`, as a view (no copy yet).
fn byte_view(data: &JsValue) -> Option<Uint8Array> {
    if let Some(bytes) = data.dyn_ref::<Uint8Array>() {
        Some(bytes.clone())
    } else {
        data.dyn_ref::<js_sys::ArrayBuffer>()
            .map(|b| Uint8Array::new(b))
    }
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    // Setting a plain property of a plain object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn flag(options: Option<&JsValue>, key: &str) -> bool {
    options.is_some_and(|o| o.is_object() && get(o, key).is_truthy())
}

/// `{ all: true }`: every bucket, open ones too.
fn mode(options: Option<&JsValue>) -> FlushMode {
    if flag(options, "all") {
        FlushMode::All
    } else {
        FlushMode::Closed
    }
}

/// A DogStatsD server with no I/O: push packets, flush records or
/// payloads. Time is always the caller's.
#[wasm_bindgen]
pub struct DogStatsD {
    config: Config,
    shell: PayloadSettings,
    server: Server,
    /// Built on the first `parse` call (its own mapper cache, so parsing
    /// never changes what the server aggregates).
    parser: Option<Frontend>,
    /// Reused for packet bytes and JSON output.
    buf: Vec<u8>,
    payload_totals: PayloadTotals,
}

impl std::fmt::Debug for DogStatsD {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DogStatsD")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl DogStatsD {
    /// Builds a server from a configuration object (the daemon's
    /// `datadog.yaml` keys) or the same as a JSON string. Throws an
    /// `Error` naming the problem when the configuration is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(config: Option<ConfigInput>) -> Result<Self, JsValue> {
        let json = match config {
            None => "{}".to_string(),
            Some(c) => match c.as_string() {
                Some(s) => s,
                None if c.is_object() => JSON::stringify(&c)?
                    .as_string()
                    .unwrap_or_else(|| "{}".to_string()),
                None => {
                    return Err(type_error(
                        "DogStatsD: config must be an object or a JSON string",
                    ));
                }
            },
        };
        Self::from_json(&json).map_err(|e| js_error(e).into())
    }

    /// Takes one packet (messages separated by `\n`, as in a datagram)
    /// received at `nowMs` (milliseconds since the Unix epoch). Returns how
    /// many messages were accepted and rejected; bad messages never throw.
    #[wasm_bindgen(unchecked_return_type = "PushResult")]
    pub fn push(
        &mut self,
        data: PushData,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let now = convert::now_secs(now_ms).map_err(js_error)?;
        let counts = if let Some(s) = data.as_string() {
            self.server.handle_packet(
                Timestamp::from_secs(now),
                Transport::Push.into(),
                s.as_bytes(),
            )
        } else if let Some(bytes) = byte_view(&data) {
            self.buf.resize(bytes.length() as usize, 0);
            bytes.copy_to(&mut self.buf);
            self.server
                .handle_packet(Timestamp::from_secs(now), Transport::Push.into(), &self.buf)
        } else {
            return Err(type_error(
                "push: data must be a Uint8Array, an ArrayBuffer or a string",
            ));
        };
        let out = Object::new();
        set(&out, "accepted", &counts.accepted.into());
        set(&out, "rejected", &counts.rejected.into());
        Ok(out.into())
    }

    /// Flushes at `nowMs`: the buckets closed by then (every bucket with
    /// `{ all: true }`), pending events and service checks, and
    /// timestamped series, as `aggregate` records (`spec/interface.md`).
    #[wasm_bindgen(unchecked_return_type = "AggregateRecord[]")]
    pub fn flush(
        &mut self,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<FlushOptions>,
    ) -> Result<JsValue, JsValue> {
        let now = convert::now_secs(now_ms).map_err(js_error)?;
        let flush = self
            .server
            .flush(Timestamp::from_secs(now), mode(options.as_deref()));
        convert::flush_array(&mut self.buf, &flush);
        parse_own_json(&self.buf)
    }

    /// Flushes like [`flush`](Self::flush) but returns the records as
    /// one string of JSON Lines, exactly what the native `aggregate`
    /// command prints (each record followed by `\n`; `""` when empty).
    #[wasm_bindgen(js_name = flushLines)]
    pub fn flush_lines(
        &mut self,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<FlushOptions>,
    ) -> Result<String, JsValue> {
        let now = convert::now_secs(now_ms).map_err(js_error)?;
        let flush = self
            .server
            .flush(Timestamp::from_secs(now), mode(options.as_deref()));
        let mut out = Vec::new();
        output::write_flush(&mut out, &flush);
        String::from_utf8(out).map_err(|_| not_utf8())
    }

    /// Flushes like [`flush`](Self::flush) but returns the intake
    /// requests instead of records: one per payload, with path, headers
    /// (for `apiKey`) and the uncompressed body.
    #[wasm_bindgen(js_name = flushPayloads, unchecked_return_type = "IntakePayload[]")]
    pub fn flush_payloads(
        &mut self,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: PayloadOptions,
    ) -> Result<JsValue, JsValue> {
        let now = convert::now_secs(now_ms).map_err(js_error)?;
        let Some(api_key) = get(&options, "apiKey").as_string() else {
            return Err(type_error("flushPayloads: options.apiKey must be a string"));
        };
        let agent_version = get(&options, "agentVersion")
            .as_string()
            .unwrap_or_else(|| convert::DEFAULT_AGENT_VERSION.to_string());
        let flush = self
            .server
            .flush(Timestamp::from_secs(now), mode(Some(&options)));
        let mut payloads: Vec<Payload> = Vec::new();
        let stats = encode_flush(
            &flush,
            &FlushEncoding {
                hostname: &self.config.hostname,
                now,
                series_v2: self.shell.series_v2,
                limits: self.shell.limits,
            },
            &mut payloads,
        );
        self.payload_totals.add(&stats);
        let list = js_sys::Array::new_with_length(payloads.len() as u32);
        for (i, p) in payloads.iter().enumerate() {
            let headers = Object::new();
            for (k, v) in convert::request_headers(
                p.endpoint,
                &api_key,
                &agent_version,
                self.shell.allow_arbitrary_tags,
            ) {
                set(&headers, k, &JsValue::from_str(&v));
            }
            let req = Object::new();
            set(&req, "method", &JsValue::from_str("POST"));
            set(&req, "path", &JsValue::from_str(p.endpoint.path()));
            set(&req, "headers", &headers);
            set(&req, "body", &Uint8Array::from(p.body.as_slice()));
            set(&req, "items", &(p.items as f64).into());
            set(&req, "points", &(p.points as f64).into());
            list.set(i as u32, req.into());
        }
        Ok(list.into())
    }

    /// Parses a packet without aggregating it: one `parse` record per
    /// message (`spec/interface.md`), rejected messages as `error` records.
    /// Uses the same configuration (mapper, namespace, tags, hostname).
    #[wasm_bindgen(unchecked_return_type = "ParseRecord[]")]
    pub fn parse(&mut self, data: PushData) -> Result<JsValue, JsValue> {
        let packet: Vec<u8> = if let Some(s) = data.as_string() {
            s.into_bytes()
        } else if let Some(bytes) = byte_view(&data) {
            bytes.to_vec()
        } else {
            return Err(type_error(
                "parse: data must be a Uint8Array, an ArrayBuffer or a string",
            ));
        };
        let processor = match &mut self.parser {
            Some(p) => p,
            None => {
                // The server was built from this config, so it is valid.
                let p = Frontend::new(&self.config).map_err(|e| {
                    JsValue::from(JsError::new(&format!("invalid configuration: {e}")))
                })?;
                self.parser.insert(p)
            }
        };
        let out = &mut self.buf;
        out.clear();
        out.push(b'[');
        processor.process_packet(&packet, Transport::Push, |p| {
            if out.len() > 1 {
                out.push(b',');
            }
            match &p {
                Processed::Metric(m) => output::write_metric(out, m),
                Processed::Event(e) => output::write_event(out, &Event::from(e)),
                Processed::ServiceCheck(s) => {
                    output::write_service_check(out, &ServiceCheck::from(s))
                }
                Processed::Error { line, error } => output::write_error(out, line, error),
            }
        });
        out.push(b']');
        parse_own_json(out)
    }

    /// Counters since construction.
    #[wasm_bindgen(unchecked_return_type = "Stats")]
    pub fn stats(&self) -> JsValue {
        let out = Object::new();
        for (k, v) in convert::stats_fields(&self.server.stats(), &self.payload_totals) {
            set(&out, k, &JsValue::from_f64(v as f64));
        }
        out.into()
    }
}

impl DogStatsD {
    /// Builds a server from a JSON configuration (for Rust callers and
    /// tests; JavaScript uses the constructor).
    pub fn from_json(json: &str) -> Result<Self, ApiError> {
        let settings = convert::parse_config(json)?;
        let config = Config::from_value(&settings)
            .map_err(|e| ApiError(format!("invalid configuration: {e}")))?;
        let shell = convert::payload_settings(&settings)?;
        let server =
            Server::new(&config).map_err(|e| ApiError(format!("invalid configuration: {e}")))?;
        Ok(Self {
            config,
            shell,
            server,
            parser: None,
            buf: Vec::new(),
            payload_totals: PayloadTotals::default(),
        })
    }
}
