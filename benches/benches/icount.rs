//! Deterministic instruction counts for parse, process and aggregate, for
//! comparing changes on a noisy shared machine (wall time moves 2× here;
//! instruction counts do not).
//!
//! Each stage runs in its own `#[inline(never)]` function, and callgrind
//! collects inside that function only:
//!
//! ```text
//! cargo bench -p dogstatsd-benches --bench icount --no-run
//! B=$(ls -t target/release/deps/icount-* | grep -v '\.d$' | head -1)
//! for stage in parse process aggregate; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     --collect-atstart=no --toggle-collect="*icount_$stage*" $B $stage 2>&1 | grep Collected
//! done
//! ```
//!
//! Without valgrind it just runs the stage once (so `cargo test --benches`
//! keeps it working).

use std::hint::black_box;

use dogstatsd_benches::{Corpus, CorpusConfig, generate};
use dogstatsd_core::config::Config;
use dogstatsd_core::frontend::{Frontend, Processed};
use dogstatsd_core::protocol::{ParseOptions, Transport, parse_packet};
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

#[inline(never)]
fn icount_parse(corpus: &Corpus) -> usize {
    let opts = ParseOptions::default();
    let mut ok = 0;
    for p in &corpus.packets {
        for (_, r) in parse_packet(black_box(p), false, &opts) {
            ok += usize::from(black_box(r).is_ok());
        }
    }
    ok
}

#[inline(never)]
fn icount_process(processor: &mut Frontend, corpus: &Corpus) -> usize {
    let mut n = 0;
    for p in &corpus.packets {
        processor.process_packet(black_box(p), Transport::Udp, |m: Processed<'_>| {
            black_box(&m);
            n += 1;
        });
    }
    n
}

#[inline(never)]
fn icount_aggregate(server: &mut Server, corpus: &Corpus) -> u32 {
    let mut accepted = 0;
    for p in &corpus.packets {
        accepted += server
            .handle_packet(
                Timestamp::from_secs(1_700_000_001),
                Transport::Udp.into(),
                black_box(p),
            )
            .accepted;
    }
    accepted
}

/// Creates the contexts (not measured). Kept apart from
/// `icount_aggregate` so the compiler cannot fold the two loops together.
#[inline(never)]
fn warm_up(server: &mut Server, corpus: &Corpus) {
    for p in corpus.packets.iter().rev() {
        black_box(server.handle_packet(
            Timestamp::from_secs(1_700_000_002),
            Transport::Udp.into(),
            p,
        ));
    }
}

/// The default corpus, or the shape `CONTEXTS`, `MAX_TAGS` and
/// `METRICS_ONLY=1` ask for (`ROUTE_CACHE` sets the route cache size) (`CONTEXTS=3000 MAX_TAGS=10` is the load
/// generator's mix, as `examples/aggregate_timing.rs` runs it).
fn corpus_config() -> CorpusConfig {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    let mut c = CorpusConfig::default();
    c.contexts = env("CONTEXTS").unwrap_or(c.contexts);
    c.max_tags = env("MAX_TAGS").unwrap_or(c.max_tags);
    if env("METRICS_ONLY") == Some(1) {
        c.event_ratio = 0.0;
        c.service_check_ratio = 0.0;
    }
    c
}

fn main() {
    let corpus = generate(&corpus_config());
    let stage = std::env::args().nth(1).unwrap_or_default();
    let route_cache = std::env::var("ROUTE_CACHE")
        .ok()
        .and_then(|v| v.parse().ok());
    let cfg = Config {
        hostname: "bench".into(),
        dogstatsd_route_cache_size: route_cache
            .unwrap_or(Config::default().dogstatsd_route_cache_size),
        ..Config::default()
    };
    match stage.as_str() {
        "parse" => {
            black_box(icount_parse(&corpus));
        }
        "process" => {
            let mut p = Frontend::new(&cfg).expect("config");
            black_box(icount_process(&mut p, &corpus));
        }
        "aggregate" => {
            // Warm-up pass creates the contexts; the measured pass is the
            // steady state of known contexts.
            let mut s = Server::new(&cfg).expect("config");
            warm_up(&mut s, &corpus);
            black_box(icount_aggregate(&mut s, &corpus));
        }
        _ => {
            let mut p = Frontend::new(&cfg).expect("config");
            let mut s = Server::new(&cfg).expect("config");
            assert_eq!(icount_parse(&corpus), corpus.messages);
            assert_eq!(icount_process(&mut p, &corpus), corpus.messages);
            assert_eq!(icount_aggregate(&mut s, &corpus) as usize, corpus.messages);
        }
    }
    println!(
        "corpus: {} messages, {} bytes, {} packets",
        corpus.messages,
        corpus.bytes(),
        corpus.packets.len()
    );
}
