//! Payload splitting, grouping and field mapping, checked by decoding the
//! bodies again (a minimal protobuf reader lives at the bottom).

use std::sync::Arc;

use dogstatsd_core::flush::{Event, Series, SeriesType, ServiceCheck, SketchSeries, TagList};
use dogstatsd_core::payload::{
    Endpoint, PayloadEncoder, PayloadLimits, encode_check_runs, encode_events, encode_series_v1,
    encode_series_v2, encode_sketches,
};
use dogstatsd_core::sketch::AgentSketch;
use proptest::prelude::*;
use serde_json::Value;

fn tags(t: &[&str]) -> Arc<[Arc<str>]> {
    t.iter().map(|s| Arc::<str>::from(*s)).collect()
}

fn series(metric: &str, ts: i64, value: f64, t: &[&str]) -> Series {
    Series {
        metric: metric.into(),
        series_type: SeriesType::Gauge,
        interval: 10,
        timestamp: ts,
        value,
        tags: tags(t),
        host: Arc::from("h"),
    }
}

fn sketch_series(metric: &str, ts: i64, values: &[f64]) -> SketchSeries {
    let mut sketch = AgentSketch::new();
    values.iter().for_each(|&v| sketch.insert(v));
    SketchSeries {
        metric: metric.into(),
        timestamp: ts,
        tags: tags(&["a:b"]),
        host: Arc::from("h"),
        sketch,
    }
}

fn event(title: &str, source: &str) -> Event {
    Event {
        title: title.into(),
        text: "t".into(),
        timestamp: 0,
        hostname: "h".into(),
        aggregation_key: String::new(),
        priority: "normal",
        source_type: source.into(),
        alert_type: "info",
        tags: TagList::new(),
        container_id: None,
    }
}

fn check(name: &str, ts: i64, tags: &[&str]) -> ServiceCheck {
    ServiceCheck {
        name: name.into(),
        status: 0,
        timestamp: ts,
        hostname: "h".into(),
        message: String::new(),
        tags: tags.into(),
        container_id: None,
    }
}

// --- decoded views -------------------------------------------------------

#[derive(Debug, Default, PartialEq)]
struct DecodedSeries {
    resources: Vec<(String, String)>,
    metric: String,
    tags: Vec<String>,
    kind: u64,
    interval: u64,
    points: Vec<(i64, f64)>,
    origin: (u64, u64),
}

fn decode_series_payload(body: &[u8]) -> Vec<DecodedSeries> {
    fields(body)
        .into_iter()
        .map(|(f, v)| {
            assert_eq!(f, 1);
            let mut s = DecodedSeries::default();
            for (f, v) in fields(v.bytes()) {
                match f {
                    1 => {
                        let r = fields(v.bytes());
                        let get = |n| {
                            r.iter()
                                .find(|x| x.0 == n)
                                .map(|x| x.1.string())
                                .unwrap_or_default()
                        };
                        s.resources.push((get(1), get(2)));
                    }
                    2 => s.metric = v.string(),
                    3 => s.tags.push(v.string()),
                    4 => {
                        let mut p = (0, 0.0);
                        for (f, v) in fields(v.bytes()) {
                            match f {
                                1 => p.1 = f64::from_bits(v.fixed()),
                                2 => p.0 = v.varint() as i64,
                                _ => panic!("point field {f}"),
                            }
                        }
                        s.points.push(p);
                    }
                    5 => s.kind = v.varint(),
                    8 => s.interval = v.varint(),
                    9 => {
                        let meta = fields(v.bytes());
                        let origin = fields(meta[0].1.bytes());
                        s.origin = (origin[0].1.varint(), origin[1].1.varint());
                    }
                    _ => panic!("series field {f}"),
                }
            }
            s
        })
        .collect()
}

#[derive(Debug, Default)]
struct DecodedSketch {
    metric: String,
    host: String,
    tags: Vec<String>,
    points: Vec<(i64, i64, Vec<i32>, Vec<u32>)>,
}

