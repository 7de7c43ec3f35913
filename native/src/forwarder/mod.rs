//! The HTTP forwarder: ships each flush to a Datadog-compatible intake the
//! way the Agent does (`spec/intake.md`), with the retry behaviour of the
//! Agent trace writer's sender (`spec/dogstatsd.md` §11.2).
//!
//! * [`Forwarder::submit`] encodes a [`Flush`] with core's payload
//!   encoders (split under [`PayloadLimits`](dogstatsd_core::payload::PayloadLimits)),
//!   compresses every body (`serializer_compressor_kind`) and queues it.
//!   It never blocks on the network.
//! * A dispatcher task takes payloads from the queue in order, waits the
//!   shared [`Backoff`] delay, takes one of `max_concurrent_requests`
//!   slots and sends in the background with `DD-API-KEY`,
//!   `Content-Type`, `Content-Encoding`, `DD-Agent-Payload` (protobuf
//!   bodies), `DD-Agent-Version` and `User-Agent` headers.
//! * Outcomes ([`classify`]): a status below 400 is a success (the
//!   backoff attempt halves); a transport error, a timeout
//!   (`forwarder_timeout`), 408, 429 or any 5xx is retried (attempt + 1,
//!   payload re-queued at the back); any other 4xx drops the payload,
//!   counted, and is logged once per status.
//! * The queue holds at most `forwarder_retry_queue_payloads_max_size`
//!   bytes of compressed payloads; when full the **oldest** are dropped
//!   and counted.
//! * [`Forwarder::shutdown`] stops taking flushes, keeps sending (and
//!   retrying) until everything is delivered or the deadline passes, then
//!   abandons what is left, counted as dropped.
//!
//! `https://` intakes need the `tls` cargo feature (on by default:
//! rustls with the system's root certificates, else bundled Mozilla
//! roots); without it [`Forwarder::start`] refuses an `https://` URL.
//!
//! ```no_run
//! # async fn demo(flush: dogstatsd_core::flush::Flush) {
//! use std::time::Duration;
//! use dogstatsd_native::forwarder::{Forwarder, ForwarderConfig};
//! let fwd = Forwarder::start(ForwarderConfig::new("http://127.0.0.1:8080", "key")).unwrap();
//! fwd.submit(&flush, 1_700_000_000).unwrap();
//! let stats = fwd.shutdown(Duration::from_secs(5)).await;
//! println!("{} points sent", stats.points_sent);
//! # }
//! ```

pub mod backoff;
pub mod compression;
pub mod config;
pub mod queue;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use dogstatsd_core::flush::Flush;
use dogstatsd_core::payload::{
    EncodeStats, Endpoint, Payload, PayloadLimits, encode_check_runs, encode_events,
    encode_series_v1, encode_series_v2, encode_sketches,
};
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

pub use backoff::Backoff;
pub use compression::{Compression, CompressionError};
pub use config::{ConfigError, ForwarderConfig};
use queue::BoundedQueue;

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "DD-API-KEY";
/// Header carrying the Agent version.
pub const AGENT_VERSION_HEADER: &str = "DD-Agent-Version";
/// Header sent when `allow_arbitrary_tags` is on.
pub const ARBITRARY_TAGS_HEADER: &str = "Allow-Arbitrary-Tag-Value";

/// Rounds of re-splitting with a halved uncompressed limit when a
/// compressed body exceeds its compressed limit.
const MAX_RESPLITS: usize = 6;

/// Encodes one kind of item under the given limits.
type EncodeFn<'a> = &'a dyn Fn(&PayloadLimits, &mut Vec<Payload>) -> EncodeStats;

/// Why the forwarder could not start or take a flush.
#[derive(Debug, thiserror::Error)]
pub enum ForwarderError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// [`Forwarder::shutdown`] was called.
    #[error("the forwarder is shut down")]
    Closed,
    /// A body could not be compressed.
    #[error("compression failed: {0}")]
    Compression(#[from] CompressionError),
    /// The blocking encoding task failed.
    #[error("encoding task failed: {0}")]
    Task(String),
}

/// What to do after an answer (`spec/intake.md` §1.1, the trace writer's
/// retriable set plus 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Sent,
    /// Re-queue and try again later.
    Retry,
    /// Drop the payload.
    Reject,
}

