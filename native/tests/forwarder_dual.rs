//! Dual shipping (`additional_endpoints`): every payload goes to each
//! endpoint and key, each with its own queue, backoff and counters; one
//! endpoint down neither delays nor drops the others, and gets everything
//! once it is back.

mod intake_support;

use std::time::{Duration, Instant};

use dogstatsd_core::flush::Flush;
use dogstatsd_native::forwarder::config::ExtraEndpoint;
use dogstatsd_native::forwarder::{Compression, Forwarder};
use dogstatsd_native::intake::{FaultSchedule, IntakeConfig, TestIntake};
use intake_support::{down_addr, fast_config, intake_at, merged, points, records, sample_flush};

const NOW: i64 = 1_700_000_100;
const MAIN_KEY: &str = "test-api-key-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_and_key_gets_everything_independently() {
    let up = TestIntake::start(IntakeConfig::default()).await.unwrap();
    let down_addr = down_addr().await;
    let mut cfg = fast_config(&up.url());
    // The down endpoint backs off for real (up to 2 s), which must not
    // slow the others.
    cfg.backoff_base = Duration::from_millis(200);
    cfg.backoff_cap = Duration::from_secs(2);
    cfg.additional_endpoints = vec![
        ExtraEndpoint {
            url: format!("http://{down_addr}"),
            api_key: "second-key-000000000000".into(),
        },
        ExtraEndpoint {
            url: up.url(),
            api_key: "third-key-0000000000000".into(),
        },
    ];
    let fwd = Forwarder::start(cfg).unwrap();
    let flushes: Vec<Flush> = (0..3)
        .map(|i| sample_flush(&format!("dual{i}"), 3))
        .collect();
    let mut payloads = 0u64;
    let start = Instant::now();
    for f in &flushes {
        payloads += fwd.submit(f, NOW).unwrap().payloads as u64;
    }
    let total_points = flushes.iter().map(points).sum::<usize>() as u64;
    // The up intake gets both keys' copies promptly.
    // Accepted is counted as the answer goes out, the request recorded
    // just after: wait for both.
    while (up.stats().accepted < 2 * payloads || (up.requests().len() as u64) < 2 * payloads)
        && start.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(up.stats().accepted, 2 * payloads);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let keys: Vec<String> = up
        .requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "dd-api-key")
                .map(|(_, v)| v.clone())
        })
        .collect();
    for key in [MAIN_KEY, "third-key-0000000000000"] {
        assert_eq!(
            keys.iter().filter(|k| *k == key).count() as u64,
            payloads,
            "{key}"
        );
    }
    assert!(!keys.iter().any(|k| k == "second-key-000000000000"));
    // The forwarder counts a payload sent once it has read the answer,
    // which the intake has already counted: wait (bounded) for that too.
    let both_sent = |per: &[(String, dogstatsd_native::forwarder::ForwarderStats)]| {
        per.len() == 3
            && per[0].1.points_sent == total_points
            && per[2].1.points_sent == total_points
    };
    while !both_sent(&fwd.endpoint_stats()) && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let per = fwd.endpoint_stats();
    assert_eq!(per.len(), 3);
    assert_eq!(per[0].0, up.url());
    assert_eq!(per[1].0, format!("http://{down_addr}"));
    assert_eq!(
        per[2].0,
        format!("{}#2", up.url()),
        "a second key on one URL"
    );
    assert_eq!(per[0].1.points_sent, total_points);
    assert_eq!(per[2].1.points_sent, total_points);
    assert_eq!(per[1].1.payloads_sent, 0);
    assert!(per[1].1.transport_errors > 0);
    assert_eq!(per[0].1.retries + per[2].1.retries, 0);

    // The down endpoint comes back: it gets everything, once.
    let back = intake_at(down_addr, FaultSchedule::new()).await;
    assert!(fwd.wait_idle(Duration::from_secs(10)).await);
    let stats = fwd.shutdown(Duration::from_secs(1)).await;
    assert_eq!(stats.points_sent, 3 * total_points, "{stats:?}");
    assert_eq!(stats.points_dropped + stats.points_rejected, 0);
    assert_eq!(records(&back.received()), records(&merged(&flushes)));
    assert_eq!(back.stats().accepted, payloads);
    back.shutdown().await;
    up.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_on_one_endpoint_drops_only_there() {
    let up = TestIntake::start(IntakeConfig::default()).await.unwrap();
    let down_addr = down_addr().await;
    let mut cfg = fast_config(&up.url());
    cfg.compression = Compression::None;
    // Room for three 100-byte payloads per endpoint.
    cfg.retry_queue_max_bytes = 350;
    cfg.additional_endpoints = vec![ExtraEndpoint {
        url: format!("http://{down_addr}"),
        api_key: "second-key-000000000000".into(),
    }];
    let fwd = Forwarder::start(cfg).unwrap();
    for id in 0..10u64 {
        let mut body = dogstatsd_native::intake::schedule::scripted_body(7000 + id, &[200]);
        body.resize(100, b' ');
        fwd.submit_payload(dogstatsd_core::payload::Endpoint::SeriesV2, &body, 1)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        {
            let deadline = Instant::now() + Duration::from_secs(5);
            while up.stats().accepted < 10 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            up.stats().accepted == 10
        },
        "the up endpoint lost nothing"
    );
    // The intake counts before the forwarder has read its answers.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fwd.endpoint_stats()[0].1.payloads_sent < 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = fwd.shutdown(Duration::from_millis(50)).await;
    let per = fwd.endpoint_stats();
    assert_eq!(per[0].1.payloads_sent, 10);
    assert_eq!(per[0].1.payloads_dropped, 0);
    assert_eq!(
        per[1].1.payloads_dropped, 10,
        "all of the down endpoint's, counted"
    );
    assert_eq!(stats.payloads_submitted, 20);
    let failures = fwd.failures();
    assert!(
        failures
            .iter()
            .all(|f| f.intake == format!("http://{down_addr}"))
    );
    assert!(
        failures
            .iter()
            .any(|f| f.reason == dogstatsd_native::forwarder::FailReason::QueueFull)
    );
    up.shutdown().await;
}
