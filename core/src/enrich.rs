//! Per-sample enrichment that needs no aggregation state: `host:` tag
//! extraction, special `dd.internal.*` tags, the metric namespace, extra
//! tags, and joining mapper results (spec §4.3, §5, §7).

use crate::config::Config;
use crate::mapper::Mapping;
use crate::protocol::{
    EventMessage, MetricMessage, MetricType, MetricValues, Origin, RawTags, ServiceCheckMessage,
};

const HOST: &[u8] = b"host:";
const ENTITY_ID: &[u8] = b"dd.internal.entity_id:";
const CARD: &[u8] = b"dd.internal.card:";
const JMX_CHECK_NAME: &[u8] = b"dd.internal.jmx_check_name:";

/// Enrichment settings, prepared once from the configuration.
#[derive(Debug, Clone)]
pub struct Enricher {
    default_hostname: String,
    namespace: String,
    namespace_blocklist: Vec<String>,
    extra_tags: Vec<String>,
    /// The metric filter list, sorted (binary search for exact names).
    filter: Vec<Vec<u8>>,
    filter_prefix: bool,
}

impl Enricher {
    /// Prepares enrichment from `cfg` (extra tags sorted and de-duplicated,
    /// a `.` appended to the namespace, as the Agent does at start-up).
    pub fn new(cfg: &Config) -> Self {
        let mut extra_tags = cfg.dogstatsd_tags.clone();
        crate::order::sort(&mut extra_tags);
        extra_tags.dedup();
        let mut namespace = cfg.statsd_metric_namespace.clone();
        if !namespace.is_empty() && !namespace.ends_with('.') {
            namespace.push('.');
        }
        let mut filter: Vec<Vec<u8>> = cfg
            .statsd_metric_blocklist
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect();
        crate::order::sort(&mut filter);
        filter.dedup();
        Self {
            default_hostname: cfg.hostname.clone(),
            namespace,
            namespace_blocklist: cfg.statsd_metric_namespace_blacklist.clone(),
            extra_tags,
            filter,
            filter_prefix: cfg.statsd_metric_blocklist_match_prefix,
        }
    }

    /// True when the final name is on the metric filter list (spec §7.1
    /// step 5): the sample is dropped and counted.
    pub fn is_filtered(&self, name: &MetricName<'_>) -> bool {
        if self.filter.is_empty() {
            return false;
        }
        if self.filter_prefix {
            self.filter.iter().any(|f| name.starts_with(f))
        } else {
            self.filter
                .binary_search_by(|f| name.cmp_bytes(f).reverse())
                .is_ok()
        }
    }

    /// Enriches a metric; `mapped` is the mapper's result for its name.
    pub fn metric<'a>(
        &'a self,
        msg: &MetricMessage<'a>,
        mapped: Option<&'a Mapping>,
    ) -> EnrichedMetric<'a> {
        let (name, mapped_tags): (&[u8], &[String]) = match mapped {
            Some(m) => (m.name.as_bytes(), &m.tags),
            None => (msg.name, &[]),
        };
        let keep_card_tag = msg.origin.cardinality.is_some();
        let own_special = msg.tags.may_have_special();
        let special = if own_special {
            scan_special(
                msg.tags
                    .iter()
                    .chain(mapped_tags.iter().map(|t| t.as_bytes())),
            )
        } else {
            scan_special(mapped_tags.iter().map(|t| t.as_bytes()))
        };
        let prefix: &[u8] = if self.namespace.is_empty()
            || self
                .namespace_blocklist
                .iter()
                .any(|b| name.starts_with(b.as_bytes()))
        {
            b""
        } else {
            self.namespace.as_bytes()
        };
        EnrichedMetric {
            raw_name: msg.name,
            raw_tags: msg.tags,
            name: MetricName { prefix, name },
            host: special.host.unwrap_or(self.default_hostname.as_bytes()),
            metric_type: msg.metric_type,
            values: msg.values,
            sample_rate: msg.sample_rate,
            timestamp: msg.timestamp,
            tags: Tags {
                own: msg.tags,
                filter: own_special || !mapped_tags.is_empty(),
                mapped: mapped_tags,
                extra: &self.extra_tags,
                keep_card_tag,
            },
            cardinality: msg.origin.cardinality.or(special.card),
            entity_id: special.entity_id,
            origin: msg.origin,
        }
    }

    /// Enriches an event.
    pub fn event<'a>(&'a self, msg: EventMessage<'a>) -> EnrichedEvent<'a> {
        let (hostname, tags, cardinality) = self.host_and_tags(msg.hostname, msg.tags, &msg.origin);
        EnrichedEvent {
            msg,
            hostname,
            tags,
            cardinality,
        }
    }

    /// Enriches a service check.
    pub fn service_check<'a>(&'a self, msg: ServiceCheckMessage<'a>) -> EnrichedServiceCheck<'a> {
        let (hostname, tags, cardinality) = self.host_and_tags(msg.hostname, msg.tags, &msg.origin);
        EnrichedServiceCheck {
            msg,
            hostname,
            tags,
            cardinality,
        }
    }

    /// Events and service checks: a non-empty `h:` wins, then the last
    /// `host:` tag (even empty), then the default hostname.
    fn host_and_tags<'a>(
        &'a self,
        h_field: &'a [u8],
        raw: RawTags<'a>,
        origin: &Origin<'a>,
    ) -> (&'a [u8], Tags<'a>, Option<&'a [u8]>) {
        // Most fields hold no special tag: one vectorised search proves it,
        // and then no tag is looked at, here or when the tags are copied.
        let own_special = raw.may_have_special();
        let special = if own_special {
            scan_special(raw.iter())
        } else {
            Special::default()
        };
        let hostname = if !h_field.is_empty() {
            h_field
        } else {
            special.host.unwrap_or(self.default_hostname.as_bytes())
        };
        let keep_card_tag = origin.cardinality.is_some();
        let tags = Tags {
            own: raw,
            filter: own_special,
            mapped: &[],
            extra: &self.extra_tags,
            keep_card_tag,
        };
        (hostname, tags, origin.cardinality.or(special.card))
    }
}

