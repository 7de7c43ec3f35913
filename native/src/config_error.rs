//! The configuration layer's error: why settings could not be loaded.
//! A leaf module, so the loader (`config`) and the settings types
//! (`settings`, `capture`) share it without importing each other.

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The path is not a regular file (a FIFO, a device, a socket...):
    /// reading it could block or never end.
    #[error(
        "{path} is {kind}, not a regular file: --config takes a datadog.yaml file or the directory holding one"
    )]
    NotAFile {
        /// The file.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than any real configuration.
    #[error("{path} is larger than {limit} bytes, the most a configuration file may hold")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit.
        limit: u64,
    },
    /// The file is not valid YAML.
    #[error("{path}: {reason}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, on one line.
        reason: String,
    },
    /// The top level is not a map of keys.
    #[error("{path}: the top level must be a map of settings")]
    NotAMap {
        /// The file.
        path: String,
    },
    /// A key has a value of the wrong kind.
    #[error("invalid configuration: {0}")]
    Value(String),
    /// A key has a value of the wrong kind, and we know where it was set.
    #[error("invalid configuration in {origin}: {message}")]
    Sourced {
        /// The file, `DD_<KEY>` variable or "the command line".
        origin: String,
        /// What is wrong, starting with the key.
        message: String,
    },
}

/// Folds a multi-line parser message into one line.
pub(crate) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
