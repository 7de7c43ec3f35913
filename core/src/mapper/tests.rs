use super::*;
use crate::config::MappingConfig;

fn mapping(pattern: &str, name: &str, tags: &[(&str, &str)]) -> MappingConfig {
    MappingConfig::new(pattern, "", name, tags)
}

fn regex_mapping(pattern: &str, name: &str, tags: &[(&str, &str)]) -> MappingConfig {
    MappingConfig {
        match_type: "regex".to_owned(),
        ..mapping(pattern, name, tags)
    }
}

fn profile(name: &str, prefix: &str, mappings: Vec<MappingConfig>) -> MapperProfileConfig {
    MapperProfileConfig {
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        mappings,
    }
}

fn err(profiles: &[MapperProfileConfig]) -> MapperError {
    Mapper::new(profiles, 1000).expect_err("config must be rejected")
}

fn mapped(mapper: &mut Mapper, name: &str) -> Option<(String, Vec<String>)> {
    mapper
        .map(name.as_bytes())
        .map(|m| (m.name.clone(), m.tags.clone()))
}

fn one(name: &str, tags: &[&str]) -> Option<(String, Vec<String>)> {
    Some((
        name.to_owned(),
        tags.iter().map(|&t| t.to_owned()).collect(),
    ))
}

// ---------------------------------------------------------------- validation

#[test]
fn missing_profile_name() {
    let e = err(&[
        profile("a", "a.", vec![mapping("a.*", "x", &[])]),
        profile("", "b.", vec![mapping("b.*", "x", &[])]),
    ]);
    assert_eq!(e, MapperError::MissingProfileName { index: 1 });
    assert!(e.to_string().contains("missing profile name 1"), "{e}");
}

#[test]
fn missing_prefix() {
    let e = err(&[profile("p", "", vec![mapping("a.*", "x", &[])])]);
    assert!(matches!(e, MapperError::MissingPrefix { index: 0, .. }));
    assert!(
        e.to_string().contains("missing prefix for profile: p"),
        "{e}"
    );
}

#[test]
fn invalid_match_type() {
    for bad in ["invalid", "Wildcard", "REGEX", " regex"] {
        let mut m = mapping("a.b", "x", &[]);
        m.match_type = bad.to_owned();
        let e = err(&[profile("p", "a.", vec![mapping("a.c", "y", &[]), m])]);
        let MapperError::Mapping {
            profile_index: 0,
            mapping: 1,
            kind: MappingErrorKind::InvalidMatchType(_),
            ..
        } = &e
        else {
            panic!("{bad}: {e:?}");
        };
        let text = e.to_string();
        assert!(text.contains("invalid match type"), "{text}");
        assert!(
            text.contains("profile: p") && text.contains("mapping num 1"),
            "{text}"
        );
    }
}

#[test]
fn explicit_wildcard_and_regex_types_are_accepted() {
    let mut w = mapping("a.*", "x", &[]);
    w.match_type = "wildcard".to_owned();
    let r = regex_mapping(r"b\.(.*)", "y", &[]);
    assert!(Mapper::new(&[profile("p", "*", vec![w, r])], 1).is_ok());
}

#[test]
fn missing_mapping_name() {
    let e = err(&[profile("p", "a.", vec![mapping("a.*", "", &[])])]);
    assert!(matches!(
        e,
        MapperError::Mapping {
            kind: MappingErrorKind::MissingName,
            mapping: 0,
            ..
        }
    ));
    assert!(e.to_string().contains("name is required"));
}

#[test]
fn missing_match() {
    let e = err(&[profile("p", "a.", vec![mapping("", "x", &[])])]);
    assert!(matches!(
        e,
        MapperError::Mapping {
            kind: MappingErrorKind::MissingMatch,
            ..
        }
    ));
    assert!(e.to_string().contains("match is required"));
}

