//! Parse throughput over a realistic corpus (see `dogstatsd_benches`):
//!
//! * `parse_packet`: lines + messages, nothing else;
//! * `process_packet`: parse + enrichment through a `Frontend` into a
//!   sink that only looks at each result;
//! * `length_prefixed`: the UDS stream framer over the same packets.
//!
//! Group `parse` reports bytes/s; group `parse_messages` runs the first
//! two again and reports messages/s.
//!
//! `cargo bench -p dogstatsd-benches --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use dogstatsd_benches::{Corpus, CorpusConfig, generate};
use dogstatsd_core::config::Config;
use dogstatsd_core::frontend::{Frontend, Processed};
use dogstatsd_core::protocol::{LengthPrefixedFramer, ParseOptions, Transport, parse_packet};

/// `parse_packet` and `process_packet` over every packet of the corpus.
fn parse_benches(group: &mut BenchmarkGroup<'_, WallTime>, corpus: &Corpus) {
    let opts = ParseOptions::default();
    group.bench_function("parse_packet", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for p in &corpus.packets {
                for (_, r) in parse_packet(black_box(p), false, &opts) {
                    ok += usize::from(black_box(r).is_ok());
                }
            }
            assert_eq!(ok, corpus.messages);
        });
    });

    let mut processor = Frontend::new(&Config::default()).expect("default config");
    group.bench_function("process_packet", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for p in &corpus.packets {
                processor.process_packet(black_box(p), Transport::Udp, |m: Processed<'_>| {
                    black_box(&m);
                    n += 1;
                });
            }
            assert_eq!(n, corpus.messages);
        });
    });
}

fn parse(c: &mut Criterion) {
    let corpus = generate(&CorpusConfig::default());
    let bytes = corpus.bytes();
    eprintln!(
        "corpus: {} messages ({} metrics, {} events, {} service checks) in {} packets, {} bytes",
        corpus.messages,
        corpus.metrics,
        corpus.events,
        corpus.service_checks,
        corpus.packets.len(),
        bytes
    );

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(bytes as u64));
    parse_benches(&mut group, &corpus);

    let stream = corpus.length_prefixed();
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("length_prefixed", |b| {
        b.iter(|| {
            let mut framer = LengthPrefixedFramer::new(8192);
            let mut frames = 0usize;
            // Reads of 64 KiB, as a stream socket would deliver them.
            for chunk in stream.chunks(64 * 1024) {
                framer.push(black_box(chunk));
                while let Ok(Some(f)) = framer.next_frame() {
                    black_box(f);
                    frames += 1;
                }
            }
            assert_eq!(frames, corpus.packets.len());
        });
    });
    group.finish();

    let mut group = c.benchmark_group("parse_messages");
    group.throughput(Throughput::Elements(corpus.messages as u64));
    parse_benches(&mut group, &corpus);
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
