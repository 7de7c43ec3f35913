//! `dogstatsd test-intake [options]` (`spec/interface.md`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::schedule::{DEFAULT_FAIL_STATUS, Fault, FaultSchedule, parse_status};
use super::{IntakeConfig, TestIntake};

/// Options of `dogstatsd test-intake`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestIntakeArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Port (0 picks one; the address is printed on stdout as
    /// {"listening":"ADDR:PORT"}).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Delay every response, e.g. 200ms, 1.5s.
    #[arg(long, value_parser = parse_duration)]
    pub latency: Option<Duration>,
    /// Answer this fraction (0..1) of requests with --fail-status.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Status of the failed requests.
    #[arg(long, default_value_t = DEFAULT_FAIL_STATUS, value_parser = parse_fail_status)]
    pub fail_status: u16,
    /// Never answer this fraction (0..1) of requests (the client must
    /// time out).
    #[arg(long, default_value_t = 0.0)]
    pub hang_rate: f64,
    /// Close the connection of this fraction (0..1) of requests with a TCP
    /// reset instead of answering.
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Seed of the failure pattern (same seed, same failures).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Append every accepted point, sketch, event and service check to
    /// FILE in the `aggregate` format.
    #[arg(long)]
    pub record: Option<PathBuf>,
}

fn parse_fail_status(s: &str) -> Result<u16, String> {
    parse_status(s).map_err(|e| e.to_string())
}

/// Reads a Go-style duration: one or more `<number><unit>` parts with
/// units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (`200ms`, `1.5s`, `1m30s`);
/// a bare `0` is zero. Unlike a config value, a bare number is refused: on
/// the command line `--latency 200` is more likely a forgotten `ms` than
/// 200 nanoseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let err = || format!("invalid duration {s:?} (expected e.g. 200ms, 1.5s, 1m)");
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    crate::settings::parse_go_duration(s).ok_or_else(err)
}

/// Runs the intake until SIGINT or SIGTERM.
pub fn run(args: TestIntakeArgs) -> ExitCode {
    let schedule = FaultSchedule::new()
        .with_latency(args.latency.unwrap_or_default())
        .with_random_failures(args.fail_rate, args.fail_status, args.seed)
        .map_err(|e| format!("--fail-rate: {e}"))
        .and_then(|s| {
            s.with_random_fault(Fault::Hang, args.hang_rate, args.seed)
                .map_err(|e| format!("--hang-rate: {e}"))
        })
        .and_then(|s| {
            s.with_random_fault(Fault::Reset, args.reset_rate, args.seed)
                .map_err(|e| format!("--reset-rate: {e}"))
        });
    let schedule = match schedule {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dogstatsd test-intake: {e}");
            return ExitCode::from(crate::exit::USAGE);
        }
    };
    let cfg = IntakeConfig {
        bind: SocketAddr::new(args.bind, args.port),
        schedule,
        record: args.record,
        keep: false,
        ..IntakeConfig::default()
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dogstatsd test-intake: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let intake = match TestIntake::start(cfg).await {
            Ok(i) => i,
            Err(e) => {
                eprintln!("dogstatsd test-intake: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!(
            "{}",
            serde_json::json!({ "listening": intake.addr().to_string() })
        );
        eprintln!("dogstatsd test-intake: listening on {}", intake.addr());
        wait_for_signal().await;
        let stats = intake.shutdown().await;
        eprintln!(
            "dogstatsd test-intake: {}",
            serde_json::to_string(&stats).unwrap_or_default()
        );
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "200", "ms", "2x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
