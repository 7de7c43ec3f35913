//! The offline subcommands: the core pipeline without sockets.

pub mod aggregate;
pub mod check_config;
pub mod parse;

use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::config::Config;

/// Loads the configuration or reports why not (exit 2, one line).
pub(crate) fn load_or_exit(path: Option<&Path>) -> Result<Config, ExitCode> {
    crate::config::load(path).map_err(|e| {
        eprintln!("dogstatsd: {e}");
        ExitCode::from(2)
    })
}
