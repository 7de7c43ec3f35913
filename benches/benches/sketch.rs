//! Sketch inserts and intake payload encoding.
//!
//! `cargo bench -p dogstatsd-benches --bench sketch`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dogstatsd_core::flush::{Series, SeriesType, SketchSeries};
use dogstatsd_core::payload::{PayloadEncoder, PayloadLimits};
use dogstatsd_core::sketch::AgentSketch;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Latency-like values: log-uniform over 1e-4 .. 1e2.
    fn latency(&mut self) -> f64 {
        10f64.powf(-4.0 + 6.0 * self.unit())
    }
}

const N: usize = 10_000;

fn inserts(c: &mut Criterion) {
    let mut rng = Rng(0x5eed);
    let random: Vec<f64> = (0..N).map(|_| rng.latency()).collect();
    let mut g = c.benchmark_group("sketch_insert");
    g.throughput(Throughput::Elements(N as u64));

    g.bench_function("key_only", |b| {
        b.iter(|| {
            let mut acc = 0i32;
            for &v in &random {
                acc += i32::from(dogstatsd_core::sketch::key(v));
            }
            acc
        })
    });
    g.bench_function("same_value", |b| {
        b.iter_batched_ref(
            AgentSketch::new,
            |s| {
                for _ in 0..N {
                    s.insert(black_box(0.25));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("random_values", |b| {
        b.iter_batched_ref(
            AgentSketch::new,
            |s| {
                for &v in &random {
                    s.insert(v);
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("random_values_sampled_0.5", |b| {
        b.iter_batched_ref(
            AgentSketch::new,
            |s| {
                for &v in &random {
                    s.insert_sampled(v, 0.5);
                }
            },
            BatchSize::SmallInput,
        )
    });
    // Steady state: the sketch already has every key, so inserts only
    // increment bins in place.
    let mut warm = AgentSketch::new();
    random.iter().for_each(|&v| warm.insert(v));
    g.bench_function("random_values_warm", |b| {
        b.iter(|| {
            for &v in &random {
                warm.insert(v);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sketch_ops");
    let mut other = AgentSketch::new();
    random.iter().for_each(|&v| other.insert(v * 3.0));
    g.bench_function("merge_10k_value_sketches", |b| {
        b.iter_batched_ref(
            || warm.clone(),
            |s| s.merge(black_box(&other)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("quantile_p99", |b| {
        b.iter(|| black_box(&warm).quantile(black_box(0.99)))
    });
    g.finish();
}

fn payloads(c: &mut Criterion) {
    let mut rng = Rng(42);
    let host: Arc<str> = Arc::from("web-1");
    let series: Vec<Series> = (0..N)
        .map(|i| Series {
            metric: format!("app.requests.metric_{}", i % 500),
            series_type: if i % 3 == 0 {
                SeriesType::Rate
            } else {
                SeriesType::Gauge
            },
            interval: 10,
            timestamp: 1_700_000_000,
            value: rng.unit() * 1000.0,
            tags: [
                "env:prod".to_string(),
                format!("service:svc{}", i / 500),
                format!("shard:{}", i % 7),
            ]
            .into_iter()
            .map(Arc::<str>::from)
            .collect(),
            host: host.clone(),
        })
        .collect();
    let sketches: Vec<SketchSeries> = (0..1000)
        .map(|i| {
            let mut sketch = AgentSketch::new();
            (0..100).for_each(|_| sketch.insert(rng.latency()));
            SketchSeries {
                metric: format!("app.latency_{}", i % 50),
                timestamp: 1_700_000_000,
                tags: ["env:prod".to_string(), format!("endpoint:/api/{i}")]
                    .into_iter()
                    .map(Arc::<str>::from)
                    .collect(),
                host: host.clone(),
                sketch,
            }
        })
        .collect();
    let limits = PayloadLimits::default();
    let mut body = Vec::with_capacity(8 << 20);

    let mut g = c.benchmark_group("payload");
    let mut enc = PayloadEncoder::series_v2(&series, &limits);
    let mut bytes = 0;
    while let Some(i) = enc.next_payload(&mut body) {
        bytes += i.bytes;
    }
    body.clear();
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("series_v2_10k", |b| {
        b.iter(|| {
            let mut enc = PayloadEncoder::series_v2(black_box(&series), &limits);
            while enc.next_payload(&mut body).is_some() {
                body.clear();
            }
        })
    });
    let mut enc = PayloadEncoder::sketches(&sketches, &limits);
    let mut bytes = 0;
    while let Some(i) = enc.next_payload(&mut body) {
        bytes += i.bytes;
    }
    body.clear();
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("sketches_1k_contexts", |b| {
        b.iter(|| {
            let mut enc = PayloadEncoder::sketches(black_box(&sketches), &limits);
            while enc.next_payload(&mut body).is_some() {
                body.clear();
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = inserts, payloads
}
criterion_main!(benches);