fn decode_sketch_payload(body: &[u8]) -> Vec<DecodedSketch> {
    let all = fields(body);
    let (last, items) = all.split_last().unwrap();
    assert_eq!(last.0, 2, "metadata footer last");
    assert!(last.1.bytes().is_empty());
    items
        .iter()
        .map(|(f, v)| {
            assert_eq!(*f, 1);
            let mut s = DecodedSketch::default();
            for (f, v) in fields(v.bytes()) {
                match f {
                    1 => s.metric = v.string(),
                    2 => s.host = v.string(),
                    4 => s.tags.push(v.string()),
                    7 => {
                        let mut p = (0, 0, Vec::new(), Vec::new());
                        for (f, v) in fields(v.bytes()) {
                            match f {
                                1 => p.0 = v.varint() as i64,
                                2 => p.1 = v.varint() as i64,
                                3..=6 => {}
                                7 => {
                                    p.2 = varints(v.bytes())
                                        .map(|z| ((z >> 1) as i32) ^ -((z & 1) as i32))
                                        .collect()
                                }
                                8 => p.3 = varints(v.bytes()).map(|n| n as u32).collect(),
                                _ => panic!("dogsketch field {f}"),
                            }
                        }
                        s.points.push(p);
                    }
                    8 => {}
                    _ => panic!("sketch field {f}"),
                }
            }
            s
        })
        .collect()
}

// --- tests ---------------------------------------------------------------

