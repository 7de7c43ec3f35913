//! The daemon's forwarder end to end: the real binary, real UDP traffic,
//! the test intake on loopback.
//!
//! * A redirect the forwarder must not follow is a failure on `/metrics`
//!   (by intake, endpoint and reason) and an ERROR line with the status
//!   and `Location`; nothing counts as sent.
//! * SIGTERM with the intake down and no store: a WARN line per kind
//!   says how many points were dropped.
//! * SIGTERM with the intake down and `forwarder_storage_max_size_in_bytes`:
//!   everything pending is stored; a restart with the intake up delivers
//!   every point exactly once and empties the store.
//! * `kill -9` loses nothing already written: with no room in memory every
//!   payload is a file at once, and the next start delivers each once.

#![cfg(unix)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{Daemon, TempDir, base_config};
use dogstatsd_native::intake::{IntakeConfig, TestIntake};
use serde_json::json;

const API_KEY: &str = "0123456789abcdef0123456789abcdef";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A loopback address nothing listens on (an intake that is down).
fn closed_port(rt: &tokio::runtime::Runtime) -> SocketAddr {
    let i = rt
        .block_on(TestIntake::start(IntakeConfig::default()))
        .unwrap();
    let addr = i.addr();
    rt.block_on(i.shutdown());
    addr
}

/// Sends `n` counts, `n` distribution values, an event and a service
/// check, and waits until the daemon has read them.
fn traffic(d: &Daemon, n: u64) {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..n {
        let msg = format!("st.count:1|c|#k:v\nst.dist:{}|d", i % 7);
        udp.send_to(msg.as_bytes(), d.udp.unwrap()).unwrap();
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    udp.send_to(b"_e{2,2}:up|ok\n_sc|st.check|2", d.udp.unwrap())
        .unwrap();
    let read = d.wait_metric("dogstatsd_listener_packets_total{listener=\"udp\"}", n + 1);
    assert_eq!(read, n + 1, "every packet read");
}

/// Polls `done` every 50 ms for at most `secs` seconds.
fn wait_until(secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A daemon forwarding to `addr` with a 10 MiB store in `dir`, fast
/// retries and a 1 s stop timeout.
fn store_config(
    addr: SocketAddr,
    dir: &std::path::Path,
) -> serde_json::Map<String, serde_json::Value> {
    let mut cfg = base_config();
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    cfg.insert("api_key".into(), json!(API_KEY));
    cfg.insert("dd_url".into(), json!(format!("http://{addr}")));
    cfg.insert("forwarder_stop_timeout".into(), json!(1));
    cfg.insert("forwarder_backoff_base".into(), json!(0.05));
    cfg.insert("forwarder_backoff_max".into(), json!(0.5));
    cfg.insert(
        "forwarder_storage_max_size_in_bytes".into(),
        json!(10 * 1024 * 1024),
    );
    cfg.insert(
        "forwarder_storage_path".into(),
        json!(dir.display().to_string()),
    );
    cfg
}

fn line_with<'a>(log: &'a [String], parts: &[&str]) -> Option<&'a String> {
    log.iter().find(|l| parts.iter().all(|p| l.contains(p)))
}

