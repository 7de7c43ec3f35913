//! The HTTP forwarder: ships each flush to a Datadog-compatible intake the
//! way the Agent does (`spec/intake.md`). The decisions (what an answer
//! means, redirects, backoff, the retry queue, the disk store) are core's
//! sans-IO [`dogstatsd_core::delivery`]; this shell does HTTP, files and
//! time.
//!
//! * [`Forwarder::submit`] encodes a [`Flush`] with core's payload
//!   encoders (split under [`PayloadLimits`](dogstatsd_core::payload::PayloadLimits)),
//!   compresses every body (`serializer_compressor_kind`) and queues it
//!   for the main intake and each of `additional_endpoints`, each with
//!   its own queue, backoff, store and counters. It never blocks on the
//!   network.
//! * Each endpoint's dispatcher sends what its state hands out, at most
//!   `forwarder_num_workers × forwarder_max_concurrent_requests` at once,
//!   with `DD-API-KEY`, `Content-Type`, `Content-Encoding`,
//!   `DD-Agent-Payload` (protobuf bodies), `DD-Agent-Version` and
//!   `User-Agent` headers, through `proxy.*` when configured.
//! * Answers ([`classify`]): 2xx delivered; 307/308 followed with the same
//!   POST (at most 10 hops, never from https to http); any status above
//!   400 but 403 and 413, transport errors and timeouts
//!   (`forwarder_timeout`) retried after the Agent's backoff
//!   (`forwarder_backoff_*`); anything else is a failure,
//!   logged with the status and `Location` and counted by reason
//!   ([`FailReason`]), never as sent.
//! * The queue holds at most `forwarder_retry_queue_payloads_max_size`
//!   bytes; beyond it the oldest payloads go to the disk store
//!   (`forwarder_storage_max_size_in_bytes` > 0) or are dropped, counted.
//! * [`Forwarder::shutdown`] stops taking flushes, keeps delivering for
//!   at most its deadline (`forwarder_stop_timeout`), then stores what is
//!   left (or drops it, counted and logged at WARN per kind).
//!
//! `https://` intakes need the `tls` cargo feature (on by default:
//! rustls with the system's root certificates, which honour
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`, plus the bundled Mozilla roots);
//! without it [`Forwarder::start`] refuses an `https://` URL.
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

pub mod compression;
pub mod config;
pub mod proxy;
pub mod store;

pub use dogstatsd_core::delivery::{backoff, queue};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use dogstatsd_core::delivery::retry::{
    Action, Delivery, DeliveryConfig, Next, Parcel, Settle, StoreId, StoredEntry,
};
use dogstatsd_core::delivery::status;
use dogstatsd_core::flush::Flush;
use dogstatsd_core::payload::{
    EncodeStats, Endpoint, Payload, PayloadLimits, encode_check_runs, encode_events,
    encode_series_v1, encode_series_v2, encode_sketches,
};
use reqwest::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, USER_AGENT,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use backoff::Backoff;
pub use compression::{Compression, CompressionError};
pub use config::{ConfigError, ForwarderConfig};
pub use dogstatsd_core::delivery::status::{FailReason, Verdict, classify};
use proxy::redact_url;
use store::{Store, StoredPayload};

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "DD-API-KEY";
/// Header carrying the Agent version.
pub const AGENT_VERSION_HEADER: &str = "DD-Agent-Version";
/// Header sent when `allow_arbitrary_tags` is on.
pub const ARBITRARY_TAGS_HEADER: &str = "Allow-Arbitrary-Tag-Value";

/// Rounds of re-splitting with a halved uncompressed limit when a
/// compressed body exceeds its compressed limit.
const MAX_RESPLITS: usize = 6;

/// Response bytes read (and discarded) per answer.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// A failure of the same reason and status is logged at most this often
/// per endpoint; the ones in between are counted in the next line.
const LOG_EVERY: Duration = Duration::from_secs(60);

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