/// Classifies an HTTP status: below 400 sent; 408, 429 and 5xx retried;
/// any other 4xx rejected.
pub const fn classify(status: u16) -> Outcome {
    if status < 400 {
        Outcome::Sent
    } else if status == 408 || status == 429 || status >= 500 {
        Outcome::Retry
    } else {
        Outcome::Reject
    }
}

/// Counters, as a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ForwarderStats {
    /// Payloads queued by `submit`.
    pub payloads_submitted: u64,
    /// Points (series points, sketch buckets, events, checks) in them.
    pub points_submitted: u64,
    /// Payloads delivered (status below 400).
    pub payloads_sent: u64,
    /// Points delivered.
    pub points_sent: u64,
    /// Compressed bytes delivered.
    pub bytes_sent: u64,
    /// HTTP requests started.
    pub requests: u64,
    /// Attempts that ended in a retriable outcome.
    pub retries: u64,
    /// Of those, transport errors and timeouts.
    pub transport_errors: u64,
    /// Payloads dropped on a non-retriable status.
    pub payloads_rejected: u64,
    /// Points in them.
    pub points_rejected: u64,
    /// Payloads dropped from a full queue, or abandoned at shutdown.
    pub payloads_dropped: u64,
    /// Points in them.
    pub points_dropped: u64,
    /// Items the encoder dropped because they fit no payload.
    pub items_too_big: u64,
    /// Points in them.
    pub points_too_big: u64,
    /// Payloads waiting in the queue now.
    pub queued: u64,
    /// Compressed bytes waiting in the queue now.
    pub queued_bytes: u64,
    /// Payloads taken from the queue and not finished yet.
    pub in_flight: u64,
}

impl ForwarderStats {
    /// Points neither delivered nor given up on yet.
    pub fn points_pending(&self) -> u64 {
        self.points_submitted - self.points_sent - self.points_rejected - self.points_dropped
    }
}

/// What one [`Forwarder::submit`] queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct SubmitReport {
    /// Payloads queued.
    pub payloads: usize,
    /// Points in them.
    pub points: usize,
    /// Compressed bytes queued.
    pub bytes: usize,
    /// Older payloads dropped from the full queue to make room.
    pub dropped_payloads: usize,
    /// Items the encoder dropped (too big for any payload).
    pub items_too_big: usize,
}

#[derive(Default)]
struct Counters {
    payloads_submitted: AtomicU64,
    points_submitted: AtomicU64,
    payloads_sent: AtomicU64,
    points_sent: AtomicU64,
    bytes_sent: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    transport_errors: AtomicU64,
    payloads_rejected: AtomicU64,
    points_rejected: AtomicU64,
    payloads_dropped: AtomicU64,
    points_dropped: AtomicU64,
    items_too_big: AtomicU64,
    points_too_big: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// One payload on its way.
#[derive(Debug)]
struct Transaction {
    endpoint: Endpoint,
    body: Bytes,
    points: u64,
    /// Failed attempts so far.
    retries: u32,
}

struct State {
    queue: BoundedQueue<Transaction>,
    in_flight: usize,
    /// No more submits.
    closed: bool,
    /// No more sends or re-queues.
    stopped: bool,
}

struct Shared {
    cfg: ForwarderConfig,
    api_key: HeaderValue,
    client: Client<Connector, Full<Bytes>>,
    state: Mutex<State>,
    wake: Notify,
    idle: Notify,
    backoff: Mutex<Backoff>,
    counters: Counters,
    logged_statuses: Mutex<HashSet<u16>>,
    cancel: watch::Sender<bool>,
}

/// A running forwarder. Must be started inside a tokio runtime. Dropping
/// it without [`shutdown`](Self::shutdown) abandons whatever is queued.
pub struct Forwarder {
    shared: Arc<Shared>,
    dispatcher: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("config", &self.shared.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

/// The HTTP(S) connector. Root certificates are only loaded for an
/// `https://` intake: the system's, or the bundled Mozilla roots when the
/// system has none.
#[cfg(feature = "tls")]
fn connector(mut http: HttpConnector, https: bool) -> Connector {
    http.enforce_http(false);
    let roots = hyper_rustls::HttpsConnectorBuilder::new();
    let roots = if https {
        match roots.with_native_roots() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "no usable system root certificates; using the bundled Mozilla roots");
                hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots()
            }
        }
    } else {
        roots.with_webpki_roots()
    };
    roots.https_or_http().enable_http1().wrap_connector(http)
}

