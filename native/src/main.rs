//! The `dogstatsd` binary: parse the command line, hand over to the library.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    dogstatsd_native::scrub::install_panic_hook();
    let cli = match dogstatsd_native::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(dogstatsd_native::exit::USAGE)
            } else {
                // --help and --version.
                ExitCode::SUCCESS
            };
        }
    };
    dogstatsd_native::cli::run(cli)
}
