//! Encode, then decode with the crate's own readers: what a test intake
//! records must be what the server flushed.

use std::sync::Arc;

use dogstatsd_core::flush::{Event, Series, SeriesType, ServiceCheck, SketchSeries, TagList};
use dogstatsd_core::payload::{
    PayloadLimits, decode_check_runs, decode_events, decode_series_v2, decode_sketches,
    encode_check_runs, encode_events, encode_series_v2, encode_sketches,
};
use dogstatsd_core::sketch::AgentSketch;
use proptest::prelude::*;

fn tag_set(tags: Vec<String>) -> Arc<[Arc<str>]> {
    let mut tags: Vec<Arc<str>> = tags.into_iter().map(Arc::<str>::from).collect();
    tags.sort_unstable();
    tags.dedup();
    tags.into()
}

fn series_strategy() -> impl Strategy<Value = Series> {
    (
        "[a-c]{1,3}",
        prop_oneof![
            Just(SeriesType::Rate),
            Just(SeriesType::Gauge),
            Just(SeriesType::Count)
        ],
        -5i64..5,
        prop_oneof![Just(0.0), -1e9f64..1e9, Just(f64::INFINITY)],
        prop::collection::vec(
            prop_oneof!["[a-z]{1,4}:[a-z0-9]{0,4}", Just("device:sda".to_string())],
            0..4,
        ),
        prop_oneof![Just(""), Just("web-1")],
    )
        .prop_map(|(metric, series_type, ts, value, tags, host)| Series {
            metric,
            series_type,
            interval: 10,
            timestamp: ts * 10,
            value,
            tags: tag_set(tags),
            host: Arc::from(host),
        })
}

fn sketch_strategy() -> impl Strategy<Value = SketchSeries> {
    (
        "[a-c]{1,2}",
        0i64..3,
        prop::collection::vec(-1e6f64..1e6, 1..50),
        prop::collection::vec("[a-z]{1,3}", 0..3),
    )
        .prop_map(|(metric, ts, values, tags)| {
            let mut sketch = AgentSketch::new();
            values.iter().for_each(|&v| sketch.insert(v));
            SketchSeries {
                metric,
                timestamp: ts * 10,
                tags: tag_set(tags),
                host: Arc::from("h"),
                sketch,
            }
        })
}

fn series_key(s: &Series) -> (String, i64, u64, Vec<String>, String, &'static str) {
    (
        s.metric.clone(),
        s.timestamp,
        s.value.to_bits(),
        s.tags.iter().map(|t| t.to_string()).collect(),
        s.host.to_string(),
        s.series_type.name(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn series_roundtrip(input in prop::collection::vec(series_strategy(), 0..60), max_points in 1usize..20) {
        let limits = PayloadLimits { max_series_points_per_payload: max_points, ..Default::default() };
        let mut payloads = Vec::new();
        let stats = encode_series_v2(&input, &limits, &mut payloads);
        let mut decoded = Vec::new();
        for p in &payloads {
            let n = decode_series_v2(&p.body, &mut decoded).unwrap();
            prop_assert_eq!(n, p.points);
        }
        prop_assert_eq!(decoded.len() + stats.dropped_points, input.len());
        // A context with more points than fit one payload is dropped whole.
        let mut want: Vec<_> = input.iter().map(series_key).collect();
        let mut got: Vec<_> = decoded.iter().map(series_key).collect();
        want.sort();
        got.sort();
        if stats.dropped_items == 0 {
            prop_assert_eq!(got, want);
        } else {
            prop_assert!(got.iter().all(|g| want.contains(g)));
        }
    }

    #[test]
    fn sketches_roundtrip(input in prop::collection::vec(sketch_strategy(), 0..30), max_bytes in 200usize..3000) {
        let limits = PayloadLimits { max_uncompressed_payload_size: max_bytes, ..Default::default() };
        let mut payloads = Vec::new();
        let stats = encode_sketches(&input, &limits, &mut payloads);
        let mut decoded = Vec::new();
        for p in &payloads {
            prop_assert!(p.body.len() <= max_bytes);
            decode_sketches(&p.body, &mut decoded).unwrap();
        }
        prop_assert_eq!(decoded.len() + stats.dropped_points, input.len());
        if stats.dropped_items == 0 {
            for want in &input {
                let found = decoded.iter().any(|got| {
                    got.metric == want.metric
                        && got.timestamp == want.timestamp
                        && got.tags == want.tags
                        && got.host == want.host
                        && got.sketch == want.sketch
                });
                prop_assert!(found, "{:?} not decoded", want.metric);
            }
        }
    }
}

#[test]
fn checks_and_events_roundtrip() {
    let checks = vec![
        ServiceCheck {
            name: "db.up".into(),
            status: 2,
            timestamp: 17,
            hostname: "h".into(),
            message: "line\nbreak \"quoted\" é".into(),
            tags: ["b:2", "a:1"].into(),
            container_id: None,
        },
        ServiceCheck {
            name: String::new(),
            status: 3,
            timestamp: 5,
            hostname: String::new(),
            message: String::new(),
            tags: TagList::new(),
            container_id: None,
        },
    ];
    let mut payloads = Vec::new();
    encode_check_runs(&checks, 0, &PayloadLimits::default(), &mut payloads);
    let mut got = Vec::new();
    decode_check_runs(&payloads[0].body, &mut got).unwrap();
    assert_eq!(got, checks);

    let events = vec![
        Event {
            title: "Deploy".into(),
            text: "v1\nv2".into(),
            timestamp: 0,
            hostname: "h".into(),
            aggregation_key: "k".into(),
            priority: "low",
            source_type: "jenkins".into(),
            alert_type: "error",
            tags: ["x"].into(),
            container_id: None,
        },
        Event {
            title: "Other".into(),
            text: String::new(),
            timestamp: 9,
            hostname: String::new(),
            aggregation_key: String::new(),
            priority: "normal",
            source_type: String::new(),
            alert_type: "info",
            tags: TagList::new(),
            container_id: None,
        },
    ];
    let mut payloads = Vec::new();
    encode_events(&events, "me", &PayloadLimits::default(), &mut payloads);
    let mut got = Vec::new();
    decode_events(&payloads[0].body, &mut got).unwrap();
    // Body order is by group ("api" before "jenkins").
    assert_eq!(got, [events[1].clone(), events[0].clone()]);
}
