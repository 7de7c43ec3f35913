//! Mapper lookups: 20 profiles of 10 mappings each, a few hundred names.
//!
//! * `hit`: every name is in the cache (cache of 1000, warmed up).
//! * `miss_wildcard`, `miss_regex`: a cache of one entry and names cycled
//!   in turn, so each lookup runs the profile's mappings, builds the result
//!   (allocations included) and replaces the cache entry: the cost of a
//!   name not seen recently, for names that a wildcard (resp. regex)
//!   mapping matches. `miss_mixed` cycles through both kinds (80 % of
//!   the names are wildcard ones).
//! * `miss_unmapped`: the same for names that fall under a profile but
//!   match none of its mappings (all ten are tried).
//! * `no_profile`: names no profile prefix applies to (never cached).
//!
//! Run: `cargo bench -p dogstatsd-benches --bench mapper -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use dogstatsd_core::config::{MapperProfileConfig, MappingConfig};
use dogstatsd_core::mapper::Mapper;

const APPS: [&str; 20] = [
    "airflow",
    "kafka",
    "nginx",
    "redis",
    "postgres",
    "celery",
    "sidekiq",
    "haproxy",
    "envoy",
    "rabbitmq",
    "mysql",
    "mongo",
    "elastic",
    "memcached",
    "jvm",
    "spark",
    "flink",
    "consul",
    "vault",
    "gunicorn",
];

fn mapping(pattern: &str, match_type: &str, name: &str, tags: &[(&str, &str)]) -> MappingConfig {
    MappingConfig::new(pattern, match_type, name, tags)
}

/// Ten mappings per application: eight wildcards, two regexes.
fn profiles() -> Vec<MapperProfileConfig> {
    APPS.iter()
        .map(|app| MapperProfileConfig {
            name: format!("{app}_profile"),
            prefix: format!("{app}."),
            mappings: vec![
                mapping(
                    &format!("{app}.job.duration.*.*"),
                    "",
                    &format!("{app}.job.duration"),
                    &[("job_type", "$1"), ("job_name", "$2")],
                ),
                mapping(
                    &format!("{app}.job.count.*.*"),
                    "",
                    &format!("{app}.job.count"),
                    &[("job_type", "$1"), ("job_name", "$2")],
                ),
                mapping(
                    &format!("{app}.queue.*.size"),
                    "",
                    &format!("{app}.queue.size"),
                    &[("queue", "$1")],
                ),
                mapping(
                    &format!("{app}.queue.*.latency"),
                    "",
                    &format!("{app}.queue.latency"),
                    &[("queue", "$1")],
                ),
                mapping(
                    &format!("{app}.pool.*.*_connections"),
                    "",
                    &format!("{app}.pool.connections"),
                    &[("pool", "$1"), ("state", "$2")],
                ),
                mapping(
                    &format!("{app}.host.*.cpu"),
                    "",
                    &format!("{app}.cpu"),
                    &[("host", "$1")],
                ),
                mapping(
                    &format!("{app}.host.*.mem"),
                    "",
                    &format!("{app}.mem"),
                    &[("host", "$1")],
                ),
                mapping(
                    &format!("{app}.cache.*.hit_ratio"),
                    "",
                    &format!("{app}.cache.hit_ratio"),
                    &[("cache", "$1")],
                ),
                mapping(
                    &format!(r"{app}\.http\.(?P<method>[A-Z]+)\.(?P<code>[1-5])\d\d"),
                    "regex",
                    &format!("{app}.http.requests"),
                    &[("method", "$method"), ("status_class", "${code}xx")],
                ),
                mapping(
                    &format!(r"{app}\.dc-(\w+)\.(\w+)\.errors"),
                    "regex",
                    &format!("{app}.errors"),
                    &[("datacenter", "$1"), ("component", "$2")],
                ),
            ],
        })
        .collect()
}

/// A small deterministic generator, so runs are comparable.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % bound
    }
}

