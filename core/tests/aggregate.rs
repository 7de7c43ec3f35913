//! Aggregation semantics through the inline server (spec §9).

use dogstatsd_core::aggregate::FlushMode;
use dogstatsd_core::config::Config;
use dogstatsd_core::flush::{Flush, Series, SeriesType};
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

const T0: i64 = 1_700_000_000;

fn config() -> Config {
    Config {
        hostname: "h".into(),
        ..Config::default()
    }
}

fn server(cfg: &Config) -> Server {
    Server::new(cfg).expect("valid config")
}

fn push(s: &mut Server, payload: &str, now: i64) {
    s.handle_packet(
        Timestamp::from_secs(now),
        Transport::Udp.into(),
        payload.as_bytes(),
    );
}

fn series<'a>(f: &'a Flush, metric: &str) -> Vec<&'a Series> {
    f.series.iter().filter(|s| s.metric == metric).collect()
}

fn one(f: &Flush, metric: &str) -> f64 {
    let s = series(f, metric);
    assert_eq!(s.len(), 1, "{metric}: {:?}", f.series);
    s[0].value
}

#[test]
fn counters_are_rates_scaled_by_sample_rate() {
    let mut s = server(&config());
    push(&mut s, "c:1|c\nc:1|c|@0.5\nc:2:3|c|@0.25", T0 + 1);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    let c = series(&f, "c");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].series_type, SeriesType::Rate);
    assert_eq!(c[0].interval, 10);
    assert_eq!(c[0].timestamp, T0);
    assert!((c[0].value - (1.0 + 2.0 + 8.0 + 12.0) / 10.0).abs() < 1e-12);
}

