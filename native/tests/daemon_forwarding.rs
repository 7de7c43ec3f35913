//! The daemon with `api_key` set ships its flushes to the intake: the
//! real binary, real UDP traffic, the project's test intake on loopback
//! (with latency and scripted failures), and a SIGTERM whose final flush
//! must arrive in full.

#![cfg(unix)]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{Daemon, TempDir, base_config};
use dogstatsd_native::intake::{FaultSchedule, IntakeConfig, TestIntake};
use serde_json::json;

#[test]
fn flushes_reach_the_intake_exactly_once_through_failures() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // Every payload is answered 503 once, then accepted: the forwarder
    // must retry without losing or duplicating anything.
    let schedule = FaultSchedule::new()
        .with_latency(Duration::from_millis(20))
        .with_per_payload(vec![503, 200]);
    let intake = rt
        .block_on(TestIntake::start(IntakeConfig::with_schedule(schedule)))
        .unwrap();

    let mut cfg = base_config();
    cfg.insert("api_key".into(), json!("0123456789abcdef0123456789abcdef"));
    cfg.insert("dd_url".into(), json!(intake.url()));
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    // The Agent's backoff (2 s base) and stop timeout (2 s) would outlast
    // a test: retry fast, and give the final flush time at stop.
    cfg.insert("forwarder_backoff_base".into(), json!(0.01));
    cfg.insert("forwarder_backoff_max".into(), json!(0.2));
    cfg.insert("forwarder_stop_timeout".into(), json!(10));
    let mut d = Daemon::start(&cfg, TempDir::new("forwarding"));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..200 {
        let msg = format!("fwd.count:1|c|#k:v\nfwd.dist:{}|d\nfwd.gauge:{i}|g", i % 10);
        udp.send_to(msg.as_bytes(), d.udp.unwrap()).unwrap();
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    udp.send_to(
        b"_e{5,4}:title|text\n_sc|fwd.check|1|m:warn",
        d.udp.unwrap(),
    )
    .unwrap();
    d.wait_metric("dogstatsd_listener_packets_total{listener=\"udp\"}", 201);
    let stdout = d.stop();
    assert!(
        stdout.is_empty(),
        "with api_key nothing goes to stdout: {stdout:?}"
    );

    let received = intake.received();
    let stats = intake.stats();
    rt.block_on(intake.shutdown());
    let count: f64 = received
        .series
        .iter()
        .filter(|s| s.metric == "fwd.count")
        .map(|s| s.value)
        .sum();
    assert!(
        (count - 20.0).abs() < 1e-9,
        "200 counts as rate/10 once each, got {count}"
    );
    let tags: Vec<&str> = received
        .series
        .iter()
        .find(|s| s.metric == "fwd.count")
        .map(|s| s.tags.iter().map(|t| &**t).collect())
        .unwrap_or_default();
    assert_eq!(tags, ["k:v"]);
    let sketch_count: u64 = received
        .sketches
        .iter()
        .filter(|s| s.metric == "fwd.dist")
        .map(|s| s.sketch.count())
        .sum();
    assert_eq!(sketch_count, 200, "every distribution value arrives once");
    assert_eq!(received.events.len(), 1);
    assert_eq!(received.service_checks.len(), 1);
    assert_eq!(received.service_checks[0].status, 1);
    assert!(
        stats.retried >= 1,
        "the scripted 503s were retried: {stats:?}"
    );
}
