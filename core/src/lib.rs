//! # dogstatsd-core
//!
//! A DogStatsD server with no I/O: this crate parses, maps, enriches and
//! aggregates DogStatsD traffic and builds what a Datadog intake accepts,
//! but never opens a socket, reads a clock or spawns a thread. Bytes and
//! the current time come in as arguments; results go out as values. The
//! same code therefore runs in the native daemon, in WebAssembly and in
//! tests, with identical results.
//!
//! Start with [`protocol`] (packets to messages), [`pipeline::Processor`]
//! (parse + map + enrich, the per-worker front half) and [`config::Config`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aggregate;
pub mod config;
pub mod enrich;
pub mod flush;
pub mod mapper;
pub mod output;
pub mod payload;
pub mod pipeline;
pub mod protocol;
pub mod server;
pub mod sketch;
