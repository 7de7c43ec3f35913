//! # dogstatsd-native
//!
//! The I/O shell around `dogstatsd-core`: configuration loading, the
//! command-line tools (`parse`, `aggregate`, `check-config`) and, in time,
//! the daemon's listeners, workers and forwarder. Every protocol and
//! aggregation decision is made in core; this crate moves bytes and time.

#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod config;
pub mod forwarder;
pub mod intake;