#[cfg(not(feature = "tls"))]
fn connector(http: HttpConnector, _https: bool) -> Connector {
    http
}

/// Checks the intake URL; true for `https://`.
fn check_url(url: &str) -> Result<bool, ConfigError> {
    let bad = |reason: &str| ConfigError::Url {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") if cfg!(feature = "tls") => true,
        Some("https") => {
            return Err(bad(
                "https needs the `tls` feature, which this build lacks; use an http:// intake",
            ));
        }
        _ => return Err(bad("expected an http:// or https:// URL")),
    };
    if uri.host().is_none() {
        return Err(bad("no host"));
    }
    Ok(https)
}

impl Forwarder {
    /// Starts the forwarder's dispatcher on the current tokio runtime.
    pub fn start(cfg: ForwarderConfig) -> Result<Self, ForwarderError> {
        let https = check_url(&cfg.url)?;
        let mut api_key = HeaderValue::from_str(&cfg.api_key).map_err(|_| {
            ConfigError::Value(
                "api_key: contains characters not allowed in an HTTP header".to_string(),
            )
        })?;
        api_key.set_sensitive(true);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(cfg.timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(self::connector(connector, https));
        let seed = cfg.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let max = cfg.max_concurrent_requests.max(1);
        let shared = Arc::new(Shared {
            api_key,
            client,
            state: Mutex::new(State {
                queue: BoundedQueue::new(cfg.retry_queue_max_bytes),
                in_flight: 0,
                closed: false,
                stopped: false,
            }),
            wake: Notify::new(),
            idle: Notify::new(),
            backoff: Mutex::new(Backoff::new(cfg.backoff_base, cfg.backoff_cap, seed)),
            counters: Counters::default(),
            logged_statuses: Mutex::new(HashSet::new()),
            cancel: watch::Sender::new(false),
            cfg,
        });
        let dispatcher = tokio::spawn(dispatch(shared.clone(), Arc::new(Semaphore::new(max))));
        Ok(Self {
            shared,
            dispatcher: Mutex::new(Some(dispatcher)),
        })
    }

    /// The configuration (its `Debug` hides the API key).
    pub fn config(&self) -> &ForwarderConfig {
        &self.shared.cfg
    }

    /// Encodes, compresses and queues a flush; `now` (Unix seconds) stamps
    /// service checks that carry no timestamp. Returns without waiting for
    /// the network, but encodes and compresses on the calling thread; see
    /// [`submit_owned`](Self::submit_owned) to do that on a blocking
    /// thread instead.
    pub fn submit(&self, flush: &Flush, now: i64) -> Result<SubmitReport, ForwarderError> {
        self.shared.submit(flush, now)
    }

    /// As [`submit`](Self::submit), with the encoding and compression on
    /// tokio's blocking pool, so a large flush does not hold up an async
    /// worker thread.
    pub async fn submit_owned(
        &self,
        flush: Flush,
        now: i64,
    ) -> Result<SubmitReport, ForwarderError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.submit(&flush, now))
            .await
            .map_err(|e| ForwarderError::Task(e.to_string()))?
    }

    /// Compresses and queues one ready-made (uncompressed) body for
    /// `endpoint`, carrying `points` points (for the counters). For
    /// callers that encode themselves, and for tests that send scripted
    /// bodies. Returns how many older payloads were dropped to make room.
    pub fn submit_payload(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        points: usize,
    ) -> Result<usize, ForwarderError> {
        if lock(&self.shared.state).closed {
            return Err(ForwarderError::Closed);
        }
        let body = self.shared.cfg.compression.compress(body)?;
        add(&self.shared.counters.payloads_submitted, 1);
        add(&self.shared.counters.points_submitted, points as u64);
        Ok(self.shared.enqueue(Transaction {
            endpoint,
            body: Bytes::from(body),
            points: points as u64,
            retries: 0,
        }))
    }

    /// Counters now.
    pub fn stats(&self) -> ForwarderStats {
        self.shared.stats()
    }

    /// Waits until nothing is queued or in flight, at most `timeout`;
    /// true when that happened.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared
            .wait_idle(tokio::time::Instant::now() + timeout)
            .await
    }

    /// Stops taking flushes, keeps delivering (and retrying) what is
    /// queued for at most `deadline`, then abandons the rest (counted in
    /// `payloads_dropped`) and returns the final counters. Calling it
    /// again returns the counters at once.
    pub async fn shutdown(&self, deadline: Duration) -> ForwarderStats {
        let until = tokio::time::Instant::now() + deadline;
        lock(&self.shared.state).closed = true;
        self.shared.wait_idle(until).await;
        let leftover = {
            let mut st = lock(&self.shared.state);
            st.stopped = true;
            st.queue.drain()
        };
        for tx in leftover {
            self.shared.drop_tx(&tx);
        }
        self.shared.cancel.send_replace(true);
        self.shared.wake.notify_one();
        // In-flight sends see the cancellation at once; give them a
        // moment to account for themselves.
        self.shared
            .wait_idle(tokio::time::Instant::now() + Duration::from_secs(1))
            .await;
        let handle = lock(&self.dispatcher).take();
        if let Some(h) = handle {
            let _ = tokio::time::timeout(Duration::from_secs(1), h).await;
        }
        self.stats()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        lock(&self.shared.state).stopped = true;
        self.shared.cancel.send_replace(true);
        self.shared.wake.notify_one();
    }
}

