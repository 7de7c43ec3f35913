//! Wall-clock ns per message / per sample for steady-state push (known
//! contexts), best of several passes (the least disturbed by other load).
//! `cargo run --release -p dogstatsd-benches --example aggregate_timing`
use std::time::Instant;

use dogstatsd_benches::{CorpusConfig, generate};
use dogstatsd_core::config::Config;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;

fn main() {
    let corpus = generate(&CorpusConfig::default());
    let mut s = Server::new(&Config::default()).expect("config");
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
    let samples = (s.stats().worker.samples - samples_before) / 15;
    println!(
        "best pass: {:.1} ms; {:.0} ns/message, {:.0} ns/sample ({} messages, {} samples)",
        best * 1e3,
        best * 1e9 / corpus.messages as f64,
        best * 1e9 / samples as f64,
        corpus.messages,
        samples
    );
}
