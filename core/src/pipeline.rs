//! The per-worker front half: packet → lines → messages → mapped and
//! enriched samples. Both the `parse` command and aggregation run exactly
//! this, so what `parse` prints is what gets aggregated.

use crate::config::Config;
use crate::enrich::{EnrichedEvent, EnrichedMetric, EnrichedServiceCheck, Enricher};
use crate::mapper::{Mapper, MapperError};
use crate::protocol::{
    Line, Lines, Message, MessageKind, MetricMessage, ParseError, ParseErrorKind, ParseOptions,
    Transport, parse_message,
};

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The mapper profiles are invalid.
    #[error("dogstatsd_mapper_profiles: {0}")]
    Mapper(#[from] MapperError),
    /// An unknown transport in `dogstatsd_eol_required`.
    #[error("dogstatsd_eol_required: unknown transport {0:?} (expected udp, uds or named_pipe)")]
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
    /// A rejected line.
    Error {
        /// The line as received.
        line: &'a [u8],
        /// Why.
        error: ParseError,
    },
}

/// Where [`Processor`] hands its results.
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

/// Counters of what [`Processor`] saw, by the Agent's expvar names.
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
}

/// Parses, maps and enriches packets. One per worker; not shared.
#[derive(Debug)]
pub struct Processor {
    opts: ParseOptions,
    eol: [bool; 3],
    mapper: Option<Mapper>,
    enricher: Enricher,
    stats: ProcessStats,
}

impl Processor {
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
        for line in Lines::new(packet, require_eol) {
            match line {
                Line::Message(l) => self.process_line(l, sink),
                Line::Unterminated(l) => {
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
        match parse_message(line, &self.opts) {
            Ok(Message::Metric(m)) => {
                self.stats.metric_packets += 1;
                if sink.fast_path(&m) {
                    return;
                }
                let mapped = match self.mapper.as_mut() {
                    Some(mapper) => mapper.map(m.name),
                    None => None,
                };
                let enriched = self.enricher.metric(&m, mapped);
                if self.enricher.is_filtered(&enriched.name) {
                    self.stats.filtered_points += m.values.len() as u64;
                    return;
                }
                sink.processed(Processed::Metric(enriched));
            }
            Ok(Message::Event(e)) => {
                self.stats.event_packets += 1;
                sink.processed(Processed::Event(self.enricher.event(e)));
            }
            Ok(Message::ServiceCheck(sc)) => {
                self.stats.service_check_packets += 1;
                sink.processed(Processed::ServiceCheck(self.enricher.service_check(sc)));
            }
            Err(error) => {
                match error.kind.message_kind() {
                    MessageKind::Metric => self.stats.metric_parse_errors += 1,
                    MessageKind::Event => self.stats.event_parse_errors += 1,
                    MessageKind::ServiceCheck => self.stats.service_check_parse_errors += 1,
                }
                sink.processed(Processed::Error { line, error });
            }
        }
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