#[test]
fn check_order_within_a_mapping() {
    // Match type is checked before name, name before match.
    let mut m = mapping("", "", &[]);
    m.match_type = "bad".to_owned();
    let e = err(&[profile("p", "a.", vec![m])]);
    assert!(e.to_string().contains("invalid match type"), "{e}");
    let e = err(&[profile("p", "a.", vec![mapping("", "", &[])])]);
    assert!(e.to_string().contains("name is required"), "{e}");
    // Character check before the `**` check.
    let e = err(&[profile("p", "a.", vec![mapping("a.**+", "x", &[])])]);
    assert!(
        e.to_string().contains("does not match allowed match regex"),
        "{e}"
    );
    // Profile name before prefix.
    let e = err(&[profile("", "", vec![])]);
    assert!(e.to_string().contains("missing profile name 0"), "{e}");
}

#[test]
fn wildcard_characters() {
    for bad in [
        "a+b", "a b", "a/b", "a$", "a(b)", "é", "a\n", "[ab]", "a:b", "a?",
    ] {
        let e = err(&[profile("p", "a", vec![mapping(bad, "x", &[])])]);
        assert!(
            matches!(
                e,
                MapperError::Mapping {
                    kind: MappingErrorKind::WildcardCharacters(_),
                    ..
                }
            ),
            "{bad:?}: {e:?}"
        );
        assert!(e.to_string().contains("does not match allowed match regex"));
    }
    for good in ["a-b_C.9*", "*", ".", "-", "a.*.b*c"] {
        assert!(
            Mapper::new(&[profile("p", "a", vec![mapping(good, "x", &[])])], 1).is_ok(),
            "{good}"
        );
    }
}

#[test]
fn wildcard_consecutive_stars() {
    let e = err(&[profile("p", "a", vec![mapping("a.**", "x", &[])])]);
    assert!(matches!(
        e,
        MapperError::Mapping {
            kind: MappingErrorKind::WildcardConsecutiveStars(_),
            ..
        }
    ));
    assert!(e.to_string().contains("should not contain consecutive"));
    // A regex may of course contain `**`-free repetition; `*.*` is fine.
    assert!(Mapper::new(&[profile("p", "a", vec![mapping("*.*", "x", &[])])], 1).is_ok());
}

#[test]
fn regex_compile_errors() {
    for bad in [
        r"a(",
        r"a)",
        r"[a",
        r"a{2,1}",
        r"a(?=b)",
        r"\1",
        // Go's syntax decides, not regex-lite's: these compile in
        // regex-lite but not in Go.
        r"a**",
        r"a{1001}",
        r"(?x)a b",
        r"\u0041",
        r"(?P<a.b>x)",
        // Go accepts this one, regex-lite has no Unicode tables.
        r"\pL",
    ] {
        let e = err(&[profile("p", "a", vec![regex_mapping(bad, "x", &[])])]);
        assert!(
            matches!(
                e,
                MapperError::Mapping {
                    kind: MappingErrorKind::Regex { .. },
                    ..
                }
            ),
            "{bad:?}: {e:?}"
        );
        assert!(e.to_string().contains("cannot compile regex"), "{e}");
    }
}

#[test]
fn regexes_go_accepts_and_regex_lite_alone_would_not() {
    for good in [
        r"a{,3}",
        r"\Q.\E",
        r"\012",
        r"[a[b]",
        r"[a&&b]",
        r"(?ii)a",
        r"(?P<1a>x)",
        r"(?P<n>a)|(?P<n>b)",
        r"[\d-z]",
    ] {
        let m = Mapper::new(&[profile("p", "a", vec![regex_mapping(good, "x", &[])])], 1);
        assert!(m.is_ok(), "{good:?}: {:?}", m.err());
    }
}

