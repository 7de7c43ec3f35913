//! `dogstatsd check-config`: validate, print the effective configuration
//! (core and daemon keys) with secrets redacted.

use std::path::Path;
use std::process::ExitCode;

/// The `check-config` subcommand.
pub fn run(config: Option<&Path>) -> ExitCode {
    let settings = match crate::config::load_checked(config, std::env::vars(), []) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match serde_json::to_string_pretty(&settings.redacted_json()) {
        Ok(s) => println!("{}", crate::scrub::scrub(&s)),
        Err(e) => {
            eprintln!("dogstatsd: cannot print the configuration: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
