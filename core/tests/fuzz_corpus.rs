//! Runs every committed seed of the fuzz corpus (`fuzz/corpus/<target>/`)
//! through the same checks the fuzz targets call, on stable, so CI
//! exercises the corpus without nightly.
//!
//! The seeds themselves are written by [`seeds`]: run
//! `DOGSTATSD_WRITE_SEEDS=1 cargo test -p dogstatsd-core --test fuzz_corpus`
//! to (re)write them after changing that list.

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/checks.rs"]
mod checks;
#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/mapper_config.rs"]
mod mapper_config;
#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/push_flush.rs"]
mod push_flush;

use std::fs;
use std::path::PathBuf;
use std::sync::Once;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Messages a real client sends, and odd ones the Agent still accepts or
/// rejects in a specific way (spec §3–§6).
const MESSAGES: &[(&str, &str)] = &[
    ("count", "page.views:1|c"),
    (
        "count-rate-tags",
        "api.requests.count:3|c|@0.5|#env:prod,service:web,version:1.2.3",
    ),
    ("gauge", "system.load.1:0.75|g|#host:web-01"),
    ("gauge-signed", "queue.depth:-5|g"),
    ("histogram", "request.size:1024|h|@0.1|#route:/api/v1/users"),
    ("timing", "db.query.time:12.5|ms|#db:users,op:select"),
    ("distribution", "http.latency:0.0123|d|#endpoint:checkout"),
    ("set", "users.unique:user-4711|s|#app:shop"),
    ("set-colon", "daemon:abc:def|s"),
    ("multi-value", "latency:1:2.5:-3:4e2:.5|d|#a:b"),
    ("multi-value-empty-items", "x:1::2:|h"),
    ("timestamp", "job.duration:42|g|T1700000000|#job:nightly"),
    (
        "fields-any-order",
        "m:1|c|#t:1|@0.25|T1700000001|x:unknown||",
    ),
    (
        "origin",
        "m:1|c|c:ci-0123456789abcdef|e:it-false,cn-app,pu-uid|card:high",
    ),
    (
        "origin-list",
        "m:1|g|c:ci-abc,in-12345|#dd.internal.card:low",
    ),
    ("origin-legacy", "m:1|g|c:cid-legacy|card:orchestrator"),
    (
        "special-tags",
        "m:1|c|#host:h1,dd.internal.entity_id:pod-1,dd.internal.jmx_check_name:jmx,host:,x:y",
    ),
    ("numbers-go", "n:0x1p4:1_000:+Inf:NaN:1e-400:-0|g"),
    ("unicode-name", "résumé.時間 ok:1|c|#ключ:значение"),
    ("tags-odd", "m:1|c|#a,,b, c,"),
    (
        "event",
        "_e{5,4}:title|text|d:1700000000|h:host1|k:key|p:low|s:src|t:warning|#a:b,c",
    ),
    (
        "event-pipe-unicode",
        "_e{12,11}:a|b ü title|text\\nline2|#x",
    ),
    (
        "event-short-length",
        "_e{10,10}:event title|test\\ntext|c:x",
    ),
    ("event-origin", "_e{1,0}:t||c:ci-1|e:cn-x|card:low|h:h"),
    (
        "service-check",
        "_sc|app.ok|0|d:1700000000|h:host1|#env:prod|m:all good",
    ),
    ("service-check-fields", "_sc|db.up|2|m:down|#a|h:db1|d:5"),
    ("service-check-loose", "_sc_x|3"),
    // Rejected ones.
    ("bad-no-pipe", "m:1"),
    ("bad-type", "m:1|G"),
    ("bad-value", "m:1,000|c"),
    ("bad-rate", "m:1|c|@"),
    ("bad-timestamp", "m:1|c|T0"),
    ("bad-event", "_e{5,0}:title"),
    ("bad-check-status", "_sc|x|00"),
];

