//! `parse.json` and the `payload_cases` of `framing.json`, through the real
//! `dogstatsd parse` binary.

use dogstatsd_tests::{TagRule, case_config, compare_record, conformance, run_records};
use serde_json::Value;

fn check_one(id: &str, expected: &Value, actual: &Value, input: &str) -> Result<(), String> {
    if expected.get("kind").and_then(Value::as_str) == Some("error") {
        if actual["kind"] != "error" {
            return Err(format!("{id}: expected an error record, got {actual}"));
        }
        if let Some(i) = expected.get("input")
            && actual["input"] != *i
        {
            return Err(format!("{id}: error input {} != {i}", actual["input"]));
        }
        return Ok(());
    }
    compare_record(expected, actual, TagRule::Multiset)
        .map_err(|e| format!("{id} ({input:?}): {e}\n  got {actual}"))
}

#[test]
fn parse_json_cases() {
    let cases = conformance("parse.json");
    let cases = cases.as_array().expect("list");
    assert!(cases.len() >= 100, "parse.json has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        let input = case["input"].as_str().expect("input");
        let cfg = case_config(case.get("config"));
        let records = run_records("parse", &cfg, &[], input.as_bytes());
        if records.len() != 1 {
            failures.push(format!(
                "{id}: expected exactly one record, got {records:?}"
            ));
            continue;
        }
        let expected = if case.get("error") == Some(&Value::Bool(true)) {
            serde_json::json!({"kind": "error", "input": input})
        } else {
            case["expect"].clone()
        };
        if let Err(e) = check_one(id, &expected, &records[0], input) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn framing_payload_cases() {
    let doc = conformance("framing.json");
    let cases = doc["payload_cases"].as_array().expect("payload_cases");
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        let payload = case["payload"].as_str().expect("payload");
        let cfg = case_config(case.get("config"));
        let transport = case
            .get("transport")
            .and_then(Value::as_str)
            .unwrap_or("udp");
        let records = run_records(
            "parse",
            &cfg,
            &["--transport", transport],
            payload.as_bytes(),
        );
        let expected = case["expect"].as_array().expect("expect");
        if records.len() != expected.len() {
            failures.push(format!(
                "{id}: expected {} records, got {}: {records:?}",
                expected.len(),
                records.len()
            ));
            continue;
        }
        for (e, a) in expected.iter().zip(&records) {
            if let Err(err) = check_one(id, e, a, payload) {
                failures.push(err);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
