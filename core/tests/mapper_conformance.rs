//! Runs `tests/data/conformance/mapper.json` through the core mapper API.
//!
//! Each case either must be rejected (`error: true`, the message containing
//! `error_contains`) or maps each of its `metrics` names to the expected
//! name and tags. The vectors describe the sample after the server step
//! (§7.1): the message's own `input_tags` come first and the mapping's are
//! appended, and an unmapped name passes through unchanged. Here the
//! mapper alone is tested, so the expected tags are the mapping's tags
//! plus the input tags, compared as multisets.

use dogstatsd_core::config::MapperProfileConfig;
use dogstatsd_core::mapper::Mapper;
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/conformance/mapper.json"
));

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|v| v.as_str().expect("tag must be a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn sorted(mut tags: Vec<String>) -> Vec<String> {
    tags.sort();
    tags
}

/// Runs one case, returning how many checks it made.
fn run_case(case: &Value) -> usize {
    let id = case["id"].as_str().expect("case id");
    let profiles: Vec<MapperProfileConfig> =
        serde_json::from_value(case["profiles"].clone()).expect("profiles deserialize");
    let cache_size = case["cache_size"].as_i64().expect("cache_size");
    let built = Mapper::new(&profiles, cache_size);

    if case["error"].as_bool() == Some(true) {
        let Err(err) = built else {
            panic!("{id}: configuration must be rejected");
        };
        let needle = case["error_contains"].as_str().expect("error_contains");
        assert!(
            err.to_string().contains(needle),
            "{id}: error `{err}` does not contain `{needle}`"
        );
        return 1;
    }

    let mut mapper = built.unwrap_or_else(|err| panic!("{id}: unexpected error: {err}"));
    let metrics = case["metrics"].as_array().expect("metrics");
    // Twice: the second pass is answered from the cache and must agree.
    for pass in 0..2 {
        for metric in metrics {
            let name = metric["name"].as_str().expect("metric name");
            let input_tags = strings(metric.get("input_tags"));
            let got = mapper.map(name.as_bytes()).cloned();
            let expect = &metric["expect"];
            if expect.is_null() {
                assert_eq!(got, None, "{id} (pass {pass}): {name} must not be mapped");
                continue;
            }
            let expect_name = expect["name"].as_str().expect("expected name");
            let expect_tags = sorted(strings(expect.get("tags")));
            // The sample after the server step: mapped name or the original,
            // the message's tags followed by the mapping's.
            let (got_name, mut got_tags) = match got {
                Some(m) => (m.name, m.tags),
                None => (name.to_owned(), Vec::new()),
            };
            got_tags.extend(input_tags);
            assert_eq!(got_name, expect_name, "{id} (pass {pass}): name of {name}");
            assert_eq!(
                sorted(got_tags),
                expect_tags,
                "{id} (pass {pass}): tags of {name}"
            );
        }
    }
    let stats = mapper.stats();
    assert_eq!(
        stats.hits + stats.misses,
        2 * metrics.len() as u64,
        "{id}: every vector name falls under a profile"
    );
    2 * metrics.len()
}

#[test]
fn mapper_conformance_vectors() {
    let cases: Vec<Value> = serde_json::from_str(VECTORS).expect("mapper.json parses");
    assert!(!cases.is_empty());
    let mut checks = 0;
    for case in &cases {
        checks += run_case(case);
    }
    let errors = cases
        .iter()
        .filter(|c| c["error"] == Value::Bool(true))
        .count();
    eprintln!(
        "mapper conformance: {} cases ({errors} invalid configs), {checks} checks",
        cases.len()
    );
}

#[test]
fn mapper_conformance_with_cache_size_one() {
    // Results must not depend on the cache: rerun the valid cases with the
    // smallest cache.
    let cases: Vec<Value> = serde_json::from_str(VECTORS).expect("mapper.json parses");
    for case in cases.iter().filter(|c| c["error"] != Value::Bool(true)) {
        let mut case = case.clone();
        case["cache_size"] = Value::from(1);
        run_case(&case);
    }
}