#[test]
fn first_error_wins_across_profiles() {
    let e = err(&[
        profile("ok", "a.", vec![mapping("a.*", "a", &[])]),
        profile(
            "bad1",
            "b.",
            vec![mapping("b.*", "b", &[]), mapping("b.**", "b", &[])],
        ),
        profile("bad2", "", vec![]),
    ]);
    let MapperError::Mapping {
        profile_index,
        profile,
        mapping,
        ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((*profile_index, profile.as_str(), *mapping), (1, "bad1", 1));
}

#[test]
fn cache_size_must_be_positive() {
    let ok = [profile("p", "a", vec![mapping("a.*", "x", &[])])];
    for size in [0, -1, i64::MIN] {
        let e = Mapper::new(&ok, size).unwrap_err();
        assert_eq!(e, MapperError::CacheSize { size });
        assert!(e.to_string().contains("positive size"));
    }
    // Profile errors are reported before the cache size.
    let e = Mapper::new(&[profile("", "a", vec![])], 0).unwrap_err();
    assert!(matches!(e, MapperError::MissingProfileName { .. }));
    // Huge sizes are accepted without reserving memory.
    let m = Mapper::new(&ok, i64::MAX).unwrap();
    assert_eq!(m.stats().cache_len, 0);
}

#[test]
fn empty_profile_list_and_empty_mapping_list_are_valid() {
    let mut m = Mapper::new(&[], 10).unwrap();
    assert_eq!(m.map(b"anything"), None);
    assert_eq!(m.stats().misses, 0);
    let mut m = Mapper::new(&[profile("p", "a.", vec![])], 10).unwrap();
    assert_eq!(m.map(b"a.b"), None);
    assert_eq!(m.stats().misses, 1);
}

// ------------------------------------------------------------------ matching

#[test]
fn wildcard_star_matches_zero_or_more_non_dot_chars() {
    let mut m = Mapper::new(
        &[profile(
            "p",
            "t.",
            vec![mapping("t.*.x*y", "n", &[("a", "$1"), ("b", "$2")])],
        )],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "t.q.xy"), one("n", &["a:q", "b:"]));
    assert_eq!(mapped(&mut m, "t..xzzy"), one("n", &["a:", "b:zz"]));
    assert_eq!(mapped(&mut m, "t.q.r.xy"), None);
    assert_eq!(mapped(&mut m, "t.q.xy.z"), None);
    assert_eq!(mapped(&mut m, "t.q.x.y"), None);
}

#[test]
fn wildcard_dot_is_literal_and_dash_is_plain() {
    let mut m = Mapper::new(&[profile("p", "*", vec![mapping("a.b-c", "n", &[])])], 10).unwrap();
    assert_eq!(mapped(&mut m, "a.b-c"), one("n", &[]));
    assert_eq!(mapped(&mut m, "aXb-c"), None);
}

#[test]
fn wildcard_captures_are_greedy() {
    let mut m = Mapper::new(
        &[profile(
            "p",
            "*",
            vec![mapping("*_*", "n", &[("a", "$1"), ("b", "$2")])],
        )],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "x_y_z"), one("n", &["a:x_y", "b:z"]));
}

#[test]
fn regex_anchoring_is_plain_concatenation() {
    // `^a|b$`: starts with `a` or ends with `b`.
    let mut m = Mapper::new(
        &[profile(
            "p",
            "*",
            vec![regex_mapping("a|b", "n", &[("m", "$0")])],
        )],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "a"), one("n", &["m:a"]));
    assert_eq!(mapped(&mut m, "axyz"), one("n", &["m:a"]));
    assert_eq!(mapped(&mut m, "xyzb"), one("n", &["m:b"]));
    assert_eq!(mapped(&mut m, "xyz"), None);
    // A group keeps the alternation inside the anchors.
    let mut m = Mapper::new(
        &[profile("p", "*", vec![regex_mapping("(a|b)", "n", &[])])],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "axyz"), None);
    assert_eq!(mapped(&mut m, "b"), one("n", &[]));
}

#[test]
fn regex_named_groups_and_templates() {
    let mut m = Mapper::new(
        &[profile(
            "p",
            "svc.",
            vec![regex_mapping(
                r"svc\.(?P<service>[a-z]+)\.requests\.(\d+)",
                "svc.requests",
                &[
                    ("service", "$service"),
                    ("code", "${2}xx"),
                    ("raw", "$$2"),
                    ("odd", "$2_"),
                ],
            )],
        )],
        10,
    )
    .unwrap();
    assert_eq!(
        mapped(&mut m, "svc.web.requests.5"),
        one(
            "svc.requests",
            &["code:5xx", "odd:", "raw:$2", "service:web"]
        )
    );
}

#[test]
fn name_template_can_use_groups() {
    let mut m = Mapper::new(
        &[profile(
            "p",
            "*",
            vec![mapping("app.*.*", "app.$2", &[("env", "$1")])],
        )],
        10,
    )
    .unwrap();
    assert_eq!(
        mapped(&mut m, "app.prod.latency"),
        one("app.latency", &["env:prod"])
    );
}

