//! Self-telemetry: counters the listeners, workers, pipelines and flush
//! loop update, exposed as OpenMetrics text for `GET /metrics` through
//! `prometheus-client` (a table of families, [`FAMILIES`]), with the
//! `process_*` families and a `dogstatsd_build_info` gauge.
//!
//! Listeners bump relaxed atomics; workers and pipelines publish a copy of
//! their core counters after each packet or batch (an uncontended lock),
//! so the hot path never waits for a scrape.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use dogstatsd_core::aggregate::{RouterStats as WorkerStats, SamplerStats};

use crate::capture::Capture;
use crate::forwarder::{Forwarder, ForwarderStats};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

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
    /// Whether the forwarder keeps delivering (for `/readyz`).
    forwarder_watch: Mutex<StallWatch>,
}

/// How long the forwarder may hold payloads without delivering any before
/// the daemon reports itself not ready.
pub const FORWARDER_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// Watches a "delivered" counter while work is pending: stalled once the
/// counter has not moved for [`FORWARDER_STALL`] with something pending.
#[derive(Debug, Default)]
pub struct StallWatch {
    last: Option<(u64, std::time::Instant)>,
}

impl StallWatch {
    /// Feeds the counter and what is pending at `now`; how long delivery
    /// has been stuck, once past [`FORWARDER_STALL`].
    pub fn observe(
        &mut self,
        now: std::time::Instant,
        delivered: u64,
        pending: u64,
    ) -> Option<std::time::Duration> {
        match self.last {
            Some((d, since)) if d == delivered && pending > 0 => {
                let stuck = now.saturating_duration_since(since);
                (stuck >= FORWARDER_STALL).then_some(stuck)
            }
            _ => {
                self.last = Some((delivered, now));
                None
            }
        }
    }
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

