//! The forwarder against the test intake on loopback: headers, exactly-once
//! delivery under latency and failures, rejections, scripted retries, an
//! intake that goes away, the bounded retry queue, shutdown, and the Agent
//! trace writer's expected outcomes (`spec/dogstatsd.md` §11.2).

mod intake_support;

use std::time::{Duration, Instant};

use dogstatsd_core::flush::Flush;
use dogstatsd_core::payload::Endpoint;
use dogstatsd_native::forwarder::{Compression, Forwarder};
use dogstatsd_native::intake::schedule::scripted_body;
use dogstatsd_native::intake::{FaultSchedule, IntakeConfig, TestIntake};
use intake_support::{fast_config, intake_at, merged, points, records, sample_flush};

const NOW: i64 = 1_700_000_100;

async fn intake(schedule: FaultSchedule) -> TestIntake {
    TestIntake::start(IntakeConfig::with_schedule(schedule))
        .await
        .unwrap()
}

#[tokio::test]
async fn sends_the_agents_headers() {
    let intake = intake(FaultSchedule::new()).await;
    let mut cfg = fast_config(&intake.url());
    cfg.allow_arbitrary_tags = true;
    let fwd = Forwarder::start(cfg).unwrap();
    let flush = sample_flush("hdr", 2);
    let report = fwd.submit(&flush, NOW).unwrap();
    assert_eq!(report.payloads, 4);
    assert_eq!(report.points, points(&flush));
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.payloads_sent, 4);
    assert_eq!(stats.points_sent, points(&flush) as u64);
    let reqs = intake.requests();
    assert_eq!(reqs.len(), 4);
    for r in &reqs {
        let h = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("dd-api-key"), Some("test-api-key-0123456789"));
        assert_eq!(h("content-encoding"), Some("zstd"));
        assert_eq!(h("user-agent"), Some("datadog-agent/7.60.0"));
        assert_eq!(h("dd-agent-version"), Some("7.60.0"));
        assert_eq!(h("allow-arbitrary-tag-value"), Some("true"));
        let protobuf = r.path == "/api/v2/series" || r.path == "/api/beta/sketches";
        assert_eq!(
            h("content-type"),
            Some(if protobuf {
                "application/x-protobuf"
            } else {
                "application/json"
            }),
            "{}",
            r.path
        );
        assert_eq!(h("dd-agent-payload").is_some(), protobuf, "{}", r.path);
    }
    let mut paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/beta/sketches",
            "/api/v1/check_run",
            "/api/v2/series",
            "/intake/"
        ]
    );
    assert_eq!(records(&intake.received()), records(&flush));
    intake.shutdown().await;
}

#[tokio::test]
async fn every_compressor_kind_and_v1_series_arrive_intact() {
    let intake = intake(FaultSchedule::new()).await;
    let mut sent = Vec::new();
    for (i, c) in [Compression::Deflate, Compression::Gzip, Compression::None]
        .into_iter()
        .enumerate()
    {
        let mut cfg = fast_config(&intake.url());
        cfg.compression = c;
        cfg.series_v2 = i != 0;
        let fwd = Forwarder::start(cfg).unwrap();
        let flush = sample_flush(&format!("kind{i}"), 3);
        let _ = fwd.submit(&flush, NOW).unwrap();
        let stats = fwd.shutdown(Duration::from_secs(5)).await;
        assert_eq!(stats.points_sent, points(&flush) as u64, "{c:?}");
        sent.push(flush);
    }
    assert!(intake.requests().iter().any(|r| r.path == "/api/v1/series"));
    assert_eq!(records(&intake.received()), records(&merged(&sent)));
    intake.shutdown().await;
}

