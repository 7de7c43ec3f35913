//! Parsed messages. Everything borrows from the packet: parsing a valid
//! metric allocates nothing.

use std::borrow::Cow;

use super::number::parse_float;

/// One parsed line of a packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// A metric sample (possibly several values).
    Metric(MetricMessage<'a>),
    /// An event (`_e{...}`).
    Event(EventMessage<'a>),
    /// A service check (`_sc|...`).
    ServiceCheck(ServiceCheckMessage<'a>),
}

/// The DogStatsD metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `c`
    Count,
    /// `g`
    Gauge,
    /// `h`
    Histogram,
    /// `ms`
    Timing,
    /// `d`
    Distribution,
    /// `s`
    Set,
}

impl MetricType {
    /// Parses the type field; exact and case-sensitive, as the Agent does.
    pub fn from_symbol(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"c" => Self::Count,
            b"g" => Self::Gauge,
            b"h" => Self::Histogram,
            b"ms" => Self::Timing,
            b"d" => Self::Distribution,
            b"s" => Self::Set,
            _ => return None,
        })
    }

    /// The name used in the `parse` output (`../spec/interface.md`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::Timing => "timing",
            Self::Distribution => "distribution",
            Self::Set => "set",
        }
    }
}

/// The value part of a metric message, already validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricValues<'a> {
    /// One number (protocol 1.0).
    Single(f64),
    /// Several `:`-separated numbers (protocol 1.1); empty items skipped.
    Multi(MultiValues<'a>),
    /// The raw set member, verbatim (it may contain `:`).
    Set(&'a [u8]),
}

impl<'a> MetricValues<'a> {
    /// The numeric values in order (none for a set).
    pub fn iter(&self) -> ValueIter<'a> {
        match *self {
            Self::Single(v) => ValueIter {
                single: Some(v),
                rest: &[],
            },
            Self::Multi(m) => ValueIter {
                single: None,
                rest: m.raw,
            },
            Self::Set(_) => ValueIter {
                single: None,
                rest: &[],
            },
        }
    }

    /// Number of samples this message stands for (1 for a set).
    pub fn len(&self) -> usize {
        match self {
            Self::Single(_) | Self::Set(_) => 1,
            Self::Multi(m) => m.count as usize,
        }
    }

    /// Never true: a message has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A validated `:`-separated list of numbers, kept raw: multi-value
/// messages are a minority, so they are re-read rather than copied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultiValues<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) count: u32,
}

/// Iterator over a message's numeric values.
#[derive(Debug, Clone)]
pub struct ValueIter<'a> {
    single: Option<f64>,
    rest: &'a [u8],
}

impl Iterator for ValueIter<'_> {
    type Item = f64;

    fn next(&mut self) -> Option<f64> {
        if let Some(v) = self.single.take() {
            return Some(v);
        }
        while !self.rest.is_empty() {
            let (item, rest) = match self.rest.iter().position(|&b| b == b':') {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            if !item.is_empty() {
                // Validated at parse time.
                return parse_float(item);
            }
        }
        None
    }
}

/// The raw tag field of a message (after `#`), split on `,` when read.
/// Nothing is trimmed or deduplicated: `a,,b` is `a`, ``, `b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawTags<'a>(pub(crate) &'a [u8]);

impl<'a> RawTags<'a> {
    /// Wraps a tag field (the bytes after `#`).
    pub fn new(field: &'a [u8]) -> Self {
        Self(field)
    }

    /// The tags in order; an empty field has none.
    pub fn iter(&self) -> TagIter<'a> {
        TagIter {
            field: self.0,
            commas: memchr::memchr_iter(b',', self.0),
            start: 0,
            done: self.0.is_empty(),
        }
    }

    /// True when some tag may be one enrichment consumes (`host:`,
    /// `dd.internal.*`): a vectorised search, so the common tag field
    /// without any is never split just to look.
    pub fn may_have_special(&self) -> bool {
        use memchr::memmem::Finder;
        use std::sync::LazyLock;
        // Built once: constructing a searcher per message costs more than
        // the search itself on a short tag field.
        static HOST: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"host:"));
        static INTERNAL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"dd.internal."));
        HOST.find(self.0).is_some() || INTERNAL.find(self.0).is_some()
    }

    /// True when the message carried no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw field.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