#[test]
fn a_redirect_that_would_drop_the_body_is_a_counted_failure() {
    let rt = runtime();
    let intake = rt
        .block_on(TestIntake::start(IntakeConfig {
            redirect: Some((302, "http://moved.example.invalid/login".to_string())),
            ..IntakeConfig::default()
        }))
        .unwrap();
    let mut cfg = base_config();
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    cfg.insert("api_key".into(), json!(API_KEY));
    cfg.insert("dd_url".into(), json!(intake.url()));
    let mut d = Daemon::start(&cfg, TempDir::new("fwd-302"));
    traffic(&d, 10);
    // Events and checks leave at the first flush (10 s at most).
    let series = format!(
        "dogstatsd_forwarder_failed_payloads_total{{intake=\"{}\",endpoint=\"/api/v1/check_run\",reason=\"redirect\"}}",
        intake.url()
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    let text = loop {
        let text = d.admin_get("/metrics");
        if text.lines().any(|l| l.starts_with(&series)) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        text.lines().any(|l| l == format!("{series} 1")),
        "{series} missing:\n{text}"
    );
    assert!(text.contains("dogstatsd_forwarder_payloads_total{state=\"sent\"} 0"));
    d.stop();
    let line = line_with(
        &d.log,
        &["ERROR", "302", "moved.example.invalid/login", "redirect"],
    )
    .unwrap_or_else(|| {
        panic!(
            "no ERROR line with the status and Location:\n{}",
            d.log.join("\n")
        )
    });
    assert!(!line.contains(API_KEY));
    assert_eq!(d.logged("payloads_sent"), 0);
    assert!(d.logged("payloads_rejected") >= 2);
    let seen = rt.block_on(intake.shutdown());
    assert_eq!(seen.accepted, 0);
    assert_eq!(seen.redirected, seen.total);
}

#[test]
fn a_stop_with_the_intake_down_says_what_it_dropped_per_kind() {
    let rt = runtime();
    let addr = closed_port(&rt);
    let mut cfg = base_config();
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    cfg.insert("api_key".into(), json!(API_KEY));
    cfg.insert("dd_url".into(), json!(format!("http://{addr}")));
    cfg.insert("forwarder_stop_timeout".into(), json!(1));
    let mut d = Daemon::start(&cfg, TempDir::new("fwd-drop"));
    traffic(&d, 50);
    d.stop();
    let log = d.log.join("\n");
    for (kind, path) in [
        ("series points", "/api/v2/series"),
        ("sketch points", "/api/beta/sketches"),
        ("service checks", "/api/v1/check_run"),
        ("events", "/intake/"),
    ] {
        let line = line_with(&d.log, &["WARN", "forwarder stop: dropped", kind, path])
            .unwrap_or_else(|| panic!("no WARN line for {kind}:\n{log}"));
        assert!(line.contains("payloads="), "{line}");
    }
    // The sketch line names the 50 distribution values' buckets, the
    // check and event lines one each.
    assert!(
        line_with(&d.log, &["dropped 1 service checks"]).is_some(),
        "{log}"
    );
    assert!(line_with(&d.log, &["dropped 1 events"]).is_some(), "{log}");
    assert_eq!(d.logged("payloads_sent"), 0);
    assert_eq!(d.logged("points_dropped"), d.logged("points_submitted"));
}

#[test]
fn stored_at_stop_then_delivered_exactly_once_after_a_restart() {
    let rt = runtime();
    let addr = closed_port(&rt);
    let store = TempDir::new("fwd-store");
    let cfg = store_config(addr, &store.path("retry"));
    let mut d = Daemon::start(&cfg, TempDir::new("fwd-store-1"));
    traffic(&d, 300);
    d.stop();
    let log = d.log.join("\n");
    let stored = d.logged("points_stored");
    assert!(stored > 0, "{log}");
    assert_eq!(d.logged("points_dropped"), 0, "{log}");
    assert_eq!(d.logged("points_sent"), 0, "{log}");
    assert!(
        line_with(&d.log, &["forwarder stop: stored", "series points"]).is_some(),
        "{log}"
    );
    // One 0600 file per payload in a 0700 directory.
    let lane = std::fs::read_dir(store.path("retry"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let files: Vec<_> = std::fs::read_dir(&lane)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len() as u64, d.logged("payloads_stored"));
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in &files {
            assert_eq!(
                std::fs::metadata(f).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(
            std::fs::metadata(&lane).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    drop(d);

    // The intake comes back on the same port; the daemon restarts.
    let intake = rt
        .block_on(TestIntake::start(IntakeConfig {
            bind: addr,
            ..IntakeConfig::default()
        }))
        .unwrap();
    let mut d = Daemon::start(&cfg, TempDir::new("fwd-store-2"));
    wait_until(20, || stored_files(&store.path("retry")) == 0);
    d.stop();
    let received = intake.received();
    rt.block_on(intake.shutdown());
    let count: f64 = received
        .series
        .iter()
        .filter(|s| s.metric == "st.count")
        .map(|s| s.value * 10.0)
        .sum();
    assert!(
        (count - 300.0).abs() < 1e-6,
        "300 counts exactly once, got {count}:\n{}",
        d.log.join("\n")
    );
    let dist: u64 = received
        .sketches
        .iter()
        .filter(|s| s.metric == "st.dist")
        .map(|s| s.sketch.count())
        .sum();
    assert_eq!(dist, 300, "every distribution value exactly once");
    assert_eq!(received.events.len(), 1);
    assert_eq!(received.service_checks.len(), 1);
    assert_eq!(d.logged("payloads_sent"), files.len() as u64);
    let left: Vec<_> = std::fs::read_dir(&lane)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "dsdp"))
        .collect();
    assert!(
        left.is_empty(),
        "the store is empty after delivery: {left:?}"
    );
}

/// Stored payload files in every endpoint directory under `dir`.
fn stored_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|lane| {
            std::fs::read_dir(lane.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|f| f.path().extension().is_some_and(|x| x == "dsdp"))
        .count()
}

#[test]
fn kill_9_loses_nothing_already_written() {
    let rt = runtime();
    let addr = closed_port(&rt);
    let store = TempDir::new("fwd-kill");
    let dir = store.path("retry");
    let mut cfg = store_config(addr, &dir);
    // No room in memory: every payload is written as soon as it is made.
    cfg.insert("forwarder_retry_queue_payloads_max_size".into(), json!(1));
    let d = Daemon::start(&cfg, TempDir::new("fwd-kill-1"));
    traffic(&d, 20);
    // The first flush (at most 10 s away) writes the event and check
    // payloads at least.
    wait_until(25, || stored_files(&dir) >= 2);
    std::thread::sleep(Duration::from_millis(200));
    drop(d); // SIGKILL
    let written = stored_files(&dir);
    assert!(written >= 2, "{written} files");

    let intake = rt
        .block_on(TestIntake::start(IntakeConfig {
            bind: addr,
            ..IntakeConfig::default()
        }))
        .unwrap();
    let mut d = Daemon::start(&cfg, TempDir::new("fwd-kill-2"));
    wait_until(20, || stored_files(&dir) == 0);
    d.stop();
    let received = intake.received();
    let seen = rt.block_on(intake.shutdown());
    assert_eq!(seen.accepted, written as u64, "every written payload, once");
    assert_eq!(d.logged("payloads_sent"), written as u64);
    assert_eq!(received.events.len(), 1);
    assert_eq!(received.service_checks.len(), 1);
    assert_eq!(stored_files(&dir), 0);
}
