//! The `dogstatsd` binary: parse the command line, hand over to the library.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = dogstatsd_native::cli::Cli::parse();
    dogstatsd_native::cli::run(cli)
}