#[test]
fn counter_edge_rates() {
    let mut s = server(&config());
    push(&mut s, "zero:0|c|@0\ninf:1|c|@0", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert!(
        series(&f, "zero").is_empty(),
        "0|c|@0 sums to NaN and flushes nothing"
    );
    assert_eq!(one(&f, "inf"), f64::INFINITY);
}

#[test]
fn gauges_keep_last_and_sets_count_members() {
    let mut s = server(&config());
    push(&mut s, "g:1|g\ng:7|g|@0.1\ns:a|s\ns:b|s\ns:a|s\ns:A|s", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(one(&f, "g"), 7.0);
    assert_eq!(one(&f, "s"), 3.0);
    assert_eq!(series(&f, "s")[0].series_type, SeriesType::Gauge);
}

#[test]
fn histograms_expand_with_lower_median_and_percentile_index() {
    let cfg = Config {
        histogram_aggregates: ["max", "min", "median", "avg", "sum", "count"]
            .map(String::from)
            .to_vec(),
        histogram_percentiles: vec!["0.5".into(), "0.95".into(), "0.99".into()],
        ..config()
    };
    let mut s = server(&cfg);
    push(&mut s, "h:10|h\nh:20|h\nh:30|ms\nh:40|h", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(one(&f, "h.max"), 40.0);
    assert_eq!(one(&f, "h.min"), 10.0);
    assert_eq!(one(&f, "h.median"), 20.0, "lower median of 4 values");
    assert_eq!(one(&f, "h.avg"), 25.0);
    assert_eq!(one(&f, "h.sum"), 100.0);
    assert_eq!(one(&f, "h.count"), 0.4);
    assert_eq!(series(&f, "h.count")[0].series_type, SeriesType::Rate);
    // (p·N − 1) div 100: p50 → 199/100 = 1 → 2nd value; p95 → 3 → 4th.
    assert_eq!(one(&f, "h.50percentile"), 20.0);
    assert_eq!(one(&f, "h.95percentile"), 40.0);
    assert_eq!(one(&f, "h.99percentile"), 40.0);
    assert_eq!(f.series.len(), 9, "{:?}", f.series);
}

#[test]
fn histogram_weights_truncate() {
    let mut s = server(&config());
    push(&mut s, "h:10|h|@0.3\nh:20|h", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(one(&f, "h.count"), 0.4, "weights 3 + 1");
    assert_eq!(one(&f, "h.avg"), 12.5, "(30 + 20) / 4");
    assert_eq!(one(&f, "h.median"), 10.0);
}

#[test]
fn only_closed_buckets_flush_unless_all() {
    let mut s = server(&config());
    push(&mut s, "a:1|g", T0 + 3);
    push(&mut s, "a:2|g", T0 + 12);
    let f = s.flush(Timestamp::from_secs(T0 + 15), FlushMode::Closed);
    assert_eq!(f.series.len(), 1);
    assert_eq!((f.series[0].timestamp, f.series[0].value), (T0, 1.0));
    let f = s.flush(Timestamp::from_secs(T0 + 16), FlushMode::Closed);
    assert!(f.series.is_empty(), "the open bucket stays");
    let f = s.flush(Timestamp::from_secs(T0 + 16), FlushMode::All);
    assert_eq!((f.series[0].timestamp, f.series[0].value), (T0 + 10, 2.0));
}

#[test]
fn counters_zero_fill_until_expiry_then_stop() {
    let cfg = Config {
        dogstatsd_expiry_seconds: 30,
        ..config()
    };
    let mut s = server(&cfg);
    push(&mut s, "c:5|c\ng:1|g", T0 + 1);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(one(&f, "c"), 0.5);
    // Later flushes without data: one synthetic zero point per flush while
    // the last sample + 30 s is after the bucket start.
    let mut zeros = Vec::new();
    for k in 2..8 {
        let f = s.flush(Timestamp::from_secs(T0 + 10 * k), FlushMode::Closed);
        assert!(series(&f, "g").is_empty(), "gauges do not repeat");
        for p in series(&f, "c") {
            assert_eq!(p.value, 0.0);
            zeros.push(p.timestamp);
        }
    }
    // last + expiry > bucket start: T0+31 > T0+30, so three zero points.
    assert_eq!(
        zeros,
        [T0 + 10, T0 + 20, T0 + 30],
        "zero-filled for 30 s after T0+1"
    );
    // A flush less than an interval after the previous adds no zeros.
    let mut s = server(&cfg);
    push(&mut s, "c:5|c", T0 + 1);
    let _ = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert!(
        s.flush(Timestamp::from_secs(T0 + 12), FlushMode::Closed)
            .series
            .is_empty()
    );
}

#[test]
fn nan_counter_is_tracked_then_zero_filled() {
    let mut s = server(&config());
    push(&mut s, "c:NaN|c", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(
        one(&f, "c"),
        0.0,
        "tracked before the value is rejected (§14.6)"
    );
    assert_eq!(s.stats().shards.non_finite_dropped, 1);
}

#[test]
fn contexts_expire_when_idle() {
    let cfg = Config {
        dogstatsd_context_expiry_seconds: 20,
        ..config()
    };
    let mut s = server(&cfg);
    push(&mut s, "g:1|g\nh:1|h", T0);
    let _ = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(s.stats().shards.contexts, 2);
    let _ = s.flush(Timestamp::from_secs(T0 + 25), FlushMode::Closed);
    assert_eq!(s.stats().shards.contexts, 0);
    assert_eq!(s.stats().shards.contexts_expired, 2);
    // Counters live through their zero-fill window.
    let mut s = server(&cfg);
    push(&mut s, "c:1|c", T0);
    for k in 1..=20 {
        let _ = s.flush(Timestamp::from_secs(T0 + 10 * k), FlushMode::Closed);
    }
    assert_eq!(s.stats().shards.contexts, 1, "still zero-filling at T0+200");
    for k in 21..=40 {
        let _ = s.flush(Timestamp::from_secs(T0 + 10 * k), FlushMode::Closed);
    }
    assert_eq!(s.stats().shards.contexts, 0, "gone after 300 s + 20 s");
}

#[test]
fn first_type_in_a_bucket_wins() {
    let mut s = server(&config());
    push(&mut s, "x:2|g\nx:3|c", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(f.series.len(), 1);
    assert_eq!(f.series[0].series_type, SeriesType::Gauge);
    assert_eq!(f.series[0].value, 3.0, "the count sample fed the gauge");
}

#[test]
fn contexts_are_name_host_and_tag_set() {
    let mut s = server(&config());
    push(
        &mut s,
        "m:1|c|#a:1,b:2\nm:1|c|#b:2,a:1\nm:1|c|#a:1,b:2,a:1\nm:1|c|#a:1\nm:1|c|#a:1,b:2,host:other\na:1|c|#host:b\nb:1|c|#host:a",
        T0,
    );
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    let m = series(&f, "m");
    assert_eq!(m.len(), 3, "{m:?}");
    let ab = m
        .iter()
        .find(|s| &*s.host == "h" && s.tags.len() == 2)
        .expect("a,b context");
    assert!((ab.value - 0.3).abs() < 1e-12);
    assert_eq!(
        ab.tags.iter().map(|t| &**t).collect::<Vec<_>>(),
        ["a:1", "b:2"]
    );
    assert!(m.iter().any(|s| &*s.host == "other"));
    // Name and host swapped are different contexts (no XOR collision).
    assert_eq!(series(&f, "a").len(), 1);
    assert_eq!(series(&f, "b").len(), 1);
}

#[test]
fn timestamped_metrics_skip_aggregation() {
    let mut s = server(&config());
    push(
        &mut s,
        "g:5|g|T1657100430\nc:20|c|T1657100430|@0.5\nh:1|h|T1657100430\nd:1|d|T1657100430",
        T0,
    );
    let f = s.flush(Timestamp::from_secs(T0), FlushMode::Closed);
    assert_eq!(f.series.len(), 2, "{:?}", f.series);
    let g = series(&f, "g")[0];
    assert_eq!(
        (g.timestamp, g.value, g.series_type),
        (1657100430, 5.0, SeriesType::Gauge)
    );
    let c = series(&f, "c")[0];
    assert_eq!(
        (c.value, c.series_type),
        (2.0, SeriesType::Rate),
        "value/10, rate ignored"
    );
    assert_eq!(s.stats().router.no_agg_unsupported, 2);
}

#[test]
fn events_and_service_checks_pass_through_in_order() {
    let cfg = Config {
        dogstatsd_tags: vec!["env:test".into()],
        ..config()
    };
    let mut s = server(&cfg);
    push(&mut s, "_e{1,1}:a|b|#x\n_sc|c|2|m:down\n_e{1,1}:c|d", T0);
    let f = s.flush(Timestamp::from_secs(T0), FlushMode::Closed);
    assert_eq!(
        f.events
            .iter()
            .map(|e| e.title.as_str())
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
    assert_eq!(f.events[0].tags, ["x", "env:test"]);
    assert_eq!(
        (
            f.service_checks[0].status,
            f.service_checks[0].message.as_str()
        ),
        (2, "down")
    );
    assert!(
        s.flush(Timestamp::from_secs(T0), FlushMode::Closed)
            .events
            .is_empty(),
        "flushed once"
    );
}

#[test]
fn same_output_for_any_pipeline_count() {
    let mut payload = String::new();
    for i in 0..3000 {
        let t = ["c", "g", "h", "ms", "s", "d"][i % 6];
        let v = if t == "s" {
            format!("m{}", i % 37)
        } else {
            format!("{}", i % 101)
        };
        payload.push_str(&format!(
            "metric.{}:{v}|{t}|@0.5|#env:prod,shard:{},host:h{}\n",
            i % 13,
            i % 7,
            i % 3
        ));
        if i % 250 == 0 {
            payload.push_str("_e{5,4}:title|text\n_sc|svc|1\n");
        }
    }
    let render = |n: usize| {
        let mut s = Server::with_shards(&config(), n).unwrap();
        for (k, line) in payload.lines().enumerate() {
            push(&mut s, line, T0 + (k as i64 % 35));
        }
        let mut out = Vec::new();
        for now in [T0 + 10, T0 + 20, T0 + 30] {
            dogstatsd_core::output::write_flush(
                &mut out,
                &s.flush(Timestamp::from_secs(now), FlushMode::Closed),
            );
        }
        dogstatsd_core::output::write_flush(
            &mut out,
            &s.flush(Timestamp::from_secs(T0 + 40), FlushMode::All),
        );
        String::from_utf8(out).unwrap()
    };
    let one = render(1);
    assert!(one.lines().count() > 100, "{one}");
    assert_eq!(render(2), one);
    assert_eq!(render(7), one);
}

#[test]
fn counter_zero_fill_does_not_depend_on_the_pipeline_count() {
    // Found by the push_flush fuzz target: each pipeline used to decide on
    // its own whether a flush had series (and so whether to emit a
    // synthetic bucket of zeros, or zero-fill a closed bucket), so a
    // pipeline whose counters had no data this window emitted what one
    // pipeline holding every context would not.
    let render = |n: usize| {
        let mut s = Server::with_shards(&config(), n).unwrap();
        let mut out = Vec::new();
        let mut flush = |s: &mut Server, now: i64, all: bool| {
            dogstatsd_core::output::write_flush(
                &mut out,
                &s.flush(
                    Timestamp::from_secs(T0 + now),
                    if all {
                        FlushMode::All
                    } else {
                        FlushMode::Closed
                    },
                ),
            );
        };
        let counters: String = (0..8).map(|i| format!("c{i}:1|c\n")).collect();
        push(&mut s, &counters, T0);
        flush(&mut s, 10, false);
        push(&mut s, "c0:1|c", T0 + 15);
        flush(&mut s, 20, false);
        push(&mut s, "c0:1|c\ng0:3|g", T0 + 35);
        flush(&mut s, 38, false);
        flush(&mut s, 50, false);
        push(&mut s, "c3:1|c", T0 + 61);
        flush(&mut s, 70, false);
        flush(&mut s, 90, false);
        flush(&mut s, 95, true);
        String::from_utf8(out).unwrap()
    };
    let one = render(1);
    assert!(one.lines().count() > 20, "{one}");
    for n in 2..=5 {
        assert_eq!(render(n), one, "{n} pipelines");
    }
}

#[test]
fn a_tag_equal_to_a_name_or_host_is_one_context() {
    // One interned string serves names, hosts and tags. Verification used
    // to compare the hash the string was first interned with, so a tag
    // first seen as a metric name (or host) failed to verify and the
    // context was duplicated.
    for cache in [0, 8192] {
        let cfg = Config {
            dogstatsd_route_cache_size: cache,
            ..config()
        };
        let mut s = server(&cfg);
        push(&mut s, "a:1|c\nb:1|c|#a,h\nb:1|c|#a,h\nb:1|c|#h,a", T0);
        let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
        assert_eq!(one(&f, "b"), 0.3, "cache {cache}: {:?}", f.series);
        assert_eq!(s.stats().shards.contexts, 2, "cache {cache}");
    }
}

#[test]
fn filter_list_drops_by_final_name_and_counts() {
    let exact = Config {
        statsd_metric_namespace: "ns".into(),
        statsd_metric_blocklist: vec!["ns.drop.me".into(), "zzz".into(), "a".into()],
        ..config()
    };
    let mut s = server(&exact);
    push(
        &mut s,
        "drop.me:1|c\ndrop.me.not:1|c\nkeep:1:2|g\ndrop.me:1:2|c",
        T0,
    );
    push(&mut s, "drop.me:1|c", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    let names: Vec<&str> = f.series.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(names, ["ns.drop.me.not", "ns.keep"]);
    assert_eq!(
        s.stats().router.process.filtered_points,
        4,
        "points, not messages"
    );
    let prefix = Config {
        statsd_metric_blocklist: vec!["drop.".into()],
        statsd_metric_blocklist_match_prefix: true,
        ..config()
    };
    let mut s = server(&prefix);
    push(&mut s, "drop.a:1|c\ndrop.b:1|g\ndropx:1|c", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(
        f.series
            .iter()
            .map(|s| s.metric.as_str())
            .collect::<Vec<_>>(),
        ["dropx"]
    );
}

#[test]
fn route_cache_gives_the_same_contexts_as_full_routing() {
    // The same name and tag field with and without a `card:` field keep
    // different tags (dd.internal.card is kept when card: is given).
    let payload = "m:1|c|#a,dd.internal.card:high|card:low\nm:1|c|#a,dd.internal.card:high\nm:1|c|#a,dd.internal.card:high|card:low\nm:1|c|#a,dd.internal.card:high";
    let run = |cache: i64| {
        let cfg = Config {
            dogstatsd_origin_detection_client: true,
            dogstatsd_route_cache_size: cache,
            ..config()
        };
        let mut s = server(&cfg);
        for line in payload.lines() {
            push(&mut s, line, T0);
        }
        let mut out = Vec::new();
        dogstatsd_core::output::write_flush(
            &mut out,
            &s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed),
        );
        String::from_utf8(out).unwrap()
    };
    let full = run(0);
    assert_eq!(full.lines().count(), 2, "{full}");
    assert!(full.contains("\"dd.internal.card:high\""), "{full}");
    assert_eq!(run(8192), full);
}

#[test]
fn route_cache_size_never_changes_the_output() {
    use dogstatsd_core::config::{MapperProfileConfig, MappingConfig};
    let mut payload = String::new();
    for i in 0..4000 {
        let name = ["app.req", "legacy.job.a.b", "legacy.job.c.d", "x"][i % 4];
        let t = ["c", "g", "h", "ms", "s", "d"][i % 6];
        let v = if t == "s" {
            format!("u{}", i % 11)
        } else {
            format!("{}:{}", i % 7, i % 5)
        };
        let tags = [
            "env:prod,shard:1",
            "shard:1,env:prod",
            "host:h2,env:prod",
            "env:prod,dd.internal.card:high",
            "",
            "dd.internal.entity_id:x,z",
        ][i % 6];
        let extra = ["", "|card:low", "|@0.5", "|T1657100430"][i % 4];
        payload.push_str(&format!("{name}:{v}|{t}|#{tags}{extra}\n"));
    }
    let run = |cache: i64| {
        let cfg = Config {
            dogstatsd_origin_detection_client: true,
            dogstatsd_route_cache_size: cache,
            statsd_metric_namespace: "ns".into(),
            dogstatsd_tags: vec!["region:eu".into()],
            histogram_copy_to_distribution: true,
            histogram_copy_to_distribution_prefix: "dist.".into(),
            dogstatsd_mapper_profiles: vec![MapperProfileConfig {
                name: "legacy".into(),
                prefix: "legacy.".into(),
                mappings: vec![MappingConfig {
                    pattern: "legacy.job.*.*".into(),
                    name: "job".into(),
                    tags: [("kind".to_string(), "$1".to_string())]
                        .into_iter()
                        .collect(),
                    ..MappingConfig::default()
                }],
            }],
            ..config()
        };
        let mut s = server(&cfg);
        for (k, line) in payload.lines().enumerate() {
            push(&mut s, line, T0 + (k as i64 % 20));
        }
        let mut out = Vec::new();
        dogstatsd_core::output::write_flush(
            &mut out,
            &s.flush(Timestamp::from_secs(T0 + 30), FlushMode::All),
        );
        String::from_utf8(out).unwrap()
    };
    let reference = run(0);
    assert!(reference.lines().count() > 50, "{reference}");
    assert_eq!(run(1), reference, "a thrashing cache");
    assert_eq!(run(8192), reference, "a warm cache");
}

#[test]
fn a_remembered_route_follows_its_context_through_expiry_and_reuse() {
    // `a` is routed from the worker's cache and the pipeline remembers
    // which context that route is. When `a` expires, its context id is
    // reused by `b`; the route must not then lead `a` into `b`.
    for cache in [0, 1, 8192] {
        let cfg = Config {
            dogstatsd_route_cache_size: cache,
            ..config()
        };
        let mut s = server(&cfg);
        push(&mut s, "a:1|g|#t:1", T0);
        push(&mut s, "a:2|g|#t:1", T0 + 1);
        let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
        assert_eq!(one(&f, "a"), 2.0, "cache {cache}");
        // Idle past dogstatsd_context_expiry_seconds (20): expired.
        let f = s.flush(Timestamp::from_secs(T0 + 40), FlushMode::Closed);
        assert!(f.series.is_empty(), "cache {cache}: {:?}", f.series);
        assert_eq!(s.stats().shards.contexts, 0, "cache {cache}");
        push(&mut s, "b:5|g|#t:1", T0 + 41);
        push(&mut s, "a:3|g|#t:1", T0 + 42);
        push(&mut s, "b:6|g|#t:1", T0 + 43);
        let f = s.flush(Timestamp::from_secs(T0 + 50), FlushMode::Closed);
        assert_eq!(one(&f, "a"), 3.0, "cache {cache}: {:?}", f.series);
        assert_eq!(one(&f, "b"), 6.0, "cache {cache}: {:?}", f.series);
    }
}

#[test]
fn a_bare_route_brings_back_its_expired_context_on_any_pipeline_count() {
    // After its first hit a cached route is sent without its bytes; the
    // pipeline must rebuild the context from its memo once it expired,
    // however many times, with tags and zero-fill intact.
    for pipelines in [1, 3] {
        let cfg = Config {
            dogstatsd_route_cache_size: 64,
            dogstatsd_expiry_seconds: 30,
            ..config()
        };
        let mut s = Server::with_shards(&cfg, pipelines).expect("valid config");
        let mut t = T0;
        for round in 0..3 {
            for _ in 0..3 {
                push(&mut s, "req:1|c|#b:2,a:1\nlat:5|g|#a:1", t);
            }
            let f = s.flush(Timestamp::from_secs(t + 10), FlushMode::Closed);
            assert_eq!(one(&f, "req"), 0.3, "round {round}: {:?}", f.series);
            assert_eq!(one(&f, "lat"), 5.0, "round {round}");
            for series in &f.series {
                assert_eq!(
                    series.tags.len(),
                    if series.metric == "req" { 2 } else { 1 }
                );
            }
            // The counter zero-fills for 30 s, then both contexts expire.
            let f = s.flush(Timestamp::from_secs(t + 30), FlushMode::Closed);
            assert_eq!(one(&f, "req"), 0.0, "round {round}");
            for later in [60, 100, 140] {
                let _ = s.flush(Timestamp::from_secs(t + later), FlushMode::Closed);
            }
            assert_eq!(s.stats().shards.contexts, 0, "round {round}");
            t += 200;
        }
        let stats = s.stats();
        assert!(stats.router.route_cache_hits >= 12, "{stats:?}");
        assert_eq!(stats.shards.unknown_route_dropped, 0);
    }
}

#[test]
fn routes_of_several_workers_share_a_context_through_expiry_without_duplicates() {
    // Two workers' cached routes name one context in one pipeline. It
    // expires while both routes still name it (dormant), comes back
    // through either route's bare samples, or is made anew from bytes by
    // a third worker: every way, one context and one series.
    use dogstatsd_core::aggregate::{FlushRound, Router, Shard};
    let cfg = Config {
        dogstatsd_route_cache_size: 8,
        ..config()
    };
    let mut pipeline = Shard::new(&cfg, 1);
    let mut workers: Vec<Router> = (0..3)
        .map(|_| Router::new(&cfg, 1).expect("config"))
        .collect();
    let send = |p: &mut Shard, w: &mut Router, line: &str, now: i64| {
        w.push(line.as_bytes(), &Transport::Udp.into(), now);
        for b in w.batches_mut() {
            p.add_batch(b);
            b.clear();
        }
    };
    let flush = |p: &mut Shard, now: i64| {
        let mut round = FlushRound::new(now, FlushMode::Closed);
        round.add_plan(p.plan(round.at()));
        let mut round = round.seal();
        let part = p.flush(round.plan());
        round.add_flush(part);
        round.finish()
    };
    let mut t = T0;
    for round in 0..4 {
        // Round 0 fills both routes; later rounds find them cached, so
        // after expiry every sample of workers 0 and 1 arrives bare.
        for i in [0, 1, 0, 1] {
            send(&mut pipeline, &mut workers[i], "x:2|g|#t:1", t);
        }
        if round == 3 {
            // A worker whose cache never saw it: bytes, a fresh lookup
            // while the others' routes may name a dormant twin.
            send(&mut pipeline, &mut workers[2], "x:2|g|#t:1", t);
        }
        let f = flush(&mut pipeline, t + 10);
        assert_eq!(series(&f, "x").len(), 1, "round {round}: {:?}", f.series);
        assert_eq!(pipeline.stats().contexts, 1, "round {round}");
        // Idle past the expiry: gone from the live set.
        flush(&mut pipeline, t + 60);
        assert_eq!(pipeline.stats().contexts, 0, "round {round}");
        t += 100;
        if round == 2 {
            // Worker 2's bytes arrive first next round, before any bare
            // sample: a new context while both routes name a dormant one.
            send(&mut pipeline, &mut workers[2], "x:2|g|#t:1", t);
        }
    }
    assert_eq!(pipeline.stats().unknown_route_dropped, 0);
    assert!(workers[0].stats().route_cache_hits >= 6);
}

#[test]
fn a_route_refused_under_the_context_limit_is_taken_once_room_comes_back() {
    // Under a limit, cached routes keep carrying their bytes: the
    // pipeline that refused `c` needs them to take it later.
    let cfg = Config {
        dogstatsd_context_limit: 2,
        ..config()
    };
    let mut s = server(&cfg);
    push(&mut s, "a:1|g\nb:1|g", T0);
    for _ in 0..3 {
        push(&mut s, "c:1|g", T0);
    }
    assert_eq!(s.stats().shards.context_limit_dropped, 3);
    let _ = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    let _ = s.flush(Timestamp::from_secs(T0 + 40), FlushMode::Closed);
    push(&mut s, "c:7|g", T0 + 41);
    let f = s.flush(Timestamp::from_secs(T0 + 50), FlushMode::Closed);
    assert_eq!(one(&f, "c"), 7.0);
    assert_eq!(s.stats().shards.unknown_route_dropped, 0);
}

#[test]
fn a_reused_route_slot_is_a_new_route() {
    // One slot: `a`, then `b`, then `a` again all fill slot 0 in turn (a
    // full cache takes a route on its second miss).
    let cfg = Config {
        dogstatsd_route_cache_size: 1,
        ..config()
    };
    let mut s = server(&cfg);
    let lines = [
        "a:1|c", "a:1|c", "b:10|c", "b:10|c", "b:10|c", "a:1|c", "a:1|c", "a:1|c",
    ];
    for (i, line) in lines.iter().enumerate() {
        push(&mut s, line, T0 + i as i64);
    }
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(one(&f, "a"), 0.5);
    assert_eq!(one(&f, "b"), 3.0);
    assert_eq!(s.stats().router.route_cache_hits, 3);
}

#[test]
fn the_context_limit_drops_new_contexts_and_keeps_known_ones() {
    for pipelines in [1, 2] {
        let cfg = Config {
            dogstatsd_context_limit: 4,
            ..config()
        };
        let mut s = Server::with_shards(&cfg, pipelines).expect("valid config");
        push(&mut s, "known:1|c", T0);
        for i in 0..1000 {
            push(&mut s, &format!("burst.{i}:1|c"), T0);
            push(&mut s, "known:1|c", T0);
        }
        let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
        assert_eq!(one(&f, "known"), 100.1, "{pipelines} pipelines");
        let stats = s.stats().shards;
        assert!(stats.contexts <= 4, "{pipelines}: {stats:?}");
        assert_eq!(f.series.len() as u64, stats.contexts);
        assert_eq!(
            stats.context_limit_dropped,
            1000 - (stats.contexts - 1),
            "{pipelines}: every dropped sample is counted"
        );
    }
}

#[test]
fn room_under_the_context_limit_comes_back_as_contexts_expire() {
    let cfg = Config {
        dogstatsd_context_limit: 2,
        ..config()
    };
    let mut s = server(&cfg);
    push(&mut s, "a:1|g\nb:1|g\nc:1|g", T0);
    let f = s.flush(Timestamp::from_secs(T0 + 10), FlushMode::Closed);
    assert_eq!(f.series.len(), 2);
    assert_eq!(s.stats().shards.context_limit_dropped, 1);
    let _ = s.flush(Timestamp::from_secs(T0 + 40), FlushMode::Closed);
    push(&mut s, "c:7|g", T0 + 41);
    let f = s.flush(Timestamp::from_secs(T0 + 50), FlushMode::Closed);
    assert_eq!(one(&f, "c"), 7.0);
}