    /// Why the forwarder keeps the daemon from being ready: payloads
    /// pending and none delivered for [`FORWARDER_STALL`].
    pub fn forwarder_not_ready(&self) -> Option<String> {
        let s = self.forwarder.get()?.stats();
        let mut w = self.forwarder_watch.lock().ok()?;
        w.observe(
            std::time::Instant::now(),
            s.payloads_sent,
            s.queued + s.in_flight,
        )
        .map(|d| {
            format!(
                "forwarder delivered nothing for {} s with {} payloads pending",
                d.as_secs(),
                s.queued + s.in_flight
            )
        })
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

    /// OpenMetrics text exposition ([`CONTENT_TYPE`]) of every family in
    /// [`FAMILIES`], then the `process_*` families and `dogstatsd_build_info`.
    pub fn render(&self, queue_len: usize) -> String {
        let snap = Snapshot {
            t: self,
            w: self.workers(),
            p: self.pipelines(),
            queue_len: queue_len as u64,
            capture: self
                .capture
                .get()
                .map(|c| (c.is_active(), c.totals().0, c.totals().1)),
            fwd: self.forwarder.get().map(|f| f.stats()),
            kernel_drops: super::kernel_drops::udp_drops(),
            out: self.output.get().map(|o| {
                [
                    load(&o.written_flushes),
                    load(&o.dropped_flushes),
                    load(&o.written_records),
                    load(&o.dropped_records),
                    o.stalled_for().map_or(0, |d| d.as_secs()),
                ]
            }),
        };
        let mut registry = Registry::default();
        for def in FAMILIES {
            if let Some(rows) = (def.rows)(&snap) {
                register(
                    &mut registry,
                    def.name,
                    def.help,
                    def.kind,
                    def.label,
                    &rows,
                );
            }
        }
        if let Some(f) = self.forwarder.get() {
            forwarder_families(&mut registry, f);
        }
        for def in process::families() {
            register(&mut registry, def.0, def.1, def.2, "", &[("", def.3)]);
        }
        let build = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
        build
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION"))])
            .set(1);
        registry.register(
            "dogstatsd_build_info",
            "The running build: always 1, with its version as a label.",
            build,
        );
        let mut out = String::with_capacity(8192);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

/// The `Content-Type` of [`Telemetry::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// Rows of one family: (label value, value); the label value is ignored
/// for a family without a label.
type Rows = Vec<(&'static str, u64)>;

/// Every counter, read once per scrape.
struct Snapshot<'a> {
    t: &'a Telemetry,
    w: WorkerStats,
    p: SamplerStats,
    queue_len: u64,
    /// (active, packets, dropped) when a capture recorder is attached.
    capture: Option<(bool, u64, u64)>,
    fwd: Option<ForwarderStats>,
    /// The output thread's [written flushes, dropped flushes, written
    /// records, dropped records, seconds the current write has taken].
    out: Option<[u64; 5]>,
    /// Datagrams the kernel dropped on the UDP sockets (Linux).
    kernel_drops: Option<u64>,
}

impl Snapshot<'_> {
    fn per_listener(&self, f: fn(&ListenerCounters) -> &AtomicU64) -> Option<Rows> {
        self.listeners(&Listener::ALL, f)
    }

    /// Connection counters exist only for the listeners that have
    /// connections: the Unix stream socket, and named pipes on Windows.
    fn per_connection_listener(&self, f: fn(&ListenerCounters) -> &AtomicU64) -> Option<Rows> {
        let with_connections: &[Listener] = if cfg!(windows) {
            &[Listener::UdsStream, Listener::NamedPipe]
        } else {
            &[Listener::UdsStream]
        };
        self.listeners(with_connections, f)
    }

    fn listeners(
        &self,
        which: &[Listener],
        f: fn(&ListenerCounters) -> &AtomicU64,
    ) -> Option<Rows> {
        Some(
            which
                .iter()
                .map(|&l| (l.name(), f(self.t.listener(l)).load(Ordering::Relaxed)))
                .collect(),
        )
    }
}

fn one(v: u64) -> Option<Rows> {
    Some(vec![("", v)])
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// One family of the exposition: its full name (counters end in
/// `_total`), type, help, label key ("" for none) and rows; `None` rows
/// leave the family out (a part that is not attached).
struct FamilyDef {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    label: &'static str,
    rows: fn(&Snapshot<'_>) -> Option<Rows>,
}

/// The daemon's families, in exposition order.
const FAMILIES: &[FamilyDef] = &[
    FamilyDef {
        name: "dogstatsd_listener_packets_total",
        kind: Kind::Counter,
        help: "Datagrams, frames or pipe reads received, per listener.",
        label: "listener",
        rows: |s| s.per_listener(|c| &c.packets),
    },
    FamilyDef {
        name: "dogstatsd_listener_bytes_total",
        kind: Kind::Counter,
        help: "Bytes received, per listener.",
        label: "listener",
        rows: |s| s.per_listener(|c| &c.bytes),
    },
    FamilyDef {
        name: "dogstatsd_listener_read_errors_total",
        kind: Kind::Counter,
        help: "Failed socket reads, per listener.",
        label: "listener",
        rows: |s| s.per_listener(|c| &c.read_errors),
    },
    FamilyDef {
        name: "dogstatsd_listener_truncated_total",
        kind: Kind::Counter,
        help: "Datagrams longer than dogstatsd_buffer_size, per listener: the tail is cut and the rest processed, as in the Agent (named pipe: buffer-filling partial messages, discarded).",
        label: "listener",
        rows: |s| s.per_listener(|c| &c.truncated),
    },
    FamilyDef {
        name: "dogstatsd_listener_connections_total",
        kind: Kind::Counter,
        help: "Stream connections accepted, per listener.",
        label: "listener",
        rows: |s| s.per_connection_listener(|c| &c.connections),
    },
    FamilyDef {
        name: "dogstatsd_listener_open_connections",
        kind: Kind::Gauge,
        help: "Stream connections open now, per listener.",
        label: "listener",
        rows: |s| s.per_connection_listener(|c| &c.open_connections),
    },
    FamilyDef {
        name: "dogstatsd_kernel_drops_total",
        kind: Kind::Counter,
        help: "Datagrams the kernel dropped because a socket's receive buffer was full (the drops column of /proc/net/udp for the daemon's sockets; raise dogstatsd_so_rcvbuf).",
        label: "listener",
        rows: |s| s.kernel_drops.map(|d| vec![("udp", d)]),
    },
    FamilyDef {
        name: "dogstatsd_connections_closed_total",
        kind: Kind::Counter,
        help: "Unix stream connections closed, by reason (peer_closed: by the client).",
        label: "reason",
        rows: |s| {
            Some(
                CloseReason::ALL
                    .iter()
                    .map(|&r| (r.name(), s.t.closes(r)))
                    .collect(),
            )
        },
    },
    FamilyDef {
        name: "dogstatsd_admin_refused_total",
        kind: Kind::Counter,
        help: "Admin endpoint requests refused: unauthorized (no or wrong token, 401), forbidden (Origin or foreign Host, 403).",
        label: "reason",
        rows: |s| {
            Some(vec![
                ("unauthorized", load(&s.t.admin_refused[0])),
                ("forbidden", load(&s.t.admin_refused[1])),
            ])
        },
    },
    FamilyDef {
        name: "dogstatsd_messages_total",
        kind: Kind::Counter,
        help: "Messages parsed, by type and state (metrics count messages).",
        label: "message_type,state",
        rows: |s| {
            let p = &s.w.process;
            Some(vec![
                ("metrics,ok", p.metric_packets),
                ("metrics,error", p.metric_parse_errors),
                ("events,ok", p.event_packets),
                ("events,error", p.event_parse_errors),
                ("service_checks,ok", p.service_check_packets),
                ("service_checks,error", p.service_check_parse_errors),
            ])
        },
    },
    FamilyDef {
        name: "dogstatsd_parse_errors_total",
        kind: Kind::Counter,
        help: "Messages rejected, by kind.",
        label: "kind",
        rows: |s| {
            let p = &s.w.process;
            Some(vec![
                ("metric", p.metric_parse_errors),
                ("event", p.event_parse_errors),
                ("service_check", p.service_check_parse_errors),
                ("unterminated", p.unterminated_metric_errors),
            ])
        },
    },
    FamilyDef {
        name: "dogstatsd_dropped_total",
        kind: Kind::Counter,
        help: "Packets, messages or samples dropped, by cause (queue_full counts packets; filter_list and non_finite_value samples; the *_too_* and too_many_tags causes metric messages over a dogstatsd_max_* limit).",
        label: "cause",
        rows: |s| {
            let (w, p, ps) = (&s.w, &s.p, &s.w.process);
            Some(vec![
                ("queue_full", load(&s.t.dropped_queue_full)),
                ("non_finite_value", p.non_finite_dropped),
                ("context_limit", p.context_limit_dropped),
                ("unknown_route", p.unknown_route_dropped),
                ("timestamped_unsupported_type", w.no_agg_unsupported),
                ("filter_list", ps.filtered_points),
                ("too_many_tags", ps.too_many_tags),
                ("tag_too_long", ps.tag_too_long),
                ("name_too_long", ps.name_too_long),
            ])
        },
    },
    FamilyDef {
        name: "dogstatsd_route_cache_total",
        kind: Kind::Counter,
        help: "Metric messages routed from the worker route cache, or in full.",
        label: "result",
        rows: |s| {
            Some(vec![
                ("hit", s.w.route_cache_hits),
                ("miss", s.w.route_cache_misses),
            ])
        },
    },
    FamilyDef {
        name: "dogstatsd_samples_total",
        kind: Kind::Counter,
        help: "Metric samples routed to pipelines.",
        label: "",
        rows: |s| one(s.w.samples),
    },
    FamilyDef {
        name: "dogstatsd_no_aggregation_samples_total",
        kind: Kind::Counter,
        help: "Timestamped samples shipped unaggregated.",
        label: "",
        rows: |s| one(s.w.no_agg_samples),
    },
    FamilyDef {
        name: "dogstatsd_packets_queued_total",
        kind: Kind::Counter,
        help: "Packets queued for the workers.",
        label: "",
        rows: |s| one(load(&s.t.queued)),
    },
    FamilyDef {
        name: "dogstatsd_packets_processed_total",
        kind: Kind::Counter,
        help: "Packets the workers finished.",
        label: "",
        rows: |s| one(load(&s.t.processed)),
    },
    FamilyDef {
        name: "dogstatsd_packet_queue_length",
        kind: Kind::Gauge,
        help: "Packets waiting for a worker.",
        label: "",
        rows: |s| one(s.queue_len),
    },
    FamilyDef {
        name: "dogstatsd_uds_origin_detection_errors_total",
        kind: Kind::Counter,
        help: "Unix datagrams whose sender could not be resolved.",
        label: "",
        rows: |s| one(load(&s.t.origin_detection_errors)),
    },
    FamilyDef {
        name: "dogstatsd_contexts",
        kind: Kind::Gauge,
        help: "Live aggregation contexts.",
        label: "",
        rows: |s| one(s.p.contexts),
    },
    FamilyDef {
        name: "dogstatsd_contexts_expired_total",
        kind: Kind::Counter,
        help: "Contexts expired.",
        label: "",
        rows: |s| one(s.p.contexts_expired),
    },
    FamilyDef {
        name: "dogstatsd_flushes_total",
        kind: Kind::Counter,
        help: "Flushes written.",
        label: "",
        rows: |s| one(load(&s.t.flushes)),
    },
    FamilyDef {
        name: "dogstatsd_flush_errors_total",
        kind: Kind::Counter,
        help: "Flushes the output could not take.",
        label: "",
        rows: |s| one(load(&s.t.flush_errors)),
    },
    FamilyDef {
        name: "dogstatsd_flushed_records_total",
        kind: Kind::Counter,
        help: "Records written, by kind.",
        label: "kind",
        rows: |s| {
            Some(vec![
                ("series", load(&s.t.flushed_series)),
                ("sketch", load(&s.t.flushed_sketches)),
                ("event", load(&s.t.flushed_events)),
                ("service_check", load(&s.t.flushed_service_checks)),
            ])
        },
    },
    FamilyDef {
        name: "dogstatsd_capture_active",
        kind: Kind::Gauge,
        help: "1 while a traffic capture runs.",
        label: "",
        rows: |s| s.capture.and_then(|c| one(u64::from(c.0))),
    },
    FamilyDef {
        name: "dogstatsd_capture_packets_total",
        kind: Kind::Counter,
        help: "Packets written to traffic captures.",
        label: "",
        rows: |s| s.capture.and_then(|c| one(c.1)),
    },
    FamilyDef {
        name: "dogstatsd_capture_dropped_total",
        kind: Kind::Counter,
        help: "Packets not captured because the capture channel was full.",
        label: "",
        rows: |s| s.capture.and_then(|c| one(c.2)),
    },
    FamilyDef {
        name: "dogstatsd_output_flushes_total",
        kind: Kind::Counter,
        help: "Flushes for stdout or the --output file, by state (dropped: the output thread was blocked and its queue full, or the write failed).",
        label: "state",
        rows: |s| s.out.map(|o| vec![("written", o[0]), ("dropped", o[1])]),
    },
    FamilyDef {
        name: "dogstatsd_output_records_total",
        kind: Kind::Counter,
        help: "Records (lines) in those flushes, by state.",
        label: "state",
        rows: |s| s.out.map(|o| vec![("written", o[2]), ("dropped", o[3])]),
    },
    FamilyDef {
        name: "dogstatsd_output_blocked_seconds",
        kind: Kind::Gauge,
        help: "How long the write under way has taken (0 when none is).",
        label: "",
        rows: |s| s.out.and_then(|o| one(o[4])),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_payloads_submitted_total",
        kind: Kind::Counter,
        help: "Intake payloads the forwarder took.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.payloads_submitted)),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_points_submitted_total",
        kind: Kind::Counter,
        help: "Points in the payloads the forwarder took.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.points_submitted)),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_payloads_total",
        kind: Kind::Counter,
        help: "Intake payloads finished, by state; the states do not overlap (dogstatsd_forwarder_payloads_submitted_total = their sum + queued + in flight).",
        label: "state",
        rows: |s| {
            s.fwd.as_ref().map(|f| {
                vec![
                    ("sent", f.payloads_sent),
                    ("rejected", f.payloads_rejected),
                    ("dropped", f.payloads_dropped),
                    ("stored", f.payloads_stored),
                ]
            })
        },
    },
    FamilyDef {
        name: "dogstatsd_forwarder_points_total",
        kind: Kind::Counter,
        help: "Points (series points, sketch buckets, events, checks) finished, by state; too_big never made it into a payload. The states do not overlap.",
        label: "state",
        rows: |s| {
            s.fwd.as_ref().map(|f| {
                vec![
                    ("sent", f.points_sent),
                    ("rejected", f.points_rejected),
                    ("dropped", f.points_dropped),
                    ("stored", f.points_stored),
                    ("too_big", f.points_too_big),
                ]
            })
        },
    },
    FamilyDef {
        name: "dogstatsd_forwarder_requests_total",
        kind: Kind::Counter,
        help: "HTTP requests started.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.requests)),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_retries_total",
        kind: Kind::Counter,
        help: "Attempts that ended in a retriable outcome, by cause.",
        label: "cause",
        rows: |s| {
            s.fwd.as_ref().map(|f| {
                vec![
                    ("status", f.retries - f.transport_errors.min(f.retries)),
                    ("transport", f.transport_errors),
                ]
            })
        },
    },
    FamilyDef {
        name: "dogstatsd_forwarder_queued_payloads",
        kind: Kind::Gauge,
        help: "Payloads waiting for a first or next attempt.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.queued)),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_queued_bytes",
        kind: Kind::Gauge,
        help: "Compressed bytes waiting in the retry queue.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.queued_bytes)),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_in_flight_payloads",
        kind: Kind::Gauge,
        help: "Payloads being sent now.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.in_flight)),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_redirects_total",
        kind: Kind::Counter,
        help: "307/308 redirects followed.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.redirects)),
    },
    FamilyDef {
        name: "dogstatsd_forwarder_store_payloads_total",
        kind: Kind::Counter,
        help: "Disk store: payloads written, read back, deleted unsent when full, set aside as corrupt.",
        label: "state",
        rows: |s| {
            s.fwd.as_ref().map(|f| {
                vec![
                    ("stored", f.payloads_stored),
                    ("restored", f.payloads_restored),
                    ("dropped", f.stored_dropped),
                    ("corrupt", f.stored_corrupt),
                ]
            })
        },
    },
    FamilyDef {
        name: "dogstatsd_forwarder_stored_payloads",
        kind: Kind::Gauge,
        help: "Payloads waiting in the disk store.",
        label: "",
        rows: |s| s.fwd.as_ref().and_then(|f| one(f.stored)),
    },
];

/// Counter rows whose label values are only known at run time: each row's
/// label pairs and value.
type DynRows = Vec<(Vec<(&'static str, String)>, u64)>;

/// The forwarder's families labelled by intake (the main one and each of
/// `additional_endpoints`), endpoint and reason.
fn forwarder_families(registry: &mut Registry, f: &Forwarder) {
    let failures = f.failures();
    let failed = |points: bool| -> DynRows {
        failures
            .iter()
            .map(|c| {
                (
                    vec![
                        ("intake", c.intake.clone()),
                        ("endpoint", c.endpoint.to_string()),
                        ("reason", c.reason.as_str().to_string()),
                    ],
                    if points { c.points } else { c.payloads },
                )
            })
            .collect()
    };
    register_counters(
        registry,
        "dogstatsd_forwarder_failed_payloads",
        "Payloads given up on, by intake, endpoint and reason (status, redirect, redirect_loop, redirect_downgrade, redirect_invalid, queue_full, store_full, shutdown, internal)",
        &failed(false),
    );
    register_counters(
        registry,
        "dogstatsd_forwarder_failed_points",
        "Points in payloads given up on, by intake, endpoint and reason",
        &failed(true),
    );
    let per: DynRows = f
        .endpoint_stats()
        .iter()
        .flat_map(|(name, e)| {
            [
                ("sent", e.payloads_sent),
                ("rejected", e.payloads_rejected),
                ("dropped", e.payloads_dropped),
                ("stored", e.payloads_stored),
            ]
            .map(|(state, v)| {
                (
                    vec![("intake", name.to_string()), ("state", state.to_string())],
                    v,
                )
            })
        })
        .collect();
    register_counters(
        registry,
        "dogstatsd_forwarder_intake_payloads",
        "Payloads per intake (the main one and each of additional_endpoints), by state",
        &per,
    );
}

/// Registers a counter family (name without `_total`) with run-time
/// label values; prometheus-client escapes them.
fn register_counters(
    registry: &mut Registry,
    name: &'static str,
    help: &'static str,
    rows: &DynRows,
) {
    let family = Family::<Vec<(&'static str, String)>, Counter>::default();
    for (labels, v) in rows {
        family.get_or_create(labels).inc_by(*v);
    }
    registry.register(name, help, family);
}

/// Label pairs of one row: `label` holds comma-separated keys and the
/// row's value as many comma-separated values.
fn labels(label: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    if label.is_empty() {
        return Vec::new();
    }
    label.split(',').zip(value.split(',')).collect()
}

/// Registers one family with its rows. prometheus-client appends `_total`
/// to counters itself, so it is taken off the name here.
fn register(
    registry: &mut Registry,
    name: &'static str,
    help: &'static str,
    kind: Kind,
    label: &'static str,
    rows: &[(&'static str, u64)],
) {
    type Labels = Vec<(&'static str, &'static str)>;
    // prometheus-client ends help with a period itself.
    let help = help.trim_end_matches('.');
    let total = |rows: &[(&str, u64)]| rows.iter().map(|r| r.1).sum::<u64>();
    match (kind, label.is_empty()) {
        (Kind::Counter, unlabelled) => {
            let name = name.strip_suffix("_total").unwrap_or(name);
            if unlabelled {
                let counter = Counter::<u64>::default();
                counter.inc_by(total(rows));
                registry.register(name, help, counter);
            } else {
                let family = Family::<Labels, Counter>::default();
                for &(value, v) in rows {
                    family.get_or_create(&labels(label, value)).inc_by(v);
                }
                registry.register(name, help, family);
            }
        }
        (Kind::Gauge, true) => {
            let gauge = Gauge::<u64, AtomicU64>::default();
            gauge.set(total(rows));
            registry.register(name, help, gauge);
        }
        (Kind::Gauge, false) => {
            let family = Family::<Labels, Gauge<u64, AtomicU64>>::default();
            for &(value, v) in rows {
                family.get_or_create(&labels(label, value)).set(v);
            }
            registry.register(name, help, family);
        }
    }
}

/// The process families Prometheus client libraries export
/// (`process_cpu_seconds_total`, memory, file descriptors, start time,
/// threads), read from `/proc/self` on Linux; none elsewhere.
mod process {
    use super::Kind;

    /// (name, help, kind, value)
    pub(super) type Def = (&'static str, &'static str, Kind, u64);

    #[cfg(target_os = "linux")]
    pub(super) fn families() -> Vec<Def> {
        let mut out = Vec::new();
        // The clock tick and page size are 100 Hz and 4 KiB on every
        // Linux platform the daemon is built for.
        const TICKS: u64 = 100;
        const PAGE: u64 = 4096;
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name, which is in parentheses and may
        // hold spaces: state is field 3, utime 14, stime 15, threads 20,
        // starttime 22, vsize 23, rss 24.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let field = |n: usize| f.get(n - 3).copied().unwrap_or(0);
        if f.len() >= 22 {
            out.push((
                "process_cpu_seconds_total",
                "User and system CPU time spent, in seconds (whole seconds).",
                Kind::Counter,
                (field(14) + field(15)) / TICKS,
            ));
            out.push((
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Kind::Gauge,
                field(23),
            ));
            out.push((
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Kind::Gauge,
                field(24) * PAGE,
            ));
            out.push((
                "process_threads",
                "Threads of the process.",
                Kind::Gauge,
                field(20),
            ));
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            });
            if let Some(boot) = boot {
                out.push((
                    "process_start_time_seconds",
                    "Start time of the process since the Unix epoch, in seconds.",
                    Kind::Gauge,
                    boot + field(22) / TICKS,
                ));
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            out.push((
                "process_open_fds",
                "Open file descriptors.",
                Kind::Gauge,
                fds.count() as u64,
            ));
        }
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .and_then(|v| v.parse().ok())
            });
        if let Some(max) = max_fds {
            out.push((
                "process_max_fds",
                "Maximum number of open file descriptors.",
                Kind::Gauge,
                max,
            ));
        }
        out
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn families() -> Vec<Def> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarder_is_stalled_only_with_work_pending_and_nothing_delivered() {
        let t0 = std::time::Instant::now();
        let later = |s| t0 + std::time::Duration::from_secs(s);
        let mut w = StallWatch::default();
        assert_eq!(w.observe(t0, 5, 3), None);
        assert_eq!(w.observe(later(59), 5, 3), None);
        assert_eq!(
            w.observe(later(61), 5, 3),
            Some(std::time::Duration::from_secs(61))
        );
        // Delivery moves: ready again, and the clock restarts.
        assert_eq!(w.observe(later(62), 6, 3), None);
        assert_eq!(w.observe(later(100), 6, 3), None);
        // Nothing pending: never stalled, however long nothing is sent.
        assert_eq!(w.observe(later(200), 6, 0), None);
        assert_eq!(w.observe(later(500), 6, 0), None);
    }

    #[test]
    fn renders_openmetrics_text() {
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
        assert!(
            text.contains("dogstatsd_messages_total{message_type=\"metrics\",state=\"error\"} 3\n")
        );
        assert!(text.contains("dogstatsd_samples_total 0\n"));
        // No forwarder or capture attached: their families are left out.
        assert!(!text.contains("dogstatsd_forwarder_"));
        assert!(!text.contains("dogstatsd_capture_"));
        let build = format!(
            "dogstatsd_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{text}");
        #[cfg(target_os = "linux")]
        for family in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_max_fds ",
            "process_start_time_seconds ",
            "process_threads ",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(family)),
                "{family}: {text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
        let mut samples = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            v.parse::<u64>().unwrap();
            samples += 1;
        }
        assert!(samples > 60, "{samples}");
    }
}
