//! `mapper.json` through the real binary: invalid profiles make
//! `check-config` exit 2 naming the problem; valid ones map names in
//! `parse` (message tags joined with the mapping's).

use dogstatsd_tests::{base_config, conformance, run, run_records, write_config};
use serde_json::{Value, json};

#[test]
fn mapper_json_cases() {
    let cases = conformance("mapper.json");
    let cases = cases.as_array().expect("list");
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().expect("id");
        let mut cfg = base_config();
        cfg.insert("dogstatsd_mapper_profiles".into(), case["profiles"].clone());
        cfg.insert(
            "dogstatsd_mapper_cache_size".into(),
            case["cache_size"].clone(),
        );
        if case.get("error") == Some(&Value::Bool(true)) {
            let file = write_config(&cfg);
            let out = run(
                &["check-config", "--config", file.path().to_str().unwrap()],
                b"",
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            let want = case["error_contains"].as_str().unwrap_or("");
            if out.status.code() != Some(2) || !stderr.contains(want) {
                failures.push(format!(
                    "{id}: exit {:?}, stderr {stderr:?}, wanted {want:?}",
                    out.status.code()
                ));
            }
            // The daemon's offline tools refuse it the same way.
            let parse = run(
                &["parse", "--config", file.path().to_str().unwrap()],
                b"x:1|c",
            );
            if parse.status.code() != Some(2) {
                failures.push(format!("{id}: parse accepted an invalid mapper config"));
            }
            continue;
        }
        for m in case["metrics"].as_array().expect("metrics") {
            let name = m["name"].as_str().expect("name");
            let input_tags: Vec<String> = m
                .get("input_tags")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let mut line = format!("{name}:1|g");
            if !input_tags.is_empty() {
                line.push_str(&format!("|#{}", input_tags.join(",")));
            }
            let records = run_records("parse", &cfg, &[], line.as_bytes());
            let expect = if m["expect"].is_null() {
                json!({"name": name, "tags": input_tags})
            } else {
                m["expect"].clone()
            };
            let got_name = records
                .first()
                .map(|r| r["name"].clone())
                .unwrap_or_default();
            let mut got_tags: Vec<String> = records
                .first()
                .and_then(|r| r["tags"].as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let mut want_tags: Vec<String> = expect["tags"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect();
            got_tags.sort();
            want_tags.sort();
            if records.len() != 1 || got_name != expect["name"] || got_tags != want_tags {
                failures.push(format!("{id}/{name}: expected {expect}, got {records:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn check_config_accepts_a_valid_file_and_prints_it() {
    let mut cfg = base_config();
    cfg.insert(
        "dogstatsd_mapper_profiles".into(),
        json!([{"name": "p", "prefix": "a.", "mappings": [{"match": "a.*", "name": "b", "tags": {"k": "$1"}}]}]),
    );
    let file = write_config(&cfg);
    let out = run(
        &["check-config", "--config", file.path().to_str().unwrap()],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("effective config is JSON");
    assert_eq!(printed["hostname"], "default-hostname");
    assert_eq!(
        printed["dogstatsd_mapper_profiles"][0]["mappings"][0]["match"],
        "a.*"
    );
}

#[test]
fn a_bad_value_names_its_key_and_exits_2() {
    let mut cfg = base_config();
    cfg.insert(
        "dogstatsd_no_aggregation_pipeline".into(),
        json!("sometimes"),
    );
    let file = write_config(&cfg);
    for cmd in ["check-config", "parse", "aggregate"] {
        let out = run(&[cmd, "--config", file.path().to_str().unwrap()], b"");
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("dogstatsd_no_aggregation_pipeline"),
            "{cmd}: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one-line reason: {stderr}"
        );
    }
}