/// Iterator over the tags of a tag field, split on `,` by one vectorised
/// scan of the field (not a search per tag).
#[derive(Debug, Clone)]
pub struct TagIter<'a> {
    field: &'a [u8],
    commas: memchr::Memchr<'a>,
    start: usize,
    done: bool,
}

impl<'a> Iterator for TagIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let start = self.start;
        match self.commas.next() {
            Some(i) => {
                self.start = i + 1;
                Some(&self.field[start..i])
            }
            None => {
                self.done = true;
                Some(&self.field[start..])
            }
        }
    }
}

/// Client-side origin fields (`c:`, `e:`, `card:`), read only when
/// `dogstatsd_origin_detection_client` is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin<'a> {
    /// Container id from `c:` (`ci-<id>`, `cid-<id>` or the bare value).
    pub container_id: Option<&'a [u8]>,
    /// Cgroup inode from `c:` (`in-<n>`).
    pub inode: Option<u64>,
    /// Raw `e:` external data (`it-`, `cn-`, `pu-` items).
    pub external_data: Option<&'a [u8]>,
    /// Raw `card:` value.
    pub cardinality: Option<&'a [u8]>,
}

/// A metric message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricMessage<'a> {
    /// The name, verbatim.
    pub name: &'a [u8],
    /// The type.
    pub metric_type: MetricType,
    /// The values (or set member).
    pub values: MetricValues<'a>,
    /// `@` sample rate; 1 when absent. Never validated (as in the Agent).
    pub sample_rate: f64,
    /// `#` tags.
    pub tags: RawTags<'a>,
    /// `T` unix seconds (only read with the no-aggregation pipeline on).
    pub timestamp: Option<i64>,
    /// Client origin fields.
    pub origin: Origin<'a>,
}

/// An empty gauge named `""`: what [`parse_metric_into`](super::parse_metric_into)
/// overwrites.
impl Default for MetricMessage<'_> {
    fn default() -> Self {
        Self {
            name: b"",
            metric_type: MetricType::Gauge,
            values: MetricValues::Single(0.0),
            sample_rate: 1.0,
            tags: RawTags::default(),
            timestamp: None,
            origin: Origin::default(),
        }
    }
}

/// Event priority (`p:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// `normal` (default).
    #[default]
    Normal,
    /// `low`.
    Low,
}

impl Priority {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}

/// Event alert type (`t:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertType {
    /// `info` (default).
    #[default]
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `success`.
    Success,
}

impl AlertType {
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Success => "success",
        }
    }
}

/// An event message. Title and text have `\n` escapes already replaced
/// (which is the only time they are copied).
#[derive(Debug, Clone, PartialEq)]
pub struct EventMessage<'a> {
    /// Title (non-empty).
    pub title: Cow<'a, [u8]>,
    /// Text.
    pub text: Cow<'a, [u8]>,
    /// `d:` unix seconds; 0 means "now" at the intake.
    pub timestamp: i64,
    /// `h:` hostname; empty when absent.
    pub hostname: &'a [u8],
    /// `k:` aggregation key.
    pub aggregation_key: &'a [u8],
    /// `p:` priority.
    pub priority: Priority,
    /// `s:` source type name.
    pub source_type: &'a [u8],
    /// `t:` alert type.
    pub alert_type: AlertType,
    /// `#` tags.
    pub tags: RawTags<'a>,
    /// Client origin fields.
    pub origin: Origin<'a>,
}

/// Service check status, the wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// 0
    Ok = 0,
    /// 1
    Warning = 1,
    /// 2
    Critical = 2,
    /// 3
    Unknown = 3,
}

/// A service check message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceCheckMessage<'a> {
    /// Check name (non-empty).
    pub name: &'a [u8],
    /// Status.
    pub status: CheckStatus,
    /// `d:` unix seconds; 0 when absent.
    pub timestamp: i64,
    /// `h:` hostname; empty when absent.
    pub hostname: &'a [u8],
    /// `m:` message; no unescaping.
    pub message: &'a [u8],
    /// `#` tags.
    pub tags: RawTags<'a>,
    /// Client origin fields.
    pub origin: Origin<'a>,
}