#[test]
fn first_prefix_profile_only() {
    let mut m = Mapper::new(
        &[
            profile("one", "a.", vec![mapping("a.x.*", "first", &[])]),
            profile("two", "a.", vec![mapping("a.*.*", "second", &[])]),
            profile(
                "all",
                "*",
                vec![mapping("a.*.*", "third", &[]), mapping("b.*", "b", &[])],
            ),
        ],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "a.x.y"), one("first", &[]));
    // Profile `one` applies and does not match: no other profile is tried.
    assert_eq!(mapped(&mut m, "a.z.y"), None);
    assert_eq!(mapped(&mut m, "b.z"), one("b", &[]));
}

#[test]
fn prefix_is_a_plain_byte_prefix() {
    let mut m = Mapper::new(
        &[
            profile("p", "a.b", vec![mapping("*", "n", &[])]),
            profile("star", "x*", vec![mapping("*", "s", &[])]),
        ],
        10,
    )
    .unwrap();
    // `a.bc` starts with `a.b` but has a dot: `*` does not cross it.
    assert_eq!(mapped(&mut m, "a.bc"), None);
    assert_eq!(mapped(&mut m, "a.b"), None);
    // `x*` is a literal prefix, not a wildcard.
    assert_eq!(mapped(&mut m, "xy"), None);
    assert_eq!(mapped(&mut m, "x*y"), one("s", &[]));
}

#[test]
fn first_matching_mapping_wins() {
    let mut m = Mapper::new(
        &[profile(
            "p",
            "*",
            vec![mapping("a.*", "first", &[]), mapping("a.b", "second", &[])],
        )],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "a.b"), one("first", &[]));
}

#[test]
fn tags_are_sorted_by_key() {
    let mut m = Mapper::new(
        &[profile(
            "p",
            "*",
            vec![mapping("*.*", "n", &[("z", "$1"), ("a", "$2"), ("m", "c")])],
        )],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "x.y"), one("n", &["a:y", "m:c", "z:x"]));
}

#[test]
fn invalid_utf8_is_not_mapped() {
    let mut m = Mapper::new(
        &[profile("p", "*", vec![regex_mapping(".*", "n", &[])])],
        10,
    )
    .unwrap();
    assert_eq!(m.map(b"a\xffb"), None);
    assert_eq!(m.map(b"a\xffb"), None);
    assert_eq!(m.map(b"ab").map(|x| x.name.as_str()), Some("n"));
    let s = m.stats();
    assert_eq!((s.hits, s.misses), (1, 2));
}

#[test]
fn unicode_names() {
    let mut m = Mapper::new(
        &[profile(
            "p",
            "t.",
            vec![mapping("t.*", "t", &[("v", "$1")])],
        )],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "t.héllo"), one("t", &["v:héllo"]));
}

#[test]
fn regex_is_case_sensitive_and_dot_excludes_newline() {
    let mut m = Mapper::new(
        &[profile("p", "*", vec![regex_mapping("a.c", "n", &[])])],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "A.c"), None);
    assert_eq!(mapped(&mut m, "a\nc"), None);
    assert_eq!(mapped(&mut m, "abc"), one("n", &[]));
}

// --------------------------------------------------------------------- cache

fn cache_test_mapper(size: i64) -> Mapper {
    Mapper::new(
        &[
            profile("p", "a.", vec![mapping("a.*.x", "a.x", &[("k", "$1")])]),
            profile("q", "b.", vec![mapping("b.*", "b", &[("k", "$1")])]),
        ],
        size,
    )
    .unwrap()
}

#[test]
fn hits_and_misses_are_counted() {
    let mut m = cache_test_mapper(10);
    assert_eq!(mapped(&mut m, "a.1.x"), one("a.x", &["k:1"]));
    assert_eq!(mapped(&mut m, "a.1.x"), one("a.x", &["k:1"]));
    // A miss of the profile is cached too.
    assert_eq!(mapped(&mut m, "a.1.y"), None);
    assert_eq!(mapped(&mut m, "a.1.y"), None);
    // No profile applies: neither counted nor cached.
    assert_eq!(mapped(&mut m, "c.1"), None);
    assert_eq!(mapped(&mut m, "c.1"), None);
    let s = m.stats();
    assert_eq!(
        (s.hits, s.misses, s.cache_len, s.cache_capacity),
        (2, 2, 2, 10)
    );
    assert_eq!(m.cache_len(), 2);
}

