//! Wall-clock ns per message / per sample for steady-state push (known
//! contexts), best of several passes (the least disturbed by other load).
//! `cargo run --release -p dogstatsd-benches --example aggregate_timing`
use std::time::Instant;

use dogstatsd_benches::{CorpusConfig, generate};
use dogstatsd_core::config::Config;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;

fn main() {
    // Optional corpus shape: CONTEXTS, MIN_TAGS, MAX_TAGS, MAX_NAME.
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let base = CorpusConfig::default();
    let corpus = generate(&CorpusConfig {
        contexts: env("CONTEXTS", base.contexts),
        min_tags: env("MIN_TAGS", base.min_tags),
        max_tags: env("MAX_TAGS", base.max_tags),
        max_name_len: env("MAX_NAME", base.max_name_len),
        ..base
    });
    println!(
        "corpus: {} contexts, {}-{} tags, {:.0} bytes/message",
        env("CONTEXTS", base.contexts),
        env("MIN_TAGS", base.min_tags),
        env("MAX_TAGS", base.max_tags),
        corpus.bytes() as f64 / corpus.messages as f64
    );
    let cfg = Config {
        dogstatsd_route_cache_size: std::env::var("ROUTE_CACHE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8192),
        ..Config::default()
    };
    let mut s = Server::new(&cfg).expect("config");
    for p in &corpus.packets {
        s.push(p, Transport::Udp, 1_700_000_001);
    }
    let samples_before = s.stats().worker.samples;
    let mut best = f64::MAX;
    for _ in 0..15 {
        let t = Instant::now();
        for p in &corpus.packets {
            s.push(p, Transport::Udp, 1_700_000_001);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let w = s.stats().worker;
    let samples = (w.samples - samples_before) / 15;
    println!(
        "route cache: {:.1}% hits",
        100.0 * w.route_cache_hits as f64
            / (w.route_cache_hits + w.route_cache_misses).max(1) as f64
    );
    println!(
        "best pass: {:.1} ms; {:.0} ns/message, {:.0} ns/sample ({} messages, {} samples)",
        best * 1e3,
        best * 1e9 / corpus.messages as f64,
        best * 1e9 / samples as f64,
        corpus.messages,
        samples
    );
}
