//! Decodes what core encodes with an independent decoder: `prost`, with
//! message types that mirror the Agent's schema
//! (`proto/metrics/agent_payload.proto` in DataDog/agent-payload),
//! written out as prost derives so no `protoc` is needed. A field number
//! or wire type core got wrong makes prost fail or read another field.

use std::sync::Arc;

use dogstatsd_core::flush::{Series, SeriesType, SketchSeries};
use dogstatsd_core::payload::{PayloadLimits, encode_series_v2, encode_sketches};
use dogstatsd_core::sketch::AgentSketch;
use prost::Message;

#[derive(Clone, PartialEq, Message)]
struct Origin {
    #[prost(uint32, tag = "4")]
    origin_product: u32,
    #[prost(uint32, tag = "5")]
    origin_category: u32,
    #[prost(uint32, tag = "6")]
    origin_service: u32,
}

#[derive(Clone, PartialEq, Message)]
struct Metadata {
    #[prost(message, optional, tag = "1")]
    origin: Option<Origin>,
}

#[derive(Clone, PartialEq, Message)]
struct CommonMetadata {
    #[prost(string, tag = "1")]
    agent_version: String,
    #[prost(string, tag = "2")]
    timezone: String,
    #[prost(double, tag = "3")]
    current_epoch: f64,
    #[prost(string, tag = "4")]
    internal_ip: String,
    #[prost(string, tag = "5")]
    public_ip: String,
    #[prost(string, tag = "6")]
    api_key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
enum MetricType {
    Unspecified = 0,
    Count = 1,
    Rate = 2,
    Gauge = 3,
}

#[derive(Clone, PartialEq, Message)]
struct MetricPoint {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Resource {
    #[prost(string, tag = "1")]
    r#type: String,
    #[prost(string, tag = "2")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct MetricSeries {
    #[prost(message, repeated, tag = "1")]
    resources: Vec<Resource>,
    #[prost(string, tag = "2")]
    metric: String,
    #[prost(string, repeated, tag = "3")]
    tags: Vec<String>,
    #[prost(message, repeated, tag = "4")]
    points: Vec<MetricPoint>,
    #[prost(enumeration = "MetricType", tag = "5")]
    r#type: i32,
    #[prost(string, tag = "6")]
    unit: String,
    #[prost(string, tag = "7")]
    source_type_name: String,
    #[prost(int64, tag = "8")]
    interval: i64,
    #[prost(message, optional, tag = "9")]
    metadata: Option<Metadata>,
}

#[derive(Clone, PartialEq, Message)]
struct MetricPayload {
    #[prost(message, repeated, tag = "1")]
    series: Vec<MetricSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct Dogsketch {
    #[prost(int64, tag = "1")]
    ts: i64,
    #[prost(int64, tag = "2")]
    cnt: i64,
    #[prost(double, tag = "3")]
    min: f64,
    #[prost(double, tag = "4")]
    max: f64,
    #[prost(double, tag = "5")]
    avg: f64,
    #[prost(double, tag = "6")]
    sum: f64,
    #[prost(sint32, repeated, tag = "7")]
    k: Vec<i32>,
    #[prost(uint32, repeated, tag = "8")]
    n: Vec<u32>,
}

#[derive(Clone, PartialEq, Message)]
struct Sketch {
    #[prost(string, tag = "1")]
    metric: String,
    #[prost(string, tag = "2")]
    host: String,
    #[prost(string, repeated, tag = "4")]
    tags: Vec<String>,
    #[prost(message, repeated, tag = "7")]
    dogsketches: Vec<Dogsketch>,
    #[prost(message, optional, tag = "8")]
    metadata: Option<Metadata>,
}

#[derive(Clone, PartialEq, Message)]
struct SketchPayload {
    #[prost(message, repeated, tag = "1")]
    sketches: Vec<Sketch>,
    #[prost(message, optional, tag = "2")]
    metadata: Option<CommonMetadata>,
}

fn tags(t: &[&str]) -> Arc<[Arc<str>]> {
    t.iter().map(|&t| Arc::from(t)).collect()
}

const DOGSTATSD_ORIGIN: Origin = Origin {
    origin_product: 10,
    origin_category: 10,
    origin_service: 0,
};

#[test]
fn series_decode_with_prost() {
    let series = |metric: &str, series_type, timestamp, value, t: &[&str], host: &str| Series {
        metric: metric.into(),
        series_type,
        interval: 10,
        timestamp,
        value,
        tags: tags(t),
        host: host.into(),
    };
    let input = vec![
        series(
            "req",
            SeriesType::Rate,
            1_700_000_000,
            0.5,
            &["env:prod"],
            "web-1",
        ),
        series(
            "req",
            SeriesType::Rate,
            1_700_000_010,
            2.0,
            &["env:prod"],
            "web-1",
        ),
        series(
            "disk.used",
            SeriesType::Gauge,
            1_700_000_000,
            -3.25,
            &[
                "device:sda",
                "dd.internal.resource:database_instance:db1",
                "a:b",
            ],
            "",
        ),
        series("hits", SeriesType::Count, 1_700_000_000, 7.0, &[], "h"),
    ];
    let mut payloads = Vec::new();
    let stats = encode_series_v2(&input, &PayloadLimits::default(), &mut payloads);
    assert_eq!((payloads.len(), stats.dropped_items), (1, 0));
    let decoded = MetricPayload::decode(payloads[0].body.as_slice()).expect("prost decodes");
    assert_eq!(decoded.series.len(), 3);
    let find = |m: &str| decoded.series.iter().find(|s| s.metric == m).expect(m);
    let origin = Some(Metadata {
        origin: Some(DOGSTATSD_ORIGIN),
    });

    let req = find("req");
    assert_eq!(req.r#type, MetricType::Rate as i32);
    assert_eq!(req.interval, 10);
    assert_eq!(req.tags, ["env:prod"]);
    assert_eq!(
        req.resources,
        [Resource {
            r#type: "host".into(),
            name: "web-1".into()
        }]
    );
    let points: Vec<(i64, f64)> = req.points.iter().map(|p| (p.timestamp, p.value)).collect();
    assert_eq!(points, [(1_700_000_000, 0.5), (1_700_000_010, 2.0)]);
    assert_eq!(req.metadata, origin);

    let disk = find("disk.used");
    assert_eq!(disk.r#type, MetricType::Gauge as i32);
    assert_eq!(disk.tags, ["a:b"]);
    let resources: Vec<(&str, &str)> = disk
        .resources
        .iter()
        .map(|r| (r.r#type.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(
        resources,
        [
            ("host", ""),
            ("device", "sda"),
            ("database_instance", "db1")
        ]
    );
    assert_eq!(disk.points[0].value, -3.25);

    let hits = find("hits");
    assert_eq!(hits.r#type, MetricType::Count as i32);
    assert_eq!(hits.points[0].value, 7.0);
}

#[test]
fn sketches_decode_with_prost() {
    let mut sketch = AgentSketch::new();
    for v in [-5.0, 0.0, 1.0, 1.0, 250.0, 1e6] {
        sketch.insert(v);
    }
    let input = vec![SketchSeries {
        metric: "latency".into(),
        timestamp: 1_700_000_000,
        tags: tags(&["env:prod", "svc:api"]),
        host: "web-1".into(),
        sketch: sketch.clone(),
    }];
    let mut payloads = Vec::new();
    encode_sketches(&input, &PayloadLimits::default(), &mut payloads);
    assert_eq!(payloads.len(), 1);
    let decoded = SketchPayload::decode(payloads[0].body.as_slice()).expect("prost decodes");
    assert_eq!(decoded.metadata, Some(CommonMetadata::default()));
    let [s] = decoded.sketches.as_slice() else {
        panic!("one sketch, got {:?}", decoded.sketches);
    };
    assert_eq!((s.metric.as_str(), s.host.as_str()), ("latency", "web-1"));
    assert_eq!(s.tags, ["env:prod", "svc:api"]);
    assert_eq!(
        s.metadata,
        Some(Metadata {
            origin: Some(DOGSTATSD_ORIGIN)
        })
    );
    let [d] = s.dogsketches.as_slice() else {
        panic!("one dogsketch");
    };
    assert_eq!(d.ts, 1_700_000_000);
    assert_eq!(d.cnt, 6);
    assert_eq!((d.min, d.max, d.sum), (-5.0, 1e6, sketch.sum()));
    assert_eq!(d.avg, sketch.avg());
    let keys: Vec<i32> = sketch.keys().map(i32::from).collect();
    let counts: Vec<u32> = sketch.counts().collect();
    assert_eq!(d.k, keys);
    assert_eq!(d.n, counts);
    assert_eq!(d.n.iter().sum::<u32>(), 6);
}

mod random {
    use super::*;
    use proptest::prelude::*;

    fn series() -> impl Strategy<Value = Series> {
        (
            "[a-c]{1,3}",
            prop_oneof![
                Just(SeriesType::Rate),
                Just(SeriesType::Gauge),
                Just(SeriesType::Count)
            ],
            -5i64..5,
            prop_oneof![Just(0.0), -1e9f64..1e9],
            prop::collection::btree_set("[a-z]{1,4}:[a-z0-9]{0,4}", 0..4),
            prop_oneof![Just(""), Just("web-1")],
        )
            .prop_map(|(metric, series_type, ts, value, t, host)| Series {
                metric,
                series_type,
                interval: 10,
                timestamp: 1_700_000_000 + ts * 10,
                value,
                tags: t.iter().map(|t| Arc::from(t.as_str())).collect(),
                host: host.into(),
            })
    }

    type Key = (String, i32, i64, u64, Vec<String>, String);

    fn key(s: &Series) -> Key {
        let kind = match s.series_type {
            SeriesType::Count => MetricType::Count,
            SeriesType::Rate => MetricType::Rate,
            SeriesType::Gauge => MetricType::Gauge,
        };
        (
            s.metric.clone(),
            kind as i32,
            s.timestamp,
            s.value.to_bits(),
            s.tags.iter().map(|t| t.to_string()).collect(),
            s.host.to_string(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every point core encodes is what prost reads, across payloads.
        #[test]
        fn series_points_decode_with_prost(
            input in prop::collection::vec(series(), 0..40),
            max_points in 1usize..8,
        ) {
            let limits = PayloadLimits { max_series_points_per_payload: max_points, ..Default::default() };
            let mut payloads = Vec::new();
            let stats = encode_series_v2(&input, &limits, &mut payloads);
            let mut got: Vec<Key> = Vec::new();
            for p in &payloads {
                let decoded = MetricPayload::decode(p.body.as_slice()).expect("prost decodes");
                for s in &decoded.series {
                    let host = s.resources.iter().find(|r| r.r#type == "host").map(|r| r.name.clone());
                    for pt in &s.points {
                        got.push((
                            s.metric.clone(),
                            s.r#type,
                            pt.timestamp,
                            pt.value.to_bits(),
                            s.tags.clone(),
                            host.clone().unwrap_or_default(),
                        ));
                    }
                }
            }
            let mut want: Vec<Key> = input.iter().map(key).collect();
            want.sort();
            got.sort();
            if stats.dropped_items == 0 {
                prop_assert_eq!(got, want);
            } else {
                prop_assert!(got.iter().all(|g| want.contains(g)));
            }
        }
    }
}
