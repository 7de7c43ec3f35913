//! The `mapper_config` oracle: arbitrary bytes as mapper configuration.
//! `core/tests/fuzz_corpus.rs` compiles this file with `#[path]` too.
//!
//! Input layout: `[mode, rest...]`, by `mode % 4`:
//!
//! * 0: `rest` is a whole configuration in JSON (`Config::from_json`, the
//!   wasm shell's format);
//! * 1: `rest` is a `datadog.yaml` read as the daemon reads it
//!   (serde-saphyr, YAML 1.2 booleans, then core's lenient readers);
//! * 2: `rest` is `pattern \0 name-template \0 tag-template \0 names...`
//!   (names separated by `\0`) for one `regex` mapping, so the Go-syntax
//!   translator sees arbitrary patterns directly;
//! * 3: the same with a `wildcard` mapping.
//!
//! Checks: building never panics (an invalid configuration is an `Err`,
//! the same one from [`Mapper::new`] and [`Frontend::new`]); a built
//! mapper maps names derived from the configuration and the input without
//! panicking (fuzz builds keep debug assertions, so the wildcard matcher
//! is compared with its regex on every name); a cached answer, and one
//! recomputed after eviction, equals the first; and a configuration
//! survives serializing and reading back.

use std::collections::BTreeMap;

use dogstatsd_core::config::{Config, MapperProfileConfig, MappingConfig};
use dogstatsd_core::frontend::{ConfigError, Frontend};
use dogstatsd_core::mapper::{Mapper, Mapping};

/// Names tried per configuration, at most.
const MAX_NAMES: usize = 24;

/// The fuzz entry point of the `mapper_config` target.
pub fn check_mapper_input(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(cfg) = Config::from_json(text) {
                check_config(&cfg, rest);
            }
        }
        1 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Some(cfg) = config_from_yaml(text) {
                check_config(&cfg, rest);
            }
        }
        m => {
            let mut parts = rest.split(|&b| b == 0);
            let text =
                |p: Option<&[u8]>| String::from_utf8_lossy(p.unwrap_or_default()).into_owned();
            let pattern = text(parts.next());
            let name = text(parts.next());
            let tag = text(parts.next());
            let mut tags = BTreeMap::new();
            if !tag.is_empty() {
                tags.insert("t".to_string(), tag);
            }
            let match_type = if m == 2 { "regex" } else { "wildcard" };
            let profile = MapperProfileConfig {
                name: "fuzz".into(),
                prefix: "*".into(),
                mappings: vec![MappingConfig {
                    pattern,
                    match_type: match_type.into(),
                    name,
                    tags,
                }],
            };
            let names: Vec<&[u8]> = parts.take(MAX_NAMES).collect();
            check_profiles(&[profile], 2, &names);
        }
    }
}

/// What the daemon does with a `datadog.yaml` (`native/src/config.rs`):
/// YAML 1.2 booleans, a map at the top, then core's readers.
pub fn config_from_yaml(text: &str) -> Option<Config> {
    let mut opts = serde_saphyr::Options::default();
    opts.strict_booleans = true;
    let value: serde_json::Value = serde_saphyr::from_str_with_options(text, opts).ok()?;
    if !value.is_object() {
        return None;
    }
    serde_json::from_value(value).ok()
}

fn check_config(cfg: &Config, input: &[u8]) {
    // What serializes reads back the same (the wasm shell hands configs
    // around as JSON).
    let json = serde_json::to_string(cfg).expect("a config serializes");
    let back = Config::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(&back, cfg, "{json}");

    if cfg.dogstatsd_mapper_profiles.is_empty() {
        return;
    }
    match Mapper::new(
        &cfg.dogstatsd_mapper_profiles,
        cfg.dogstatsd_mapper_cache_size,
    ) {
        // The processor refuses it with the same error (built only here:
        // compiling the profiles again costs as much as the rest).
        Err(e) => match Frontend::new(cfg) {
            Err(ConfigError::Mapper(p)) => assert_eq!(p, e),
            Err(other) => panic!("mapper error {e} reported as {other}"),
            Ok(_) => panic!("processor accepted an invalid mapper: {e}"),
        },
        Ok(mut mapper) => {
            let mut names = derived_names(&cfg.dogstatsd_mapper_profiles);
            names.extend(
                input
                    .split(|&b| b == b'"' || b == b'\n')
                    .map(<[u8]>::to_vec),
            );
            names.truncate(MAX_NAMES);
            let names: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
            check_mapper(&mut mapper, &names);
        }
    }
}

/// Names a configuration is likely to map: each profile prefix, each
/// pattern with its stars filled in (with and without dots), and the
/// pattern as written.
fn derived_names(profiles: &[MapperProfileConfig]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in profiles {
        out.push(p.prefix.as_bytes().to_vec());
        for m in &p.mappings {
            out.push(m.pattern.as_bytes().to_vec());
            out.push(m.pattern.replace('*', "x").into_bytes());
            out.push(m.pattern.replace('*', "").into_bytes());
            out.push(m.pattern.replace('*', "a.b").into_bytes());
            out.push(format!("{}{}", p.prefix, m.pattern.replace('*', "y")).into_bytes());
        }
    }
    out
}

/// Builds the mapper (must not panic) and, when it builds, checks its
/// answers on `names`.
pub fn check_profiles(profiles: &[MapperProfileConfig], cache_size: i64, names: &[&[u8]]) {
    if let Ok(mut mapper) = Mapper::new(profiles, cache_size) {
        check_mapper(&mut mapper, names);
    }
}

/// Maps every name twice (computed, then from the cache) and once more
/// after the cache has turned over.
fn check_mapper(mapper: &mut Mapper, names: &[&[u8]]) {
    let first: Vec<Option<Mapping>> = names.iter().map(|n| mapper.map(n).cloned()).collect();
    for (name, want) in names.iter().zip(&first) {
        assert_eq!(&mapper.map(name).cloned(), want, "cached {name:?}");
        if let Some(m) = want {
            assert!(
                std::str::from_utf8(name).is_ok(),
                "non-UTF-8 {name:?} mapped"
            );
            for t in &m.tags {
                assert!(t.contains(':'), "tag {t:?} without its key");
            }
        }
    }
    // Names that miss, to push the first ones out of a small cache.
    for i in 0..4u8 {
        mapper.map(&[0xff, i]);
    }
    for (name, want) in names.iter().zip(&first) {
        assert_eq!(&mapper.map(name).cloned(), want, "after eviction {name:?}");
    }
}