#[derive(Default)]
struct Special<'a> {
    host: Option<&'a [u8]>,
    entity_id: Option<&'a [u8]>,
    card: Option<&'a [u8]>,
}

fn scan_special<'a>(tags: impl Iterator<Item = &'a [u8]>) -> Special<'a> {
    let mut s = Special::default();
    for t in tags {
        // Cheap reject: every special tag starts with `h` or `d`.
        match t.first() {
            Some(b'h') => {
                if let Some(h) = t.strip_prefix(HOST) {
                    s.host = Some(h);
                }
            }
            Some(b'd') => {
                if let Some(v) = t.strip_prefix(ENTITY_ID) {
                    s.entity_id = Some(v);
                } else if let Some(v) = t.strip_prefix(CARD) {
                    s.card = Some(v);
                }
            }
            _ => {}
        }
    }
    s
}

/// True for the tags enrichment consumes (`host:`, `dd.internal.*`).
pub(crate) fn is_special(tag: &[u8], keep_card_tag: bool) -> bool {
    match tag.first() {
        Some(b'h') => tag.starts_with(HOST),
        Some(b'd') => {
            tag.starts_with(ENTITY_ID)
                || tag.starts_with(JMX_CHECK_NAME)
                || (!keep_card_tag && tag.starts_with(CARD))
        }
        _ => false,
    }
}

/// A metric name with the namespace prefix kept apart, so neither is
/// copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetricName<'a> {
    /// Namespace (with its dot) or empty.
    pub prefix: &'a [u8],
    /// The (possibly mapped) name.
    pub name: &'a [u8],
}

impl MetricName<'_> {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.prefix.len() + self.name.len()
    }

    /// Never true for a parsed metric.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the full name to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prefix);
        out.extend_from_slice(self.name);
    }

    /// The full name as an owned byte string.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        self.write_to(&mut v);
        v
    }

    /// Orders the full name against `other` as byte strings, without
    /// joining the two parts.
    pub fn cmp_bytes(&self, other: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let p = self.prefix.len().min(other.len());
        match self.prefix[..p].cmp(&other[..p]) {
            Ordering::Equal if p < self.prefix.len() => Ordering::Greater,
            Ordering::Equal => self.name.cmp(&other[p..]),
            o => o,
        }
    }

    /// True when the full name starts with `prefix`.
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        if prefix.len() <= self.prefix.len() {
            self.prefix.starts_with(prefix)
        } else {
            prefix.starts_with(self.prefix) && self.name.starts_with(&prefix[self.prefix.len()..])
        }
    }

    /// True when the full name equals `other`.
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        other.len() == self.len()
            && other.starts_with(self.prefix)
            && &other[self.prefix.len()..] == self.name
    }
}