/// Every seed file: `(target, file name, bytes)`.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for &(name, msg) in MESSAGES {
        // flags 0: default options; the check also runs the defaults over
        // the whole input.
        let mut data = vec![0u8];
        data.extend_from_slice(msg.as_bytes());
        data.push(b'\n');
        out.push(("parse_packet", format!("msg-{name}"), data));
    }
    let packet: Vec<u8> = MESSAGES
        .iter()
        .flat_map(|(_, m)| [m.as_bytes(), b"\n"].concat())
        .collect();
    // Origin fields on, eol required, unterminated last line, CRLF, empty lines.
    let mut p = vec![0b0000_0011];
    p.extend_from_slice(b"a:1|c|c:ci-x\r\n\n\r\nb:2|g|card:low\nc:3|c");
    out.push(("parse_packet", "packet-origin-eol".into(), p));
    let mut p = vec![0b0000_1000];
    p.extend_from_slice(&packet);
    out.push(("parse_packet", "packet-all-namespace".into(), p));
    let mut p = vec![0b0001_0100];
    p.extend_from_slice(b"app.foo.hits:1|c|#x\napp.x:1|c|T5\njvm.gc:1|g\n");
    out.push(("parse_packet", "packet-mapper-no-ts".into(), p));
    let mut p = vec![0b1000_0010];
    p.extend_from_slice(b"m:1|c\nm:2|c");
    out.push(("parse_packet", "packet-push-eol".into(), p));

    // Stream framer: [flags, max_lo, max_hi, chunk_seed, max_chunk, body].
    let body: Vec<u8> = MESSAGES
        .iter()
        .map(|(_, m)| m.as_bytes())
        .collect::<Vec<_>>()
        .join(&0xFFu8);
    let header = |flags: u8, max: u16, seed: u8, chunk: u8| {
        let [lo, hi] = max.to_le_bytes();
        vec![flags, lo, hi, seed, chunk]
    };
    for (name, flags, max, seed, chunk) in [
        ("framed-whole", 0u8, 8192u16, 0u8, 0u8),
        ("framed-tiny-reads", 0, 8192, 7, 3),
        ("framed-odd-reads", 0, 8192, 42, 61),
        ("framed-small-max", 0, 40, 1, 17),
        ("framed-truncated", 0x50, 8192, 9, 9),
    ] {
        let mut d = header(flags, max, seed, chunk);
        d.extend_from_slice(&body);
        out.push(("stream_framer", name.into(), d));
    }
    let mut d = header(0, 8192, 3, 5);
    d.extend_from_slice(b"a:1|c\xFF\xFFb:2|c");
    out.push(("stream_framer", "framed-zero-length".into(), d));
    let raw = checks::encode_frames([&b"a:1|c"[..], b"b:2|c\nc:3|c"]);
    let mut d = header(1, 8192, 5, 2);
    d.extend_from_slice(&raw);
    out.push(("stream_framer", "raw-frames".into(), d));
    let mut d = header(1, 16, 11, 4);
    d.extend_from_slice(b"short:1|c\nthis line is much longer than sixteen bytes|c\nx:1|c\n");
    out.push(("stream_framer", "raw-pipe-overlong".into(), d));
    let mut d = header(1, 8192, 0, 0);
    d.extend_from_slice(&[0x28, 0x23, 0, 0, b'a']);
    out.push(("stream_framer", "raw-too-large".into(), d));
    // Found by the fuzzer: a tail that exactly fills the pipe buffer is
    // discarded (§1.5), which an early oracle got wrong.
    let mut d = header(1, 0, 0, 0);
    d.push(b'a');
    out.push(("stream_framer", "raw-pipe-tail-fills-buffer".into(), d));

    // Mapper configuration: [mode, text]; see fuzz/src/mapper_config.rs.
    for (name, mode, text) in MAPPER_SEEDS {
        let mut d = vec![*mode];
        d.extend_from_slice(text.as_bytes());
        out.push(("mapper_config", (*name).into(), d));
    }
    out
}

