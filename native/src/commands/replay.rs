//! `dogstatsd replay FILE`: sends a traffic capture into a daemon with
//! its original timing (scaled by `--speed`, or none with `--fast`), or
//! with `--aggregate` feeds it offline through core and prints what the
//! daemon would have flushed, in the `aggregate` format.

#[cfg(unix)]
use std::io::Write as _;
use std::net::{ToSocketAddrs as _, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use dogstatsd_core::output;
use dogstatsd_core::server::{Output, Server};
use dogstatsd_core::time::Timestamp;
use serde::Serialize;

use crate::capture::{CaptureError, Reader, Record};

/// Options of `dogstatsd replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// The capture file (written by the daemon's traffic capture).
    pub file: PathBuf,
    /// Where to send: `udp://HOST:PORT`, `unix:///PATH` (datagram socket)
    /// or `unixstream:///PATH` (length-prefixed stream socket).
    #[arg(
        long,
        required_unless_present = "aggregate",
        conflicts_with = "aggregate"
    )]
    pub to: Option<String>,
    /// Replay this many times faster than captured (0.5 = half speed).
    #[arg(long, default_value_t = 1.0, conflicts_with = "fast")]
    pub speed: f64,
    /// Send as fast as possible, ignoring the captured timing.
    #[arg(long)]
    pub fast: bool,
    /// Do not send: run the packets through the core pipeline at their
    /// captured times, flushing every 15 s of capture time and everything
    /// at the end, and print the records (`aggregate` format).
    #[arg(long)]
    pub aggregate: bool,
    /// datadog.yaml-style configuration for `--aggregate`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// What `replay --to` prints when done (one JSON line on stdout).
#[derive(Debug, Default, Serialize)]
pub struct ReplaySummary {
    /// Packets sent.
    pub packets: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Sends that failed (counted, replay continues).
    pub errors: u64,
    /// Packets not sent (empty frames on a stream).
    pub skipped: u64,
    /// The capture ended in the middle of a record.
    pub truncated: bool,
    /// Wall time of the replay.
    pub seconds: f64,
}

/// A destination.
enum Target {
    Udp(UdpSocket),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixDatagram),
    #[cfg(unix)]
    UnixStream(std::os::unix::net::UnixStream),
}

fn open_target(to: &str) -> Result<Target, String> {
    let err = |e: std::io::Error| format!("cannot connect to {to}: {e}");
    if let Some(path) = to.strip_prefix("unixstream://") {
        #[cfg(unix)]
        return std::os::unix::net::UnixStream::connect(path)
            .map(Target::UnixStream)
            .map_err(err);
        #[cfg(not(unix))]
        return Err(format!("{path}: unix sockets need a unix system"));
    }
    if let Some(path) = to.strip_prefix("unix://") {
        #[cfg(unix)]
        {
            let s = std::os::unix::net::UnixDatagram::unbound().map_err(err)?;
            s.connect(path).map_err(err)?;
            return Ok(Target::Unix(s));
        }
        #[cfg(not(unix))]
        return Err(format!("{path}: unix sockets need a unix system"));
    }
    let hostport = to.strip_prefix("udp://").unwrap_or(to);
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {hostport:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport:?} resolves to no address"))?;
    let local = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let s = UdpSocket::bind(local).map_err(err)?;
    s.connect(addr).map_err(err)?;
    Ok(Target::Udp(s))
}

impl Target {
    /// Sends one packet; `Ok(false)` when it was skipped.
    fn send(&mut self, payload: &[u8]) -> std::io::Result<bool> {
        match self {
            Self::Udp(s) => s.send(payload).map(|_| true),
            #[cfg(unix)]
            Self::Unix(s) => s.send(payload).map(|_| true),
            #[cfg(unix)]
            Self::UnixStream(s) => {
                // A zero-length frame would close the connection.
                if payload.is_empty() {
                    return Ok(false);
                }
                let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
                s.write_all(&len.to_le_bytes())?;
                s.write_all(payload).map(|()| true)
            }
        }
    }
}

/// When (after the replay started) a record captured `offset_ns` after
/// the first one is due at `speed` times the captured pace; `None` with
/// `fast`.
pub fn due_after(offset_ns: u64, speed: f64, fast: bool) -> Option<Duration> {
    if fast || !speed.is_finite() || speed <= 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(offset_ns as f64 / 1e9 / speed))
}

