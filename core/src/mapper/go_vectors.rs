//! Regex mappings checked against Go's `regexp` itself.
//!
//! `testdata/go_vectors.json` holds randomly generated patterns (dense in
//! regexp syntax), metric names and templates, with what Go 1.19.8's
//! `regexp.Compile("^" + pattern + "$")`, `FindStringSubmatchIndex` and
//! `ExpandString` made of them: either the pattern is refused, or for each
//! name `null` (no match) or the expansions of each template. Each case is
//! run here as a one-mapping `regex` profile with the first template as the
//! name and the others as tag values. (About 250 000 such cases agreed when
//! the vectors were made; these are a sample kept as a regression test.)

use std::collections::BTreeMap;

use serde_json::Value;

use super::Mapper;
use crate::config::{MapperProfileConfig, MappingConfig};

const VECTORS: &str = include_str!("testdata/go_vectors.json");

fn mapper_for(pattern: &str, templates: &[String]) -> Result<Mapper, super::MapperError> {
    let tags: BTreeMap<String, String> = templates
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, t)| (format!("t{i:02}"), t.clone()))
        .collect();
    let profile = MapperProfileConfig {
        name: "go".to_owned(),
        prefix: "*".to_owned(),
        mappings: vec![MappingConfig {
            pattern: pattern.to_owned(),
            match_type: "regex".to_owned(),
            name: templates.first().cloned().unwrap_or_else(|| "x".to_owned()),
            tags,
        }],
    };
    Mapper::new(&[profile], 16)
}

#[test]
fn agrees_with_go_regexp() {
    let cases: Vec<Value> = serde_json::from_str(VECTORS).expect("vectors parse");
    let (mut refused, mut matched) = (0, 0);
    for case in &cases {
        let pattern = case["pattern"].as_str().expect("pattern");
        if case["error"] == Value::Bool(true) {
            assert!(
                mapper_for(pattern, &[]).is_err(),
                "{pattern:?}: Go refuses this pattern"
            );
            refused += 1;
            continue;
        }
        let templates: Vec<String> = serde_json::from_value(case["templates"].clone()).unwrap();
        let names: Vec<String> = serde_json::from_value(case["names"].clone()).unwrap();
        let mut mapper = mapper_for(pattern, &templates)
            .unwrap_or_else(|e| panic!("{pattern:?}: Go accepts this pattern: {e}"));
        for (name, expected) in names.iter().zip(case["go"].as_array().expect("go")) {
            let got = mapper.map(name.as_bytes()).map(|m| {
                let mut out = vec![m.name.clone()];
                for (i, tag) in m.tags.iter().enumerate() {
                    let prefix = format!("t{:02}:", i + 1);
                    out.push(tag.strip_prefix(&prefix).expect("tag key").to_owned());
                }
                out
            });
            let expected: Option<Vec<String>> = serde_json::from_value(expected.clone()).unwrap();
            assert_eq!(
                got, expected,
                "pattern {pattern:?}, name {name:?}, templates {templates:?}"
            );
            matched += usize::from(got.is_some());
        }
    }
    assert!(
        refused > 50 && matched > 150,
        "{refused} refused, {matched} matched"
    );
}
