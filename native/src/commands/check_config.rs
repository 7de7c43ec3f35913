//! `dogstatsd check-config`: validate, print the effective configuration.

use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::pipeline::Processor;

/// The `check-config` subcommand.
pub fn run(config: Option<&Path>) -> ExitCode {
    let cfg = match super::load_or_exit(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = Processor::new(&cfg) {
        eprintln!("dogstatsd: invalid configuration: {e}");
        return ExitCode::from(2);
    }
    match serde_json::to_string_pretty(&cfg) {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("dogstatsd: cannot print the configuration: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
