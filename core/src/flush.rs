//! What a flush produces: plain owned values, ready to print in the
//! `aggregate` format or to encode into intake payloads.
//!
//! Flushing is not the per-message hot path (one flush every 10-15 s), so
//! these own their strings; series tags are shared with the context store.
//! Events and service checks are buffered one per message, so each keeps
//! its tags in one [`TagList`] (two allocations, not one per tag).

use std::sync::Arc;

use crate::enrich::{EnrichedEvent, EnrichedServiceCheck, Tags};
use crate::sketch::AgentSketch;

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
        Self {
            title: text(&e.msg.title),
            text: text(&e.msg.text),
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

/// An owned tag list in two allocations: every tag back to back in one
/// `String`, and where each one ends. Events and service checks are
/// buffered until a flush; a `Vec<String>` would cost an allocation per
/// tag (20 and more on busy hosts). No allocation when empty.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TagList {
    /// All tags, concatenated.
    buf: String,
    /// End offset in `buf` of each tag (the next one starts there).
    ends: Vec<u32>,
}

impl TagList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty list with room for `tags` tags of `bytes` bytes in total.
    pub fn with_capacity(tags: usize, bytes: usize) -> Self {
        Self {
            buf: String::with_capacity(bytes),
            ends: Vec::with_capacity(tags),
        }
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no tag (an empty tag still counts).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Tag `i`, if there are more than `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        Some(&self.buf[start..end])
    }

    /// The tags in order.
    pub fn iter(&self) -> TagIter<'_> {
        TagIter {
            buf: &self.buf,
            ends: self.ends.iter(),
            start: 0,
        }
    }

    /// Appends a tag.
    pub fn push(&mut self, tag: &str) {
        self.buf.push_str(tag);
        self.ends.push(end_offset(self.buf.len()));
    }

    /// Appends a tag given as bytes, invalid UTF-8 replaced as
    /// [`String::from_utf8_lossy`] does, without an intermediate copy.
    pub fn push_lossy(&mut self, tag: &[u8]) {
        push_lossy(&mut self.buf, tag);
        self.ends.push(end_offset(self.buf.len()));
    }

    /// Tags given as bytes, each read as [`String::from_utf8_lossy`]
    /// reads it. The iterator is walked twice (sizes, then bytes): two
    /// exactly-sized allocations and one UTF-8 validation for the whole
    /// list; one more allocation when some tag is not UTF-8.
    pub fn from_lossy<'a, I>(tags: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        let tags = tags.into_iter();
        let (mut n, mut bytes) = (0, 0);
        let mut raw = Vec::new();
        let mut ends = Vec::new();
        // One loop run twice (sizes, then bytes), not two loops: the tag
        // iterator is inlined once, which keeps the size-optimised wasm
        // build 700 B smaller and costs nothing natively (callgrind).
        for sizing in [true, false] {
            if !sizing {
                raw.reserve_exact(bytes);
                ends.reserve_exact(n);
            }
            for t in tags.clone() {
                if sizing {
                    n += 1;
                    bytes += t.len();
                } else {
                    raw.extend_from_slice(t);
                    ends.push(end_offset(raw.len()));
                }
            }
        }
        // When the whole list is UTF-8 and every tag ends on a character
        // boundary, each tag is UTF-8 by itself.
        let raw = match String::from_utf8(raw) {
            Ok(buf) if ends.iter().all(|&e| buf.is_char_boundary(e as usize)) => {
                return Self { buf, ends };
            }
            Ok(buf) => buf.into_bytes(),
            Err(e) => e.into_bytes(),
        };
        let mut buf = String::with_capacity(raw.len());
        let mut start = 0;
        for end in &mut ends {
            let raw_end = *end as usize;
            push_lossy(&mut buf, &raw[start..raw_end]);
            start = raw_end;
            *end = end_offset(buf.len());
        }
        Self { buf, ends }
    }

    /// The tags of a slice, in exactly-sized buffers.
    fn from_slice<S: AsRef<str>>(tags: &[S]) -> Self {
        let bytes = tags.iter().map(|t| t.as_ref().len()).sum();
        let mut list = Self::with_capacity(tags.len(), bytes);
        list.extend(tags);
        list
    }
}

/// Iterator over a [`TagList`]'s tags.
#[derive(Debug, Clone)]
pub struct TagIter<'a> {
    buf: &'a str,
    ends: std::slice::Iter<'a, u32>,
    start: usize,
}

impl<'a> Iterator for TagIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let end = *self.ends.next()? as usize;
        let tag = crate::text::substr(self.buf, self.start..end);
        self.start = end;
        Some(tag)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for TagIter<'_> {}

impl std::iter::FusedIterator for TagIter<'_> {}

impl<'a> IntoIterator for &'a TagList {
    type Item = &'a str;
    type IntoIter = TagIter<'a>;

    fn into_iter(self) -> TagIter<'a> {
        self.iter()
    }
}

impl std::fmt::Debug for TagList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> PartialEq<[S]> for TagList {
    fn eq(&self, other: &[S]) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b.as_ref())
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for TagList {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for TagList {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> Extend<S> for TagList {
    fn extend<I: IntoIterator<Item = S>>(&mut self, tags: I) {
        for t in tags {
            self.push(t.as_ref());
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for TagList {
    fn from_iter<I: IntoIterator<Item = S>>(tags: I) -> Self {
        let mut list = Self::new();
        list.extend(tags);
        list
    }
}

impl From<Vec<String>> for TagList {
    fn from(tags: Vec<String>) -> Self {
        Self::from_slice(&tags)
    }
}

impl<S: AsRef<str>> From<&[S]> for TagList {
    fn from(tags: &[S]) -> Self {
        Self::from_slice(tags)
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for TagList {
    fn from(tags: [S; N]) -> Self {
        Self::from_slice(&tags)
    }
}

fn end_offset(len: usize) -> u32 {
    u32::try_from(len).expect("tag list under 4 GiB")
}

/// Appends `b` as [`String::from_utf8_lossy`] reads it.
fn push_lossy(buf: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => buf.push_str(s),
        Err(_) => {
            for chunk in b.utf8_chunks() {
                buf.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    buf.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }
}

/// Enriched tags as owned text.
fn tag_list(tags: &Tags<'_>) -> TagList {
    TagList::from_lossy(tags.iter())
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
}
