//! Redirects and other non-success answers against the test intake on
//! loopback: 307/308 are followed for the same POST (every point arrives
//! once at the new address); other 3xx, loops and redirects without a
//! `Location` are failures, counted by reason, never as sent.

mod intake_support;

use std::time::Duration;

use dogstatsd_native::forwarder::{FailReason, Forwarder, ForwarderStats};
use dogstatsd_native::intake::{FaultSchedule, IntakeConfig, TestIntake};
use intake_support::{fast_config, points, records, sample_flush};

const NOW: i64 = 1_700_000_100;

async fn intake() -> TestIntake {
    TestIntake::start(IntakeConfig::default()).await.unwrap()
}

async fn redirecting(status: u16, location: &str) -> TestIntake {
    TestIntake::start(IntakeConfig {
        redirect: Some((status, location.to_string())),
        ..IntakeConfig::with_schedule(FaultSchedule::new())
    })
    .await
    .unwrap()
}

/// Submits one sample flush to `url`; returns the counters, the failure
/// reasons seen and the number of points submitted.
async fn ship(url: &str) -> (ForwarderStats, Vec<(FailReason, u64)>, u64) {
    let fwd = Forwarder::start(fast_config(url)).unwrap();
    let flush = sample_flush("redir", 3);
    let r = fwd.submit(&flush, NOW).unwrap();
    assert_eq!(r.points, points(&flush));
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    let reasons = fwd
        .failures()
        .iter()
        .map(|f| (f.reason, f.points))
        .collect();
    (stats, reasons, r.points as u64)
}

#[tokio::test]
async fn a_307_and_a_308_are_followed_with_the_same_post() {
    for status in [307, 308] {
        let target = intake().await;
        // Two hops: `via` answers `status` towards `hop`, which answers
        // 307 towards the target, each keeping the request's path.
        let hop = redirecting(307, &format!("{}*", target.url())).await;
        let via = redirecting(status, &format!("{}*", hop.url())).await;
        let fwd = Forwarder::start(fast_config(&via.url())).unwrap();
        let flush = sample_flush(&format!("r{status}"), 3);
        let r = fwd.submit(&flush, NOW).unwrap();
        let stats = fwd.shutdown(Duration::from_secs(5)).await;
        let n = r.payloads as u64;
        assert_eq!(stats.payloads_sent, n, "{status}: {stats:?}");
        assert_eq!(stats.points_sent, points(&flush) as u64);
        assert_eq!(stats.redirects, 2 * n);
        assert_eq!(stats.requests, 3 * n);
        assert_eq!(stats.payloads_rejected + stats.payloads_dropped, 0);
        assert!(fwd.failures().is_empty());
        assert_eq!(via.shutdown().await.redirected, n);
        assert_eq!(hop.shutdown().await.redirected, n);
        // Every point once, decoded from the same body and headers.
        assert_eq!(records(&target.received()), records(&flush), "{status}");
        let reqs = target.requests();
        assert_eq!(reqs.len() as u64, n);
        assert!(reqs.iter().all(|q| {
            q.headers
                .iter()
                .any(|(k, v)| k == "dd-api-key" && v == "test-api-key-0123456789")
        }));
        target.shutdown().await;
    }
}

#[tokio::test]
async fn an_origin_relative_location_stays_on_the_intake() {
    let target = intake().await;
    // "/api/v2/series" on the redirecting intake itself would loop; a
    // scheme-relative location moves host and keeps the path.
    let via = redirecting(308, &format!("//{}/api/v2/series", target.addr())).await;
    let fwd = Forwarder::start(fast_config(&via.url())).unwrap();
    let mut flush = sample_flush("rel", 2);
    flush.sketches.clear();
    flush.events.clear();
    flush.service_checks.clear();
    let r = fwd.submit(&flush, NOW).unwrap();
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.points_sent, r.points as u64);
    assert_eq!(records(&target.received()), records(&flush));
    via.shutdown().await;
    target.shutdown().await;
}

#[tokio::test]
async fn other_redirects_are_failures_not_deliveries() {
    let target = intake().await;
    for status in [301, 302, 303] {
        let via = redirecting(status, &target.url()).await;
        let (stats, reasons, submitted) = ship(&via.url()).await;
        assert_eq!(stats.payloads_sent, 0, "{status}: never counted as sent");
        assert_eq!(stats.points_rejected, submitted, "{status}: {stats:?}");
        assert_eq!(stats.retries, 0);
        assert!(reasons.iter().all(|(r, _)| *r == FailReason::Redirect));
        assert_eq!(reasons.iter().map(|(_, p)| p).sum::<u64>(), submitted);
        via.shutdown().await;
    }
    assert_eq!(target.stats().total, 0, "nothing followed a 301/302/303");
    target.shutdown().await;
}

#[tokio::test]
async fn loops_and_missing_locations_fail_with_their_reason() {
    // An intake that redirects to itself: bounded hops, then a failure.
    let looping = redirecting(307, "/api/v2/series").await;
    let (stats, reasons, submitted) = ship(&looping.url()).await;
    assert_eq!(stats.payloads_sent, 0);
    assert_eq!(stats.points_rejected, submitted);
    assert!(
        reasons.iter().all(|(r, _)| *r == FailReason::RedirectLoop),
        "{reasons:?}"
    );
    let seen = looping.shutdown().await;
    // 10 hops followed, the 11th answer refused, per payload.
    assert_eq!(seen.redirected, stats.payloads_rejected * 11);

    let nowhere = redirecting(308, "").await;
    let (stats, reasons, submitted) = ship(&nowhere.url()).await;
    assert_eq!(stats.points_rejected, submitted);
    assert!(
        reasons
            .iter()
            .all(|(r, _)| *r == FailReason::RedirectInvalid),
        "{reasons:?}"
    );
    nowhere.shutdown().await;
}

#[tokio::test]
async fn non_retried_client_errors_are_failures_by_reason() {
    let target = TestIntake::start(IntakeConfig::with_schedule(
        FaultSchedule::new().with_success_status(413),
    ))
    .await
    .unwrap();
    let (stats, reasons, submitted) = ship(&target.url()).await;
    assert_eq!(stats.payloads_sent, 0);
    assert_eq!(stats.points_rejected, submitted);
    assert!(reasons.iter().all(|(r, _)| *r == FailReason::Status));
    target.shutdown().await;
}