/// Mapper seeds: mode 0 JSON, 1 YAML, 2 `regex \0 name \0 tag \0 names`,
/// 3 the same with a wildcard.
const MAPPER_SEEDS: &[(&str, u8, &str)] = &[
    (
        "json-profiles",
        0,
        r#"{"dogstatsd_mapper_cache_size":2,"dogstatsd_mapper_profiles":[{"name":"airflow","prefix":"airflow.","mappings":[{"match":"airflow.job.duration_sec.*.*","name":"airflow.job.duration","tags":{"job_type":"$1","job_name":"$2"}},{"match":"airflow\\.(\\w+)\\.(\\d+)","match_type":"regex","name":"airflow.$1","tags":{"n":"${2}"}}]},{"name":"all","prefix":"*","mappings":[{"match":"*.*","name":"x.$1"}]}]}"#,
    ),
    (
        "json-profiles-as-string",
        0,
        r#"{"dogstatsd_mapper_profiles":"[{\"name\":\"p\",\"prefix\":\"a.\",\"mappings\":[{\"match\":\"a.*\",\"name\":\"b\"}]}]"}"#,
    ),
    (
        "json-invalid-match-type",
        0,
        r#"{"dogstatsd_mapper_profiles":[{"name":"p","prefix":"a","mappings":[{"match":"a","match_type":"glob","name":"b"}]}]}"#,
    ),
    (
        "yaml-profiles",
        1,
        "dogstatsd_mapper_profiles:\n  - name: p\n    prefix: 'test.'\n    mappings:\n      - match: 'test.*.*'\n        name: 'test.$1'\n        tags: {k: '$2', y: n}\n      - match: 'test\\.(?P<g>[a-z]+)'\n        match_type: regex\n        name: 'g.${g}'\n",
    ),
    ("yaml-not-a-map", 1, "- a\n- b\n"),
    (
        "regex-groups",
        2,
        "(?i)a\\.(?P<x>b|c)\\.([0-9]{1,3})+\0$x.$2\0${1}-$0\0a.b.12\0A.C.999\0a.d.1",
    ),
    ("regex-big-repeat", 2, "((a{1000}){1000}){1000}\0n\0\0a"),
    (
        "regex-nesting",
        2,
        "((((((((((((((((((((a))))))))))))))))))))\0$1\0\0a",
    ),
    ("regex-bad", 2, "a(b\0n"),
    (
        "wildcard",
        3,
        "a.*.c*\0x.$1.$2\0$0\0a.b.c\0a..c\0a.b.cd\0a.b.c.d",
    ),
];

/// Writes the seeds when `DOGSTATSD_WRITE_SEEDS` is set (once, before
/// either test reads them).
fn maybe_write_seeds() {
    static WRITE: Once = Once::new();
    WRITE.call_once(|| {
        if std::env::var_os("DOGSTATSD_WRITE_SEEDS").is_some() {
            for (target, name, data) in seeds() {
                let dir = corpus_dir(target);
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join(name), data).unwrap();
            }
        }
    });
}

#[test]
fn committed_seed_corpus_passes_the_fuzz_checks() {
    maybe_write_seeds();
    for (target, check) in [
        ("parse_packet", checks::check_packet_input as fn(&[u8])),
        ("stream_framer", checks::check_stream_input),
        ("mapper_config", mapper_config::check_mapper_input),
        ("push_flush", push_flush::check_push_flush_input),
    ] {
        let dir = corpus_dir(target);
        let entries =
            fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = fs::read(&path).unwrap();
            check(&data);
            n += 1;
        }
        assert!(n > 0, "corpus {} is empty", dir.display());
    }
}

#[test]
fn generated_seeds_are_committed() {
    maybe_write_seeds();
    for (target, name, data) in seeds() {
        let path = corpus_dir(target).join(&name);
        let committed =
            fs::read(&path).unwrap_or_else(|e| panic!("seed {} missing: {e}", path.display()));
        assert_eq!(
            committed,
            data,
            "seed {} is stale: rerun with DOGSTATSD_WRITE_SEEDS=1",
            path.display()
        );
    }
}
