//! Helpers shared by the intake and forwarder integration tests.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use dogstatsd_core::flush::{Event, Flush, Series, SeriesType, ServiceCheck, SketchSeries};
use dogstatsd_core::output::write_flush;
use dogstatsd_core::sketch::AgentSketch;
use dogstatsd_native::forwarder::ForwarderConfig;
use dogstatsd_native::intake::IntakeStats;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Tags as flushed: sorted, de-duplicated.
pub fn tags(list: &[&str]) -> Arc<[Arc<str>]> {
    let mut v: Vec<Arc<str>> = list.iter().map(|t| Arc::from(*t)).collect();
    v.sort();
    v.dedup();
    v.into()
}

/// A flush with `n` series contexts of 2 points each, `n / 2` sketches,
/// and one event and one service check, all named after `tag`.
pub fn sample_flush(tag: &str, n: usize) -> Flush {
    let mut f = Flush::default();
    for i in 0..n {
        for (k, ts) in [1_700_000_000i64, 1_700_000_010].into_iter().enumerate() {
            f.series.push(Series {
                metric: format!("{tag}.metric{i}"),
                series_type: if i % 2 == 0 {
                    SeriesType::Rate
                } else {
                    SeriesType::Gauge
                },
                interval: 10,
                timestamp: ts,
                value: i as f64 * 1.5 + k as f64,
                tags: tags(&["env:test", &format!("i:{i}")]),
                host: Arc::from("host-a"),
            });
        }
    }
    for i in 0..n / 2 {
        let mut sketch = AgentSketch::default();
        for v in 0..20 {
            sketch.insert(f64::from(v) * (i as f64 + 1.0));
        }
        f.sketches.push(SketchSeries {
            metric: format!("{tag}.dist{i}"),
            timestamp: 1_700_000_000,
            tags: tags(&["env:test"]),
            host: Arc::from("host-a"),
            sketch,
        });
    }
    f.events.push(Event {
        title: format!("{tag} deployed"),
        text: "line1\nline2".to_string(),
        timestamp: 1_700_000_001,
        hostname: "host-a".to_string(),
        aggregation_key: String::new(),
        priority: "normal",
        source_type: String::new(),
        alert_type: "info",
        tags: ["env:test"].into(),
        container_id: None,
    });
    f.service_checks.push(ServiceCheck {
        name: format!("{tag}.check"),
        status: 1,
        timestamp: 1_700_000_002,
        hostname: "host-a".to_string(),
        message: "warn".to_string(),
        tags: ["env:test"].into(),
        container_id: None,
    });
    f
}

/// The `aggregate` records of a flush, sorted (a multiset to compare).
pub fn records(f: &Flush) -> Vec<String> {
    let mut out = Vec::new();
    write_flush(&mut out, f);
    let mut lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// Every record of several flushes, as one flush.
pub fn merged(flushes: &[Flush]) -> Flush {
    let mut all = Flush::default();
    for f in flushes {
        all.series.extend(f.series.iter().cloned());
        all.sketches.extend(f.sketches.iter().cloned());
        all.events.extend(f.events.iter().cloned());
        all.service_checks.extend(f.service_checks.iter().cloned());
    }
    all
}

/// A test intake with `schedule` on `addr` (an intake coming back on the
/// port of one that went away).
pub async fn intake_at(
    addr: std::net::SocketAddr,
    schedule: dogstatsd_native::intake::FaultSchedule,
) -> dogstatsd_native::intake::TestIntake {
    dogstatsd_native::intake::TestIntake::start(dogstatsd_native::intake::IntakeConfig {
        bind: addr,
        ..dogstatsd_native::intake::IntakeConfig::with_schedule(schedule)
    })
    .await
    .unwrap()
}

/// A loopback address nothing listens on: an intake that is down.
pub async fn down_addr() -> std::net::SocketAddr {
    let i = dogstatsd_native::intake::TestIntake::start(Default::default())
        .await
        .unwrap();
    let a = i.addr();
    i.shutdown().await;
    a
}

/// Points of a flush as the forwarder counts them.
pub fn points(f: &Flush) -> usize {
    f.series.len() + f.sketches.len() + f.events.len() + f.service_checks.len()
}

/// A forwarder configuration for tests: seeded jitter, short backoff.
pub fn fast_config(url: &str) -> ForwarderConfig {
    let mut cfg = ForwarderConfig::new(url, "test-api-key-0123456789");
    cfg.seed = Some(11);
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_cap = Duration::from_millis(200);
    cfg.timeout = Duration::from_secs(5);
    cfg
}

/// POSTs `body` with `headers`; returns status and response body.
pub async fn post(
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::post(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `GET /stats`.
pub async fn get_stats(base: &str) -> IntakeStats {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client
        .get(format!("{base}/stats").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}
