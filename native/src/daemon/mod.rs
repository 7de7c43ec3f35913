//! The daemon: listeners, workers, pipelines, the flush loop and the admin
//! endpoint around the sans-IO core.
//!
//! ```text
//!  UDP thread (assembler) ─┐
//!  UDS datagram thread ────┤  bounded packet queue   ┌ worker thread (core Worker) ┐  batches by  ┌ pipeline thread (core Pipeline)
//!  UDS stream tasks ───────┼──(drop + count when ───►├ worker thread               ├─ context ───►┤ …
//!  named pipe tasks ───────┘   full)                 └ …                           ┘  hash        └ …
//!                                       flush thread: every 15 s / on demand / at stop → FlushSink
//! ```
//!
//! Listeners that block (UDP, UDS datagram) run on their own threads, like
//! the Agent's goroutines; stream listeners and the admin endpoint are
//! tokio tasks. Workers, pipelines and the flush thread are plain threads
//! talking over bounded crossbeam channels.
//!
//! Not wired yet: the container a Unix datagram's credentials resolve to
//! ([`packet::Packet::origin`]) is computed and counted but core's
//! `Worker::push` has no parameter to take it, so it does not reach
//! enrichment (the Agent hands it to its tagger).

mod admin;
mod assembler;
mod command;
mod datagrams;
mod engine;
pub mod kernel_drops;
mod notify;
pub mod origin;
pub mod packet;
#[cfg(windows)]
mod pipe;
mod rcvbuf;
#[cfg(unix)]
mod reload;
pub mod sink;
#[cfg(unix)]
mod socket_file;
#[cfg(unix)]
mod stream;
pub mod telemetry;
pub mod token;
mod udp;
#[cfg(unix)]
mod uds;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use dogstatsd_core::aggregate::topology;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use command::{RunArgs, run_command};
pub use dogstatsd_core::FLUSH_INTERVAL;
pub use engine::FlushHandle;
use packet::{Packet, PacketPool, PacketSender};
use sink::FlushSink;
use telemetry::Telemetry;

use crate::capture::Capture;
use crate::settings::Settings;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The core configuration was rejected (mapper profiles…).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// `dogstatsd_require_listener` is set and no listener came up.
    #[error("listening on neither udp nor socket")]
    NoListener,
    /// The admin endpoint could not bind.
    #[error("cannot listen on the admin port {addr}: {source}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A thread could not be spawned.
    #[error("cannot start a thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// `dogstatsd_capture_on_start` is set and the capture cannot start.
    #[error("traffic capture: {0}")]
    Capture(#[from] crate::capture::StartError),
    /// A socket path is in use by a live listener (another daemon).
    #[error("{0}")]
    SocketInUse(String),
    /// The admin token file was refused or could not be created.
    #[error("admin endpoint: {0}")]
    Token(#[from] token::TokenError),
    /// `dogstatsd_admin_host` is not an IP address.
    #[error("dogstatsd_admin_host: {0:?} is not an IP address")]
    AdminHost(String),
}

impl DaemonError {
    /// The process exit code: 2 for what the configuration must change
    /// (a socket path in use, the token file, the admin address), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::SocketInUse(_) | Self::Token(_) | Self::AdminHost(_) => 2,
            _ => 1,
        }
    }
}

/// The current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A running daemon. Start it inside a tokio runtime; stop it with
/// [`shutdown`](Self::shutdown).
pub struct Daemon {
    udp_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    threads: Vec<JoinHandle<()>>,
    packets_tx: Option<Vec<Sender<Packet>>>,
    packets_rx: Vec<Receiver<Packet>>,
    engine: Option<engine::Engine>,
    flush: FlushHandle,
    telemetry: Arc<Telemetry>,
    capture: Capture,
    /// Configured listeners that could not be bound (for `/readyz`).
    unbound: Arc<std::sync::Mutex<Vec<String>>>,
    /// The stdout/file output's health (for `/readyz`).
    output: Option<Arc<sink::OutputHealth>>,
}

impl Daemon {
    /// Binds every configured listener (a listener that fails is logged
    /// and skipped, as in the Agent), starts workers, pipelines and the
    /// flush thread. Must be called inside a tokio runtime.
    pub fn start(settings: &Settings, sink: Box<dyn FlushSink>) -> Result<Self, DaemonError> {
        Self::start_with_interval(settings, sink, FLUSH_INTERVAL)
    }

