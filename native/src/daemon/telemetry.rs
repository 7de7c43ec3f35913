//! Self-telemetry: counters the listeners, workers, pipelines and flush
//! loop update, rendered as Prometheus text for `GET /metrics`.
//!
//! Listeners bump relaxed atomics; workers and pipelines publish a copy of
//! their core counters after each packet or batch (an uncontended lock),
//! so the hot path never waits for a scrape.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use dogstatsd_core::aggregate::{RouterStats as WorkerStats, SamplerStats};

use crate::capture::Capture;
use crate::forwarder::Forwarder;

/// The listeners, for per-listener counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// UDP.
    Udp,
    /// Unix datagram socket.
    Uds,
    /// Unix stream socket.
    UdsStream,
    /// Windows named pipe.
    NamedPipe,
}

impl Listener {
    const ALL: [Self; 4] = [Self::Udp, Self::Uds, Self::UdsStream, Self::NamedPipe];

    /// Label value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Uds => "uds",
            Self::UdsStream => "uds_stream",
            Self::NamedPipe => "named_pipe",
        }
    }
}

/// Counters of one listener.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Datagrams, frames or pipe reads received.
    pub packets: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
    /// Failed reads.
    pub read_errors: AtomicU64,
    /// Stream connections accepted.
    pub connections: AtomicU64,
    /// Stream connections open now.
    pub open_connections: AtomicU64,
    /// Datagrams longer than `dogstatsd_buffer_size`: their tail is cut
    /// (and the rest processed, as in the Agent). Named pipe: partial
    /// messages that filled the buffer and were discarded.
    pub truncated: AtomicU64,
}

/// Why a stream connection was closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A frame declared more than `dogstatsd_buffer_size` bytes.
    FrameTooLarge,
    /// A zero-length frame.
    FrameZeroLength,
    /// The peer closed inside a frame.
    FrameTruncated,
    /// Silent the longest when a connection arrived with
    /// `dogstatsd_stream_max_connections` open.
    MaxConnections,
    /// Nothing received for `dogstatsd_stream_idle_timeout`.
    IdleTimeout,
    /// Its peer uid held its share of the connections
    /// (`dogstatsd_stream_max_uid_share`) when it connected again.
    UidLimit,
    /// A frame did not complete within `dogstatsd_stream_frame_timeout`.
    FrameTimeout,
    /// The client closed it between frames.
    PeerClosed,
    /// A read failed.
    ReadError,
    /// The daemon stopped.
    Stopping,
}

impl CloseReason {
    const ALL: [Self; 10] = [
        Self::FrameTooLarge,
        Self::FrameZeroLength,
        Self::FrameTruncated,
        Self::MaxConnections,
        Self::IdleTimeout,
        Self::UidLimit,
        Self::FrameTimeout,
        Self::PeerClosed,
        Self::ReadError,
        Self::Stopping,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::FrameTooLarge => "frame_too_large",
            Self::FrameZeroLength => "frame_zero_length",
            Self::FrameTruncated => "frame_truncated",
            Self::MaxConnections => "max_connections",
            Self::IdleTimeout => "idle_timeout",
            Self::UidLimit => "uid_limit",
            Self::FrameTimeout => "frame_timeout",
            Self::PeerClosed => "peer_closed",
            Self::ReadError => "read_error",
            Self::Stopping => "stopping",
        }
    }
}

