//! `dogstatsd check-config`: validate, print the effective configuration.

use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::pipeline::Processor;

/// The `check-config` subcommand.
pub fn run(config: Option<&Path>) -> ExitCode {
    let cfg = match super::prepare(config, |c| Processor::new(c).map(|_| c.clone())) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match serde_json::to_string_pretty(&cfg) {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("dogstatsd: cannot print the configuration: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
