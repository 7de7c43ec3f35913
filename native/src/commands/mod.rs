//! The offline subcommands: the core pipeline without sockets.

pub mod aggregate;
pub mod check_config;
pub mod parse;
pub mod replay;

use std::fmt::Display;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use dogstatsd_core::config::Config;

/// Loads the configuration or reports why not (exit 2, one line).
pub(crate) fn load_or_exit(path: Option<&Path>) -> Result<Config, ExitCode> {
    crate::config::load(path).map_err(|e| {
        crate::scrub::report(&e);
        ExitCode::from(crate::exit::CONFIG)
    })
}

/// Loads the configuration and builds what the command runs on, or
/// reports why not (exit 2, one line).
pub(crate) fn prepare<T, E: Display>(
    path: Option<&Path>,
    build: impl FnOnce(&Config) -> Result<T, E>,
) -> Result<T, ExitCode> {
    let cfg = load_or_exit(path)?;
    build(&cfg).map_err(|e| {
        crate::scrub::report(&format_args!("invalid configuration: {e}"));
        ExitCode::from(crate::exit::CONFIG)
    })
}

/// All of stdin.
pub(crate) fn read_stdin() -> Result<Vec<u8>, ExitCode> {
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .map_err(|e| {
            eprintln!("dogstatsd: cannot read stdin: {e}");
            ExitCode::from(1)
        })?;
    Ok(input)
}

/// Writes the records to stdout; a closed pipe is not an error.
pub(crate) fn write_stdout(out: &[u8]) -> ExitCode {
    if let Err(e) = std::io::stdout().lock().write_all(out)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("dogstatsd: cannot write stdout: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