impl Shared {
    /// [`Forwarder::submit`].
    fn submit(&self, flush: &Flush, now: i64) -> Result<SubmitReport, ForwarderError> {
        if lock(&self.state).closed {
            return Err(ForwarderError::Closed);
        }
        let cfg = &self.cfg;
        let mut report = SubmitReport::default();
        let mut ready = Vec::new();
        let series_v2 = cfg.series_v2;
        let kinds: [(bool, EncodeFn<'_>); 4] = [
            (true, &|l, out| {
                if series_v2 {
                    encode_series_v2(&flush.series, l, out)
                } else {
                    encode_series_v1(&flush.series, l, out)
                }
            }),
            (false, &|l, out| encode_sketches(&flush.sketches, l, out)),
            (false, &|l, out| {
                encode_check_runs(&flush.service_checks, now, l, out)
            }),
            (false, &|l, out| {
                encode_events(&flush.events, &cfg.hostname, l, out)
            }),
        ];
        for (is_series, encode) in kinds {
            let (payloads, stats) = self.encode_compressed(is_series, encode)?;
            report.items_too_big += stats.dropped_items;
            add(&self.counters.items_too_big, stats.dropped_items as u64);
            add(&self.counters.points_too_big, stats.dropped_points as u64);
            ready.extend(payloads);
        }
        for tx in ready {
            report.payloads += 1;
            report.points += tx.points as usize;
            report.bytes += tx.body.len();
            add(&self.counters.payloads_submitted, 1);
            add(&self.counters.points_submitted, tx.points);
            report.dropped_payloads += self.enqueue(tx);
        }
        Ok(report)
    }

    /// Encodes one kind of item and compresses each body; when a body
    /// exceeds its compressed limit, encodes again with a smaller
    /// uncompressed limit (at most half the previous one, and no more than
    /// what the offending body's compression ratio says would fit), a few
    /// rounds at most, never dropping more items than the first round.
    fn encode_compressed(
        &self,
        is_series: bool,
        encode: EncodeFn<'_>,
    ) -> Result<(Vec<Transaction>, EncodeStats), ForwarderError> {
        let cfg = &self.cfg;
        let mut limits = cfg.limits;
        let max_compressed = if is_series {
            limits.max_series_payload_size
        } else {
            limits.max_payload_size
        };
        let mut best: Option<(Vec<Transaction>, EncodeStats)> = None;
        for _ in 0..MAX_RESPLITS {
            let mut payloads = Vec::new();
            let stats = encode(&limits, &mut payloads);
            if let Some((_, first)) = &best
                && stats.dropped_items > first.dropped_items
            {
                break;
            }
            let mut txs = Vec::with_capacity(payloads.len());
            // The uncompressed size that would have brought the worst
            // offender under the compressed limit, at its compression ratio.
            let mut fitting: Option<usize> = None;
            for p in payloads {
                let body = cfg.compression.compress(&p.body)?;
                if body.len() > max_compressed {
                    let estimate = (p.body.len() as u128 * max_compressed as u128
                        / body.len() as u128) as usize;
                    fitting = Some(fitting.map_or(estimate, |f| f.min(estimate)));
                }
                txs.push(Transaction {
                    endpoint: p.endpoint,
                    body: Bytes::from(body),
                    points: p.points as u64,
                    retries: 0,
                });
            }
            best = Some((txs, stats));
            let Some(fitting) = fitting else {
                break;
            };
            let limit = if is_series {
                &mut limits.max_series_uncompressed_payload_size
            } else {
                &mut limits.max_uncompressed_payload_size
            };
            *limit = (*limit / 2).min(fitting).max(1);
        }
        Ok(best.unwrap_or_default())
    }

    fn stats(&self) -> ForwarderStats {
        let c = &self.counters;
        let (queued, queued_bytes, in_flight) = {
            let st = lock(&self.state);
            (
                st.queue.len() as u64,
                st.queue.bytes() as u64,
                st.in_flight as u64,
            )
        };
        ForwarderStats {
            payloads_submitted: get(&c.payloads_submitted),
            points_submitted: get(&c.points_submitted),
            payloads_sent: get(&c.payloads_sent),
            points_sent: get(&c.points_sent),
            bytes_sent: get(&c.bytes_sent),
            requests: get(&c.requests),
            retries: get(&c.retries),
            transport_errors: get(&c.transport_errors),
            payloads_rejected: get(&c.payloads_rejected),
            points_rejected: get(&c.points_rejected),
            payloads_dropped: get(&c.payloads_dropped),
            points_dropped: get(&c.points_dropped),
            items_too_big: get(&c.items_too_big),
            points_too_big: get(&c.points_too_big),
            queued,
            queued_bytes,
            in_flight,
        }
    }

    /// Queues a payload; returns how many older ones were dropped (or 1 if
    /// this one was dropped: the forwarder is stopped, or it is larger
    /// than the whole queue).
    fn enqueue(&self, tx: Transaction) -> usize {
        let dropped = {
            let mut st = lock(&self.state);
            if st.stopped {
                vec![tx]
            } else {
                let size = tx.body.len();
                st.queue.push(tx, size)
            }
        };
        let n = dropped.len();
        if n > 0 {
            tracing::warn!(
                dropped = n,
                "forwarder queue full (forwarder_retry_queue_payloads_max_size): dropping the oldest payloads"
            );
        }
        for tx in &dropped {
            self.drop_tx(tx);
        }
        self.wake.notify_one();
        n
    }

    fn drop_tx(&self, tx: &Transaction) {
        add(&self.counters.payloads_dropped, 1);
        add(&self.counters.points_dropped, tx.points);
    }

    fn is_idle(&self) -> bool {
        let st = lock(&self.state);
        st.queue.is_empty() && st.in_flight == 0
    }

    async fn wait_idle(&self, until: tokio::time::Instant) -> bool {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_idle() {
                return true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return self.is_idle();
            }
        }
    }