/// Every counter of the daemon.
#[derive(Debug, Default)]
pub struct Telemetry {
    listeners: [ListenerCounters; 4],
    closes: [AtomicU64; CloseReason::ALL.len()],
    /// Admin requests refused: [unauthorized (401), forbidden (403)].
    admin_refused: [AtomicU64; 2],
    /// Packets queued for the workers.
    pub queued: AtomicU64,
    /// Packets the workers finished.
    pub processed: AtomicU64,
    /// Packets dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Unix datagrams whose sender could not be resolved to a container.
    pub origin_detection_errors: AtomicU64,
    /// Flushes written.
    pub flushes: AtomicU64,
    /// Flushes the sink failed to write.
    pub flush_errors: AtomicU64,
    /// Records written, by kind.
    pub flushed_series: AtomicU64,
    /// Sketches written.
    pub flushed_sketches: AtomicU64,
    /// Events written.
    pub flushed_events: AtomicU64,
    /// Service checks written.
    pub flushed_service_checks: AtomicU64,
    workers: Mutex<Vec<WorkerStats>>,
    pipelines: Mutex<Vec<SamplerStats>>,
    /// Traffic capture, rendered when attached.
    capture: OnceLock<Capture>,
    /// The intake forwarder, rendered when attached.
    forwarder: OnceLock<Arc<Forwarder>>,
    /// The stdout/file output thread, rendered when attached.
    output: OnceLock<Arc<super::sink::OutputHealth>>,
}

impl Telemetry {
    /// Counters for `workers` workers and `pipelines` pipelines.
    pub fn new(workers: usize, pipelines: usize) -> Self {
        Self {
            workers: Mutex::new(vec![WorkerStats::default(); workers]),
            pipelines: Mutex::new(vec![SamplerStats::default(); pipelines]),
            ..Self::default()
        }
    }

    /// Renders the capture recorder's counters too.
    pub fn attach_capture(&self, capture: Capture) {
        let _ = self.capture.set(capture);
    }

    /// Renders the stdout/file output's counters too.
    pub fn attach_output(&self, output: Arc<super::sink::OutputHealth>) {
        let _ = self.output.set(output);
    }

    /// Renders the forwarder's counters too (the daemon attaches the
    /// forwarder it ships flushes through).
    pub fn attach_forwarder(&self, forwarder: Arc<Forwarder>) {
        let _ = self.forwarder.set(forwarder);
    }

    /// One listener's counters.
    pub fn listener(&self, l: Listener) -> &ListenerCounters {
        &self.listeners[l as usize]
    }