/// 200 ms latency and 30 % seeded 503s: every point arrives exactly once,
/// and the intake never sees more concurrent requests than the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_random_503s_lose_and_duplicate_nothing() {
    let intake = intake(
        FaultSchedule::new()
            .with_latency(Duration::from_millis(200))
            .with_random_failures(0.3, 503, 2024)
            .unwrap(),
    )
    .await;
    let mut cfg = fast_config(&intake.url());
    cfg.max_concurrent_requests = 4;
    // Small payloads so each flush splits into several requests.
    cfg.limits.max_series_points_per_payload = 6;
    let fwd = Forwarder::start(cfg).unwrap();
    let flushes: Vec<Flush> = (0..3).map(|i| sample_flush(&format!("f{i}"), 8)).collect();
    let mut submitted = 0;
    for f in &flushes {
        let r = fwd.submit_owned(f.clone(), NOW).await.unwrap();
        assert_eq!(r.points, points(f));
        submitted += r.payloads;
    }
    assert!(submitted >= 12, "{submitted} payloads");
    let start = Instant::now();
    let stats = fwd.shutdown(Duration::from_secs(20)).await;
    let took = start.elapsed();
    let seen = intake.stats();
    assert_eq!(stats.payloads_sent, submitted as u64, "{stats:?}");
    assert_eq!(stats.payloads_dropped + stats.payloads_rejected, 0);
    assert!(seen.retried > 0, "some 503s were answered: {seen:?}");
    assert_eq!(stats.retries, seen.retried);
    assert_eq!(seen.accepted, submitted as u64);
    assert_eq!(seen.total, seen.accepted + seen.retried);
    assert!(seen.peak <= 4, "peak {} above the limit", seen.peak);
    assert!(seen.peak >= 2, "requests did overlap: {seen:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert_eq!(records(&intake.received()), records(&merged(&flushes)));
    intake.shutdown().await;
}

#[tokio::test]
async fn a_403_is_dropped_and_counted_without_retries() {
    let intake = intake(FaultSchedule::new().with_per_payload([403])).await;
    let fwd = Forwarder::start(fast_config(&intake.url())).unwrap();
    let flush = sample_flush("denied", 2);
    let r = fwd.submit(&flush, NOW).unwrap();
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.payloads_rejected, r.payloads as u64);
    assert_eq!(stats.points_rejected, r.points as u64);
    assert_eq!((stats.retries, stats.payloads_sent), (0, 0));
    let seen = intake.stats();
    assert_eq!(seen.total, r.payloads as u64, "one request per payload");
    assert_eq!(seen.failed, r.payloads as u64);
    assert!(intake.received().series.is_empty());
    intake.shutdown().await;
}

#[tokio::test]
async fn a_payload_scripted_503_408_200_is_accepted_on_the_third_try() {
    let intake = intake(FaultSchedule::new().with_per_payload([503, 408])).await;
    let fwd = Forwarder::start(fast_config(&intake.url())).unwrap();
    let mut flush = sample_flush("third", 2);
    flush.sketches.clear();
    flush.events.clear();
    flush.service_checks.clear();
    let r = fwd.submit(&flush, NOW).unwrap();
    assert_eq!(r.payloads, 1);
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        (stats.requests, stats.retries, stats.payloads_sent),
        (3, 2, 1)
    );
    let seen = intake.stats();
    assert_eq!(
        (seen.total, seen.retried, seen.accepted, seen.failed),
        (3, 2, 1, 0)
    );
    assert_eq!(records(&intake.received()), records(&flush));
    intake.shutdown().await;
}

