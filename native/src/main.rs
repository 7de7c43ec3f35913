//! The `dogstatsd` binary: parse the command line, hand over to the library.

use std::process::ExitCode;

use clap::Parser as _;

/// Exit status of a command-line usage error (`EX_USAGE`), apart from
/// configuration errors (2).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    dogstatsd_native::scrub::install_panic_hook();
    let cli = match dogstatsd_native::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                // --help and --version.
                ExitCode::SUCCESS
            };
        }
    };
    dogstatsd_native::cli::run(cli)
}