/// The enriched tag list of a message: its own tags and the mapper's,
/// less the special ones, then the extra tags. Read lazily, so building it
/// copies nothing.
#[derive(Debug, Clone, Copy)]
pub struct Tags<'a> {
    own: RawTags<'a>,
    /// False when no tag can be special, so none is checked.
    filter: bool,
    mapped: &'a [String],
    extra: &'a [String],
    keep_card_tag: bool,
}

impl<'a> Tags<'a> {
    /// The tags in order (duplicates kept; the context key removes them).
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        let keep = self.keep_card_tag;
        let filter = self.filter;
        self.own
            .iter()
            .chain(self.mapped.iter().map(|t| t.as_bytes()))
            .filter(move |t| !filter || !is_special(t, keep))
            .chain(self.extra.iter().map(|t| t.as_bytes()))
    }

    /// The parts of tags with nothing mapped (events and service checks):
    /// the own tag field, which of its tags to drop, and the extra tags.
    pub(crate) fn unmapped(&self) -> Option<UnmappedTags<'a>> {
        self.mapped.is_empty().then_some(UnmappedTags {
            own: self.own,
            drop_special: self.filter.then_some(self.keep_card_tag),
            extra: self.extra,
        })
    }
}

/// [`Tags`] with nothing mapped, in parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnmappedTags<'a> {
    /// The tag field as received.
    pub(crate) own: RawTags<'a>,
    /// Whether special tags of `own` are dropped (when some may be there),
    /// and if so whether `dd.internal.card:` is kept.
    pub(crate) drop_special: Option<bool>,
    /// Extra tags, after the own ones.
    pub(crate) extra: &'a [String],
}

/// A metric message after enrichment.
#[derive(Debug, Clone, Copy)]
pub struct EnrichedMetric<'a> {
    /// The name as received (before mapping and namespace).
    pub raw_name: &'a [u8],
    /// The tag field as received (before enrichment).
    pub raw_tags: RawTags<'a>,
    /// Final name (namespace + mapped name).
    pub name: MetricName<'a>,
    /// Host: last `host:` tag, else the default hostname.
    pub host: &'a [u8],
    /// Type.
    pub metric_type: MetricType,
    /// Values.
    pub values: MetricValues<'a>,
    /// Sample rate.
    pub sample_rate: f64,
    /// `T` timestamp.
    pub timestamp: Option<i64>,
    /// Final tags.
    pub tags: Tags<'a>,
    /// `card:` field, else a `dd.internal.card:` tag.
    pub cardinality: Option<&'a [u8]>,
    /// `dd.internal.entity_id:` tag.
    pub entity_id: Option<&'a [u8]>,
    /// Client origin fields.
    pub origin: Origin<'a>,
}

/// An event after enrichment.
#[derive(Debug, Clone)]
pub struct EnrichedEvent<'a> {
    /// The parsed event (its `hostname` is the raw `h:` field).
    pub msg: EventMessage<'a>,
    /// Final hostname.
    pub hostname: &'a [u8],
    /// Final tags.
    pub tags: Tags<'a>,
    /// Cardinality from `card:` or `dd.internal.card:`.
    pub cardinality: Option<&'a [u8]>,
}

/// A service check after enrichment.
#[derive(Debug, Clone)]
pub struct EnrichedServiceCheck<'a> {
    /// The parsed check (its `hostname` is the raw `h:` field).
    pub msg: ServiceCheckMessage<'a>,
    /// Final hostname.
    pub hostname: &'a [u8],
    /// Final tags.
    pub tags: Tags<'a>,
    /// Cardinality from `card:` or `dd.internal.card:`.
    pub cardinality: Option<&'a [u8]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_compare_like_joined_ones() {
        let full = b"ns.metric.name";
        let others: [&[u8]; 8] = [
            b"",
            b"n",
            b"ns.",
            b"ns.metric",
            b"ns.metric.name",
            b"ns.metric.namf",
            b"ns.z",
            b"a",
        ];
        for cut in 0..=full.len() {
            let n = MetricName {
                prefix: &full[..cut],
                name: &full[cut..],
            };
            for o in others {
                assert_eq!(n.cmp_bytes(o), full[..].cmp(o), "cut {cut} vs {o:?}");
                assert_eq!(n.starts_with(o), full.starts_with(o), "cut {cut} vs {o:?}");
            }
        }
    }
}