#[test]
fn lru_eviction_at_capacity() {
    let mut m = cache_test_mapper(2);
    mapped(&mut m, "b.1"); // miss
    mapped(&mut m, "b.2"); // miss
    mapped(&mut m, "b.1"); // hit; b.2 is now least recently used
    mapped(&mut m, "b.3"); // miss, evicts b.2
    assert_eq!(m.stats().cache_len, 2);
    mapped(&mut m, "b.1"); // hit
    mapped(&mut m, "b.3"); // hit
    mapped(&mut m, "b.2"); // miss again
    let s = m.stats();
    assert_eq!((s.hits, s.misses, s.cache_len), (3, 4, 2));
}

#[test]
fn cache_size_one() {
    let mut m = cache_test_mapper(1);
    for _ in 0..3 {
        assert_eq!(mapped(&mut m, "b.1"), one("b", &["k:1"]));
        assert_eq!(mapped(&mut m, "b.2"), one("b", &["k:2"]));
    }
    let s = m.stats();
    assert_eq!((s.hits, s.misses, s.cache_len), (0, 6, 1));
    assert_eq!(mapped(&mut m, "b.2"), one("b", &["k:2"]));
    assert_eq!(m.stats().hits, 1);
}

#[test]
fn results_do_not_depend_on_cache_size() {
    let names: Vec<String> = (0..200)
        .map(|i| match i % 5 {
            0 => format!("a.{}.x", i % 17),
            1 => format!("a.{}.y", i % 13),
            2 => format!("b.{}", i % 7),
            3 => format!("b.{}.z", i % 3),
            _ => format!("c.{i}"),
        })
        .collect();
    let mut small = cache_test_mapper(1);
    let mut large = cache_test_mapper(1000);
    let mut uncached_equivalent = Vec::new();
    for name in &names {
        let a = mapped(&mut small, name);
        let b = mapped(&mut large, name);
        assert_eq!(a, b, "{name}");
        uncached_equivalent.push(a);
    }
    // And a second pass (mostly hits for the large cache) agrees too.
    for (name, expected) in names.iter().zip(&uncached_equivalent) {
        assert_eq!(&mapped(&mut large, name), expected, "{name}");
        assert_eq!(&mapped(&mut small, name), expected, "{name}");
    }
    assert!(large.stats().hits > small.stats().hits);
}

#[test]
fn profile_order_is_kept_across_first_bytes() {
    let mut m = Mapper::new(
        &[
            profile("b", "b.", vec![mapping("b.*", "from_b", &[])]),
            profile("all", "*", vec![mapping("a.x", "from_all", &[])]),
            profile("a", "a.", vec![mapping("a.*", "from_a", &[])]),
            profile(
                "e",
                "é",
                vec![regex_mapping("é(.*)", "from_e", &[("v", "$1")])],
            ),
        ],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "b.y"), one("from_b", &[]));
    // `*` comes before `a.`: it is the profile tried, and it does not match.
    assert_eq!(mapped(&mut m, "a.x"), one("from_all", &[]));
    assert_eq!(mapped(&mut m, "a.y"), None);
    // Non-ASCII prefix; `*` is still first.
    assert_eq!(mapped(&mut m, "éa"), None);
    // The empty name: only `*` can apply.
    assert_eq!(mapped(&mut m, ""), None);
    assert_eq!(m.stats().misses, 5);
    let mut m = Mapper::new(
        &[
            profile(
                "e",
                "é",
                vec![regex_mapping("é(.*)", "from_e", &[("v", "$1")])],
            ),
            profile("none", "\u{e8}", vec![]),
        ],
        10,
    )
    .unwrap();
    assert_eq!(mapped(&mut m, "éa"), one("from_e", &["v:a"]));
    assert_eq!(mapped(&mut m, "èa"), None);
    // Neither prefix applies to these: not looked up, not cached.
    assert_eq!(m.map(b"\xc3"), None);
    assert_eq!(mapped(&mut m, ""), None);
    assert_eq!(m.stats().misses, 2);
}
