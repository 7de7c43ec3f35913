//! The command line (`../spec/interface.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands;

/// DogStatsD server: metrics, events and service checks from any Datadog
/// client, aggregated and shipped to a Datadog-compatible intake or stdout.
#[derive(Debug, Parser)]
#[command(
    name = "dogstatsd",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: run the daemon).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The daemon's flags when no subcommand is given.
    #[command(flatten)]
    pub run: crate::daemon::RunArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default): listen, aggregate, flush every 15 s.
    Run(crate::daemon::RunArgs),
    /// Parse a payload from stdin and print one JSON line per message.
    Parse {
        /// datadog.yaml-style configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Transport the payload is treated as arriving on (for
        /// `dogstatsd_eol_required`).
        #[arg(long, value_enum, default_value_t = TransportArg::Udp)]
        transport: TransportArg,
    },
    /// Aggregate a payload from stdin as if it all arrived at `--now`, flush
    /// everything and print the records that would be shipped.
    Aggregate {
        /// datadog.yaml-style configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Arrival time of every message, unix seconds (default: now).
        #[arg(long)]
        now: Option<i64>,
        /// Transport the payload is treated as arriving on.
        #[arg(long, value_enum, default_value_t = TransportArg::Udp)]
        transport: TransportArg,
    },
    /// Validate a configuration; exit 2 with each problem on stderr.
    CheckConfig {
        /// datadog.yaml-style configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run a Datadog-compatible test intake (latency and failure
    /// injection, recording) until interrupted.
    TestIntake(crate::intake::cli::TestIntakeArgs),
    /// Replay a traffic capture into a daemon (`--to`), with its timing,
    /// or through the core pipeline offline (`--aggregate`).
    Replay(commands::replay::ReplayArgs),
}

/// Transport names as `dogstatsd_eol_required` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// UDP datagrams.
    Udp,
    /// Unix domain sockets.
    Uds,
    /// Windows named pipes.
    NamedPipe,
}

impl From<TransportArg> for dogstatsd_core::protocol::Transport {
    fn from(t: TransportArg) -> Self {
        match t {
            TransportArg::Udp => Self::Udp,
            TransportArg::Uds => Self::UnixDatagram,
            TransportArg::NamedPipe => Self::NamedPipe,
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Parse { config, transport }) => {
            commands::parse::run(config.as_deref(), transport.into())
        }
        Some(Command::Aggregate {
            config,
            now,
            transport,
        }) => commands::aggregate::run(config.as_deref(), now, transport.into()),
        Some(Command::CheckConfig { config }) => commands::check_config::run(config.as_deref()),
        Some(Command::TestIntake(args)) => crate::intake::cli::run(args),
        Some(Command::Replay(args)) => commands::replay::run(&args),
        Some(Command::Run(args)) => crate::daemon::run_command(&args),
        None => crate::daemon::run_command(&cli.run),
    }
}
