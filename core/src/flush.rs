//! What a flush produces: plain owned values, ready to print in the
//! `aggregate` format or to encode into intake payloads.
//!
//! Flushing is not the per-message hot path (one flush every 10-15 s), so
//! these own their strings; tags are shared with the context store.

use std::sync::Arc;

use crate::enrich::{EnrichedEvent, EnrichedServiceCheck};
use crate::sketch::AgentSketch;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// How the intake interprets a series value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesType {
    /// A count over the interval.
    Count,
    /// A per-second rate (DogStatsD counts ship as rates).
    Rate,
    /// A gauge.
    Gauge,
}

impl SeriesType {
    /// Name in the `aggregate` output and the v1 JSON API.
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Rate => "rate",
            Self::Gauge => "gauge",
        }
    }
}

/// One series point.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Metric name (with `.max`, `.95percentile`… for histograms).
    pub metric: String,
    /// Type.
    pub series_type: SeriesType,
    /// Interval in seconds (10 for DogStatsD).
    pub interval: u32,
    /// Unix seconds: the bucket start, or the message's `T`.
    pub timestamp: i64,
    /// Value.
    pub value: f64,
    /// Sorted, de-duplicated tags (shared with the context's other series).
    pub tags: Arc<[Arc<str>]>,
    /// Host.
    pub host: Arc<str>,
}

/// One distribution context's sketch for one bucket.
#[derive(Debug, Clone)]
pub struct SketchSeries {
    /// Metric name.
    pub metric: String,
    /// Unix seconds of the bucket start.
    pub timestamp: i64,
    /// Sorted, de-duplicated tags (shared with the context's other series).
    pub tags: Arc<[Arc<str>]>,
    /// Host.
    pub host: Arc<str>,
    /// The sketch, with exact count, sum, min and max.
    pub sketch: AgentSketch,
}

/// An event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// Unix seconds; 0 = now.
    pub timestamp: i64,
    /// Hostname.
    pub hostname: String,
    /// Aggregation key.
    pub aggregation_key: String,
    /// `normal` or `low`.
    pub priority: &'static str,
    /// Source type name.
    pub source_type: String,
    /// `info`, `warning`, `error`, `success`.
    pub alert_type: &'static str,
    /// Tags in message order.
    pub tags: Vec<String>,
    /// Client-supplied container id (`c:`), when origin fields are read.
    pub container_id: Option<String>,
}

/// A service check, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCheck {
    /// Check name.
    pub name: String,
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub status: u8,
    /// Unix seconds; 0 = now.
    pub timestamp: i64,
    /// Hostname.
    pub hostname: String,
    /// Message.
    pub message: String,
    /// Tags in message order.
    pub tags: Vec<String>,
    /// Client-supplied container id (`c:`), when origin fields are read.
    pub container_id: Option<String>,
}

/// Everything one flush hands to the shell.
#[derive(Debug, Clone, Default)]
pub struct Flush {
    /// Series points.
    pub series: Vec<Series>,
    /// Distribution sketches.
    pub sketches: Vec<SketchSeries>,
    /// Events.
    pub events: Vec<Event>,
    /// Service checks.
    pub service_checks: Vec<ServiceCheck>,
}

impl Flush {
    /// True when there is nothing to ship.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
            && self.sketches.is_empty()
            && self.events.is_empty()
            && self.service_checks.is_empty()
    }
}

impl From<&EnrichedEvent<'_>> for Event {
    fn from(e: &EnrichedEvent<'_>) -> Self {
        Self {
            title: text(&e.msg.title),
            text: text(&e.msg.text),
            timestamp: e.msg.timestamp,
            hostname: text(e.hostname),
            aggregation_key: text(e.msg.aggregation_key),
            priority: e.msg.priority.name(),
            source_type: text(e.msg.source_type),
            alert_type: e.msg.alert_type.name(),
            tags: e.tags.iter().map(text).collect(),
            container_id: e.msg.origin.container_id.map(text),
        }
    }
}

impl From<&EnrichedServiceCheck<'_>> for ServiceCheck {
    fn from(s: &EnrichedServiceCheck<'_>) -> Self {
        Self {
            name: text(s.msg.name),
            status: s.msg.status as u8,
            timestamp: s.msg.timestamp,
            hostname: text(s.hostname),
            message: text(s.msg.message),
            tags: s.tags.iter().map(text).collect(),
            container_id: s.msg.origin.container_id.map(text),
        }
    }
}