    /// A taken payload is finished (sent, re-queued or dropped).
    fn done(&self) {
        let idle = {
            let mut st = lock(&self.state);
            st.in_flight -= 1;
            st.queue.is_empty() && st.in_flight == 0
        };
        if idle {
            self.idle.notify_waiters();
        }
    }

    fn request(&self, tx: &Transaction) -> Result<Request<Full<Bytes>>, hyper::http::Error> {
        let cfg = &self.cfg;
        let mut b = Request::post(format!("{}{}", cfg.url, tx.endpoint.path()))
            .header(API_KEY_HEADER, self.api_key.clone())
            .header(AGENT_VERSION_HEADER, cfg.agent_version.as_str())
            .header(USER_AGENT, format!("datadog-agent/{}", cfg.agent_version))
            .header(CONTENT_TYPE, tx.endpoint.content_type());
        if let Some(enc) = cfg.compression.content_encoding() {
            b = b.header(CONTENT_ENCODING, enc);
        }
        for (name, value) in tx.endpoint.extra_headers() {
            b = b.header(*name, *value);
        }
        if cfg.allow_arbitrary_tags {
            b = b.header(ARBITRARY_TAGS_HEADER, "true");
        }
        b.body(Full::new(tx.body.clone()))
    }

    /// One attempt: the status, with the response body drained.
    async fn roundtrip(&self, req: Request<Full<Bytes>>) -> Result<u16, String> {
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        resp.into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(status)
    }

