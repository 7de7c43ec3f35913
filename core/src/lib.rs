//! # dogstatsd-core
//!
//! A DogStatsD server with no I/O: this crate parses, maps, enriches and
//! aggregates DogStatsD traffic and builds what a Datadog intake accepts,
//! but never opens a socket, reads a clock or spawns a thread. Bytes and
//! the current time come in as arguments; results go out as values. The
//! same code therefore runs in the native daemon, in WebAssembly and in
//! tests, with identical results.
//!
//! ## The state machine
//!
//! [`Server`] is the whole server on one thread. Its calls, grouped as
//! quinn-proto groups a connection's:
//!
//! | call | when |
//! |---|---|
//! | [`Server::handle_packet`]`(now, origin, bytes)` | a packet arrived at `now` from `origin` |
//! | [`Server::poll_timeout`]`()` | after every input: when to wake it next |
//! | [`Server::handle_timeout`]`(now)` | the clock reached that time |
//! | [`Server::poll_output`]`()` | after every input, until `None`: [`Output::Flush`] |
//! | [`Server::flush`]`(now, mode)` | an explicit flush (edge function end, `POST /flush`) |
//! | [`Server::stop`]`(now)` | the final flush (`dogstatsd_flush_incomplete_buckets`) |
//!
//! The whole drive loop, as a shell runs it (a blocking UDP socket here):
//!
//! ```no_run
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use dogstatsd_core::{Output, Server, Timestamp, config::Config, protocol::Transport};
//!
//! fn now() -> Timestamp {
//!     let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
//!     Timestamp::from_millis(d.as_millis() as i64)
//! }
//!
//! let socket = std::net::UdpSocket::bind("127.0.0.1:8125")?;
//! let mut server = Server::new(&Config::default())?;
//! let mut buf = vec![0u8; 8192];
//! loop {
//!     // 1. Sleep until the next deadline or the next packet.
//!     let wait = server
//!         .poll_timeout()
//!         .map(|t| (t.as_millis() - now().as_millis()).max(1) as u64)
//!         .unwrap_or(1000);
//!     socket.set_read_timeout(Some(Duration::from_millis(wait)))?;
//!     // 2. Feed what happened, with the time it happened.
//!     match socket.recv(&mut buf) {
//!         Ok(n) => {
//!             let _ = server.handle_packet(now(), Transport::Udp.into(), &buf[..n]);
//!         }
//!         Err(_) => server.handle_timeout(now()),
//!     }
//!     // 3. Drain the outputs.
//!     while let Some(Output::Flush(flush)) = server.poll_output() {
//!         println!("{} series", flush.series.len());
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! And the same, tested, with a simulated clock:
//!
//! ```
//! use dogstatsd_core::{Server, Timestamp, aggregate::FlushMode, config::Config, protocol::Transport};
//!
//! let cfg = Config { hostname: "web-1".into(), ..Config::default() };
//! let mut server = Server::new(&cfg).expect("valid configuration");
//! let now = Timestamp::from_secs(1_700_000_003);
//! let counts = server.handle_packet(now, Transport::Udp.into(), b"page.views:1|c|#env:prod\nlatency:12|d");
//! assert_eq!((counts.accepted, counts.rejected), (2, 0));
//!
//! // The bucket [1700000000, 1700000010) closes at 1700000010.
//! assert!(server.flush(now, FlushMode::Closed).is_empty());
//! let flush = server.flush(Timestamp::from_secs(1_700_000_010), FlushMode::Closed);
//! assert_eq!(flush.series[0].metric, "page.views");
//! assert_eq!(flush.series[0].value, 0.1); // counts ship as rates
//! assert_eq!(flush.sketches[0].sketch.count(), 1);
//! ```
//!
//! ## The threaded form
//!
//! A shell with threads composes the same parts as [`Server`] does
//! inline ([`aggregate`]): [`aggregate::Router`]s (parse, map, enrich,
//! route into per-shard batches; each owns its route cache),
//! [`aggregate::Shard`]s (contexts and buckets), and
//! [`aggregate::FlushRound`], whose types allow only the protocol's order
//! (routers drained, then every shard's plan, then every shard's flush
//! against the sealed plan, then the sorted result).
//!
//! ## The pieces
//!
//! [`protocol`] (packets to messages), [`frontend`] (parse + map +
//! enrich), [`aggregate`], [`flush`] (the records a flush produces),
//! [`payload`] (what to POST to an intake), [`output`] (the `aggregate`
//! JSON Lines format).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aggregate;
pub mod config;
pub mod delivery;
pub mod enrich;
pub mod flush;
pub mod frontend;
pub mod mapper;
mod order;
pub mod output;
pub mod payload;
pub mod protocol;
pub mod server;

pub use server::{Output, Server, ServerStats};
pub use time::{Cadence, FLUSH_INTERVAL, Timestamp};
pub mod sketch;
mod text;
pub mod time;
