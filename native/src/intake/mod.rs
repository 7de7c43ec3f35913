//! The latency test intake: a Datadog-compatible HTTP intake for tests and
//! local development, modelled on the Agent trace writer's test server
//! (`spec/dogstatsd.md` §11.1) and the intake's contract
//! (`spec/intake.md`).
//!
//! * It accepts the forwarder's payloads on the intake's paths
//!   (`/api/v2/series`, `/api/v1/series`, `/api/beta/sketches`,
//!   `/api/v1/check_run`, `/intake/`), decompresses them by
//!   `Content-Encoding` (`zstd`, `deflate`, `gzip`), decodes them with
//!   core's decoders and answers `202` with the real intake's small JSON
//!   body.
//! * Each answer is decided by a [`FaultSchedule`] (latency, scripted
//!   statuses, seeded random failures, hangs and connection resets), a
//!   pure type; [`TestIntake::set_schedule`] swaps it while running.
//!   A hung request is never answered (the client has to time out); a
//!   reset one has its connection closed with a TCP reset (connections
//!   accepted while the schedule may reset close with `SO_LINGER` 0).
//! * It counts `total`, `accepted` (2xx), `retried` (408 or 5xx answered),
//!   `failed` (anything else) and the current and peak number of
//!   concurrent requests; `GET /stats` returns them as JSON.
//! * Accepted records are kept in memory ([`TestIntake::received`]) and,
//!   with [`IntakeConfig::record`], appended to a file in the `aggregate`
//!   format (one JSON line per series point, sketch, event, check).
//!
//! Size limits are the real intake's: 3 200 000 bytes compressed (413
//! beyond), 62 MiB decompressed.

pub mod cli;
pub mod record;
pub mod schedule;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use dogstatsd_core::flush::Flush;
use dogstatsd_core::output::write_flush;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::forwarder::compression::{CompressionError, decompress};
pub use schedule::{Decision, Fault, FaultSchedule, ScheduleError};

/// Largest compressed body the real intake takes.
pub const MAX_COMPRESSED_BODY: usize = 3_200_000;

/// Largest decompressed body the real intake takes.
pub const MAX_DECOMPRESSED_BODY: usize = 62_914_560;

/// Why the intake could not start.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS identity is not usable.
    #[error("invalid TLS identity: {0}")]
    Tls(String),
    /// The record file could not be opened.
    #[error("cannot open {path}: {source}")]
    Record {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How to run the intake.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Listening address; port 0 picks a free one. Defaults to
    /// `127.0.0.1:0`.
    pub bind: SocketAddr,
    /// Latency and failure schedule.
    pub schedule: FaultSchedule,
    /// Append every accepted record to this file, `aggregate` format.
    pub record: Option<PathBuf>,
    /// Keep accepted records and request headers in memory (for
    /// [`TestIntake::received`] and [`TestIntake::requests`]). Defaults
    /// to true; the command line turns it off.
    pub keep: bool,
    /// Answer every request with this redirect status and `Location`
    /// instead (an intake that moved, or a proxy's login page); a
    /// location ending in `*` has the request's path in its place.
    pub redirect: Option<(u16, String)>,
    /// Serve https with this identity instead of plain http.
    #[cfg(feature = "tls")]
    pub tls: Option<TlsIdentity>,
}

/// An https intake's certificate and key.
#[cfg(feature = "tls")]
#[derive(Clone)]
pub struct TlsIdentity {
    /// PEM certificate chain, leaf first.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
    /// Speak TLS 1.2 only (to test a client's minimum version).
    pub only_tls12: bool,
}

#[cfg(feature = "tls")]
impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("only_tls12", &self.only_tls12)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tls")]
fn acceptor(id: &TlsIdentity) -> Result<tokio_rustls::TlsAcceptor, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes())
        .map_err(|e| format!("private key: {e}"))?;
    let versions: &[&rustls::SupportedProtocolVersion] = if id.only_tls12 {
        &[&rustls::version::TLS12]
    } else {
        rustls::ALL_VERSIONS
    };
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            schedule: FaultSchedule::new(),
            record: None,
            keep: true,
            redirect: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl IntakeConfig {
    /// Defaults with this schedule.
    pub fn with_schedule(schedule: FaultSchedule) -> Self {
        Self {
            schedule,
            ..Self::default()
        }
    }
}

/// The counters, as `GET /stats` returns them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct IntakeStats {
    /// Requests received (`GET /stats` excluded).
    pub total: u64,
    /// Answered 2xx.
    pub accepted: u64,
    /// Answered 408 or 5xx.
    pub retried: u64,
    /// Answered anything else.
    pub failed: u64,
    /// Requests being handled now.
    pub active: u64,
    /// Most requests handled at once.
    pub peak: u64,
    /// Series points recorded.
    pub series: u64,
    /// Sketch buckets recorded.
    pub sketches: u64,
    /// Events recorded.
    pub events: u64,
    /// Service checks recorded.
    pub service_checks: u64,
    /// Bodies that did not decompress or decode (answered 400 or 413).
    pub bad_bodies: u64,
    /// Requests left unanswered on purpose ([`Fault::Hang`]).
    pub hung: u64,
    /// Connections reset on purpose ([`Fault::Reset`]).
    pub reset: u64,
    /// Requests answered with the configured redirect.
    pub redirected: u64,
}