    async fn send(self: Arc<Self>, mut tx: Transaction) {
        let mut cancel = self.cancel.subscribe();
        add(&self.counters.requests, 1);
        let req = match self.request(&tx) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the intake request; dropping the payload");
                self.reject(&tx);
                self.done();
                return;
            }
        };
        let attempt = tokio::select! {
            r = tokio::time::timeout(self.cfg.timeout, self.roundtrip(req)) => r,
            _ = cancel.wait_for(|&c| c) => {
                self.drop_tx(&tx);
                self.done();
                return;
            }
        };
        let outcome = match attempt {
            Ok(Ok(status)) => match classify(status) {
                Outcome::Sent => Ok(()),
                Outcome::Retry => Err(format!("status {status}")),
                Outcome::Reject => {
                    if lock(&self.logged_statuses).insert(status) {
                        let hint = if status == 403 {
                            " (API key invalid?)"
                        } else {
                            ""
                        };
                        tracing::error!(
                            status,
                            endpoint = tx.endpoint.path(),
                            "intake rejected a payload with status {status}{hint}; dropping it (later rejections with this status are only counted)"
                        );
                    }
                    self.reject(&tx);
                    self.done();
                    return;
                }
            },
            Ok(Err(e)) => {
                add(&self.counters.transport_errors, 1);
                Err(e)
            }
            Err(_) => {
                add(&self.counters.transport_errors, 1);
                Err(format!("timed out after {:?}", self.cfg.timeout))
            }
        };
        match outcome {
            Ok(()) => {
                lock(&self.backoff).on_success();
                add(&self.counters.payloads_sent, 1);
                add(&self.counters.points_sent, tx.points);
                add(&self.counters.bytes_sent, tx.body.len() as u64);
            }
            Err(reason) => {
                lock(&self.backoff).on_retry();
                add(&self.counters.retries, 1);
                tx.retries += 1;
                if tx.retries >= 4 && tx.retries.is_power_of_two() {
                    tracing::warn!(
                        retries = tx.retries,
                        endpoint = tx.endpoint.path(),
                        %reason,
                        "payload still not delivered; retrying"
                    );
                } else {
                    tracing::debug!(endpoint = tx.endpoint.path(), %reason, "retrying payload");
                }
                self.enqueue(tx);
            }
        }
        self.done();
    }

    fn reject(&self, tx: &Transaction) {
        add(&self.counters.payloads_rejected, 1);
        add(&self.counters.points_rejected, tx.points);
    }
}

/// Takes payloads in order, waits the backoff delay and a concurrency
/// slot, and sends each in its own task.
async fn dispatch(shared: Arc<Shared>, slots: Arc<Semaphore>) {
    let mut cancel = shared.cancel.subscribe();
    loop {
        let tx = loop {
            let notified = shared.wake.notified();
            {
                let mut st = lock(&shared.state);
                if st.stopped {
                    return;
                }
                if let Some(tx) = st.queue.pop() {
                    st.in_flight += 1;
                    break tx;
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = cancel.wait_for(|&c| c) => return,
            }
        };
        let delay = lock(&shared.backoff).delay();
        let permit = tokio::select! {
            p = async {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                slots.clone().acquire_owned().await
            } => p,
            _ = cancel.wait_for(|&c| c) => {
                shared.drop_tx(&tx);
                shared.done();
                return;
            }
        };
        let Ok(permit) = permit else {
            shared.drop_tx(&tx);
            shared.done();
            return;
        };
        let s = shared.clone();
        tokio::spawn(async move {
            s.send(tx).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_like_the_agent() {
        for s in [200, 202, 204, 301] {
            assert_eq!(classify(s), Outcome::Sent, "{s}");
        }
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), Outcome::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 413] {
            assert_eq!(classify(s), Outcome::Reject, "{s}");
        }
    }

    #[test]
    fn the_forwarder_can_be_shared_across_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Forwarder>();
        send_sync::<crate::intake::TestIntake>();
    }

    #[test]
    fn urls_are_checked() {
        let https = check_url("https://api.datadoghq.com");
        if cfg!(feature = "tls") {
            assert!(https.unwrap());
        } else {
            assert!(https.unwrap_err().to_string().contains("tls"));
        }
        assert!(!check_url("http://127.0.0.1:1").unwrap());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("not a url").is_err());
    }
}
