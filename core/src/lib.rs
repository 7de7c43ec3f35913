//! # dogstatsd-core
//!
//! A DogStatsD server with no I/O: this crate parses, maps, enriches and
//! aggregates DogStatsD traffic and builds what a Datadog intake accepts,
//! but never opens a socket, reads a clock or spawns a thread. Bytes and
//! the current time come in as arguments; results go out as values. The
//! same code therefore runs in the native daemon, in WebAssembly and in
//! tests, with identical results.
//!
//! Start with [`server::Server`] (everything inline: `push(bytes, now)`,
//! `flush(now)`), then [`protocol`] (packets to messages),
//! [`pipeline::Processor`] (parse + map + enrich, a worker's front half),
//! [`aggregate`] (contexts, buckets, sharding over pipelines) and
//! [`payload`] (what to POST to an intake). Shells run the same parts on
//! threads (`native/`) or inline (`wasm/`).
//!
//! The smallest driver: push what arrives with the time it arrived, flush
//! closed buckets when the clock says so.
//!
//! ```
//! use dogstatsd_core::{config::Config, protocol::Transport, server::Server};
//!
//! let cfg = Config { hostname: "web-1".into(), ..Config::default() };
//! let mut server = Server::new(&cfg).expect("valid configuration");
//! let now = 1_700_000_003; // unix seconds, from the caller's clock
//! let counts = server.push(b"page.views:1|c|#env:prod\nlatency:12|d", Transport::Udp, now);
//! assert_eq!((counts.accepted, counts.rejected), (2, 0));
//!
//! // The bucket [1700000000, 1700000010) closes at 1700000010.
//! assert!(server.flush(now, false).is_empty());
//! let flush = server.flush(1_700_000_010, false);
//! assert_eq!(flush.series[0].metric, "page.views");
//! assert_eq!(flush.series[0].value, 0.1); // counts ship as rates
//! assert_eq!(flush.sketches[0].sketch.count(), 1);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aggregate;
pub mod config;
pub mod enrich;
pub mod flush;
pub mod mapper;
mod order;
pub mod output;
pub mod payload;
pub mod pipeline;
pub mod protocol;
pub mod server;
pub mod sketch;
mod text;