/// `count` distinct names that some mapping matches.
fn mapped_names(count: usize) -> Vec<Vec<u8>> {
    let mut rng = Lcg(42);
    let mut names = Vec::with_capacity(count);
    let mut seen = std::collections::HashSet::new();
    while names.len() < count {
        let app = APPS[rng.next(APPS.len())];
        let n = rng.next(1000);
        let name = match rng.next(10) {
            0 => format!("{app}.job.duration.type{}.job_{n}", n % 5),
            1 => format!("{app}.job.count.type{}.job_{n}", n % 5),
            2 => format!("{app}.queue.q{n}.size"),
            3 => format!("{app}.queue.q{n}.latency"),
            4 => format!(
                "{app}.pool.p{}.{}_connections",
                n % 8,
                ["idle", "busy"][n % 2]
            ),
            5 => format!("{app}.host.i-{n:08x}.cpu"),
            6 => format!("{app}.host.i-{n:08x}.mem"),
            7 => format!("{app}.cache.c{n}.hit_ratio"),
            8 => format!(
                "{app}.http.{}.{}",
                ["GET", "POST", "PUT"][n % 3],
                200 + n % 304
            ),
            _ => format!("{app}.dc-us{}.svc{n}.errors", n % 3),
        };
        if seen.insert(name.clone()) {
            names.push(name.into_bytes());
        }
    }
    names
}

/// Names under a profile that no mapping of it matches.
fn unmapped_names(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("{}.unknown.metric_{i}.value", APPS[i % APPS.len()]).into_bytes())
        .collect()
}

/// Names that no profile prefix applies to.
fn foreign_names(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("app.requests.endpoint_{i}.count").into_bytes())
        .collect()
}

/// Benchmarks one lookup per iteration, cycling through `names`.
fn bench_cycle(c: &mut Criterion, id: &str, mapper: &mut Mapper, names: &[Vec<u8>]) {
    let mut i = 0;
    c.bench_function(id, |b| {
        b.iter(|| {
            let name = &names[i];
            i += 1;
            if i == names.len() {
                i = 0;
            }
            black_box(mapper.map(black_box(name)).is_some())
        });
    });
}

fn mapper_benches(c: &mut Criterion) {
    let profiles = profiles();
    let mapped = mapped_names(400);
    let unmapped = unmapped_names(400);
    let foreign = foreign_names(400);

    // Hits: everything fits in the cache and is already there.
    let mut mapper = Mapper::new(&profiles, 1000).expect("valid profiles");
    for name in mapped.iter().chain(&unmapped) {
        let _ = mapper.map(name);
    }
    let warm = mapper.stats();
    bench_cycle(c, "mapper/hit", &mut mapper, &mapped);
    let stats = mapper.stats();
    assert_eq!(stats.misses, warm.misses, "hit benchmark must not miss");

    // Misses: a cache of one entry, names cycled.
    let is_regex_name = |n: &Vec<u8>| n.windows(6).any(|w| w == b".http." || w == b".dc-us");
    let (regex_names, wildcard_names): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        mapped.iter().cloned().partition(is_regex_name);
    for (id, names) in [
        ("mapper/miss_wildcard", &wildcard_names),
        ("mapper/miss_regex", &regex_names),
        ("mapper/miss_mixed", &mapped),
    ] {
        let mut mapper = Mapper::new(&profiles, 1).expect("valid profiles");
        assert!(
            names.iter().all(|n| mapper.map(n).is_some()),
            "every name maps"
        );
        bench_cycle(c, id, &mut mapper, names);
        assert_eq!(mapper.stats().hits, 0, "miss benchmark must not hit");
    }

    let mut mapper = Mapper::new(&profiles, 1).expect("valid profiles");
    bench_cycle(c, "mapper/miss_unmapped", &mut mapper, &unmapped);
    assert_eq!(mapper.stats().hits, 0, "miss benchmark must not hit");

    let mut mapper = Mapper::new(&profiles, 1000).expect("valid profiles");
    bench_cycle(c, "mapper/no_profile", &mut mapper, &foreign);
    assert_eq!(mapper.stats().cache_len, 0);
}

criterion_group!(benches, mapper_benches);
criterion_main!(benches);