/// Counters, as a snapshot (summed over endpoints by
/// [`Forwarder::stats`], one endpoint's by [`Forwarder::endpoint_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ForwarderStats {
    /// Payloads queued by `submit`, plus those read back from the store.
    pub payloads_submitted: u64,
    /// Points (series points, sketch buckets, events, checks) in them.
    pub points_submitted: u64,
    /// Payloads delivered (2xx).
    pub payloads_sent: u64,
    /// Points delivered.
    pub points_sent: u64,
    /// Compressed bytes delivered.
    pub bytes_sent: u64,
    /// HTTP requests started (redirect hops included).
    pub requests: u64,
    /// Redirects followed.
    pub redirects: u64,
    /// Attempts that ended in a retriable outcome.
    pub retries: u64,
    /// Of those, transport errors and timeouts.
    pub transport_errors: u64,
    /// Payloads given up on for their answer (status, redirect) or an
    /// internal error.
    pub payloads_rejected: u64,
    /// Points in them.
    pub points_rejected: u64,
    /// Payloads dropped from a full queue, or abandoned at shutdown, with
    /// no room in a store.
    pub payloads_dropped: u64,
    /// Points in them.
    pub points_dropped: u64,
    /// Payloads written to the disk store.
    pub payloads_stored: u64,
    /// Points in them.
    pub points_stored: u64,
    /// Payloads read back from the store (also in `payloads_submitted`).
    pub payloads_restored: u64,
    /// Stored files deleted unsent because the store was full.
    pub stored_dropped: u64,
    /// Stored files found unusable and set aside.
    pub stored_corrupt: u64,
    /// Items the encoder dropped because they fit no payload.
    pub items_too_big: u64,
    /// Points in them.
    pub points_too_big: u64,
    /// Payloads waiting in memory now.
    pub queued: u64,
    /// Compressed bytes waiting in memory now.
    pub queued_bytes: u64,
    /// Payloads being sent now.
    pub in_flight: u64,
    /// Stored payloads waiting on disk now.
    pub stored: u64,
    /// Bytes in the store now.
    pub stored_bytes: u64,
}

impl ForwarderStats {
    /// Points neither delivered, given up on, nor stored yet.
    pub fn points_pending(&self) -> u64 {
        self.points_submitted
            .saturating_sub(self.points_sent)
            .saturating_sub(self.points_rejected)
            .saturating_sub(self.points_dropped)
            .saturating_sub(self.points_stored)
    }

    fn add(&mut self, o: &Self) {
        macro_rules! sum {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        sum!(
            payloads_submitted,
            points_submitted,
            payloads_sent,
            points_sent,
            bytes_sent,
            requests,
            redirects,
            retries,
            transport_errors,
            payloads_rejected,
            points_rejected,
            payloads_dropped,
            points_dropped,
            payloads_stored,
            points_stored,
            payloads_restored,
            stored_dropped,
            stored_corrupt,
            items_too_big,
            points_too_big,
            queued,
            queued_bytes,
            in_flight,
            stored,
            stored_bytes
        );
    }
}

/// Payloads given up on, by endpoint and reason (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureCount {
    /// The intake (its URL, credentials hidden).
    pub intake: String,
    /// The request path, or `stored` for a stored file.
    pub endpoint: &'static str,
    /// Why.
    pub reason: FailReason,
    /// Payloads.
    pub payloads: u64,
    /// Points in them.
    pub points: u64,
}

/// What one [`Forwarder::submit`] queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct SubmitReport {
    /// Payloads queued (per endpoint).
    pub payloads: usize,
    /// Points in them.
    pub points: usize,
    /// Compressed bytes queued (per endpoint).
    pub bytes: usize,
    /// Older payloads dropped from a full queue to make room (all
    /// endpoints).
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
    redirects: AtomicU64,
    retries: AtomicU64,
    transport_errors: AtomicU64,
    payloads_rejected: AtomicU64,
    points_rejected: AtomicU64,
    payloads_dropped: AtomicU64,
    points_dropped: AtomicU64,
    payloads_stored: AtomicU64,
    points_stored: AtomicU64,
    payloads_restored: AtomicU64,
    stored_dropped: AtomicU64,
    stored_corrupt: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One payload on its way.
#[derive(Debug, Clone)]
struct Transaction {
    endpoint: Endpoint,
    body: Bytes,
    points: u64,
    encoding: Option<&'static str>,
    stored: Option<StoreId>,
}

impl Transaction {
    fn new(endpoint: Endpoint, body: Bytes, points: u64, encoding: Option<&'static str>) -> Self {
        Self {
            endpoint,
            body,
            points,
            encoding,
            stored: None,
        }
    }
}

impl Parcel for Transaction {
    fn bytes(&self) -> usize {
        self.body.len()
    }
    fn points(&self) -> u64 {
        self.points
    }
    fn stored(&self) -> Option<StoreId> {
        self.stored
    }
    fn set_stored(&mut self, id: StoreId) {
        self.stored = Some(id);
    }
}

/// What the points of an endpoint are called in logs.
fn kind(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::SeriesV2 | Endpoint::SeriesV1 => "series points",
        Endpoint::Sketches => "sketch points",
        Endpoint::CheckRuns => "service checks",
        Endpoint::Events => "events",
        _ => "points",
    }
}

/// Payloads and points, by key.
type Tally<K> = Mutex<BTreeMap<K, (u64, u64)>>;

/// Adds one payload of `points` points under `key`.
fn tally<K: Ord>(t: &Tally<K>, key: K, points: u64) {
    let mut m = lock(t);
    let e = m.entry(key).or_insert((0, 0));
    e.0 += 1;
    e.1 += points;
}