/// §11.2's outcomes, with the Agent forwarder's statuses: 20×200 →
/// total 20, accepted 20; 20×400 → failed 20 (the trace writer's 404 is
/// retried by the Agent forwarder, see below); 503,503,200 plus 20×403 →
/// total 23, retried 2, accepted 1, failed 20.
#[tokio::test]
async fn the_trace_writer_expected_outcomes_hold() {
    let intake1 = intake(FaultSchedule::new()).await;
    let fwd = Forwarder::start(fast_config(&intake1.url())).unwrap();
    for id in 0..20 {
        fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(id, &[200]), 1)
            .unwrap();
    }
    fwd.shutdown(Duration::from_secs(5)).await;
    let s = intake1.shutdown().await;
    assert_eq!((s.total, s.accepted), (20, 20));

    let intake2 = intake(FaultSchedule::new()).await;
    let fwd = Forwarder::start(fast_config(&intake2.url())).unwrap();
    for id in 100..120 {
        fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(id, &[400]), 1)
            .unwrap();
    }
    let f = fwd.shutdown(Duration::from_secs(5)).await;
    let s = intake2.shutdown().await;
    assert_eq!((s.total, s.failed), (20, 20));
    assert_eq!((f.payloads_rejected, f.retries), (20, 0));

    let intake3 = intake(FaultSchedule::new()).await;
    let fwd = Forwarder::start(fast_config(&intake3.url())).unwrap();
    fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(200, &[503, 503, 200]), 1)
        .unwrap();
    for id in 201..221 {
        fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(id, &[403]), 1)
            .unwrap();
    }
    let f = fwd.shutdown(Duration::from_secs(5)).await;
    let s = intake3.shutdown().await;
    assert_eq!(
        (s.total, s.retried, s.accepted, s.failed),
        (23, 2, 1, 20),
        "{s:?}"
    );
    assert_eq!(
        (f.payloads_sent, f.retries, f.payloads_rejected),
        (1, 2, 20)
    );
}

/// The Agent forwarder retries 404 (and 401, 407, 429…): every payload
/// answered 404 once is accepted on its second try.
#[tokio::test]
async fn a_404_is_retried_like_the_agent_does() {
    let intake = intake(FaultSchedule::new().with_per_payload([404])).await;
    let fwd = Forwarder::start(fast_config(&intake.url())).unwrap();
    let flush = sample_flush("nf", 2);
    let r = fwd.submit(&flush, NOW).unwrap();
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.payloads_sent, r.payloads as u64, "{stats:?}");
    assert_eq!(stats.retries, r.payloads as u64);
    assert_eq!(stats.payloads_rejected, 0);
    assert_eq!(records(&intake.received()), records(&flush));
    intake.shutdown().await;
}

/// 200 pushes against a 50 ms intake: the peak never exceeds the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_concurrency_stays_within_the_limit() {
    let intake = intake(FaultSchedule::new().with_latency(Duration::from_millis(50))).await;
    let mut cfg = fast_config(&intake.url());
    cfg.max_concurrent_requests = 5;
    let fwd = Forwarder::start(cfg).unwrap();
    for id in 0..200 {
        fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(1000 + id, &[200]), 1)
            .unwrap();
    }
    let f = fwd.shutdown(Duration::from_secs(20)).await;
    let s = intake.shutdown().await;
    assert_eq!(f.payloads_sent, 200);
    assert_eq!((s.total, s.accepted), (200, 200));
    assert!(s.peak <= 5, "{s:?}");
    assert!(s.peak >= 3, "{s:?}");
}

/// `forwarder_num_workers` × `forwarder_max_concurrent_requests` bounds
/// the requests in flight: 2 × 2 against a 50 ms intake peaks at 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_times_requests_bounds_the_concurrency() {
    let intake = intake(FaultSchedule::new().with_latency(Duration::from_millis(50))).await;
    let mut cfg = fast_config(&intake.url());
    cfg.num_workers = 2;
    cfg.max_concurrent_requests = 2;
    let fwd = Forwarder::start(cfg).unwrap();
    for id in 0..40 {
        fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(3000 + id, &[200]), 1)
            .unwrap();
    }
    let f = fwd.shutdown(Duration::from_secs(20)).await;
    let s = intake.shutdown().await;
    assert_eq!(f.payloads_sent, 40);
    assert!(
        (3..=4).contains(&s.peak),
        "above one worker's 2, at most 4: {s:?}"
    );
}

