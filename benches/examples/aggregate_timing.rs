//! Wall-clock ns per message / per sample for steady-state push (known
//! contexts), best of several passes (the least disturbed by other load),
//! for two corpus shapes: the benchmarks' default corpus (10k contexts,
//! 2-20 tags, ~250-byte messages) and the load generator's mix (3k
//! contexts, 2-10 tags, as the end-to-end harness sends), each with and
//! without events and service checks (2% + 2% by default; they allocate).
//!
//! `cargo run --release -p dogstatsd-benches --example aggregate_timing`
//!
//! Environment: `CONTEXTS`, `MIN_TAGS`, `MAX_TAGS`, `MAX_NAME` run one
//! custom shape instead; `ROUTE_CACHE` sets `dogstatsd_route_cache_size`;
//! `METRICS_ONLY=1` (or `0`) runs only the metrics-only (or mixed) pass.
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
    let base = CorpusConfig::default();
    let loadgen = CorpusConfig {
        contexts: 3_000,
        max_tags: 10,
        ..base.clone()
    };
    let shapes: Vec<(&str, CorpusConfig)> = if env("CONTEXTS").is_some()
        || env("MIN_TAGS").is_some()
        || env("MAX_TAGS").is_some()
        || env("MAX_NAME").is_some()
    {
        vec![(
            "custom",
            CorpusConfig {
                contexts: env("CONTEXTS").unwrap_or(base.contexts),
                min_tags: env("MIN_TAGS").unwrap_or(base.min_tags),
                max_tags: env("MAX_TAGS").unwrap_or(base.max_tags),
                max_name_len: env("MAX_NAME").unwrap_or(base.max_name_len),
                ..base.clone()
            },
        )]
    } else {
        vec![("default corpus", base), ("loadgen mix", loadgen)]
    };
    for (label, shape) in shapes {
        let only = env("METRICS_ONLY").map(|v| v == 1);
        for metrics_only in [false, true] {
            if only.is_some_and(|o| o != metrics_only) {
                continue;
            }
            let shape = if metrics_only {
                CorpusConfig {
                    event_ratio: 0.0,
                    service_check_ratio: 0.0,
                    ..shape.clone()
                }
            } else {
                shape.clone()
            };
            run(label, &shape, metrics_only);
        }
    }
}

fn run(label: &str, shape: &CorpusConfig, metrics_only: bool) {
    let corpus = generate(shape);
    let mut cfg = Config::default();
    if let Some(size) = env("ROUTE_CACHE") {
        cfg.dogstatsd_route_cache_size = size as i64;
    }
    let mut s = Server::new(&cfg).expect("config");
    for p in &corpus.packets {
        s.handle_packet(
            Timestamp::from_secs(1_700_000_001),
            Transport::Udp.into(),
            p,
        );
    }
    let before = s.stats().router;
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        for p in &corpus.packets {
            s.handle_packet(
                Timestamp::from_secs(1_700_000_001),
                Transport::Udp.into(),
                p,
            );
        }
        best = best.min(t.elapsed().as_secs_f64());
        // Hand over the events and service checks, as the daemon's flush
        // does every 10 s (the open bucket stays: not closed at this time).
        drop(s.flush(Timestamp::from_secs(1_700_000_001), FlushMode::Closed));
    }
    let w = s.stats().router;
    let samples = (w.samples - before.samples) / 15;
    let hits = w.route_cache_hits - before.route_cache_hits;
    let misses = w.route_cache_misses - before.route_cache_misses;
    println!(
        "{label} ({} contexts, {}-{} tags, {:.0} B/message{}): {:.0} ns/message, \
         {:.0} ns/sample; route cache {:.1}% hits",
        shape.contexts,
        shape.min_tags,
        shape.max_tags,
        corpus.bytes() as f64 / corpus.messages as f64,
        if metrics_only { ", metrics only" } else { "" },
        best * 1e9 / corpus.messages as f64,
        best * 1e9 / samples as f64,
        100.0 * hits as f64 / (hits + misses).max(1) as f64,
    );
}
