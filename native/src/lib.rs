//! # dogstatsd-native
//!
//! The I/O shell around `dogstatsd-core`: configuration loading, the
//! command-line tools (`parse`, `aggregate`, `check-config`) and the
//! daemon: listeners, workers, pipelines, the flush loop and its admin
//! endpoint ([`daemon`]). Every protocol and
//! aggregation decision is made in core; this crate moves bytes and time.

#![forbid(unsafe_code)]

pub mod capture;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_error;
pub mod daemon;
pub mod exit;
pub mod files;
pub mod forwarder;
pub mod intake;
pub mod keys;
pub mod logging;
pub mod scrub;
pub mod secrets;
pub mod settings;
pub mod settings_map;
