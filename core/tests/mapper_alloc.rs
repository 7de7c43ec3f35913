//! A warmed-up mapper answers from its cache without allocating.
//!
//! One scenario per file: the counting allocator is process-wide, so this
//! binary holds a single test to keep other test threads from adding to
//! the counts. The allocator comes from `stats_alloc`, which needs no
//! `unsafe` here (the workspace forbids it).

use std::alloc::System;

use dogstatsd_core::config::{MapperProfileConfig, MappingConfig};
use dogstatsd_core::mapper::Mapper;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn mapping(pattern: &str, match_type: &str, name: &str, tags: &[(&str, &str)]) -> MappingConfig {
    MappingConfig::new(pattern, match_type, name, tags)
}

#[test]
fn cache_hits_do_not_allocate() {
    let profiles = vec![
        MapperProfileConfig {
            name: "jobs".to_owned(),
            prefix: "jobs.".to_owned(),
            mappings: vec![
                mapping(
                    "jobs.duration.*.*",
                    "",
                    "jobs.duration",
                    &[("type", "$1"), ("name", "$2")],
                ),
                mapping(
                    r"jobs\.size\.(?P<kind>\w+)",
                    "regex",
                    "jobs.size",
                    &[("kind", "$kind")],
                ),
            ],
        },
        MapperProfileConfig {
            name: "all".to_owned(),
            prefix: "*".to_owned(),
            mappings: vec![mapping("*.requests", "", "requests", &[("svc", "$1")])],
        },
    ];
    let mut mapper = Mapper::new(&profiles, 1000).expect("valid profiles");

    let names: Vec<Vec<u8>> = (0..100)
        .flat_map(|i| {
            [
                format!("jobs.duration.type{}.job{i}", i % 7).into_bytes(),
                format!("jobs.size.kind{}", i % 11).into_bytes(),
                format!("jobs.unmapped.{i}").into_bytes(), // a cached miss
                format!("svc{i}.requests").into_bytes(),
                format!("svc{i}.other").into_bytes(), // a cached miss of `all`
            ]
        })
        .collect();
    // Warm up: every name is now in the cache.
    for name in &names {
        let _ = mapper.map(name);
    }
    let warm = mapper.stats();
    assert!(warm.cache_len > 0 && warm.cache_len <= names.len());

    // libtest's main thread may allocate while this one runs (it is
    // process-wide counting), so take the quietest of three rounds: an
    // allocation on the hit path would show in every one.
    let mut mapped = 0usize;
    let mut quietest = None;
    for _ in 0..3 {
        let region = Region::new(GLOBAL);
        for _ in 0..10 {
            for name in &names {
                if let Some(m) = mapper.map(name) {
                    mapped += m.tags.len() + 1;
                }
            }
        }
        let change = region.change();
        let n = (change.allocations, change.reallocations);
        if quietest.is_none_or(|q: (usize, usize)| n < q) {
            quietest = Some(n);
        }
    }
    assert_eq!(quietest, Some((0, 0)), "cache hits allocated");
    assert!(mapped > 0);
    let stats = mapper.stats();
    assert_eq!(stats.hits - warm.hits, 30 * names.len() as u64);
    assert_eq!(stats.misses, warm.misses);

    // Control: the counter does see allocations, e.g. those of a cache miss.
    let region = Region::new(GLOBAL);
    let m = mapper.map(b"jobs.duration.fresh.name").cloned();
    let change = region.change();
    assert!(m.is_some());
    assert!(
        change.allocations > 0,
        "allocator not instrumented: {change:?}"
    );
}