/// The intake is down for a while, then comes back on the same port:
/// nothing is lost while the queue has room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_that_comes_back_gets_everything() {
    let first = intake(FaultSchedule::new()).await;
    let addr = first.addr();
    first.shutdown().await;
    let fwd = Forwarder::start(fast_config(&format!("http://{addr}"))).unwrap();
    let flushes: Vec<Flush> = (0..4)
        .map(|i| sample_flush(&format!("down{i}"), 3))
        .collect();
    for f in &flushes {
        let _ = fwd.submit(f, NOW).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let during = fwd.stats();
    assert!(during.transport_errors > 0, "{during:?}");
    assert_eq!(during.payloads_sent, 0);
    assert_eq!(during.queued + during.in_flight, during.payloads_submitted);
    assert!(during.queued_bytes > 0 || during.queued == 0);
    let back = intake_at(addr, FaultSchedule::new()).await;
    assert!(fwd.wait_idle(Duration::from_secs(10)).await);
    let stats = fwd.shutdown(Duration::from_secs(1)).await;
    assert_eq!(stats.payloads_dropped, 0);
    assert_eq!(stats.points_sent, stats.points_submitted);
    assert_eq!(records(&back.received()), records(&merged(&flushes)));
    back.shutdown().await;
}

/// Beyond the queue's size the oldest payloads are dropped and counted;
/// the rest arrive exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_retry_queue_drops_the_oldest_and_counts_them() {
    let first = intake(FaultSchedule::new()).await;
    let addr = first.addr();
    first.shutdown().await;
    let mut cfg = fast_config(&format!("http://{addr}"));
    cfg.compression = Compression::None;
    let one: Vec<u8> = (0..100).map(|_| b'x').collect();
    // Room for three 100-byte payloads.
    cfg.retry_queue_max_bytes = 350;
    let fwd = Forwarder::start(cfg).unwrap();
    let mut dropped_at_submit = 0;
    for id in 0..10u64 {
        let mut body = scripted_body(5000 + id, &[200]);
        body.resize(100, b' ');
        assert_eq!(body.len(), one.len());
        dropped_at_submit += fwd.submit_payload(Endpoint::SeriesV2, &body, 1).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let back = intake_at(addr, FaultSchedule::new()).await;
    assert!(fwd.wait_idle(Duration::from_secs(10)).await);
    let stats = fwd.shutdown(Duration::from_secs(1)).await;
    let seen = back.shutdown().await;
    assert!(dropped_at_submit >= 1, "{dropped_at_submit}");
    assert_eq!(stats.payloads_submitted, 10);
    assert!(stats.payloads_dropped >= 6, "{stats:?}");
    assert_eq!(
        stats.payloads_sent + stats.payloads_dropped,
        10,
        "every payload is either delivered or counted as dropped: {stats:?}"
    );
    assert_eq!(seen.accepted, stats.payloads_sent);
    assert!(seen.accepted >= 3, "{seen:?}");
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_sends() {
    let intake = intake(FaultSchedule::new().with_latency(Duration::from_millis(150))).await;
    let fwd = Forwarder::start(fast_config(&intake.url())).unwrap();
    let flush = sample_flush("late", 2);
    let _ = fwd.submit(&flush, NOW).unwrap();
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.points_sent, points(&flush) as u64);
    assert!(fwd.submit(&flush, NOW).is_err(), "closed after shutdown");
    assert_eq!(records(&intake.received()), records(&flush));
    intake.shutdown().await;
}

#[tokio::test]
async fn shutdown_gives_up_at_its_deadline_and_counts_the_rest() {
    let intake = intake(FaultSchedule::new().with_latency(Duration::from_secs(2))).await;
    let fwd = Forwarder::start(fast_config(&intake.url())).unwrap();
    let flush = sample_flush("stuck", 2);
    let r = fwd.submit(&flush, NOW).unwrap();
    let start = Instant::now();
    let stats = fwd.shutdown(Duration::from_millis(100)).await;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(stats.payloads_dropped, r.payloads as u64, "{stats:?}");
    assert_eq!(stats.points_dropped, r.points as u64);
    assert_eq!(stats.points_pending(), 0);
    intake.shutdown().await;
}