fn open(file: &Path) -> Result<Reader, ExitCode> {
    Reader::open(file).map_err(|e| {
        eprintln!("dogstatsd replay: {}: {e}", file.display());
        ExitCode::from(match e {
            CaptureError::Io(_) => 1,
            _ => 2,
        })
    })
}

/// Reports a read error; true when it only means the capture was cut
/// short (what came before it is kept).
fn read_error(file: &Path, e: &CaptureError) -> bool {
    eprintln!("dogstatsd replay: {}: {e}", file.display());
    matches!(e, CaptureError::Truncated)
}

/// The `replay` subcommand.
pub fn run(args: &ReplayArgs) -> ExitCode {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        eprintln!("dogstatsd replay: --speed must be a positive number");
        return ExitCode::from(crate::exit::USAGE);
    }
    if args.aggregate {
        return aggregate(args);
    }
    let Some(to) = args.to.as_deref() else {
        eprintln!("dogstatsd replay: give --to ADDRESS or --aggregate");
        return ExitCode::from(crate::exit::USAGE);
    };
    let reader = match open(&args.file) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut target = match open_target(to) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dogstatsd replay: {e}");
            return ExitCode::from(1);
        }
    };
    let mut sum = ReplaySummary::default();
    let started = Instant::now();
    let mut first: Option<u64> = None;
    let mut failed = false;
    for rec in reader {
        let rec: Record = match rec {
            Ok(r) => r,
            Err(e) => {
                sum.truncated = read_error(&args.file, &e);
                failed = !sum.truncated;
                break;
            }
        };
        let t0 = *first.get_or_insert(rec.time_ns);
        if let Some(due) = due_after(rec.time_ns.saturating_sub(t0), args.speed, args.fast) {
            let wait = due.saturating_sub(started.elapsed());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        match target.send(&rec.payload) {
            Ok(true) => {
                sum.packets += 1;
                sum.bytes += rec.payload.len() as u64;
            }
            Ok(false) => sum.skipped += 1,
            Err(e) => {
                if sum.errors == 0 {
                    eprintln!("dogstatsd replay: send to {to}: {e} (further errors only counted)");
                }
                sum.errors += 1;
            }
        }
    }
    sum.seconds = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string(&sum).unwrap_or_default());
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes every flush the server has handed out.
fn drain(server: &mut Server, out: &mut Vec<u8>) {
    while let Some(o) = server.poll_output() {
        if let Output::Flush(f) = o {
            output::write_flush(out, &f);
        }
    }
}

/// `--aggregate`: the daemon's flush cadence on capture time.
fn aggregate(args: &ReplayArgs) -> ExitCode {
    let mut server = match super::prepare(args.config.as_deref(), Server::new) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let reader = match open(&args.file) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let started = (reader.header().started_ns / 1_000_000_000) as i64;
    // The cadence runs on capture time from the capture's start.
    server.handle_timeout(Timestamp::from_secs(started));
    let mut last = started;
    let mut out = Vec::new();
    let mut failed = false;
    for rec in reader {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                failed = !read_error(&args.file, &e);
                break;
            }
        };
        let now = (rec.time_ns / 1_000_000_000) as i64;
        // Every deadline up to `now`, each at its own time.
        while let Some(due) = server.poll_timeout()
            && due <= Timestamp::from_secs(now)
        {
            server.handle_timeout(due);
            drain(&mut server, &mut out);
        }
        let _ = server.handle_packet(
            Timestamp::from_secs(now),
            rec.transport.into(),
            &rec.payload,
        );
        last = last.max(now);
    }
    server.stop(Timestamp::from_secs(last));
    drain(&mut server, &mut out);
    let code = super::write_stdout(&out);
    if failed { ExitCode::from(1) } else { code }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_scales_with_speed() {
        assert_eq!(
            due_after(2_000_000_000, 1.0, false),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            due_after(2_000_000_000, 4.0, false),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            due_after(1_000_000_000, 0.5, false),
            Some(Duration::from_secs(2))
        );
        assert_eq!(due_after(2_000_000_000, 1.0, true), None);
    }

    #[test]
    fn targets_are_parsed() {
        assert!(matches!(
            open_target("udp://127.0.0.1:9"),
            Ok(Target::Udp(_))
        ));
        assert!(matches!(open_target("127.0.0.1:9"), Ok(Target::Udp(_))));
        #[cfg(unix)]
        assert!(open_target("unixstream:///nonexistent/dsd.sock").is_err());
    }
}
