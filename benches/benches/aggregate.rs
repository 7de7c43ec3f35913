//! Parse + enrich + resolve + aggregate per sample, end to end in core.
//!
//! `steady`: contexts already known (the common case), with the flush
//! that hands over events and service checks; `cold`: a fresh server each
//! iteration, so every context is new. Throughput is in
//! messages; divide the time by the message count for ns per message.
//!
//! `per_type/*`: steady state with a corpus of one metric type only
//! (metrics only, same names and tags), so each type's aggregation cost
//! can be told apart.
//!
//! `cargo bench -p dogstatsd-benches --bench aggregate -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dogstatsd_benches::{CorpusConfig, TypeWeights, generate};
use dogstatsd_core::aggregate::FlushMode;
use dogstatsd_core::config::Config;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

const NOW: i64 = 1_700_000_001;

fn aggregate(c: &mut Criterion) {
    let corpus = generate(&CorpusConfig::default());
    let cfg = Config {
        hostname: "bench".into(),
        ..Config::default()
    };
    let mut group = c.benchmark_group("aggregate");
    group.throughput(Throughput::Elements(corpus.messages as u64));
    let mut server = Server::new(&cfg).expect("config");
    for p in &corpus.packets {
        server.handle_packet(Timestamp::from_secs(NOW), Transport::Udp.into(), p);
    }
    group.bench_function("steady", |b| {
        b.iter(|| {
            for p in &corpus.packets {
                black_box(server.handle_packet(
                    Timestamp::from_secs(NOW),
                    Transport::Udp.into(),
                    black_box(p),
                ));
            }
            // Events and service checks leave with the flush, as in the
            // daemon (the open bucket stays: not closed at this time);
            // kept, they would pile up over the iterations.
            black_box(server.flush(Timestamp::from_secs(NOW), FlushMode::Closed));
        });
    });
    group.bench_function("cold", |b| {
        b.iter_batched(
            || Server::new(&cfg).expect("config"),
            |mut s| {
                for p in &corpus.packets {
                    black_box(s.handle_packet(
                        Timestamp::from_secs(NOW),
                        Transport::Udp.into(),
                        black_box(p),
                    ));
                }
                s
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn per_type(c: &mut Criterion) {
    let cfg = Config {
        hostname: "bench".into(),
        ..Config::default()
    };
    let none = TypeWeights {
        count: 0,
        gauge: 0,
        distribution: 0,
        set: 0,
        histogram: 0,
        timing: 0,
    };
    let mut group = c.benchmark_group("aggregate/per_type");
    for (name, weights) in [
        ("count", TypeWeights { count: 1, ..none }),
        ("gauge", TypeWeights { gauge: 1, ..none }),
        (
            "distribution",
            TypeWeights {
                distribution: 1,
                ..none
            },
        ),
        ("set", TypeWeights { set: 1, ..none }),
        (
            "histogram",
            TypeWeights {
                histogram: 1,
                ..none
            },
        ),
    ] {
        let corpus = generate(&CorpusConfig {
            messages: 20_000,
            type_weights: weights,
            event_ratio: 0.0,
            service_check_ratio: 0.0,
            ..CorpusConfig::default()
        });
        let mut server = Server::new(&cfg).expect("config");
        for p in &corpus.packets {
            server.handle_packet(Timestamp::from_secs(NOW), Transport::Udp.into(), p);
        }
        group.throughput(Throughput::Elements(corpus.messages as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for p in &corpus.packets {
                    black_box(server.handle_packet(
                        Timestamp::from_secs(NOW),
                        Transport::Udp.into(),
                        black_box(p),
                    ));
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, aggregate, per_type);
criterion_main!(benches);