    /// [`start`](Self::start) with another flush cadence than the Agent's
    /// 15 s (tests, embedding programs).
    pub fn start_with_interval(
        settings: &Settings,
        sink: Box<dyn FlushSink>,
        flush_interval: Duration,
    ) -> Result<Self, DaemonError> {
        let d = &settings.daemon;
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let topo = topology(cpus, &settings.core);
        let telemetry = Arc::new(Telemetry::new(topo.workers, topo.pipelines));
        let buffer_size = settings.buffer_size();
        let queue = d.queue_packets();
        let pool = PacketPool::new(buffer_size, queue.min(4096));
        // One queue per worker, each its share of the configured size.
        let (packets_tx, packets_rx): (Vec<_>, Vec<_>) = (0..topo.workers)
            .map(|_| crossbeam_channel::bounded(queue.div_ceil(topo.workers)))
            .unzip();
        let capture = Capture::new(settings.capture.clone());
        telemetry.attach_capture(capture.clone());
        let output = sink.health();
        if let Some(o) = &output {
            telemetry.attach_output(Arc::clone(o));
        }
        let sender = PacketSender::new(packets_tx.clone(), pool.clone(), Arc::clone(&telemetry))
            .with_capture(capture.clone());
        let engine = engine::Engine::start(
            &settings.core,
            topo,
            packets_rx.clone(),
            &sender,
            sink,
            Arc::clone(&telemetry),
            flush_interval.max(Duration::from_millis(10)),
        )
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidInput => DaemonError::Config(e.to_string()),
            _ => DaemonError::Spawn(e),
        })?;
        tracing::info!(
            workers = topo.workers,
            pipelines = topo.pipelines,
            "dogstatsd starting"
        );

        let mut daemon = Self {
            udp_addr: None,
            admin_addr: None,
            stop: Arc::new(AtomicBool::new(false)),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            threads: Vec::new(),
            packets_tx: Some(packets_tx),
            packets_rx,
            flush: engine.flush_handle(),
            engine: Some(engine),
            telemetry,
            capture,
            unbound: Arc::default(),
            output,
        };
        kernel_drops::spawn_logger(daemon.cancel.clone());
        if settings.capture.dogstatsd_capture_on_start
            && let Err(e) = daemon.capture.start(None, None)
        {
            daemon.abort();
            return Err(e.into());
        }
        let mut listeners = 0;
        daemon.start_udp(settings, &sender, &mut listeners);
        #[cfg(unix)]
        if let Err(e) = daemon.start_unix(settings, &sender, &mut listeners) {
            daemon.abort();
            return Err(e);
        }
        #[cfg(windows)]
        daemon.start_pipe(settings, &sender, &mut listeners);
        #[cfg(not(windows))]
        if !d.dogstatsd_pipe_name.is_empty() {
            tracing::warn!(
                "dogstatsd_pipe_name is set but named pipes exist only on Windows; ignored"
            );
        }
        drop(sender);
        if listeners == 0 {
            if d.dogstatsd_require_listener {
                daemon.abort();
                return Err(DaemonError::NoListener);
            }
            tracing::error!("listening on neither udp nor socket");
        }
        if let Err(e) = daemon.start_admin(settings) {
            daemon.abort();
            return Err(e);
        }
        Ok(daemon)
    }

    fn start_udp(&mut self, settings: &Settings, sender: &PacketSender, listeners: &mut usize) {
        let d = &settings.daemon;
        let socket = udp::bind_addr(d).and_then(|addr| match addr {
            Some(addr) => udp::bind(addr, d.dogstatsd_so_rcvbuf).map(Some),
            None => Ok(None),
        });
        match socket {
            Ok(None) => tracing::info!("udp listener disabled (dogstatsd_port: 0)"),
            Ok(Some(socket)) => {
                let addr = socket.local_addr().ok();
                match udp::spawn(
                    socket,
                    sender.clone(),
                    Arc::clone(&self.stop),
                    d.dogstatsd_packet_buffer_flush_timeout,
                ) {
                    Ok(h) => {
                        self.threads.push(h);
                        self.udp_addr = addr;
                        *listeners += 1;
                        if let Some(addr) = addr {
                            tracing::info!("udp listener bound to {addr}");
                        }
                    }
                    Err(e) => self.not_bound(format!("udp listener: {e}")),
                }
            }
            Err(e) => self.not_bound(format!("udp listener: {e}")),
        }
    }

    /// Logs a configured listener that could not be bound; `/readyz`
    /// reports it.
    fn not_bound(&self, what: String) {
        tracing::error!("{what}");
        if let Ok(mut u) = self.unbound.lock() {
            u.push(what);
        }
    }

    /// Binds the Unix sockets; a path a live listener answers on stops
    /// start-up (it is never taken over).
    #[cfg(unix)]
    fn start_unix(
        &mut self,
        settings: &Settings,
        sender: &PacketSender,
        listeners: &mut usize,
    ) -> Result<(), DaemonError> {
        use socket_file::SocketPathError;
        let in_use = |e: SocketPathError| match e {
            SocketPathError::InUse(_) => Err(DaemonError::SocketInUse(e.to_string())),
            e => Ok(e.to_string()),
        };
        let d = &settings.daemon;
        if !d.dogstatsd_socket.is_empty() {
            let path = std::path::PathBuf::from(&d.dogstatsd_socket);
            let bound = match uds::bind(&path, d.dogstatsd_so_rcvbuf, d.dogstatsd_origin_detection)
            {
                Ok(s) => Ok(s),
                Err(e) => Err(in_use(e)?),
            };
            let started = bound.and_then(|socket| {
                // Datagrams may be joined into packets, as UDP's are,
                // unless each needs its own origin or its own `\n`
                // check (`dogstatsd_eol_required: [uds]`).
                let join = (!d.dogstatsd_origin_detection
                    && !settings
                        .core
                        .dogstatsd_eol_required
                        .iter()
                        .any(|t| t == "uds"))
                .then_some(d.dogstatsd_packet_buffer_flush_timeout);
                uds::spawn(
                    socket,
                    path.clone(),
                    sender.clone(),
                    Arc::clone(&self.stop),
                    d.dogstatsd_origin_detection,
                    join,
                )
                .map_err(|e| e.to_string())
            });
            match started {
                Ok(h) => {
                    self.threads.push(h);
                    *listeners += 1;
                    tracing::info!("uds datagram listener bound to {}", path.display());
                }
                Err(e) => self.not_bound(format!("uds datagram listener: {e}")),
            }
        }
        if !d.dogstatsd_stream_socket.is_empty() {
            let path = std::path::PathBuf::from(&d.dogstatsd_stream_socket);
            let bound = match stream::bind(&path) {
                Ok(l) => Ok(l),
                Err(e) => Err(in_use(e)?),
            };
            match bound {
                Ok(listener) => {
                    stream::spawn(
                        listener,
                        path.clone(),
                        sender.clone(),
                        stream::StreamOptions {
                            max_frame: settings.buffer_size(),
                            log_too_big: d.dogstatsd_stream_log_too_big,
                            max_connections: usize::try_from(d.dogstatsd_stream_max_connections)
                                .unwrap_or(usize::MAX),
                            idle_timeout: (!d.dogstatsd_stream_idle_timeout.is_zero())
                                .then_some(d.dogstatsd_stream_idle_timeout),
                            max_uid_share: d.dogstatsd_stream_max_uid_share,
                            frame_timeout: (!d.dogstatsd_stream_frame_timeout.is_zero())
                                .then_some(d.dogstatsd_stream_frame_timeout),
                        },
                        self.cancel.clone(),
                        &self.tracker,
                    );
                    *listeners += 1;
                    tracing::info!(
                        "uds stream listener bound to {} (experimental in the Agent)",
                        path.display()
                    );
                }
                Err(e) => self.not_bound(format!("uds stream listener: {e}")),
            }
        }
        Ok(())
    }

    #[cfg(windows)]
    fn start_pipe(&mut self, settings: &Settings, sender: &PacketSender, listeners: &mut usize) {
        let d = &settings.daemon;
        if d.dogstatsd_pipe_name.is_empty() {
            return;
        }
        match pipe::bind(&d.dogstatsd_pipe_name, settings.buffer_size()) {
            Ok(first) => {
                pipe::spawn(
                    first,
                    d.dogstatsd_pipe_name.clone(),
                    sender.clone(),
                    self.cancel.clone(),
                    &self.tracker,
                );
                *listeners += 1;
                tracing::info!(
                    "named pipe listener bound to {}",
                    pipe::pipe_path(&d.dogstatsd_pipe_name)
                );
            }
            Err(e) => self.not_bound(format!("named pipe listener: {e}")),
        }
    }

    fn start_admin(&mut self, settings: &Settings) -> Result<(), DaemonError> {
        let Some(port) = settings.daemon.dogstatsd_admin_port.bind_port() else {
            return Ok(());
        };
        let host = settings.daemon.dogstatsd_admin_host.trim();
        let ip: std::net::IpAddr = if host.eq_ignore_ascii_case("localhost") {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            host.parse()
                .map_err(|_| DaemonError::AdminHost(host.to_string()))?
        };
        let token = token::load_or_create(std::path::Path::new(
            &settings.daemon.dogstatsd_admin_token_file,
        ))?;
        let addr = SocketAddr::new(ip, port);
        let std_listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| DaemonError::Admin { addr, source })?;
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|source| DaemonError::Admin { addr, source })?;
        let bound = listener.local_addr().ok();
        let rx = self.packets_rx.clone();
        let unbound = Arc::clone(&self.unbound);
        let output = self.output.clone();
        let telemetry = Arc::clone(&self.telemetry);
        admin::spawn(
            listener,
            admin::AdminState {
                telemetry: Arc::clone(&self.telemetry),
                queue_len: Arc::new(move || rx.iter().map(Receiver::len).sum()),
                flush: self.flush.clone(),
                capture: self.capture.clone(),
                token,
                not_ready: Arc::new(move || {
                    let mut why = unbound.lock().map(|u| u.clone()).unwrap_or_default();
                    why.extend(output.as_ref().and_then(|o| o.not_ready()));
                    why.extend(telemetry.forwarder_not_ready());
                    why
                }),
                bound: bound.unwrap_or(addr),
            },
            self.cancel.clone(),
            &self.tracker,
        );
        self.admin_addr = bound;
        if let Some(a) = bound {
            tracing::info!(
                "admin endpoint bound to http://{a} (/metrics, /healthz, /readyz; /flush and /capture with the token in {})",
                settings.daemon.dogstatsd_admin_token_file
            );
        }
        Ok(())
    }

    /// The UDP listener's bound address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The admin endpoint's bound address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Counters.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// The traffic capture recorder.
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Flushes every bucket now, incomplete ones included, once the
    /// workers have processed what was queued before the call (the
    /// serverless "flush now" path).
    pub async fn flush_now(&self) -> bool {
        let flush = self.flush.clone();
        tokio::task::spawn_blocking(move || flush.flush_now(Duration::from_secs(2)))
            .await
            .unwrap_or(false)
    }

    /// Graceful stop: stop reading (after draining what the sockets
    /// already hold), let the workers finish every queued packet, flush
    /// every bucket (incomplete ones too), write it, remove socket files.
    pub async fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        let threads = std::mem::take(&mut self.threads);
        let packets_tx = self.packets_tx.take();
        let engine = self.engine.take();
        let capture = self.capture.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                if t.join().is_err() {
                    tracing::error!("a listener thread panicked");
                }
            }
            // Every listener is gone: what they received is captured.
            capture.stop();
            // Every listener is gone: closing the queue lets the workers
            // finish what it holds and exit.
            drop(packets_tx);
            if let Some(engine) = engine {
                engine.stop();
            }
        })
        .await;
        let t = &self.telemetry;
        let packets = |l| t.listener(l).packets.load(Ordering::Relaxed);
        tracing::info!(
            "dogstatsd stopped: udp_packets={} uds_packets={} uds_stream_frames={} queue_drops={} flushes={} flushed_records={}",
            packets(telemetry::Listener::Udp),
            packets(telemetry::Listener::Uds),
            packets(telemetry::Listener::UdsStream),
            t.dropped_queue_full.load(Ordering::Relaxed),
            t.flushes.load(Ordering::Relaxed),
            t.flushed_series.load(Ordering::Relaxed)
                + t.flushed_sketches.load(Ordering::Relaxed)
                + t.flushed_events.load(Ordering::Relaxed)
                + t.flushed_service_checks.load(Ordering::Relaxed),
        );
    }

    /// Start-up failed half-way: stop what was started, without waiting.
    fn abort(&mut self) {
        self.capture.abort();
        self.stop.store(true, Ordering::Release);
        self.cancel.cancel();
        self.packets_tx = None;
    }
}

impl Drop for Daemon {
    /// A daemon dropped without [`shutdown`](Daemon::shutdown) still stops
    /// its listeners (and so its threads), without the final flush.
    fn drop(&mut self) {
        self.capture.abort();
        self.stop.store(true, Ordering::Release);
        self.cancel.cancel();
    }
}

/// Runs a daemon until `shutdown` completes, then stops it gracefully.
pub async fn run(
    settings: &Settings,
    sink: Box<dyn FlushSink>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let daemon = Daemon::start(settings, sink)?;
    shutdown.await;
    daemon.shutdown().await;
    Ok(())
}
