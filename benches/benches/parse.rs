//! Parse throughput over a realistic corpus (see `dogstatsd_benches`):
//!
//! * `parse_packet`: lines + messages, nothing else;
//! * `process_packet`: parse + enrichment through a `Processor` into a
//!   sink that only looks at each result;
//! * `length_prefixed`: the UDS stream framer over the same packets.
//!
//! Criterion reports bytes/s; the message count is printed once so
//! messages/s follows from the time per iteration.
//!
//! `cargo bench -p dogstatsd-benches --bench parse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dogstatsd_benches::{CorpusConfig, generate};
use dogstatsd_core::config::Config;
use dogstatsd_core::pipeline::{Processed, Processor};
use dogstatsd_core::protocol::{LengthPrefixedFramer, ParseOptions, Transport, parse_packet};

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

    let mut processor = Processor::new(&Config::default()).expect("default config");
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
}

criterion_group!(benches, parse);
criterion_main!(benches);
