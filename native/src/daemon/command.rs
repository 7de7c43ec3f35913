//! `dogstatsd [run]`: load settings (file, `DD_*`, flags), set up logging,
//! run the daemon until SIGTERM/SIGINT, stop gracefully. A second signal
//! exits at once.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use std::sync::Arc;

use super::{Daemon, sink};
use crate::forwarder::Forwarder;

/// Flags of the daemon; each overrides the file and `DD_*` variables.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// datadog.yaml-style configuration file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// UDP port (`dogstatsd_port`); 0 disables UDP, `__random__` picks one.
    #[arg(long)]
    pub port: Option<String>,
    /// Unix datagram socket path (`dogstatsd_socket`).
    #[arg(long)]
    pub socket: Option<String>,
    /// Unix stream socket path (`dogstatsd_stream_socket`).
    #[arg(long)]
    pub stream_socket: Option<String>,
    /// Windows named pipe name (`dogstatsd_pipe_name`).
    #[arg(long)]
    pub pipe_name: Option<String>,
    /// Loopback admin port for /metrics and /healthz
    /// (`dogstatsd_admin_port`); `__random__` picks one.
    #[arg(long)]
    pub admin_port: Option<String>,
    /// Log level (`log_level`): trace, debug, info, warn, error, off.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Append flushed records to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Capture all received traffic, from start to stop, into a new file
    /// in DIR (`dogstatsd_capture_path` + `dogstatsd_capture_on_start`);
    /// replay it with `dogstatsd replay`. Bounded like every capture by
    /// `dogstatsd_capture_max_duration` and `dogstatsd_capture_max_bytes`.
    #[arg(long, value_name = "DIR")]
    pub capture: Option<String>,
}

impl RunArgs {
    /// The flags as raw settings.
    pub fn overrides(&self) -> Vec<(String, Value)> {
        [
            ("dogstatsd_port", &self.port),
            ("dogstatsd_socket", &self.socket),
            ("dogstatsd_stream_socket", &self.stream_socket),
            ("dogstatsd_pipe_name", &self.pipe_name),
            ("dogstatsd_admin_port", &self.admin_port),
            ("log_level", &self.log_level),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| (k.to_string(), Value::String(v.clone())))
        })
        .chain(self.capture.iter().flat_map(|dir| {
            [
                (
                    "dogstatsd_capture_path".to_string(),
                    Value::String(dir.clone()),
                ),
                ("dogstatsd_capture_on_start".to_string(), Value::Bool(true)),
            ]
        }))
        .collect()
    }
}

/// Resolves on the first SIGTERM or SIGINT; from then on a second one ends
/// the process at once. The handlers are installed when this is called
/// (inside the runtime), not when the future is first polled, so a signal
/// sent as soon as the listeners are logged still gets the graceful stop.
#[cfg(unix)]
fn first_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::error!("cannot install signal handlers; stop with SIGKILL");
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!("dogstatsd: second signal, exiting without the final flush");
            std::process::exit(1);
        });
    }
}

/// Resolves on the first Ctrl-C; a second one ends the process at once.
#[cfg(not(unix))]
async fn first_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("dogstatsd: second signal, exiting without the final flush");
        std::process::exit(1);
    });
}

/// Raises the soft open-files limit to the hard one, as the Go runtime
/// does for the Agent: every Unix stream connection is a descriptor, and
/// a soft limit of 1024 would stop accepting long before
/// `dogstatsd_stream_max_connections`.
#[cfg(unix)]
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::debug!("cannot raise the open-files limit from {soft} to {hard}: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::debug!("cannot read the open-files limit: {e}"),
    }
}

/// The daemon command: exit 0 after a graceful stop, 2 for a bad
/// configuration, 1 when start-up fails.
pub fn run_command(args: &RunArgs) -> ExitCode {
    let settings = match crate::config::load_checked(
        args.config.as_deref(),
        std::env::vars(),
        args.overrides(),
    ) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let log = match crate::logging::init(settings.daemon.log_level, &settings.logging) {
        Ok(h) => h,
        Err(e) => {
            crate::scrub::report(&format!("invalid configuration: {e}"));
            return ExitCode::from(crate::exit::CONFIG);
        }
    };
    #[cfg(unix)]
    raise_fd_limit();
    if !settings.daemon.use_dogstatsd {
        tracing::info!("use_dogstatsd is false: nothing to run");
        return ExitCode::SUCCESS;
    }
    // Listeners, workers and pipelines are threads of their own; the
    // runtime only carries stream connections, the admin endpoint and
    // signals.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("dsd-io")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dogstatsd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let signal = first_signal();
        // SIGHUP reloads (Unix); elsewhere the log level stays as started.
        #[cfg(unix)]
        super::reload::spawn(super::reload::Reloader::new(args.clone(), &settings, log));
        #[cfg(not(unix))]
        drop(log);
        let forwarder = match settings.forwarder.clone().map(Forwarder::start).transpose() {
            Ok(f) => f.map(Arc::new),
            Err(e) => {
                crate::scrub::report(&e);
                return ExitCode::from(2);
            }
        };
        if let Some(f) = &forwarder {
            tracing::info!(url = %f.config().url, "forwarding flushes to the intake");
        }
        let sink = match sink::select(args.output.as_deref(), forwarder.clone()) {
            Ok(s) => s,
            Err(e) => {
                crate::scrub::report(&e);
                return ExitCode::from(1);
            }
        };
        let daemon = match Daemon::start(&settings, sink) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("{e}");
                crate::scrub::report(&e);
                return ExitCode::from(e.exit_code());
            }
        };
        if let Some(f) = &forwarder {
            daemon.telemetry().attach_forwarder(Arc::clone(f));
        }
        super::notify::ready("listening");
        let watchdog = super::notify::watchdog_interval().map(|every| {
            tokio::spawn(async move {
                loop {
                    super::notify::watchdog();
                    tokio::time::sleep(every).await;
                }
            })
        });
        signal.await;
        super::notify::stopping();
        if let Some(w) = watchdog {
            w.abort();
        }
        tracing::info!("stopping: draining listeners and flushing every bucket");
        daemon.shutdown().await;
        if let Some(f) = forwarder {
            // The final flush is queued; give in-flight sends and retries
            // `forwarder_stop_timeout`, then store (or drop, counted and
            // logged per kind) what is left.
            let stats = f.shutdown(f.config().stop_timeout).await;
            tracing::info!(
                "forwarder stopped: payloads_submitted={} payloads_sent={} payloads_rejected={} payloads_dropped={} payloads_stored={} points_submitted={} points_sent={} points_rejected={} points_dropped={} points_stored={} points_too_big={} retries={}",
                stats.payloads_submitted,
                stats.payloads_sent,
                stats.payloads_rejected,
                stats.payloads_dropped,
                stats.payloads_stored,
                stats.points_submitted,
                stats.points_sent,
                stats.points_rejected,
                stats.points_dropped,
                stats.points_stored,
                stats.points_too_big,
                stats.retries,
            );
        }
        ExitCode::SUCCESS
    })
}
