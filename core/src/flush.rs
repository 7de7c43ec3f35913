//! What a flush produces: plain owned values, ready to print in the
//! `aggregate` format or to encode into intake payloads.
//!
//! Flushing is not the per-message hot path (one flush every 10-15 s), so
//! these own their strings; series tags are shared with the context store.
//! Events and service checks are buffered one per message, so each keeps
//! its tags in one [`TagList`] (one allocation, not one per tag).

use std::borrow::Cow;
use std::sync::Arc;

use crate::enrich::{EnrichedEvent, EnrichedServiceCheck, Tags};

mod tag_list;

use crate::sketch::AgentSketch;
use tag_list::push_lossy;
pub use tag_list::{TagIter, TagList};

/// An owned text field, as [`String::from_utf8_lossy`] reads it; empty
/// ones (most optional fields) allocate nothing.
fn text(b: &[u8]) -> String {
    if b.is_empty() {
        return String::new();
    }
    let mut s = String::with_capacity(b.len());
    push_lossy(&mut s, b);
    s
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
    pub tags: TagList,
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
    pub tags: TagList,
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
        event(e, text(&e.msg.title), text(&e.msg.text))
    }
}

/// By value: a title or text the parser unescaped (a `\n`) is already
/// owned, and becomes the field without a second allocation.
impl From<EnrichedEvent<'_>> for Event {
    fn from(mut e: EnrichedEvent<'_>) -> Self {
        let title = owned_text(std::mem::take(&mut e.msg.title));
        let text = owned_text(std::mem::take(&mut e.msg.text));
        event(&e, title, text)
    }
}

fn event(e: &EnrichedEvent<'_>, title: String, text_field: String) -> Event {
    Event {
        title,
        text: text_field,
        timestamp: e.msg.timestamp,
        hostname: text(e.hostname),
        aggregation_key: text(e.msg.aggregation_key),
        priority: e.msg.priority.name(),
        source_type: text(e.msg.source_type),
        alert_type: e.msg.alert_type.name(),
        tags: tag_list(&e.tags),
        container_id: e.msg.origin.container_id.map(text),
    }
}

/// [`text`], reusing an owned buffer when it is UTF-8.
fn owned_text(b: Cow<'_, [u8]>) -> String {
    match b {
        Cow::Owned(v) => String::from_utf8(v).unwrap_or_else(|e| text(e.as_bytes())),
        Cow::Borrowed(b) => text(b),
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
            tags: tag_list(&s.tags),
            container_id: s.msg.origin.container_id.map(text),
        }
    }
}