#[tokio::test]
async fn a_timeout_is_retried() {
    // Every attempt is held 400 ms, longer than the 100 ms timeout: each
    // one is a transport error, retried until shutdown gives up.
    let intake = intake(FaultSchedule::new().with_latency(Duration::from_millis(400))).await;
    let mut cfg = fast_config(&intake.url());
    cfg.timeout = Duration::from_millis(100);
    let fwd = Forwarder::start(cfg).unwrap();
    fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(1, &[200]), 1)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    let stats = fwd.shutdown(Duration::from_millis(50)).await;
    assert!(stats.transport_errors >= 2, "{stats:?}");
    assert_eq!(stats.retries, stats.transport_errors);
    assert_eq!(stats.payloads_sent, 0);
    intake.shutdown().await;
}

#[tokio::test]
async fn bad_keys_are_refused_at_start_and_never_shown() {
    let mut cfg = fast_config("http://127.0.0.1:9");
    cfg.api_key = "bad\nkey".to_string();
    let err = Forwarder::start(cfg).unwrap_err().to_string();
    assert!(!err.contains("bad\nkey"), "{err}");
    let fwd = Forwarder::start(fast_config("http://127.0.0.1:9")).unwrap();
    let shown = format!("{fwd:?}");
    assert!(!shown.contains("test-api-key"), "{shown}");
}

/// With TLS built in, an `https://` intake is accepted; against the
/// plain-HTTP test intake the handshake fails, which is a transport error
/// and retried (all on loopback).
#[cfg(feature = "tls")]
#[tokio::test]
async fn https_goes_through_tls() {
    let intake = intake(FaultSchedule::new()).await;
    let fwd = Forwarder::start(fast_config(&format!("https://{}", intake.addr()))).unwrap();
    fwd.submit_payload(Endpoint::SeriesV2, &scripted_body(1, &[200]), 1)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = fwd.shutdown(Duration::from_millis(10)).await;
    assert!(stats.transport_errors >= 1, "{stats:?}");
    assert_eq!(stats.payloads_sent, 0);
    assert_eq!(intake.stats().accepted, 0);
    intake.shutdown().await;
}

#[cfg(not(feature = "tls"))]
#[tokio::test]
async fn https_is_refused_without_tls() {
    let err = Forwarder::start(fast_config("https://127.0.0.1:9"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls"), "{err}");
}

/// A global script ("503, 503, then 202") hits whichever requests come
/// first; the forwarder retries them and everything arrives once.
#[tokio::test]
async fn a_global_script_of_503s_is_ridden_out() {
    let intake = intake(FaultSchedule::new().with_script([503, 503])).await;
    let fwd = Forwarder::start(fast_config(&intake.url())).unwrap();
    let flush = sample_flush("script", 2);
    let r = fwd.submit(&flush, NOW).unwrap();
    let stats = fwd.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.payloads_sent, r.payloads as u64);
    let seen = intake.stats();
    assert_eq!(
        (seen.total, seen.retried, seen.accepted),
        (r.payloads as u64 + 2, 2, r.payloads as u64)
    );
    assert_eq!(records(&intake.received()), records(&flush));
    intake.shutdown().await;
}

/// A body over its compressed limit is encoded again in smaller payloads.
#[tokio::test]
async fn payloads_over_the_compressed_limit_are_split_further() {
    let intake = intake(FaultSchedule::new()).await;
    let mut cfg = fast_config(&intake.url());
    cfg.compression = Compression::None;
    cfg.limits.max_series_payload_size = 600;
    let fwd = Forwarder::start(cfg).unwrap();
    let mut flush = sample_flush("split", 12);
    flush.sketches.clear();
    flush.events.clear();
    flush.service_checks.clear();
    let r = fwd.submit(&flush, NOW).unwrap();
    assert!(r.payloads >= 2, "{r:?}");
    assert_eq!(r.items_too_big, 0);
    fwd.shutdown(Duration::from_secs(5)).await;
    let reqs = intake.requests();
    assert_eq!(reqs.len(), r.payloads);
    assert!(reqs.iter().all(|q| q.body_len <= 600), "{reqs:?}");
    assert_eq!(records(&intake.received()), records(&flush));
    intake.shutdown().await;
}