    /// Counts a packet of `bytes` bytes on `l`.
    pub fn received(&self, l: Listener, bytes: usize) {
        let c = self.listener(l);
        c.packets.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a connection closed for `reason`.
    pub fn closed(&self, reason: CloseReason) {
        self.closes[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// An admin request without the right token (401).
    pub fn admin_unauthorized(&self) {
        self.admin_refused[0].fetch_add(1, Ordering::Relaxed);
    }

    /// An admin request with `Origin` or a foreign `Host` (403).
    pub fn admin_forbidden(&self) {
        self.admin_refused[1].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections closed for `reason` so far.
    pub fn closes(&self, reason: CloseReason) -> u64 {
        self.closes[reason as usize].load(Ordering::Relaxed)
    }

    /// Publishes worker `i`'s counters.
    pub fn set_worker(&self, i: usize, s: WorkerStats) {
        if let Ok(mut w) = self.workers.lock()
            && let Some(slot) = w.get_mut(i)
        {
            *slot = s;
        }
    }

    /// Publishes pipeline `i`'s counters.
    pub fn set_pipeline(&self, i: usize, s: SamplerStats) {
        if let Ok(mut p) = self.pipelines.lock()
            && let Some(slot) = p.get_mut(i)
        {
            *slot = s;
        }
    }

    /// Worker counters summed.
    pub fn workers(&self) -> WorkerStats {
        let mut sum = WorkerStats::default();
        if let Ok(w) = self.workers.lock() {
            for s in w.iter() {
                let (a, b) = (&mut sum.process, &s.process);
                a.metric_packets += b.metric_packets;
                a.metric_parse_errors += b.metric_parse_errors;
                a.event_packets += b.event_packets;
                a.event_parse_errors += b.event_parse_errors;
                a.service_check_packets += b.service_check_packets;
                a.service_check_parse_errors += b.service_check_parse_errors;
                a.unterminated_metric_errors += b.unterminated_metric_errors;
                a.filtered_points += b.filtered_points;
                a.too_many_tags += b.too_many_tags;
                a.tag_too_long += b.tag_too_long;
                a.name_too_long += b.name_too_long;
                sum.samples += s.samples;
                sum.route_cache_hits += s.route_cache_hits;
                sum.route_cache_misses += s.route_cache_misses;
                sum.no_agg_samples += s.no_agg_samples;
                sum.no_agg_unsupported += s.no_agg_unsupported;
            }
        }
        sum
    }

    /// Pipeline counters summed.
    pub fn pipelines(&self) -> SamplerStats {
        let mut sum = SamplerStats::default();
        if let Ok(p) = self.pipelines.lock() {
            for s in p.iter() {
                sum += *s;
            }
        }
        sum
    }

    /// Prometheus text exposition (version 0.0.4).
    pub fn render(&self, queue_len: usize) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut family = |name: &str, kind: &str, help: &str, rows: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let per_listener = |f: fn(&ListenerCounters) -> &AtomicU64| {
            Listener::ALL
                .iter()
                .map(|&l| {
                    (
                        format!("{{listener=\"{}\"}}", l.name()),
                        load(f(self.listener(l))),
                    )
                })
                .collect::<Vec<_>>()
        };
        family(
            "dogstatsd_listener_packets_total",
            "counter",
            "Datagrams, frames or pipe reads received, per listener.",
            &per_listener(|c| &c.packets),
        );
        family(
            "dogstatsd_listener_bytes_total",
            "counter",
            "Bytes received, per listener.",
            &per_listener(|c| &c.bytes),
        );
        family(
            "dogstatsd_listener_read_errors_total",
            "counter",
            "Failed socket reads, per listener.",
            &per_listener(|c| &c.read_errors),
        );
        family(
            "dogstatsd_listener_truncated_total",
            "counter",
            "Datagrams longer than dogstatsd_buffer_size, per listener: the tail is cut and the rest processed, as in the Agent (named pipe: buffer-filling partial messages, discarded).",
            &per_listener(|c| &c.truncated),
        );
        family(
            "dogstatsd_listener_connections_total",
            "counter",
            "Stream connections accepted, per listener.",
            &per_listener(|c| &c.connections),
        );
        family(
            "dogstatsd_listener_open_connections",
            "gauge",
            "Stream connections open now, per listener.",
            &per_listener(|c| &c.open_connections),
        );
        family(
            "dogstatsd_connections_closed_total",
            "counter",
            "Unix stream connections closed, by reason (peer_closed: by the client).",
            &CloseReason::ALL
                .iter()
                .map(|&r| (format!("{{reason=\"{}\"}}", r.name()), self.closes(r)))
                .collect::<Vec<_>>(),
        );
        family(
            "dogstatsd_admin_refused_total",
            "counter",
            "Admin endpoint requests refused: unauthorized (no or wrong token, 401), forbidden (Origin or foreign Host, 403).",
            &[
                (
                    "{reason=\"unauthorized\"}".to_string(),
                    load(&self.admin_refused[0]),
                ),
                (
                    "{reason=\"forbidden\"}".to_string(),
                    load(&self.admin_refused[1]),
                ),
            ],
        );
        let w = self.workers();
        let p = self.pipelines();
        let ps = w.process;
        family(
            "dogstatsd_messages_total",
            "counter",
            "Messages parsed, by type and state (metrics count messages).",
            &[
                (
                    r#"{message_type="metrics",state="ok"}"#.into(),
                    ps.metric_packets,
                ),
                (
                    r#"{message_type="metrics",state="error"}"#.into(),
                    ps.metric_parse_errors,
                ),
                (
                    r#"{message_type="events",state="ok"}"#.into(),
                    ps.event_packets,
                ),
                (
                    r#"{message_type="events",state="error"}"#.into(),
                    ps.event_parse_errors,
                ),
                (
                    r#"{message_type="service_checks",state="ok"}"#.into(),
                    ps.service_check_packets,
                ),
                (
                    r#"{message_type="service_checks",state="error"}"#.into(),
                    ps.service_check_parse_errors,
                ),
            ],
        );
        family(
            "dogstatsd_parse_errors_total",
            "counter",
            "Messages rejected, by kind.",
            &[
                (r#"{kind="metric"}"#.into(), ps.metric_parse_errors),
                (r#"{kind="event"}"#.into(), ps.event_parse_errors),
                (
                    r#"{kind="service_check"}"#.into(),
                    ps.service_check_parse_errors,
                ),
                (
                    r#"{kind="unterminated"}"#.into(),
                    ps.unterminated_metric_errors,
                ),
            ],
        );
        family(
            "dogstatsd_dropped_total",
            "counter",
            "Packets, messages or samples dropped, by cause (queue_full counts packets; filter_list and non_finite_value samples; the *_too_* and too_many_tags causes metric messages over a dogstatsd_max_* limit).",
            &[
                (
                    r#"{cause="queue_full"}"#.into(),
                    load(&self.dropped_queue_full),
                ),
                (r#"{cause="non_finite_value"}"#.into(), p.non_finite_dropped),
                (r#"{cause="context_limit"}"#.into(), p.context_limit_dropped),
                (r#"{cause="unknown_route"}"#.into(), p.unknown_route_dropped),
                (
                    r#"{cause="timestamped_unsupported_type"}"#.into(),
                    w.no_agg_unsupported,
                ),
                (r#"{cause="filter_list"}"#.into(), ps.filtered_points),
                (r#"{cause="too_many_tags"}"#.into(), ps.too_many_tags),
                (r#"{cause="tag_too_long"}"#.into(), ps.tag_too_long),
                (r#"{cause="name_too_long"}"#.into(), ps.name_too_long),
            ],
        );
        family(
            "dogstatsd_route_cache_total",
            "counter",
            "Metric messages routed from the worker route cache, or in full.",
            &[
                (r#"{result="hit"}"#.into(), w.route_cache_hits),
                (r#"{result="miss"}"#.into(), w.route_cache_misses),
            ],
        );
        family(
            "dogstatsd_samples_total",
            "counter",
            "Metric samples routed to pipelines.",
            &[(String::new(), w.samples)],
        );
        family(
            "dogstatsd_no_aggregation_samples_total",
            "counter",
            "Timestamped samples shipped unaggregated.",
            &[(String::new(), w.no_agg_samples)],
        );
        family(
            "dogstatsd_packets_queued_total",
            "counter",
            "Packets queued for the workers.",
            &[(String::new(), load(&self.queued))],
        );
        family(
            "dogstatsd_packets_processed_total",
            "counter",
            "Packets the workers finished.",
            &[(String::new(), load(&self.processed))],
        );
        family(
            "dogstatsd_packet_queue_length",
            "gauge",
            "Packets waiting for a worker.",
            &[(String::new(), queue_len as u64)],
        );
        family(
            "dogstatsd_uds_origin_detection_errors_total",
            "counter",
            "Unix datagrams whose sender could not be resolved.",
            &[(String::new(), load(&self.origin_detection_errors))],
        );
        family(
            "dogstatsd_contexts",
            "gauge",
            "Live aggregation contexts.",
            &[(String::new(), p.contexts)],
        );
        family(
            "dogstatsd_contexts_expired_total",
            "counter",
            "Contexts expired.",
            &[(String::new(), p.contexts_expired)],
        );
        family(
            "dogstatsd_flushes_total",
            "counter",
            "Flushes written.",
            &[(String::new(), load(&self.flushes))],
        );
        family(
            "dogstatsd_flush_errors_total",
            "counter",
            "Flushes the output could not take.",
            &[(String::new(), load(&self.flush_errors))],
        );
        family(
            "dogstatsd_flushed_records_total",
            "counter",
            "Records written, by kind.",
            &[
                (r#"{kind="series"}"#.into(), load(&self.flushed_series)),
                (r#"{kind="sketch"}"#.into(), load(&self.flushed_sketches)),
                (r#"{kind="event"}"#.into(), load(&self.flushed_events)),
                (
                    r#"{kind="service_check"}"#.into(),
                    load(&self.flushed_service_checks),
                ),
            ],
        );
        if let Some(c) = self.capture.get() {
            let (packets, dropped) = c.totals();
            family(
                "dogstatsd_capture_active",
                "gauge",
                "1 while a traffic capture runs.",
                &[(String::new(), u64::from(c.is_active()))],
            );
            family(
                "dogstatsd_capture_packets_total",
                "counter",
                "Packets written to traffic captures.",
                &[(String::new(), packets)],
            );
            family(
                "dogstatsd_capture_dropped_total",
                "counter",
                "Packets not captured because the capture channel was full.",
                &[(String::new(), dropped)],
            );
        }
        if let Some(o) = self.output.get() {
            family(
                "dogstatsd_output_flushes_total",
                "counter",
                "Flushes for stdout or the --output file, by state (dropped: the output thread was blocked and its queue full, or the write failed).",
                &[
                    (r#"{state="written"}"#.into(), load(&o.written_flushes)),
                    (r#"{state="dropped"}"#.into(), load(&o.dropped_flushes)),
                ],
            );
            family(
                "dogstatsd_output_records_total",
                "counter",
                "Records (lines) in those flushes, by state.",
                &[
                    (r#"{state="written"}"#.into(), load(&o.written_records)),
                    (r#"{state="dropped"}"#.into(), load(&o.dropped_records)),
                ],
            );
            family(
                "dogstatsd_output_blocked_seconds",
                "gauge",
                "How long the write under way has taken (0 when none is).",
                &[(String::new(), o.stalled_for().map_or(0, |d| d.as_secs()))],
            );
        }
        if let Some(f) = self.forwarder.get() {
            let s = f.stats();
            family(
                "dogstatsd_forwarder_payloads_total",
                "counter",
                "Intake payloads, by state (submitted = sent + rejected + dropped + stored + queued + in flight).",
                &[
                    (r#"{state="submitted"}"#.into(), s.payloads_submitted),
                    (r#"{state="sent"}"#.into(), s.payloads_sent),
                    (r#"{state="rejected"}"#.into(), s.payloads_rejected),
                    (r#"{state="dropped"}"#.into(), s.payloads_dropped),
                    (r#"{state="stored"}"#.into(), s.payloads_stored),
                ],
            );
            family(
                "dogstatsd_forwarder_points_total",
                "counter",
                "Points (series points, sketch buckets, events, checks) in intake payloads, by state; too_big never made it into a payload.",
                &[
                    (r#"{state="submitted"}"#.into(), s.points_submitted),
                    (r#"{state="sent"}"#.into(), s.points_sent),
                    (r#"{state="rejected"}"#.into(), s.points_rejected),
                    (r#"{state="dropped"}"#.into(), s.points_dropped),
                    (r#"{state="stored"}"#.into(), s.points_stored),
                    (r#"{state="too_big"}"#.into(), s.points_too_big),
                ],
            );
            family(
                "dogstatsd_forwarder_requests_total",
                "counter",
                "HTTP requests started.",
                &[(String::new(), s.requests)],
            );
            family(
                "dogstatsd_forwarder_retries_total",
                "counter",
                "Attempts that ended in a retriable outcome, by cause.",
                &[
                    (
                        r#"{cause="status"}"#.into(),
                        s.retries - s.transport_errors.min(s.retries),
                    ),
                    (r#"{cause="transport"}"#.into(), s.transport_errors),
                ],
            );
            family(
                "dogstatsd_forwarder_queued_payloads",
                "gauge",
                "Payloads waiting for a first or next attempt.",
                &[(String::new(), s.queued)],
            );
            family(
                "dogstatsd_forwarder_queued_bytes",
                "gauge",
                "Compressed bytes waiting in the retry queue.",
                &[(String::new(), s.queued_bytes)],
            );
            family(
                "dogstatsd_forwarder_in_flight_payloads",
                "gauge",
                "Payloads being sent now.",
                &[(String::new(), s.in_flight)],
            );
            let label = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
            let failures = f.failures();
            let rows = |points: bool| -> Vec<(String, u64)> {
                failures
                    .iter()
                    .map(|c| {
                        (
                            format!(
                                r#"{{intake="{}",endpoint="{}",reason="{}"}}"#,
                                label(&c.intake),
                                c.endpoint,
                                c.reason.as_str()
                            ),
                            if points { c.points } else { c.payloads },
                        )
                    })
                    .collect()
            };
            family(
                "dogstatsd_forwarder_failed_payloads_total",
                "counter",
                "Payloads given up on, by intake, endpoint and reason (status, redirect, redirect_loop, redirect_downgrade, redirect_invalid, queue_full, store_full, shutdown, internal).",
                &rows(false),
            );
            family(
                "dogstatsd_forwarder_failed_points_total",
                "counter",
                "Points in payloads given up on, by intake, endpoint and reason.",
                &rows(true),
            );
            family(
                "dogstatsd_forwarder_redirects_total",
                "counter",
                "307/308 redirects followed.",
                &[(String::new(), s.redirects)],
            );
            family(
                "dogstatsd_forwarder_store_payloads_total",
                "counter",
                "Disk store: payloads written, read back, deleted unsent when full, set aside as corrupt.",
                &[
                    (r#"{state="stored"}"#.into(), s.payloads_stored),
                    (r#"{state="restored"}"#.into(), s.payloads_restored),
                    (r#"{state="dropped"}"#.into(), s.stored_dropped),
                    (r#"{state="corrupt"}"#.into(), s.stored_corrupt),
                ],
            );
            family(
                "dogstatsd_forwarder_stored_payloads",
                "gauge",
                "Payloads waiting in the disk store.",
                &[(String::new(), s.stored)],
            );
            let per: Vec<(String, u64)> = f
                .endpoint_stats()
                .iter()
                .flat_map(|(name, e)| {
                    let n = label(name);
                    [
                        (format!(r#"{{intake="{n}",state="sent"}}"#), e.payloads_sent),
                        (
                            format!(r#"{{intake="{n}",state="rejected"}}"#),
                            e.payloads_rejected,
                        ),
                        (
                            format!(r#"{{intake="{n}",state="dropped"}}"#),
                            e.payloads_dropped,
                        ),
                        (
                            format!(r#"{{intake="{n}",state="stored"}}"#),
                            e.payloads_stored,
                        ),
                    ]
                })
                .collect();
            family(
                "dogstatsd_forwarder_intake_payloads_total",
                "counter",
                "Payloads per intake (the main one and each of additional_endpoints), by state.",
                &per,
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let t = Telemetry::new(2, 1);
        t.received(Listener::Udp, 10);
        t.received(Listener::Udp, 5);
        t.closed(CloseReason::FrameTooLarge);
        let mut s = WorkerStats::default();
        s.process.metric_parse_errors = 3;
        s.process.too_many_tags = 2;
        t.set_worker(1, s);
        let text = t.render(7);
        assert!(text.contains("dogstatsd_listener_packets_total{listener=\"udp\"} 2\n"));
        assert!(text.contains("dogstatsd_listener_bytes_total{listener=\"udp\"} 15\n"));
        assert!(text.contains("dogstatsd_parse_errors_total{kind=\"metric\"} 3\n"));
        assert!(
            text.contains("dogstatsd_connections_closed_total{reason=\"frame_too_large\"} 1\n")
        );
        assert!(text.contains("dogstatsd_packet_queue_length 7\n"));
        assert!(text.contains("dogstatsd_dropped_total{cause=\"too_many_tags\"} 2\n"));
        assert!(text.contains("dogstatsd_connections_closed_total{reason=\"idle_timeout\"} 0\n"));
        assert!(text.contains("dogstatsd_listener_open_connections{listener=\"uds_stream\"} 0\n"));
        assert!(text.contains("# TYPE dogstatsd_contexts gauge\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            v.parse::<u64>().unwrap();
        }
    }
}
