//! `aggregate.json` through the real `dogstatsd aggregate` binary.

use dogstatsd_tests::{TagRule, case_config, compare_record, conformance, try_run_records};
use serde_json::Value;

/// Sketch quantiles are approximate: within the sketch's relative accuracy
/// (1/128) plus a bin of slack.
fn quantiles_close(expected: &Value, actual: &Value) -> Result<(), String> {
    for q in ["p50", "p95", "p99"] {
        let e = expected.get(q).and_then(Value::as_f64);
        let a = actual.get(q).and_then(Value::as_f64);
        if let (Some(e), Some(a)) = (e, a)
            && (e - a).abs() > 0.02 * e.abs().max(1e-9)
        {
            return Err(format!("{q}: expected ~{e}, got {a}"));
        }
    }
    Ok(())
}

fn strip_quantiles(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for q in ["p50", "p95", "p99"] {
            o.remove(q);
        }
    }
    v
}

#[test]
fn aggregate_json_cases() {
    let cases = conformance("aggregate.json");
    let cases = cases.as_array().expect("list");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        let now = case["now"].as_i64().expect("now").to_string();
        let cfg = case_config(case.get("config"));
        let payload = case["payload"].as_str().expect("payload");
        let mut actual =
            match try_run_records("aggregate", &cfg, &["--now", &now], payload.as_bytes()) {
                Ok(records) => records,
                Err(e) => {
                    failures.push(format!("{id}: {e}"));
                    continue;
                }
            };
        let expected = case["expect"].as_array().expect("expect");
        for e in expected {
            let pos = actual.iter().position(|a| {
                a["kind"] == e["kind"]
                    && compare_record(&strip_quantiles(e), a, TagRule::SortedSet).is_ok()
                    && quantiles_close(e, a).is_ok()
            });
            match pos {
                Some(i) => {
                    actual.remove(i);
                }
                None => failures.push(format!("{id}: no record matches {e}")),
            }
        }
        for extra in actual {
            failures.push(format!("{id}: unexpected record {extra}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
