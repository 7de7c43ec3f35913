//! The process's exit statuses, one meaning each.

/// A runtime failure: a required listener that cannot bind, a runtime
/// that cannot start, output that cannot be written.
pub const RUNTIME: u8 = 1;

/// A configuration error: a file that cannot be read or parsed, a bad
/// value, an unresolvable secret.
pub const CONFIG: u8 = 2;

/// A usage error (`EX_USAGE`): an unknown flag or subcommand, a missing
/// or malformed flag value.
pub const USAGE: u8 = 64;
