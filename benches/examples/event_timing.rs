//! Wall-clock ns per event and per service check through
//! `Server::push` (parse, enrich, buffer), best of several passes, on the
//! corpus generator's events and checks (2-20 tags, the default corpus's
//! tag shape). Buffered messages are handed over and dropped between
//! passes, outside the timed part, as `aggregate_timing` does.
//!
//! `cargo run --release -p dogstatsd-benches --example event_timing`
//!
//! Environment: `PASSES` (default 15), `MESSAGES` per corpus (default
//! 20000).
use std::time::Instant;

use dogstatsd_benches::{CorpusConfig, generate};
use dogstatsd_core::aggregate::FlushMode;
use dogstatsd_core::config::Config;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

fn env(k: &str) -> Option<usize> {
    std::env::var(k).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let passes = env("PASSES").unwrap_or(15);
    let messages = env("MESSAGES").unwrap_or(20_000);
    for (label, event_ratio, service_check_ratio) in
        [("events", 1.0, 0.0), ("service checks", 0.0, 1.0)]
    {
        let shape = CorpusConfig {
            messages,
            event_ratio,
            service_check_ratio,
            ..CorpusConfig::default()
        };
        let corpus = generate(&shape);
        let mut s = Server::new(&Config::default()).expect("config");
        let mut best = f64::MAX;
        for _ in 0..passes {
            let t = Instant::now();
            for p in &corpus.packets {
                s.handle_packet(
                    Timestamp::from_secs(1_700_000_001),
                    Transport::Udp.into(),
                    p,
                );
            }
            best = best.min(t.elapsed().as_secs_f64());
            let f = s.flush(Timestamp::from_secs(1_700_000_001), FlushMode::Closed);
            assert_eq!(f.events.len() + f.service_checks.len(), corpus.messages);
        }
        println!(
            "{label}: {:.0} ns/message ({} messages, {:.0} B/message)",
            best * 1e9 / corpus.messages as f64,
            corpus.messages,
            corpus.bytes() as f64 / corpus.messages as f64,
        );
    }
}