#[test]
fn splits_on_point_count() {
    let input: Vec<Series> = (0..25)
        .map(|i| series(&format!("m{i}"), 100, 1.0, &[]))
        .collect();
    let limits = PayloadLimits {
        max_series_points_per_payload: 10,
        ..Default::default()
    };
    let mut out = Vec::new();
    let stats = encode_series_v2(&input, &limits, &mut out);
    assert_eq!(
        out.iter().map(|p| p.points).collect::<Vec<_>>(),
        [10, 10, 5]
    );
    assert_eq!(stats.points, 25);
    let names: Vec<String> = out
        .iter()
        .flat_map(|p| decode_series_payload(&p.body))
        .map(|s| s.metric)
        .collect();
    assert_eq!(names, (0..25).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[test]
fn splits_on_uncompressed_size_and_drops_oversized_items() {
    let mut input: Vec<Series> = (0..40)
        .map(|i| series(&format!("metric.{i}"), 100, 2.5, &["k:v"]))
        .collect();
    let huge = "x".repeat(600);
    input.insert(7, series("big", 100, 1.0, &[huge.as_str()]));
    let limits = PayloadLimits {
        max_series_uncompressed_payload_size: 500,
        ..Default::default()
    };
    let mut enc = PayloadEncoder::series_v2(&input, &limits);
    let mut buf = vec![0xff]; // the encoder appends, never clears
    let mut seen = Vec::new();
    let mut payloads = 0;
    while let Some(info) = enc.next_payload(&mut buf) {
        assert_eq!(info.endpoint, Endpoint::SeriesV2);
        assert_eq!(info.bytes, buf.len() - 1);
        assert!(info.bytes <= 500);
        seen.extend(
            decode_series_payload(&buf[1..])
                .into_iter()
                .map(|s| s.metric),
        );
        buf.truncate(1);
        payloads += 1;
    }
    assert!(payloads > 1);
    let stats = enc.stats();
    assert_eq!((stats.dropped_items, stats.dropped_points), (1, 1));
    assert_eq!(stats.payloads, payloads);
    assert_eq!(
        seen,
        (0..40).map(|i| format!("metric.{i}")).collect::<Vec<_>>()
    );
}

#[test]
fn one_context_becomes_one_series_with_several_points() {
    let input = vec![
        series("a", 10, 1.0, &["x:1"]),
        series("b", 10, 2.0, &["x:1"]),
        series("a", 20, 3.0, &["x:1"]),
        series("a", 30, 4.0, &["x:2"]),
        series("a", 40, 0.0, &["x:1"]),
    ];
    let mut out = Vec::new();
    encode_series_v2(&input, &PayloadLimits::default(), &mut out);
    let got = decode_series_payload(&out[0].body);
    assert_eq!(out[0].items, 3);
    assert_eq!(out[0].points, 5);
    assert_eq!(got[0].metric, "a");
    assert_eq!(got[0].points, [(10, 1.0), (20, 3.0), (40, 0.0)]);
    assert_eq!(got[1].points, [(10, 2.0)]);
    assert_eq!(got[2].tags, ["x:2"]);
}

#[test]
fn device_and_resource_tags_become_resources() {
    let input = vec![series(
        "m",
        -5,
        -1.5,
        &[
            "a:b",
            "device:sda1",
            "dd.internal.resource:database_instance:db1",
            "z",
        ],
    )];
    let mut out = Vec::new();
    encode_series_v2(&input, &PayloadLimits::default(), &mut out);
    let s = &decode_series_payload(&out[0].body)[0];
    assert_eq!(
        s.resources,
        [
            ("host".into(), "h".into()),
            ("device".into(), "sda1".into()),
            ("database_instance".into(), "db1".into())
        ]
    );
    assert_eq!(s.tags, ["a:b", "z"]);
    assert_eq!(s.points, [(-5, -1.5)]);
    assert_eq!((s.kind, s.interval, s.origin), (3, 10, (10, 10)));
}

#[test]
fn empty_host_writes_only_the_resource_type() {
    let mut s = series("m", 1, 1.0, &[]);
    s.host = Arc::from("");
    let mut out = Vec::new();
    encode_series_v2(&[s], &PayloadLimits::default(), &mut out);
    assert_eq!(
        out[0].body[2..10],
        [0x0a, 0x06, 0x0a, 0x04, b'h', b'o', b's', b't']
    );
}

#[test]
fn series_v1_json() {
    let input = vec![
        series("a", 10, 1.5, &["x:1", "device:eth0"]),
        series("a", 20, 2.0, &["x:1", "device:eth0"]),
        series("b", 10, 0.1, &[]),
    ];
    let mut out = Vec::new();
    encode_series_v1(&input, &PayloadLimits::default(), &mut out);
    assert_eq!(out[0].endpoint.path(), "/api/v1/series");
    assert_eq!(
        std::str::from_utf8(&out[0].body).unwrap(),
        concat!(
            r#"{"series":[{"metric":"a","points":[[10,1.5],[20,2.0]],"tags":["x:1"],"host":"h","device":"eth0","type":"gauge","interval":10},"#,
            r#"{"metric":"b","points":[[10,0.1]],"tags":[],"host":"h","type":"gauge","interval":10}]}"#
        )
    );
}

#[test]
fn sketches_group_buckets_skip_empty_and_repeat_the_footer() {
    let input = vec![
        sketch_series("lat", 10, &[1.0, 2.0]),
        sketch_series("empty", 10, &[]),
        sketch_series("other", 10, &[-3.0]),
        sketch_series("lat", 20, &[0.0]),
    ];
    let mut out = Vec::new();
    let stats = encode_sketches(&input, &PayloadLimits::default(), &mut out);
    assert_eq!((stats.items, stats.points, stats.dropped_items), (2, 3, 0));
    let got = decode_sketch_payload(&out[0].body);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].metric.as_str(), got[0].host.as_str()), ("lat", "h"));
    assert_eq!(got[0].tags, ["a:b"]);
    assert_eq!(got[0].points[0], (10, 2, vec![1338, 1383], vec![1, 1]));
    assert_eq!(got[0].points[1], (20, 1, vec![0], vec![1]));
    assert_eq!(got[1].points[0], (10, 1, vec![-1409], vec![1]));

    // Split: every payload ends with the metadata footer.
    let many: Vec<SketchSeries> = (0..30)
        .map(|i| sketch_series(&format!("s{i}"), 10, &[f64::from(i)]))
        .collect();
    let limits = PayloadLimits {
        max_uncompressed_payload_size: 300,
        ..Default::default()
    };
    let mut out = Vec::new();
    encode_sketches(&many, &limits, &mut out);
    assert!(out.len() > 1);
    let names: Vec<String> = out
        .iter()
        .inspect(|p| assert!(p.body.len() <= 300 && p.body.ends_with(&[0x12, 0x00])))
        .flat_map(|p| decode_sketch_payload(&p.body))
        .map(|s| s.metric)
        .collect();
    assert_eq!(names.len(), 30);
}