/// A payload is on disk now (written, or its file kept).
fn count_stored(lane: &Lane, tx: &Transaction, stopping: bool) {
    add(&lane.counters.payloads_stored, 1);
    add(&lane.counters.points_stored, tx.points);
    if stopping {
        tally(
            &lane.stop_stored,
            (tx.endpoint.path(), kind(tx.endpoint)),
            tx.points,
        );
    }
}

/// One intake and API key: its own state, store and counters.
struct Lane {
    /// Shown in logs and labels: the URL without credentials (`#n` for a
    /// second key on the same URL).
    name: String,
    url: String,
    api_key: HeaderValue,
    state: Mutex<Delivery<Transaction>>,
    store: Option<Store>,
    counters: Counters,
    failures: Tally<(&'static str, FailReason)>,
    /// At stop: dropped and stored, per (path, kind).
    stop_dropped: Tally<(&'static str, &'static str)>,
    stop_stored: Tally<(&'static str, &'static str)>,
    wake: Notify,
    /// Last log time and lines held back since, per (reason, status).
    logged: Mutex<HashMap<(FailReason, u16), (Instant, u64)>>,
    redirects_logged: Mutex<HashSet<String>>,
}

impl Lane {
    fn stats(&self) -> ForwarderStats {
        let c = &self.counters;
        let (queued, queued_bytes, in_flight, stored, stored_bytes) = {
            let st = lock(&self.state);
            (
                st.queued() as u64,
                st.queued_bytes() as u64,
                st.in_flight() as u64,
                st.stored() as u64,
                st.stored_bytes() as u64,
            )
        };
        ForwarderStats {
            payloads_submitted: get(&c.payloads_submitted),
            points_submitted: get(&c.points_submitted),
            payloads_sent: get(&c.payloads_sent),
            points_sent: get(&c.points_sent),
            bytes_sent: get(&c.bytes_sent),
            requests: get(&c.requests),
            redirects: get(&c.redirects),
            retries: get(&c.retries),
            transport_errors: get(&c.transport_errors),
            payloads_rejected: get(&c.payloads_rejected),
            points_rejected: get(&c.points_rejected),
            payloads_dropped: get(&c.payloads_dropped),
            points_dropped: get(&c.points_dropped),
            payloads_stored: get(&c.payloads_stored),
            points_stored: get(&c.points_stored),
            payloads_restored: get(&c.payloads_restored),
            stored_dropped: get(&c.stored_dropped),
            stored_corrupt: get(&c.stored_corrupt),
            items_too_big: 0,
            points_too_big: 0,
            queued,
            queued_bytes,
            in_flight,
            stored,
            stored_bytes,
        }
    }

    /// True when a failure of this kind should be logged now; returns the
    /// number held back since the last line.
    fn should_log(&self, reason: FailReason, status: u16) -> Option<u64> {
        let mut logged = lock(&self.logged);
        let now = Instant::now();
        match logged.get_mut(&(reason, status)) {
            Some((last, held)) if now.duration_since(*last) < LOG_EVERY => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                let n = *held;
                *last = now;
                *held = 0;
                Some(n)
            }
            None => {
                logged.insert((reason, status), (now, 0));
                Some(0)
            }
        }
    }
}

/// How one attempt (with its redirects) ended.
enum Attempt {
    Sent,
    Retry {
        reason: String,
        transport: bool,
    },
    Fail {
        reason: FailReason,
        status: u16,
        location: Option<String>,
        url: String,
    },
}

struct Shared {
    cfg: ForwarderConfig,
    client: reqwest::Client,
    lanes: Vec<Arc<Lane>>,
    closed: AtomicBool,
    stopped: AtomicBool,
    stop_logged: AtomicBool,
    cancel: watch::Sender<bool>,
    idle: Notify,
    origin: Instant,
    items_too_big: AtomicU64,
    points_too_big: AtomicU64,
}