/// One accepted request, as the trace writer's test server keeps it.
#[derive(Debug, Clone)]
pub struct AcceptedRequest {
    /// Request path.
    pub path: String,
    /// Headers, one value per name (names lower-case).
    pub headers: Vec<(String, String)>,
    /// Body length as received (compressed).
    pub body_len: usize,
}

#[derive(Default)]
struct Counters {
    total: AtomicU64,
    accepted: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    active: AtomicU64,
    peak: AtomicU64,
    series: AtomicU64,
    sketches: AtomicU64,
    events: AtomicU64,
    service_checks: AtomicU64,
    bad_bodies: AtomicU64,
    hung: AtomicU64,
    reset: AtomicU64,
    redirected: AtomicU64,
}

struct Shared {
    schedule: Mutex<FaultSchedule>,
    counters: Counters,
    keep: bool,
    received: Mutex<Flush>,
    requests: Mutex<Vec<AcceptedRequest>>,
    record: Option<Mutex<File>>,
    redirect: Mutex<Option<(u16, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Shared {
    fn stats(&self) -> IntakeStats {
        let c = &self.counters;
        IntakeStats {
            total: get(&c.total),
            accepted: get(&c.accepted),
            retried: get(&c.retried),
            failed: get(&c.failed),
            active: get(&c.active),
            peak: get(&c.peak),
            series: get(&c.series),
            sketches: get(&c.sketches),
            events: get(&c.events),
            service_checks: get(&c.service_checks),
            bad_bodies: get(&c.bad_bodies),
            hung: get(&c.hung),
            reset: get(&c.reset),
            redirected: get(&c.redirected),
        }
    }
}

/// A running test intake.
pub struct TestIntake {
    https: bool,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIntake")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish()
    }
}

impl TestIntake {
    /// Binds and starts serving on the current tokio runtime.
    pub async fn start(cfg: IntakeConfig) -> Result<Self, IntakeError> {
        let bind_err = |source| IntakeError::Bind {
            addr: cfg.bind,
            source,
        };
        let socket = if cfg.bind.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(bind_err)?;
        // Lets a test stop an intake and start another on the same port.
        socket.set_reuseaddr(true).map_err(bind_err)?;
        socket.bind(cfg.bind).map_err(bind_err)?;
        let listener = socket.listen(1024).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let record = match &cfg.record {
            None => None,
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| IntakeError::Record {
                        path: path.display().to_string(),
                        source,
                    })?,
            )),
        };
        let shared = Arc::new(Shared {
            schedule: Mutex::new(cfg.schedule),
            counters: Counters::default(),
            keep: cfg.keep,
            received: Mutex::new(Flush::default()),
            requests: Mutex::new(Vec::new()),
            record,
            redirect: Mutex::new(cfg.redirect),
        });
        let (stop, stop_rx) = watch::channel(false);
        #[cfg(feature = "tls")]
        let tls = cfg
            .tls
            .as_ref()
            .map(acceptor)
            .transpose()
            .map_err(IntakeError::Tls)?;
        #[cfg(not(feature = "tls"))]
        let tls: Option<NoTls> = None;
        let https = tls.is_some();
        let task = tokio::spawn(serve(listener, shared.clone(), stop_rx, tls));
        Ok(Self {
            https,
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (`https://` when serving TLS), for a forwarder's
    /// `dd_url`.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The counters now.
    pub fn stats(&self) -> IntakeStats {
        self.shared.stats()
    }

    /// Replaces the fault schedule; requests already waiting keep the
    /// decision they got.
    pub fn set_schedule(&self, schedule: FaultSchedule) {
        *lock(&self.shared.schedule) = schedule;
    }

    /// Answers every later request with `status` and `Location:
    /// location` (`None`: back to normal).
    pub fn set_redirect(&self, redirect: Option<(u16, String)>) {
        *lock(&self.shared.redirect) = redirect;
    }

    /// Every record accepted so far (with [`IntakeConfig::keep`]).
    pub fn received(&self) -> Flush {
        lock(&self.shared.received).clone()
    }

    /// Every accepted request so far (with [`IntakeConfig::keep`]).
    pub fn requests(&self) -> Vec<AcceptedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Stops listening and drops every open connection (requests in
    /// progress are cut off, as when a real intake goes away); returns the
    /// final counters.
    pub async fn shutdown(mut self) -> IntakeStats {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stats()
    }
}

impl Drop for TestIntake {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = NoTls;

/// Stands in for the TLS acceptor in builds without TLS.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum NoTls {}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    tls: Option<Acceptor>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|&s| s) => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                if lock(&shared.schedule).resets() {
                    // Closing then sends a reset, not a FIN.
                    let _ = socket2::SockRef::from(&stream)
                        .set_linger(Some(std::time::Duration::ZERO));
                }
                let shared = shared.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    match tls {
                        #[cfg(feature = "tls")]
                        Some(acceptor) => {
                            // A failed handshake is the client's problem
                            // to report; the connection just ends.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        #[cfg(not(feature = "tls"))]
                        Some(never) => match never {},
                        None => {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

/// Decrements `active` however the request ends (even when cut off).
struct ActiveGuard<'a>(&'a Counters);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

fn json_response(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The service's error: tells hyper to drop the connection unanswered.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault schedule")
    }
}

impl std::error::Error for ResetConnection {}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ResetConnection> {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET && path == "/stats" {
        let body = serde_json::to_string(&shared.stats()).unwrap_or_default();
        return Ok(json_response(200, body));
    }
    let c = &shared.counters;
    c.total.fetch_add(1, Ordering::Relaxed);
    let now_active = c.active.fetch_add(1, Ordering::Relaxed) + 1;
    c.peak.fetch_max(now_active, Ordering::Relaxed);
    let _guard = ActiveGuard(c);
    let redirect = lock(&shared.redirect).clone();
    if let Some((status, location)) = redirect {
        let _ = Limited::new(req.into_body(), MAX_COMPRESSED_BODY)
            .collect()
            .await;
        c.redirected.fetch_add(1, Ordering::Relaxed);
        let location = match location.strip_suffix('*') {
            Some(prefix) => format!("{prefix}{path}"),
            None => location,
        };
        let mut resp = json_response(status, String::new());
        if let Ok(v) = hyper::header::HeaderValue::from_str(&location) {
            resp.headers_mut().insert(hyper::header::LOCATION, v);
        }
        return Ok(resp);
    }
    let status = match answer(&shared, req, &path).await {
        Ok(status) => status,
        Err(Fault::Hang) => {
            c.hung.fetch_add(1, Ordering::Relaxed);
            std::future::pending::<()>().await;
            unreachable!("a hung request is only ever dropped")
        }
        Err(Fault::Reset) => {
            c.reset.fetch_add(1, Ordering::Relaxed);
            return Err(ResetConnection);
        }
    };
    let counter = if schedule::is_success(status) {
        &c.accepted
    } else if schedule::is_retriable(status) {
        &c.retried
    } else {
        &c.failed
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let body = if schedule::is_success(status) {
        if path.starts_with("/api/v1/check_run") {
            r#"{"status":"ok"}"#.to_string()
        } else {
            r#"{"errors":[]}"#.to_string()
        }
    } else {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error");
        serde_json::json!({ "errors": [reason] }).to_string()
    };
    Ok(json_response(status, body))
}

/// Reads, schedules, decodes and records one request; returns its
/// status, or the fault to play instead of answering.
async fn answer(shared: &Shared, req: Request<Incoming>, path: &str) -> Result<u16, Fault> {
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let encoding = req
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let raw = match Limited::new(req.into_body(), MAX_COMPRESSED_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            shared.counters.bad_bodies.fetch_add(1, Ordering::Relaxed);
            let too_big = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return Ok(if too_big { 413 } else { 400 });
        }
    };
    let body = match decompress(encoding.as_deref(), &raw, MAX_DECOMPRESSED_BODY) {
        Ok(b) => b,
        Err(e) => {
            shared.counters.bad_bodies.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(error = %e, "test intake: body does not decompress");
            return Ok(if matches!(e, CompressionError::TooLarge(_)) {
                413
            } else {
                400
            });
        }
    };
    let decision = lock(&shared.schedule).decide(&body);
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if let Some(fault) = decision.fault {
        return Err(fault);
    }
    if !schedule::is_success(decision.status) || decision.control {
        return Ok(decision.status);
    }
    let Some(endpoint) = record::endpoint_of(path) else {
        return Ok(404);
    };
    let mut got = Flush::default();
    if let Err(e) = record::decode(endpoint, &body, &mut got) {
        shared.counters.bad_bodies.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %e, path, "test intake: body does not decode");
        return Ok(400);
    }
    let c = &shared.counters;
    c.series
        .fetch_add(got.series.len() as u64, Ordering::Relaxed);
    c.sketches
        .fetch_add(got.sketches.len() as u64, Ordering::Relaxed);
    c.events
        .fetch_add(got.events.len() as u64, Ordering::Relaxed);
    c.service_checks
        .fetch_add(got.service_checks.len() as u64, Ordering::Relaxed);
    if let Some(file) = &shared.record {
        let mut lines = Vec::new();
        write_flush(&mut lines, &got);
        if let Err(e) = lock(file).write_all(&lines) {
            tracing::error!(error = %e, "test intake: cannot append to the record file");
        }
    }
    if shared.keep {
        lock(&shared.requests).push(AcceptedRequest {
            path: path.to_string(),
            headers,
            body_len: raw.len(),
        });
        let mut all = lock(&shared.received);
        all.series.extend(got.series);
        all.sketches.extend(got.sketches);
        all.events.extend(got.events);
        all.service_checks.extend(got.service_checks);
    }
    Ok(decision.status)
}
