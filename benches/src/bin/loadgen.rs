//! DogStatsD load generator: a seeded, realistic message mix over UDP, a
//! UDS datagram socket or a UDS stream, at a fixed rate or as fast as
//! possible, for a bounded time. Prints a one-line JSON summary.
//!
//! ```text
//! target/release/loadgen --transport udp --target 127.0.0.1:8125 --rate 100k --seconds 5
//! target/release/loadgen --transport uds-stream --target /tmp/dsd.sock --rate max --per-datagram 10
//! ```

use std::process::ExitCode;

#[cfg(unix)]
fn main() -> ExitCode {
    use dogstatsd_benches::load;

    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{}", load::USAGE);
        return ExitCode::SUCCESS;
    }
    let cfg = match load::parse_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e}\n{}", load::USAGE);
            return ExitCode::from(2);
        }
    };
    match load::run(&cfg) {
        Ok(sum) => {
            println!("{}", sum.to_json());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {} {}: {e}", cfg.transport.name(), cfg.target);
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("loadgen: Unix only");
    ExitCode::FAILURE
}