/// A running forwarder. Must be started inside a tokio runtime. Dropping
/// it without [`shutdown`](Self::shutdown) abandons whatever is queued.
pub struct Forwarder {
    shared: Arc<Shared>,
    dispatchers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("config", &self.shared.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Checks an intake URL; true for `https://`.
fn check_url(url: &str) -> Result<bool, ConfigError> {
    let bad = |reason: &str| ConfigError::Url {
        url: redact_url(url),
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let https = match parsed.scheme() {
        "http" => false,
        "https" if cfg!(feature = "tls") => true,
        "https" => {
            return Err(bad(
                "https needs the `tls` feature, which this build lacks; use an http:// intake",
            ));
        }
        _ => return Err(bad("expected an http:// or https:// URL")),
    };
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(https)
}

/// The HTTP client every endpoint shares: no automatic redirects (the
/// forwarder follows 307/308 itself), the configured proxies only (no
/// implicit environment lookup: [`proxy`] applies the Agent's order),
/// TLS settings.
fn client(cfg: &ForwarderConfig) -> Result<reqwest::Client, ConfigError> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .no_proxy();
    for p in cfg.proxy.build()? {
        b = b.proxy(p);
    }
    #[cfg(feature = "tls")]
    {
        b = b
            .use_rustls_tls()
            .tls_built_in_root_certs(true)
            .danger_accept_invalid_certs(cfg.skip_ssl_validation)
            .min_tls_version(match cfg.min_tls_version {
                config::TlsVersion::Tls12 => reqwest::tls::Version::TLS_1_2,
                config::TlsVersion::Tls13 => reqwest::tls::Version::TLS_1_3,
            });
    }
    b.build()
        .map_err(|e| ConfigError::Value(format!("cannot build the HTTP client: {e}")))
}

/// The store directory of one endpoint: its host and port, and a hash of
/// its URL and key (so two keys never share files, and the key itself
/// never appears in a path).
fn store_dir_name(url: &str, api_key: &str) -> String {
    let host: String = reqwest::Url::parse(url)
        .ok()
        .map(|u| {
            format!(
                "{}_{}",
                u.host_str().unwrap_or(""),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes().chain([0]).chain(api_key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{host}-{h:016x}")
}

impl Forwarder {
    /// Starts one dispatcher per endpoint on the current tokio runtime,
    /// opening (and reading back) each endpoint's store when configured.
    pub fn start(cfg: ForwarderConfig) -> Result<Self, ForwarderError> {
        let mut targets = vec![(cfg.url.clone(), cfg.api_key.clone())];
        targets.extend(
            cfg.additional_endpoints
                .iter()
                .map(|e| (e.url.clone(), e.api_key.clone())),
        );
        for (url, _) in &targets {
            check_url(url)?;
        }
        let client = client(&cfg)?;
        if cfg.proxy.is_set() {
            tracing::info!(
                http = cfg.proxy.http.as_deref().map(redact_url).unwrap_or_default(),
                https = cfg.proxy.https.as_deref().map(redact_url).unwrap_or_default(),
                no_proxy = %cfg.proxy.no_proxy.join(","),
                source = ?cfg.proxy.source,
                "forwarder goes through a proxy"
            );
        }
        let seed = cfg.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
        let mut lanes = Vec::new();
        let mut restored = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, (url, key)) in targets.iter().enumerate() {
            let mut api_key = HeaderValue::from_str(key).map_err(|_| {
                ConfigError::Value(
                    "api_key: contains characters not allowed in an HTTP header".to_string(),
                )
            })?;
            api_key.set_sensitive(true);
            let shown = redact_url(url);
            let n = names.entry(shown.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 {
                shown
            } else {
                format!("{shown}#{n}")
            };
            let (store, found) = if cfg.storage_max_bytes > 0 {
                let dir = cfg.storage_path.join(store_dir_name(url, key));
                match Store::open(&dir) {
                    Ok((s, found)) => {
                        if found.corrupt > 0 || found.partial > 0 {
                            tracing::warn!(
                                intake = %name,
                                corrupt = found.corrupt,
                                partial = found.partial,
                                "forwarder store: unusable files set aside in {}/corrupt, incomplete ones deleted",
                                dir.display()
                            );
                        }
                        (Some(s), found)
                    }
                    Err(e) => {
                        tracing::error!(intake = %name, error = %e, "forwarder store unusable: payloads that do not fit in memory will be dropped");
                        (None, store::Found::default())
                    }
                }
            } else {
                (None, store::Found::default())
            };
            let state = Delivery::new(
                DeliveryConfig {
                    queue_max_bytes: cfg.retry_queue_max_bytes,
                    store_max_bytes: if store.is_some() {
                        cfg.storage_max_bytes
                    } else {
                        0
                    },
                    max_in_flight: cfg.max_in_flight(),
                },
                Backoff::with_policy(
                    cfg.backoff_base,
                    cfg.backoff_cap,
                    cfg.backoff_factor,
                    cfg.recovery_interval,
                    seed.wrapping_add(i as u64),
                ),
            );
            let lane = Arc::new(Lane {
                name,
                url: url.clone(),
                api_key,
                state: Mutex::new(state),
                store,
                counters: Counters::default(),
                failures: Mutex::new(BTreeMap::new()),
                stop_dropped: Mutex::new(BTreeMap::new()),
                stop_stored: Mutex::new(BTreeMap::new()),
                wake: Notify::new(),
                logged: Mutex::new(HashMap::new()),
                redirects_logged: Mutex::new(HashSet::new()),
            });
            add(&lane.counters.stored_corrupt, found.corrupt);
            if !found.entries.is_empty() {
                let bytes: usize = found.entries.iter().map(|e| e.bytes).sum();
                tracing::info!(
                    intake = %lane.name,
                    payloads = found.entries.len(),
                    bytes,
                    "forwarder store: resending payloads kept by an earlier run"
                );
            }
            restored.push((lane.clone(), found.entries));
            lanes.push(lane);
        }
        let shared = Arc::new(Shared {
            client,
            lanes,
            closed: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            stop_logged: AtomicBool::new(false),
            cancel: watch::Sender::new(false),
            idle: Notify::new(),
            origin: Instant::now(),
            items_too_big: AtomicU64::new(0),
            points_too_big: AtomicU64::new(0),
            cfg,
        });
        for (lane, entries) in restored {
            let actions = lock(&lane.state).restore(entries);
            shared.perform(&lane, actions);
        }
        let dispatchers = shared
            .lanes
            .iter()
            .map(|lane| tokio::spawn(dispatch(shared.clone(), lane.clone())))
            .collect();
        Ok(Self {
            shared,
            dispatchers: Mutex::new(dispatchers),
        })
    }

    /// The configuration (its `Debug` hides the API keys).
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
    /// bodies. Returns how many payloads were dropped to make room.
    pub fn submit_payload(
        &self,
        endpoint: Endpoint,
        body: &[u8],
        points: usize,
    ) -> Result<usize, ForwarderError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(ForwarderError::Closed);
        }
        let cfg = &self.shared.cfg;
        let body = cfg.compression.compress(body)?;
        Ok(self.shared.enqueue_everywhere(Transaction::new(
            endpoint,
            Bytes::from(body),
            points as u64,
            cfg.compression.content_encoding(),
        )))
    }

    /// Counters now, summed over every endpoint.
    pub fn stats(&self) -> ForwarderStats {
        let mut total = ForwarderStats::default();
        for lane in &self.shared.lanes {
            total.add(&lane.stats());
        }
        total.items_too_big = get(&self.shared.items_too_big);
        total.points_too_big = get(&self.shared.points_too_big);
        total
    }

    /// Counters now, per endpoint: its name (URL without credentials) and
    /// its counters; the main intake first.
    pub fn endpoint_stats(&self) -> Vec<(String, ForwarderStats)> {
        self.shared
            .lanes
            .iter()
            .map(|l| (l.name.clone(), l.stats()))
            .collect()
    }

    /// Payloads given up on so far, by endpoint and reason.
    pub fn failures(&self) -> Vec<FailureCount> {
        let mut out = Vec::new();
        for lane in &self.shared.lanes {
            for ((endpoint, reason), (payloads, points)) in lock(&lane.failures).iter() {
                out.push(FailureCount {
                    intake: lane.name.clone(),
                    endpoint,
                    reason: *reason,
                    payloads: *payloads,
                    points: *points,
                });
            }
        }
        out
    }

    /// Waits until nothing is queued, in flight or stored, at most
    /// `timeout`; true when that happened.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared
            .wait_idle(tokio::time::Instant::now() + timeout)
            .await
    }

    /// Stops taking flushes, keeps delivering (and retrying) for at most
    /// `deadline`, then writes what is left to the store (or drops it,
    /// counted in `payloads_dropped`), logs at WARN what was dropped per
    /// kind, and returns the final counters. Calling it again returns the
    /// counters at once.
    pub async fn shutdown(&self, deadline: Duration) -> ForwarderStats {
        let until = tokio::time::Instant::now() + deadline;
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wait_idle(until).await;
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.cancel.send_replace(true);
        for lane in &self.shared.lanes {
            lane.wake.notify_one();
        }
        // In-flight sends see the cancellation at once and hand their
        // payload back; give them a moment.
        let settle_until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < settle_until
            && self
                .shared
                .lanes
                .iter()
                .any(|l| lock(&l.state).in_flight() > 0)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for lane in &self.shared.lanes {
            let actions = lock(&lane.state).drain();
            self.shared.perform(lane, actions);
        }
        let handles: Vec<_> = lock(&self.dispatchers).drain(..).collect();
        for h in handles {
            let _ = tokio::time::timeout(Duration::from_secs(1), h).await;
        }
        if !self.shared.stop_logged.swap(true, Ordering::SeqCst) {
            self.shared.log_stop();
        }
        self.stats()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.cancel.send_replace(true);
        for lane in &self.shared.lanes {
            lane.wake.notify_one();
        }
    }
}

impl Shared {
    /// [`Forwarder::submit`].
    fn submit(&self, flush: &Flush, now: i64) -> Result<SubmitReport, ForwarderError> {
        if self.closed.load(Ordering::SeqCst) {
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
            add(&self.items_too_big, stats.dropped_items as u64);
            add(&self.points_too_big, stats.dropped_points as u64);
            ready.extend(payloads);
        }
        for tx in ready {
            report.payloads += 1;
            report.points += tx.points as usize;
            report.bytes += tx.body.len();
            report.dropped_payloads += self.enqueue_everywhere(tx);
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
                txs.push(Transaction::new(
                    p.endpoint,
                    Bytes::from(body),
                    p.points as u64,
                    cfg.compression.content_encoding(),
                ));
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

    /// Time since the forwarder started, the delivery states' clock.
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Queues a payload for every endpoint; returns how many payloads
    /// were dropped (not stored) to make room.
    fn enqueue_everywhere(&self, tx: Transaction) -> usize {
        let mut dropped = 0;
        for lane in &self.lanes {
            add(&lane.counters.payloads_submitted, 1);
            add(&lane.counters.points_submitted, tx.points);
            let actions = lock(&lane.state).push(tx.clone());
            dropped += self.perform(lane, actions);
            lane.wake.notify_one();
        }
        dropped
    }

    /// Carries out what a delivery state asked for; returns how many
    /// payloads were dropped.
    fn perform(&self, lane: &Lane, actions: Vec<Action<Transaction>>) -> usize {
        let stopping = self.stopped.load(Ordering::SeqCst);
        let mut dropped = 0;
        for a in actions {
            match a {
                Action::Store { id, payload } => {
                    let written = match &lane.store {
                        Some(store) => store.write(
                            id,
                            &StoredPayload {
                                endpoint: payload.endpoint,
                                encoding: payload.encoding,
                                points: payload.points,
                                body: payload.body.clone(),
                            },
                        ),
                        None => Err(store::StoreError::Corrupt {
                            path: Default::default(),
                            reason: "no store".to_string(),
                        }),
                    };
                    let entry = StoredEntry {
                        id,
                        bytes: payload.body.len(),
                        points: payload.points,
                    };
                    match written {
                        Ok(_) => {
                            lock(&lane.state).written(entry);
                            count_stored(lane, &payload, stopping);
                        }
                        Err(e) => {
                            tracing::error!(intake = %lane.name, error = %e, "forwarder store: cannot write a payload; dropping it");
                            lock(&lane.state).store_failed(entry);
                            self.count_failure(lane, &payload, FailReason::Internal);
                            dropped += 1;
                        }
                    }
                }
                Action::Drop { payload, reason } => {
                    if let (Some(id), Some(store)) = (payload.stored, &lane.store) {
                        store.remove(id);
                    }
                    match reason {
                        FailReason::QueueFull | FailReason::StoreFull => {
                            if let Some(held) = lane.should_log(reason, 0) {
                                tracing::warn!(
                                    intake = %lane.name,
                                    reason = reason.as_str(),
                                    held_back = held,
                                    "forwarder queue full (forwarder_retry_queue_payloads_max_size{}): dropping the oldest payloads",
                                    if lane.store.is_some() { ", forwarder_storage_max_size_in_bytes" } else { "" }
                                );
                            }
                        }
                        FailReason::Shutdown => {
                            tally(
                                &lane.stop_dropped,
                                (payload.endpoint.path(), kind(payload.endpoint)),
                                payload.points,
                            );
                        }
                        _ => {}
                    }
                    self.count_failure(lane, &payload, reason);
                    dropped += 1;
                }
                Action::DropStored { entry, reason } => {
                    if let Some(store) = &lane.store {
                        store.remove(entry.id);
                    }
                    add(&lane.counters.stored_dropped, 1);
                    tally(&lane.failures, ("stored", reason), entry.points);
                    if let Some(held) = lane.should_log(reason, 1) {
                        tracing::warn!(
                            intake = %lane.name,
                            points = entry.points,
                            held_back = held,
                            "forwarder store full (forwarder_storage_max_size_in_bytes): deleting the oldest stored payload"
                        );
                    }
                }
                Action::Unloaded { payload } => count_stored(lane, &payload, stopping),
                Action::Remove { id } => {
                    if let Some(store) = &lane.store {
                        store.remove(id);
                    }
                }
            }
        }
        dropped
    }

    fn count_failure(&self, lane: &Lane, tx: &Transaction, reason: FailReason) {
        let c = &lane.counters;
        match reason {
            FailReason::QueueFull | FailReason::StoreFull | FailReason::Shutdown => {
                add(&c.payloads_dropped, 1);
                add(&c.points_dropped, tx.points);
            }
            _ => {
                add(&c.payloads_rejected, 1);
                add(&c.points_rejected, tx.points);
            }
        }
        tally(&lane.failures, (tx.endpoint.path(), reason), tx.points);
    }

    /// What the stop did, per endpoint and kind: dropped at WARN, stored
    /// at INFO.
    fn log_stop(&self) {
        for lane in &self.lanes {
            for ((path, kind), (payloads, points)) in lock(&lane.stop_dropped).iter() {
                tracing::warn!(
                    intake = %lane.name,
                    endpoint = path,
                    payloads,
                    "forwarder stop: dropped {points} {kind} not delivered within forwarder_stop_timeout (set forwarder_storage_max_size_in_bytes to keep them for the next start)"
                );
            }
            for ((path, kind), (payloads, points)) in lock(&lane.stop_stored).iter() {
                tracing::info!(
                    intake = %lane.name,
                    endpoint = path,
                    payloads,
                    "forwarder stop: stored {points} {kind} for the next start in {}",
                    lane.store.as_ref().map(|s| s.dir().display().to_string()).unwrap_or_default()
                );
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.lanes.iter().all(|l| lock(&l.state).is_empty())
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

    /// After a state change: wake the lane's dispatcher and idle waiters.
    fn changed(&self, lane: &Lane) {
        lane.wake.notify_one();
        if lock(&lane.state).is_empty() {
            self.idle.notify_waiters();
        }
    }

    /// Reads stored payload `entry` back for `lane`.
    fn load(&self, lane: &Lane, entry: StoredEntry) {
        let read = lane.store.as_ref().map(|s| s.read(entry.id));
        let payload = match read {
            Some(Ok(p)) => {
                add(&lane.counters.payloads_restored, 1);
                add(&lane.counters.payloads_submitted, 1);
                add(&lane.counters.points_submitted, p.points);
                Some(Transaction {
                    endpoint: p.endpoint,
                    body: p.body,
                    points: p.points,
                    encoding: p.encoding,
                    stored: Some(entry.id),
                })
            }
            Some(Err(e)) => {
                tracing::warn!(intake = %lane.name, error = %e, "forwarder store: unusable file set aside");
                if let Some(s) = &lane.store {
                    s.set_aside(entry.id);
                }
                add(&lane.counters.stored_corrupt, 1);
                None
            }
            None => None,
        };
        let actions = lock(&lane.state).loaded(entry, payload);
        self.perform(lane, actions);
        self.changed(lane);
    }

    fn headers(&self, lane: &Lane, tx: &Transaction) -> HeaderMap {
        let cfg = &self.cfg;
        let mut h = HeaderMap::new();
        h.insert(HeaderName::from_static("dd-api-key"), lane.api_key.clone());
        if let Ok(v) = HeaderValue::from_str(&cfg.agent_version) {
            h.insert(HeaderName::from_static("dd-agent-version"), v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("datadog-agent/{}", cfg.agent_version)) {
            h.insert(USER_AGENT, v);
        }
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(tx.endpoint.content_type()),
        );
        if let Some(enc) = tx.encoding {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        for (name, value) in tx.endpoint.extra_headers() {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                h.insert(n, HeaderValue::from_static(value));
            }
        }
        if cfg.allow_arbitrary_tags {
            h.insert(
                HeaderName::from_static("allow-arbitrary-tag-value"),
                HeaderValue::from_static("true"),
            );
        }
        h
    }

    /// One attempt, following 307/308 redirects.
    async fn attempt(&self, lane: &Lane, tx: &Transaction) -> Attempt {
        let mut url = format!("{}{}", lane.url, tx.endpoint.path());
        let mut hops = 0;
        loop {
            add(&lane.counters.requests, 1);
            let sent = self
                .client
                .post(&url)
                .headers(self.headers(lane, tx))
                .body(tx.body.clone())
                .send()
                .await;
            let mut resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let what = if e.is_timeout() {
                        format!("timed out after {:?}", self.cfg.timeout)
                    } else {
                        // The full chain (connect, proxy, TLS), never a URL
                        // with credentials.
                        let e = e.without_url();
                        let mut msg = e.to_string();
                        let mut src = std::error::Error::source(&e);
                        while let Some(s) = src {
                            msg.push_str(": ");
                            msg.push_str(&s.to_string());
                            src = s.source();
                        }
                        msg
                    };
                    return Attempt::Retry {
                        reason: what,
                        transport: true,
                    };
                }
            };
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get(LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let mut read = 0;
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        read += c.len();
                        if read > MAX_RESPONSE_BODY {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Attempt::Retry {
                            reason: format!("status {status}, then {}", e.without_url()),
                            transport: true,
                        };
                    }
                }
            }
            match classify(status) {
                Verdict::Sent => return Attempt::Sent,
                Verdict::Retry => {
                    return Attempt::Retry {
                        reason: format!("status {status}"),
                        transport: false,
                    };
                }
                Verdict::Fail(reason) => {
                    return Attempt::Fail {
                        reason,
                        status,
                        location,
                        url,
                    };
                }
                Verdict::Redirect => match status::follow(&url, location.as_deref(), hops) {
                    Ok(next) => {
                        hops += 1;
                        add(&lane.counters.redirects, 1);
                        let first = {
                            // Bounded: an intake naming ever new places
                            // gets its first few logged.
                            let mut seen = lock(&lane.redirects_logged);
                            seen.len() < 64 && seen.insert(next.clone())
                        };
                        if first {
                            tracing::warn!(
                                intake = %lane.name,
                                status,
                                from = %redact_url(&url),
                                location = %redact_url(&next),
                                "intake redirects; following it for the same request (update dd_url to skip the hop)"
                            );
                        }
                        url = next;
                    }
                    Err(reason) => {
                        return Attempt::Fail {
                            reason,
                            status,
                            location,
                            url,
                        };
                    }
                },
            }
        }
    }

    async fn send(self: Arc<Self>, lane: Arc<Lane>, tx: Transaction) {
        let mut cancel = self.cancel.subscribe();
        let outcome = tokio::select! {
            a = self.attempt(&lane, &tx) => Some(a),
            _ = cancel.wait_for(|&c| c) => None,
        };
        let (endpoint, points, bytes) = (tx.endpoint, tx.points, tx.body.len() as u64);
        let actions = match outcome {
            None => lock(&lane.state).abandon(tx),
            Some(Attempt::Sent) => {
                add(&lane.counters.payloads_sent, 1);
                add(&lane.counters.points_sent, points);
                add(&lane.counters.bytes_sent, bytes);
                lock(&lane.state).settle(tx, Settle::Sent, self.now())
            }
            Some(Attempt::Retry { reason, transport }) => {
                add(&lane.counters.retries, 1);
                if transport {
                    add(&lane.counters.transport_errors, 1);
                }
                let mut st = lock(&lane.state);
                let actions = st.settle(tx, Settle::Retry, self.now());
                let errors = st.errors();
                drop(st);
                if errors >= 3 {
                    tracing::warn!(
                        intake = %lane.name,
                        endpoint = endpoint.path(),
                        consecutive_errors = errors,
                        %reason,
                        "intake not reachable; payloads are kept and retried"
                    );
                } else {
                    tracing::debug!(intake = %lane.name, endpoint = endpoint.path(), %reason, "retrying payload");
                }
                actions
            }
            Some(Attempt::Fail {
                reason,
                status,
                location,
                url,
            }) => {
                if let Some(held) = lane.should_log(reason, status) {
                    let hint = match (reason, status) {
                        (FailReason::Status, 403) => " (API key invalid?)",
                        (FailReason::Status, 413) => " (payload too large)",
                        (FailReason::Redirect, _) => {
                            " (only 307 and 308 keep the POST; point dd_url at the final address)"
                        }
                        (FailReason::RedirectDowngrade, _) => " (refusing to leave https for http)",
                        (FailReason::RedirectLoop, _) => " (too many redirects)",
                        (FailReason::RedirectInvalid, _) => " (no usable Location)",
                        _ => "",
                    };
                    tracing::error!(
                        intake = %lane.name,
                        endpoint = endpoint.path(),
                        url = %redact_url(&url),
                        status,
                        location = location.as_deref().map(redact_url).unwrap_or_default(),
                        reason = reason.as_str(),
                        points,
                        held_back = held,
                        "intake answered status {status}{hint}; dropping the payload"
                    );
                }
                lock(&lane.state).settle(tx, Settle::Fail(reason), self.now())
            }
        };
        self.perform(&lane, actions);
        self.changed(&lane);
    }
}

/// Hands out what `lane`'s state says, when it says so.
async fn dispatch(shared: Arc<Shared>, lane: Arc<Lane>) {
    let mut cancel = shared.cancel.subscribe();
    loop {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let notified = lane.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = lock(&lane.state).poll(shared.now());
        match next {
            Next::Send(tx) => {
                tokio::spawn(shared.clone().send(lane.clone(), tx));
            }
            Next::Load(entry) => shared.load(&lane, entry),
            Next::WaitUntil(t) => {
                let at = tokio::time::Instant::from_std(shared.origin + t);
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = notified => {}
                    _ = cancel.wait_for(|&c| c) => return,
                }
            }
            Next::Idle => {
                tokio::select! {
                    _ = notified => {}
                    _ = cancel.wait_for(|&c| c) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = check_url("gopher://u:secret@x").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn store_directories_differ_per_key_and_hide_it() {
        let a = store_dir_name("https://api.datadoghq.com", "key-one-0123456789");
        let b = store_dir_name("https://api.datadoghq.com", "key-two-0123456789");
        assert_ne!(a, b);
        assert!(a.starts_with("api.datadoghq.com_443-"), "{a}");
        assert!(!a.contains("key-one"));
        assert_eq!(
            a,
            store_dir_name("https://api.datadoghq.com", "key-one-0123456789")
        );
    }
}