#[test]
fn check_runs_json_and_split() {
    let checks = vec![check("a", 0, &[]), check("b\"q", 7, &["t:1", "u"])];
    let mut out = Vec::new();
    encode_check_runs(&checks, 1234, &PayloadLimits::default(), &mut out);
    assert_eq!(
        std::str::from_utf8(&out[0].body).unwrap(),
        concat!(
            r#"[{"check":"a","host_name":"h","timestamp":1234,"status":0,"message":"","tags":null},"#,
            r#"{"check":"b\"q","host_name":"h","timestamp":7,"status":0,"message":"","tags":["t:1","u"]}]"#
        )
    );
    let many: Vec<ServiceCheck> = (0..50)
        .map(|i| check(&format!("c{i}"), 1, &["x"]))
        .collect();
    let limits = PayloadLimits {
        max_uncompressed_payload_size: 400,
        ..Default::default()
    };
    let mut out = Vec::new();
    encode_check_runs(&many, 0, &limits, &mut out);
    assert!(out.len() > 1);
    let mut n = 0;
    for p in &out {
        assert!(p.body.len() <= 400);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        n += v.as_array().unwrap().len();
    }
    assert_eq!(n, 50);
}

#[test]
fn events_grouped_by_source_type_and_split() {
    let events = vec![
        event("1", "zz"),
        event("2", ""),
        event("3", "nagios"),
        event("4", "api"),
        event("5", "zz"),
    ];
    let mut out = Vec::new();
    encode_events(&events, "me", &PayloadLimits::default(), &mut out);
    let v: Value = serde_json::from_slice(&out[0].body).unwrap();
    let groups = v["events"].as_object().unwrap();
    let titles = |g: &str| -> Vec<&str> {
        groups[g]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["msg_title"].as_str().unwrap())
            .collect()
    };
    assert_eq!(titles("api"), ["2", "4"]);
    assert_eq!(titles("nagios"), ["3"]);
    assert_eq!(titles("zz"), ["1", "5"]);
    assert_eq!(v["internalHostname"], "me");
    assert_eq!(v["apiKey"], "");
    let body = std::str::from_utf8(&out[0].body).unwrap();
    assert!(
        body.starts_with(r#"{"apiKey":"","events":{"api":[{"msg_title":"2""#),
        "{body}"
    );
    assert!(!body.contains(r#""source_type_name":"""#));

    let many: Vec<Event> = (0..60)
        .map(|i| event(&format!("e{i}"), ["a", "b", "c"][i % 3]))
        .collect();
    let limits = PayloadLimits {
        max_uncompressed_payload_size: 700,
        ..Default::default()
    };
    let mut out = Vec::new();
    let stats = encode_events(&many, "me", &limits, &mut out);
    assert!(out.len() > 2);
    assert_eq!(stats.items, 60);
    let mut n = 0;
    for p in &out {
        assert!(p.body.len() <= 700);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        for (_, list) in v["events"].as_object().unwrap() {
            n += list.as_array().unwrap().len();
        }
    }
    assert_eq!(n, 60);
}

#[test]
fn nothing_in_nothing_out() {
    let mut out = Vec::new();
    let stats = encode_series_v2(&[], &PayloadLimits::default(), &mut out);
    assert!(out.is_empty());
    assert_eq!(stats.payloads, 0);
    encode_sketches(
        &[sketch_series("e", 1, &[])],
        &PayloadLimits::default(),
        &mut out,
    );
    encode_events(&[], "h", &PayloadLimits::default(), &mut out);
    encode_check_runs(&[], 0, &PayloadLimits::default(), &mut out);
    assert!(out.is_empty());
}

#[test]
fn limits_defaults_and_yaml_names() {
    let d = PayloadLimits::default();
    assert_eq!(d.max_series_points_per_payload, 10_000);
    assert_eq!(d.max_series_uncompressed_payload_size, 5_242_880);
    assert_eq!(d.max_series_payload_size, 512_000);
    assert_eq!(d.max_uncompressed_payload_size, 4_194_304);
    assert_eq!(d.max_payload_size, 2_621_440);
    let l: PayloadLimits =
        serde_json::from_str(r#"{"serializer_max_series_points_per_payload": 5}"#).unwrap();
    assert_eq!(
        l,
        PayloadLimits {
            max_series_points_per_payload: 5,
            ..d
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn split_series_roundtrip(
        points in prop::collection::vec((0u8..12, 0i64..4, -1e6f64..1e6, 0usize..40), 0..120),
        max_points in 1usize..30,
        max_bytes in 40usize..2000,
    ) {
        let input: Vec<Series> = points
            .iter()
            .map(|&(m, ts, v, pad)| series(&format!("m{m}"), ts * 10, v, &[&"t".repeat(pad)]))
            .collect();
        let limits = PayloadLimits {
            max_series_points_per_payload: max_points,
            max_series_uncompressed_payload_size: max_bytes,
            ..Default::default()
        };
        let mut out = Vec::new();
        let stats = encode_series_v2(&input, &limits, &mut out);
        let mut got = Vec::new();
        for p in &out {
            prop_assert!(p.body.len() <= max_bytes);
            prop_assert!(p.points <= max_points && p.points > 0);
            let decoded = decode_series_payload(&p.body);
            prop_assert_eq!(decoded.len(), p.items);
            for s in decoded {
                for (ts, v) in s.points {
                    got.push((s.metric.clone(), s.tags.clone(), ts, v.to_bits()));
                }
            }
        }
        prop_assert_eq!(stats.points + stats.dropped_points, input.len());
        let mut want: Vec<_> = input.iter().map(|s| (s.metric.clone(), s.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(), s.timestamp, s.value.to_bits())).collect();
        if stats.dropped_items == 0 {
            want.sort_by(|a, b| a.partial_cmp(b).unwrap());
            got.sort_by(|a, b| a.partial_cmp(b).unwrap());
            prop_assert_eq!(got, want);
        } else {
            prop_assert!(got.len() < want.len());
        }
    }
}

// --- minimal protobuf reader ---------------------------------------------

enum Val<'a> {
    Varint(u64),
    Fixed(u64),
    Bytes(&'a [u8]),
}

impl<'a> Val<'a> {
    fn varint(&self) -> u64 {
        match self {
            Val::Varint(v) => *v,
            _ => panic!("not a varint"),
        }
    }
    fn fixed(&self) -> u64 {
        match self {
            Val::Fixed(v) => *v,
            _ => panic!("not fixed64"),
        }
    }
    fn bytes(&self) -> &'a [u8] {
        match self {
            Val::Bytes(b) => b,
            _ => panic!("not length-delimited"),
        }
    }
    fn string(&self) -> String {
        String::from_utf8(self.bytes().to_vec()).unwrap()
    }
}

fn read_varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn varints(b: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || (at < b.len()).then(|| read_varint(b, &mut at)))
}

fn fields(b: &[u8]) -> Vec<(u64, Val<'_>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = read_varint(b, &mut at);
        let v = match key & 7 {
            0 => Val::Varint(read_varint(b, &mut at)),
            1 => {
                let v = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
                at += 8;
                Val::Fixed(v)
            }
            2 => {
                let len = read_varint(b, &mut at) as usize;
                at += len;
                Val::Bytes(&b[at - len..at])
            }
            w => panic!("wire type {w}"),
        };
        out.push((key >> 3, v));
    }
    out
}