/// Enriched tags as owned text. The usual event or check (UTF-8 tags,
/// nothing mapped) copies its tag field in one piece.
fn tag_list(tags: &Tags<'_>) -> TagList {
    tags.unmapped()
        .and_then(TagList::from_unmapped)
        .unwrap_or_else(|| TagList::from_lossy(tags.iter()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::enrich::Enricher;
    use crate::protocol::{ParseOptions, parse_event, parse_service_check};

    /// Tags as bytes: empty ones first, in the middle and last; multi-byte
    /// UTF-8; invalid bytes alone, truncated sequences, an invalid byte
    /// between valid ones, several replacements in one tag.
    const RAW: [&[u8]; 11] = [
        b"",
        b"env:prod",
        b"",
        "caf\u{e9}:\u{fc}ber".as_bytes(),
        b"\xff",
        b"a\xc3",
        b"\xe2\x82x\x80b\xff\xfe",
        b"\xf0\x9f\x98\x80:ok",
        b"\xf0\x9f\x98",
        b"k:v",
        b"",
    ];

    fn lossy(raw: &[&[u8]]) -> Vec<String> {
        raw.iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect()
    }

    fn check(list: &TagList, want: &[String]) {
        assert_eq!(list.len(), want.len());
        assert_eq!(list.is_empty(), want.is_empty());
        assert_eq!(list.iter().len(), want.len());
        let got: Vec<&str> = list.iter().collect();
        assert_eq!(got, want);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(list.get(i), Some(w.as_str()), "tag {i}");
        }
        assert_eq!(list.get(want.len()), None);
        let mut it = list.iter();
        for n in (0..want.len()).rev() {
            it.next();
            assert_eq!(it.len(), n);
        }
        assert_eq!(it.next(), None);
    }

    #[test]
    fn tags_round_trip_with_empty_and_invalid_tags() {
        let want = lossy(&RAW);
        assert_eq!(want.iter().filter(|t| t.is_empty()).count(), 3);
        assert_eq!(want[6], "\u{fffd}x\u{fffd}b\u{fffd}\u{fffd}");
        let mut pushed = TagList::new();
        for t in RAW {
            pushed.push_lossy(t);
        }
        check(&pushed, &want);
        check(&TagList::from_lossy(RAW), &want);
        let from_vec = TagList::from(want.clone());
        check(&from_vec, &want);
        check(&want.iter().collect(), &want);
        check(&TagList::from(&want[..]), &want);
        assert_eq!(pushed, from_vec);
        assert_eq!(pushed, want);

        check(&TagList::new(), &[]);
        let only_empty = TagList::from([""]);
        check(&only_empty, &[String::new()]);
    }

    /// Each tag is read by itself: a character split across two tags is
    /// two replacements, though the tags back to back are valid UTF-8.
    #[test]
    fn from_lossy_reads_each_tag_alone() {
        for raw in [
            &[&b"a"[..], b"\xc3", b"\xa9", b"b"][..],
            &[b"\xf0\x9f", b"\x98\x80"],
            &[b"\xf0\x9f\x98", b"\x80", b""],
            &[b"\xc3", b""],
            &[b"ok", b"\xe2\x82\xac", b"", b"\xc3\xa9"],
            &[b"", b""],
            &[],
        ] {
            let want = lossy(raw);
            check(&TagList::from_lossy(raw.iter().copied()), &want);
        }
        assert_eq!(
            TagList::from_lossy([&b"a"[..], b"\xc3", b"\xa9", b"b"]),
            ["a", "\u{fffd}", "\u{fffd}", "b"]
        );
    }

    #[test]
    fn equality_follows_the_tags_not_the_bytes() {
        let ab_c = TagList::from(["ab", "c"]);
        assert_eq!(ab_c, TagList::from(vec!["ab".to_string(), "c".to_string()]));
        assert_eq!(ab_c, ["ab", "c"]);
        assert_ne!(ab_c, TagList::from(["a", "bc"]));
        assert_ne!(ab_c, TagList::from(["abc"]));
        assert_ne!(ab_c, ["ab", "c", ""]);
        assert_ne!(ab_c, ["ab"]);
        assert_ne!(TagList::new(), TagList::from([""]));
        assert_ne!(TagList::from([""]), TagList::from(["", ""]));
        assert_eq!(TagList::new(), TagList::default());
        assert_eq!(TagList::new(), [""; 0]);
        let mut c = ab_c.clone();
        assert_eq!(c, ab_c);
        c.push("");
        assert_ne!(c, ab_c);
    }

    #[test]
    fn debug_prints_a_list() {
        let list = TagList::from(["a:1", "", "q\"uote", "\u{e9}"]);
        assert_eq!(format!("{list:?}"), r#"["a:1", "", "q\"uote", "é"]"#);
        assert_eq!(format!("{:?}", TagList::new()), "[]");
    }

    /// Events and service checks keep every enriched tag as
    /// `String::from_utf8_lossy` reads it, empty ones included.
    #[test]
    fn events_and_checks_take_lossy_tags() {
        let cfg = Config {
            hostname: "h".into(),
            dogstatsd_tags: vec!["z:extra".into()],
            ..Config::default()
        };
        let enricher = Enricher::new(&cfg);
        let field = RAW.join(&b","[..]);
        let opts = ParseOptions::default();

        let mut line = b"_e{5,4}:title|text|#".to_vec();
        line.extend_from_slice(&field);
        let e = enricher.event(parse_event(&line, &opts).expect("event"));
        let want = lossy(&e.tags.iter().collect::<Vec<_>>());
        assert_eq!(want[..RAW.len()], lossy(&RAW)[..]);
        assert_eq!(want[RAW.len()..], ["z:extra"]);
        let ev = Event::from(&e);
        check(&ev.tags, &want);
        assert_eq!(
            (&*ev.title, &*ev.text, &*ev.aggregation_key),
            ("title", "text", "")
        );

        let mut line = b"_sc|check|0|#".to_vec();
        line.extend_from_slice(&field);
        let s = enricher.service_check(parse_service_check(&line, &opts).expect("check"));
        let sc = ServiceCheck::from(&s);
        check(&sc.tags, &want);
        assert_eq!((&*sc.name, &*sc.message), ("check", ""));

        let e = enricher.event(parse_event(b"_e{1,0}:t|", &opts).expect("event"));
        assert_eq!(Event::from(&e).tags, ["z:extra"]);
    }

    /// Pieces of tag fields: separators, the special prefixes (and near
    /// misses), UTF-8 and not.
    const PIECES: [&[u8]; 14] = [
        b",",
        b",",
        b"env:prod",
        b"host:",
        b"web-1",
        b"myhost:x",
        b"dd.internal.card:",
        b"dd.internal.entity_id:",
        b"dd.internal.jmx_check_name:",
        b"dd.internal.other:",
        b"h",
        b"d",
        "\u{e9}".as_bytes(),
        b"\xc3",
    ];

    fn join(pieces: &[usize]) -> Vec<u8> {
        pieces.iter().flat_map(|&i| PIECES[i].to_vec()).collect()
    }

    proptest::proptest! {
        /// The enriched tags an event or check buffers, through the fast
        /// path (field copied whole) or not, are the naive reading: the
        /// field split on `,` less `host:` and `dd.internal.` special tags,
        /// then the extra tags, each read as `from_utf8_lossy` reads it.
        /// The list built by pushing the same tags is equal, field by
        /// field, and hashes the same.
        #[test]
        fn buffered_tags_match_a_naive_reading(
            field in proptest::collection::vec(0..PIECES.len(), 0..12),
            extra in proptest::collection::vec(0..PIECES.len() - 1, 0..4),
            h_field in proptest::bool::ANY,
            card in proptest::bool::ANY,
        ) {
            use std::hash::{BuildHasher, RandomState};
            let field = join(&field);
            // Extra tags are UTF-8 (configuration), and may hold a `,`.
            let extra: Vec<String> = extra
                .iter()
                .map(|&i| String::from_utf8(PIECES[i].to_vec()).unwrap())
                .collect();
            let cfg = Config {
                hostname: "h".into(),
                dogstatsd_tags: extra,
                dogstatsd_origin_detection_client: true,
                ..Config::default()
            };
            let enricher = Enricher::new(&cfg);
            let opts = ParseOptions { origin_fields: true, ..ParseOptions::default() };
            let mut want: Vec<String> = Vec::new();
            if !field.is_empty() {
                for t in field.split(|&b| b == b',') {
                    let special = t.starts_with(b"host:")
                        || t.starts_with(b"dd.internal.entity_id:")
                        || t.starts_with(b"dd.internal.jmx_check_name:")
                        || (!card && t.starts_with(b"dd.internal.card:"));
                    if !special {
                        want.push(String::from_utf8_lossy(t).into_owned());
                    }
                }
            }
            let mut extras = cfg.dogstatsd_tags.clone();
            crate::order::sort(&mut extras);
            extras.dedup();
            want.extend(extras);

            let mut fields = Vec::new();
            if h_field {
                fields.extend_from_slice(b"h:x|");
            }
            if card {
                fields.extend_from_slice(b"card:high|");
            }
            fields.extend_from_slice(b"#");
            fields.extend_from_slice(&field);
            let line = [&b"_sc|c|0|"[..], &fields].concat();
            let sc = enricher.service_check(parse_service_check(&line, &opts).unwrap());
            let got = ServiceCheck::from(&sc).tags;
            let pushed: TagList = want.iter().collect();
            proptest::prop_assert_eq!(got.iter().collect::<Vec<_>>(), want.clone());
            proptest::prop_assert_eq!(&got, &pushed);
            proptest::prop_assert_eq!(&got, &TagList::from_lossy(sc.tags.iter()));
            let hasher = RandomState::new();
            proptest::prop_assert_eq!(hasher.hash_one(&got), hasher.hash_one(&pushed));
            check(&got, &want);

            let line = [&b"_e{1,1}:t|x|"[..], &fields].concat();
            let ev = enricher.event(parse_event(&line, &opts).unwrap());
            proptest::prop_assert_eq!(&Event::from(ev).tags, &pushed);
        }
    }

    /// A tag with a `,` (an extra tag, a decoded payload) switches the list
    /// to kept ends, wherever it comes; equal tags are still equal lists.
    #[test]
    fn tags_holding_a_comma_keep_their_ends() {
        let tags = ["a", "b,c", "", ",", "d"];
        let want: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        for first in 0..tags.len() {
            let mut list = TagList::new();
            for t in &tags[first..] {
                list.push(t);
            }
            check(&list, &want[first..]);
            let raw: Vec<&[u8]> = tags[first..].iter().map(|t| t.as_bytes()).collect();
            assert_eq!(TagList::from_lossy(raw), list);
        }
    }

    /// Taking an event by value reuses an unescaped title or text; the
    /// result is the same as by reference.
    #[test]
    fn events_by_value_equal_events_by_reference() {
        let enricher = Enricher::new(&Config::default());
        let opts = ParseOptions::default();
        for line in [
            &b"_e{4,6}:a\\nb|c\\nd\\n|#x"[..],
            b"_e{3,2}:a\\n|\\\\",
            b"_e{5,3}:\\n\xffx|\xc3\\n|k:key",
            b"_e{2,0}:ti|",
        ] {
            let e = enricher.event(parse_event(line, &opts).expect("event"));
            let by_ref = Event::from(&e);
            assert_eq!(Event::from(e), by_ref);
        }
        let e = enricher.event(parse_event(b"_e{4,3}:a\\nb|\\n\xff|", &opts).unwrap());
        let ev = Event::from(e);
        assert_eq!((&*ev.title, &*ev.text), ("a\nb", "\n\u{fffd}"));
    }
}
