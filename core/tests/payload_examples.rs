//! The worked example of `tests/data/conformance/intake-examples.md`,
//! reproduced byte for byte: the bodies are read from that file.

use std::sync::Arc;

use dogstatsd_core::flush::{Event, Flush, Series, SeriesType, ServiceCheck, SketchSeries};
use dogstatsd_core::payload::{
    AGENT_PAYLOAD_HEADER, AGENT_PAYLOAD_VERSION, Endpoint, FlushEncoding, PayloadLimits,
    encode_check_runs, encode_events, encode_flush, encode_series_v2, encode_sketches,
};
use dogstatsd_core::sketch::AgentSketch;

const EXAMPLES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/conformance/intake-examples.md"
));

/// The first fenced block after the line containing `marker`.
fn block_after(marker: &str) -> String {
    let at = EXAMPLES
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in examples"));
    let rest = &EXAMPLES[at..];
    let open = rest.find("```\n").unwrap() + 4;
    let close = rest[open..].find("```").unwrap();
    rest[open..open + close].to_string()
}

/// A hex dump block (`0000  0a 4f …`) as bytes.
fn hex_after(marker: &str) -> Vec<u8> {
    block_after(marker)
        .lines()
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn tags(t: &[&str]) -> Arc<[Arc<str>]> {
    t.iter().map(|s| Arc::<str>::from(*s)).collect()
}

fn flush() -> Flush {
    let host: Arc<str> = Arc::from("web-1");
    let mut sketch = AgentSketch::new();
    for v in [0.012, 0.015, 0.25] {
        sketch.insert(v);
    }
    Flush {
        series: vec![
            Series {
                metric: "page.views".into(),
                series_type: SeriesType::Rate,
                interval: 10,
                timestamp: 1_700_000_000,
                value: 0.3,
                tags: tags(&["env:prod", "service:web"]),
                host: host.clone(),
            },
            Series {
                metric: "queue.depth".into(),
                series_type: SeriesType::Gauge,
                interval: 10,
                timestamp: 1_700_000_000,
                value: 42.0,
                tags: tags(&["env:prod"]),
                host: host.clone(),
            },
        ],
        sketches: vec![SketchSeries {
            metric: "request.latency".into(),
            timestamp: 1_700_000_000,
            tags: tags(&["env:prod"]),
            host,
            sketch,
        }],
        service_checks: vec![ServiceCheck {
            name: "db.up".into(),
            status: 2,
            timestamp: 1_700_000_003,
            hostname: "web-1".into(),
            message: "replica lag".into(),
            tags: ["env:prod"].into(),
            container_id: None,
        }],
        events: vec![Event {
            title: "Deploy".into(),
            text: "v1.2 shipped".into(),
            timestamp: 1_700_000_005,
            hostname: "web-1".into(),
            aggregation_key: String::new(),
            priority: "normal",
            source_type: String::new(),
            alert_type: "info",
            tags: ["env:prod"].into(),
            container_id: None,
        }],
    }
}

#[test]
fn series_v2_body() {
    let want = hex_after("Uncompressed body, 150 bytes");
    assert_eq!(want.len(), 150);
    let mut out = Vec::new();
    let stats = encode_series_v2(&flush().series, &PayloadLimits::default(), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, want);
    assert_eq!((out[0].items, out[0].points), (2, 2));
    assert_eq!(
        (stats.payloads, stats.bytes, stats.dropped_items),
        (1, 150, 0)
    );
    assert_eq!(out[0].endpoint.path(), "/api/v2/series");
    assert_eq!(out[0].endpoint.content_type(), "application/x-protobuf");
    assert_eq!(
        out[0].endpoint.extra_headers(),
        [(AGENT_PAYLOAD_HEADER, AGENT_PAYLOAD_VERSION)]
    );
}

#[test]
fn sketches_body() {
    let want = hex_after("Uncompressed body, 105 bytes");
    assert_eq!(want.len(), 105);
    let f = flush();
    let s = &f.sketches[0].sketch;
    assert_eq!(s.keys().collect::<Vec<_>>(), [1053, 1067, 1249]);
    assert_eq!(s.avg(), 0.09233333333333332);
    let mut out = Vec::new();
    encode_sketches(&f.sketches, &PayloadLimits::default(), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].body, want);
    assert_eq!(out[0].endpoint, Endpoint::Sketches);
    assert_eq!(out[0].endpoint.path(), "/api/beta/sketches");
    assert_eq!(out[0].endpoint.content_type(), "application/x-protobuf");
}

#[test]
fn check_run_body() {
    let want = block_after("Uncompressed body (exact bytes, no whitespace)");
    let mut out = Vec::new();
    encode_check_runs(
        &flush().service_checks,
        0,
        &PayloadLimits::default(),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        String::from_utf8(out[0].body.clone()).unwrap(),
        want.trim_end()
    );
    assert_eq!(out[0].endpoint.path(), "/api/v1/check_run");
    assert_eq!(out[0].endpoint.content_type(), "application/json");
    assert!(out[0].endpoint.extra_headers().is_empty());
}

#[test]
fn events_body() {
    let section = EXAMPLES.find("## 4. `POST /intake/`").unwrap();
    let marker = &EXAMPLES[section..];
    let want = block_after(&marker[marker.find("Uncompressed body:").unwrap()..][..18]);
    let mut out = Vec::new();
    encode_events(
        &flush().events,
        "web-1",
        &PayloadLimits::default(),
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        String::from_utf8(out[0].body.clone()).unwrap(),
        want.trim_end()
    );
    assert_eq!(out[0].endpoint.path(), "/intake/");
}

#[test]
fn whole_flush() {
    let mut out = Vec::new();
    let opts = FlushEncoding {
        hostname: "web-1",
        now: 0,
        series_v2: true,
        limits: PayloadLimits::default(),
    };
    let stats = encode_flush(&flush(), &opts, &mut out);
    let endpoints: Vec<Endpoint> = out.iter().map(|p| p.endpoint).collect();
    assert_eq!(
        endpoints,
        [
            Endpoint::SeriesV2,
            Endpoint::Sketches,
            Endpoint::CheckRuns,
            Endpoint::Events
        ]
    );
    assert_eq!(stats.payloads, 4);
    assert_eq!(stats.items, 2 + 1 + 1 + 1);
    assert_eq!(stats.bytes, out.iter().map(|p| p.body.len()).sum::<usize>());
}
