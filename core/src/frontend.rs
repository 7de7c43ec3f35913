//! The per-worker front half: packet → lines → messages → mapped and
//! enriched samples. Both the `parse` command and aggregation run exactly
//! this, so what `parse` prints is what gets aggregated.

use crate::config::Config;
use crate::enrich::{EnrichedEvent, EnrichedMetric, EnrichedServiceCheck, Enricher};
use crate::mapper::{Mapper, MapperError};
use crate::protocol::{
    Line, Message, MessageKind, MetricMessage, ParseError, ParseErrorKind, ParseOptions, Transport,
    first_line, is_event_or_service_check, parse_message, parse_metric_into, parse_metric_stream,
};

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The mapper profiles are invalid.
    #[error("dogstatsd_mapper_profiles: {0}")]
    Mapper(#[from] MapperError),
    /// An unknown transport in `dogstatsd_eol_required`.
    #[error("dogstatsd_eol_required: unknown transport \"{0}\" (expected udp, uds or named_pipe)")]
    EolTransport(String),
    /// A value out of range.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key at fault.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// One processed message, handed to the caller's sink.
#[derive(Debug)]
pub enum Processed<'a> {
    /// A metric sample message.
    Metric(EnrichedMetric<'a>),
    /// An event.
    Event(EnrichedEvent<'a>),
    /// A service check.
    ServiceCheck(EnrichedServiceCheck<'a>),
    /// A rejected line: unparseable, or a metric over a `dogstatsd_max_*`
    /// limit ([`ParseErrorKind::is_limit`]).
    Error {
        /// The line as received.
        line: &'a [u8],
        /// Why.
        error: ParseError,
    },
}

/// Where [`Frontend`] hands its results.
pub trait Sink {
    /// Offered each parsed metric before mapping and enrichment; returning
    /// true means the sink dealt with it (a cached route, say), so it is
    /// neither mapped nor enriched nor handed to [`processed`](Self::processed).
    /// It is counted either way.
    fn fast_path(&mut self, _metric: &MetricMessage<'_>) -> bool {
        false
    }

    /// One processed message.
    fn processed(&mut self, p: Processed<'_>);
}

/// A closure as a sink.
struct FnSink<F>(F);

impl<F: FnMut(Processed<'_>)> Sink for FnSink<F> {
    fn processed(&mut self, p: Processed<'_>) {
        (self.0)(p)
    }
}

/// Counters of what [`Frontend`] saw, by the Agent's expvar names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStats {
    /// Metric messages parsed.
    pub metric_packets: u64,
    /// Metric messages rejected.
    pub metric_parse_errors: u64,
    /// Events parsed.
    pub event_packets: u64,
    /// Events rejected.
    pub event_parse_errors: u64,
    /// Service checks parsed.
    pub service_check_packets: u64,
    /// Service checks rejected.
    pub service_check_parse_errors: u64,
    /// Final unterminated lines dropped (`dogstatsd_eol_required`).
    pub unterminated_metric_errors: u64,
    /// Metric samples dropped by the filter list
    /// (`statsd_metric_blocklist`; the Agent's `listener_filtered_points`).
    pub filtered_points: u64,
    /// Metric messages dropped for having more tags than
    /// `dogstatsd_max_metrics_tags` (not counted as parsed nor as errors).
    pub too_many_tags: u64,
    /// Metric messages dropped for a tag longer than
    /// `dogstatsd_max_tag_length`.
    pub tag_too_long: u64,
    /// Metric messages dropped for a name longer than
    /// `dogstatsd_max_name_length`.
    pub name_too_long: u64,
}

/// Limits on one metric message (`dogstatsd_max_metrics_tags`,
/// `dogstatsd_max_tag_length`, `dogstatsd_max_name_length`); `usize::MAX`
/// is no limit. A message over any of them is dropped whole and counted:
/// dropping only some tags would silently make a different context.
/// Events and service checks are not limited: they are not aggregated, so
/// they cannot grow state, and `dogstatsd_buffer_size` bounds them.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_tags: usize,
    max_tag_len: usize,
    max_name_len: usize,
    /// A tag field no longer than this can break neither tag limit, so the
    /// usual one is never scanned for them.
    scan_above: usize,
}

impl Limits {
    fn new(cfg: &Config) -> Result<Self, ConfigError> {
        let read = |key: &'static str, v: i64| match v {
            0 => Ok(usize::MAX),
            v if v > 0 => Ok(usize::try_from(v).unwrap_or(usize::MAX)),
            v => Err(ConfigError::Invalid {
                key,
                reason: format!("must not be negative (0 = no limit), got {v}"),
            }),
        };
        let max_tags = read("dogstatsd_max_metrics_tags", cfg.dogstatsd_max_metrics_tags)?;
        let max_tag_len = read("dogstatsd_max_tag_length", cfg.dogstatsd_max_tag_length)?;
        let max_name_len = read("dogstatsd_max_name_length", cfg.dogstatsd_max_name_length)?;
        Ok(Self {
            max_tags,
            max_tag_len,
            max_name_len,
            // n bytes hold at most n + 1 tags, none longer than n.
            scan_above: max_tag_len.min(max_tags.saturating_sub(1)),
        })
    }

    /// The limit `m` exceeds and the byte offset in `line` where.
    #[inline]
    fn check(&self, m: &MetricMessage<'_>, line: &[u8]) -> Option<ParseError> {
        if m.name.len() > self.max_name_len {
            return Some(ParseError::new(ParseErrorKind::NameTooLong, 0));
        }
        let field = m.tags.as_bytes();
        if field.len() <= self.scan_above {
            return None;
        }
        self.check_tags(field, line)
    }

    fn check_tags(&self, field: &[u8], line: &[u8]) -> Option<ParseError> {
        // The field borrows from the line.
        let base = (field.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
        let mut start = 0;
        let mut count = 0usize;
        for end in memchr::memchr_iter(b',', field).chain(std::iter::once(field.len())) {
            count += 1;
            if count > self.max_tags {
                return Some(ParseError::new(ParseErrorKind::TooManyTags, base + start));
            }
            if end - start > self.max_tag_len {
                return Some(ParseError::new(ParseErrorKind::TagTooLong, base + start));
            }
            start = end + 1;
        }
        None
    }
}

/// Parses, maps and enriches packets. One per worker; not shared.
#[derive(Debug)]
pub struct Frontend {
    opts: ParseOptions,
    eol: [bool; 3],
    mapper: Option<Mapper>,
    enricher: Enricher,
    limits: Limits,
    stats: ProcessStats,
}

impl Frontend {
    /// Builds a processor; fails on invalid mapper profiles or settings.
    pub fn new(cfg: &Config) -> Result<Self, ConfigError> {
        let mut eol = [false; 3];
        for t in &cfg.dogstatsd_eol_required {
            match t.as_str() {
                "udp" => eol[0] = true,
                "uds" => eol[1] = true,
                "named_pipe" => eol[2] = true,
                other => return Err(ConfigError::EolTransport(other.to_string())),
            }
        }
        let mapper = if cfg.dogstatsd_mapper_profiles.is_empty() {
            None
        } else {
            Some(Mapper::new(
                &cfg.dogstatsd_mapper_profiles,
                cfg.dogstatsd_mapper_cache_size,
            )?)
        };
        Ok(Self {
            opts: ParseOptions {
                read_timestamps: cfg.dogstatsd_no_aggregation_pipeline,
                origin_fields: cfg.dogstatsd_origin_detection_client,
            },
            eol,
            mapper,
            enricher: Enricher::new(cfg),
            limits: Limits::new(cfg)?,
            stats: ProcessStats::default(),
        })
    }

    fn requires_eol(&self, transport: Transport) -> bool {
        match transport {
            Transport::Udp => self.eol[0],
            Transport::UnixDatagram | Transport::UnixStream => self.eol[1],
            Transport::NamedPipe => self.eol[2],
            Transport::Push => false,
        }
    }

    /// Processes every line of `packet`, in order, handing each result to
    /// `sink`. Bad lines are counted and handed over as [`Processed::Error`].
    pub fn process_packet<F>(&mut self, packet: &[u8], transport: Transport, sink: F)
    where
        F: FnMut(Processed<'_>),
    {
        self.process_packet_into(packet, transport, &mut FnSink(sink));
    }

    /// As [`process_packet`](Self::process_packet), into a [`Sink`] (which
    /// may take metrics through its fast path).
    pub fn process_packet_into<S: Sink + ?Sized>(
        &mut self,
        packet: &[u8],
        transport: Transport,
        sink: &mut S,
    ) {
        let require_eol = self.requires_eol(transport);
        let mut m = MetricMessage::default();
        let mut at = 0;
        while at < packet.len() {
            let rest = &packet[at..];
            // Valid metric lines are parsed straight from the packet, the
            // newline found by the field searches (one scan, not two).
            // Everything else goes line by line, exactly as `Lines` splits.
            if !matches!(rest[0], b'\n' | b'\r')
                && !is_event_or_service_check(rest)
                && let Ok(end) = parse_metric_stream(rest, &self.opts, &mut m)
                && (end.terminated || !require_eol)
            {
                at += end.next;
                self.process_metric(&m, &rest[..end.len], sink);
                continue;
            }
            let (line, len) = first_line(rest, require_eol);
            at += len;
            match line {
                None => {}
                Some(Line::Message(l)) => self.process_line(l, sink),
                Some(Line::Unterminated(l)) => {
                    self.stats.unterminated_metric_errors += 1;
                    sink.processed(Processed::Error {
                        line: l,
                        error: ParseError {
                            kind: ParseErrorKind::Unterminated,
                            at: u32::try_from(l.len()).unwrap_or(u32::MAX),
                        },
                    });
                }
            }
        }
    }

    /// Processes one message (a line without its newline).
    pub fn process_line<S: Sink + ?Sized>(&mut self, line: &[u8], sink: &mut S) {
        // Metrics straight from `parse_metric`: a `Message` is as large as
        // its largest variant (events), and moving it costs per metric.
        if !is_event_or_service_check(line) {
            let mut m = MetricMessage::default();
            match parse_metric_into(line, &self.opts, &mut m) {
                Ok(()) => self.process_metric(&m, line, sink),
                Err(error) => self.parse_error(line, error, sink),
            }
            return;
        }
        match parse_message(line, &self.opts) {
            Ok(Message::Metric(m)) => self.process_metric(&m, line, sink),
            Ok(Message::Event(e)) => {
                self.stats.event_packets += 1;
                sink.processed(Processed::Event(self.enricher.event(e)));
            }
            Ok(Message::ServiceCheck(sc)) => {
                self.stats.service_check_packets += 1;
                sink.processed(Processed::ServiceCheck(self.enricher.service_check(sc)));
            }
            Err(error) => self.parse_error(line, error, sink),
        }
    }

    #[inline]
    fn process_metric<S: Sink + ?Sized>(
        &mut self,
        m: &MetricMessage<'_>,
        line: &[u8],
        sink: &mut S,
    ) {
        if let Some(error) = self.limits.check(m, line) {
            match error.kind {
                ParseErrorKind::NameTooLong => self.stats.name_too_long += 1,
                ParseErrorKind::TooManyTags => self.stats.too_many_tags += 1,
                _ => self.stats.tag_too_long += 1,
            }
            sink.processed(Processed::Error { line, error });
            return;
        }
        self.stats.metric_packets += 1;
        if sink.fast_path(m) {
            return;
        }
        let mapped = match self.mapper.as_mut() {
            Some(mapper) => mapper.map(m.name),
            None => None,
        };
        let enriched = self.enricher.metric(m, mapped);
        if self.enricher.is_filtered(&enriched.name) {
            self.stats.filtered_points += m.values.len() as u64;
            return;
        }
        sink.processed(Processed::Metric(enriched));
    }

    fn parse_error<S: Sink + ?Sized>(&mut self, line: &[u8], error: ParseError, sink: &mut S) {
        match error.kind.message_kind() {
            MessageKind::Metric => self.stats.metric_parse_errors += 1,
            MessageKind::Event => self.stats.event_parse_errors += 1,
            MessageKind::ServiceCheck => self.stats.service_check_parse_errors += 1,
        }
        sink.processed(Processed::Error { line, error });
    }

    /// What was processed so far.
    pub fn stats(&self) -> ProcessStats {
        self.stats
    }

    /// The mapper, when profiles are configured.
    pub fn mapper(&self) -> Option<&Mapper> {
        self.mapper.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `packet` through a processor with `limits` (tags, tag length,
    /// name length); the names that came out and the error kinds.
    fn run(limits: (i64, i64, i64), packet: &[u8]) -> (Vec<String>, Vec<ParseError>, ProcessStats) {
        let cfg = Config {
            dogstatsd_max_metrics_tags: limits.0,
            dogstatsd_max_tag_length: limits.1,
            dogstatsd_max_name_length: limits.2,
            ..Config::default()
        };
        let mut p = Frontend::new(&cfg).unwrap();
        let (mut names, mut errors) = (Vec::new(), Vec::new());
        p.process_packet(packet, Transport::Udp, |r| match r {
            Processed::Metric(m) => names.push(String::from_utf8(m.name.to_vec()).unwrap()),
            Processed::Error { error, .. } => errors.push(error),
            _ => {}
        });
        (names, errors, p.stats())
    }

    #[test]
    fn defaults_accept_ordinary_and_generous_messages() {
        let tags = (0..500)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let long_tag = "v".repeat(4096);
        let long_name = "n".repeat(1024);
        let packet = format!("a:1|c|#{tags}\nb:1|c|#{long_tag}\n{long_name}:1|g\nc:1|c");
        let (names, errors, stats) = run((0, 4096, 1024), packet.as_bytes());
        assert_eq!(names.len(), 4);
        assert!(errors.is_empty());
        assert_eq!(stats.metric_packets, 4);
    }

    #[test]
    fn over_limit_messages_are_dropped_and_counted() {
        let packet = b"ok:1|c|#a,b,c\n\
            many:1|c|#a,b,c,d\n\
            empties:1|c|#,,,\n\
            long:1|c|#a,bbbbbbbbbbb,c\n\
            nnnnnnnnnnnnnnnnnnnnn:1|c\n\
            edge:1|c|#aaaaaaaaaa\n\
            _sc|check.with.a.very.long.name|0|#a,b,c,d,e,f\n";
        let (names, errors, stats) = run((3, 10, 20), packet);
        assert_eq!(names, ["ok", "edge"]);
        let kinds: Vec<_> = errors.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                ParseErrorKind::TooManyTags,
                ParseErrorKind::TooManyTags,
                ParseErrorKind::TagTooLong,
                ParseErrorKind::NameTooLong,
            ]
        );
        // Offsets point at the offending tag (or the name).
        assert_eq!(errors[0].at as usize, "many:1|c|#a,b,c,".len());
        assert_eq!(errors[2].at as usize, "long:1|c|#a,".len());
        assert_eq!(errors[3].at, 0);
        assert_eq!(stats.too_many_tags, 2);
        assert_eq!(stats.tag_too_long, 1);
        assert_eq!(stats.name_too_long, 1);
        assert_eq!(stats.metric_packets, 2);
        assert_eq!(stats.metric_parse_errors, 0);
        // Service checks and events are not limited.
        assert_eq!(stats.service_check_packets, 1);
        assert!(errors.iter().all(|e| e.kind.is_limit()));
    }

    proptest::proptest! {
        /// The limits agree with counting the tags one by one (the
        /// unscanned short-field shortcut included).
        #[test]
        fn limits_match_a_naive_count(
            name_len in 1usize..8,
            field in "[ab,]{0,12}",
            max_tags in 0i64..6,
            max_tag_len in 0i64..6,
            max_name_len in 0i64..8,
        ) {
            let name = "n".repeat(name_len);
            let line = if field.is_empty() {
                format!("{name}:1|c")
            } else {
                format!("{name}:1|c|#{field}")
            };
            let (names, errors, _) = run((max_tags, max_tag_len, max_name_len), line.as_bytes());
            let tags: Vec<&str> = if field.is_empty() { vec![] } else { field.split(',').collect() };
            let over = |limit: i64, n: usize| limit > 0 && n > limit as usize;
            let expect = if over(max_name_len, name_len) {
                Some(ParseErrorKind::NameTooLong)
            } else {
                // The first offending tag decides, count checked first.
                tags.iter().enumerate().find_map(|(i, t)| {
                    if over(max_tags, i + 1) {
                        Some(ParseErrorKind::TooManyTags)
                    } else if over(max_tag_len, t.len()) {
                        Some(ParseErrorKind::TagTooLong)
                    } else {
                        None
                    }
                })
            };
            proptest::prop_assert_eq!(errors.first().map(|e| e.kind), expect);
            proptest::prop_assert_eq!(names.len(), usize::from(expect.is_none()));
        }
    }

    #[test]
    fn zero_is_no_limit_and_negative_is_rejected() {
        let packet = format!(
            "{}:1|c|#{},{}",
            "n".repeat(5000),
            "t".repeat(9000),
            "x,".repeat(3000)
        );
        let (names, errors, _) = run((0, 0, 0), packet.as_bytes());
        assert_eq!(names.len(), 1, "{errors:?}");
        for key in 0..3 {
            let mut l = [0i64; 3];
            l[key] = -1;
            let cfg = Config {
                dogstatsd_max_metrics_tags: l[0],
                dogstatsd_max_tag_length: l[1],
                dogstatsd_max_name_length: l[2],
                ..Config::default()
            };
            let e = Frontend::new(&cfg).unwrap_err().to_string();
            assert!(e.contains("dogstatsd_max_"), "{e}");
        }
    }
}
