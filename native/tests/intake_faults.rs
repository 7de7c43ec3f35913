//! The intake misbehaves (hangs, resets connections, answers too slowly,
//! answers 5xx) while the daemon is fed traffic: the daemon keeps
//! ingesting and answering `/healthz`, its memory stays bounded, and every
//! flushed record is accounted for: delivered, dropped (retry queue full,
//! rejected, too big, abandoned at stop) or still queued, never silently
//! lost.
//!
//! Each fault runs in its own test (they run in parallel): ~4 s of faults
//! with a flush every 200 ms, then the intake heals and the daemon is
//! stopped (the forwarder gets at most 10 s to deliver what is left).

#![cfg(target_os = "linux")]

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::{Daemon, TempDir, base_config};
use dogstatsd_native::intake::{Fault, FaultSchedule, IntakeConfig};
use serde_json::json;

const FAULT_PHASE: Duration = Duration::from_secs(4);
const API_KEY: &str = "faultkey0123456789abcdef012345678";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Hang,
    Reset,
    /// Answers after 1.5 s, beyond the forwarder's 1 s timeout.
    Slow,
    Status5xx,
}

fn schedule(mode: Mode) -> FaultSchedule {
    let s = FaultSchedule::new();
    match mode {
        Mode::Hang => s.with_random_fault(Fault::Hang, 1.0, 1).unwrap(),
        Mode::Reset => s.with_random_fault(Fault::Reset, 1.0, 1).unwrap(),
        Mode::Slow => s.with_latency(Duration::from_millis(1500)),
        Mode::Status5xx => s.with_random_failures(1.0, 503, 1).unwrap(),
    }
}

/// One `name{labels} value` from the `/metrics` text.
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
}

fn run(mode: Mode) {
    let (rt, intake) = common::start_intake(IntakeConfig::with_schedule(schedule(mode)));
    let mut cfg = base_config();
    cfg.insert("api_key".into(), json!(API_KEY));
    cfg.insert("dd_url".into(), json!(intake.url()));
    cfg.insert("forwarder_timeout".into(), json!(1));
    cfg.insert(
        "forwarder_retry_queue_payloads_max_size".into(),
        json!(16 * 1024),
    );
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d = Daemon::start(&cfg, TempDir::new("faults"));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = d.udp.unwrap();
    let packets = "dogstatsd_listener_packets_total{listener=\"udp\"}";

    let start = Instant::now();
    let mut sent = 0u64;
    let mut round = 0u64;
    let mut rss_first = None;
    let mut rss_max = 0;
    let mut received_before = 0;
    let mut last_check = Instant::now();
    while start.elapsed() < FAULT_PHASE {
        for j in 0..40 {
            let msg = format!(
                "fault.count{j}:1|c|#round:{}\nfault.dist:{j}|d\nfault.gauge{j}:{round}|g",
                round % 10
            );
            udp.send_to(msg.as_bytes(), to).unwrap();
            sent += 1;
        }
        round += 1;
        if round.is_multiple_of(2) {
            // Flushes go to the failing intake; the endpoint still answers.
            d.admin_post("/flush");
        }
        assert_eq!(d.admin_get("/healthz"), "ok\n");
        if last_check.elapsed() >= Duration::from_secs(1) {
            let received = d.metric(packets);
            assert!(
                received > received_before,
                "{mode:?}: the daemon stopped ingesting ({received} packets)"
            );
            received_before = received;
            last_check = Instant::now();
            if let Some(rss) = d.rss_kib() {
                rss_first.get_or_insert(rss);
                rss_max = rss_max.max(rss);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        d.wait_metric(packets, sent),
        sent,
        "{mode:?}: every packet read"
    );
    let text = d.admin_get("/metrics");
    assert_eq!(
        metric(&text, "dogstatsd_dropped_total{cause=\"queue_full\"}"),
        0
    );
    let p = |state: &str| {
        metric(
            &text,
            &format!("dogstatsd_forwarder_payloads_total{{state=\"{state}\"}}"),
        )
    };
    let submitted = metric(&text, "dogstatsd_forwarder_payloads_submitted_total");
    let (sent_ok, rejected, dropped) = (p("sent"), p("rejected"), p("dropped"));
    let queued = metric(&text, "dogstatsd_forwarder_queued_payloads");
    let in_flight = metric(&text, "dogstatsd_forwarder_in_flight_payloads");
    // A retried payload is re-queued a moment before it stops counting
    // as in flight, so the live sum may exceed by up to the request
    // concurrency (10).
    let accounted = sent_ok + rejected + dropped + queued + in_flight;
    assert!(
        (submitted..=submitted + 10).contains(&accounted),
        "{mode:?}: submitted {submitted}, sent {sent_ok} + rejected {rejected} + dropped {dropped} + queued {queued} + in flight {in_flight}"
    );
    assert!(submitted >= 10, "{mode:?}: {submitted} payloads submitted");
    assert_eq!(sent_ok, 0, "{mode:?}: nothing can be delivered");
    assert!(
        dropped > 0,
        "{mode:?}: the 16 KiB retry queue overflowed and the drops are counted"
    );
    let rss_first = rss_first.expect("VmRSS readable");
    assert!(
        rss_max < rss_first + 64 * 1024,
        "{mode:?}: RSS grew from {rss_first} KiB to {rss_max} KiB"
    );

    // The intake heals; stopping delivers what the queue still holds
    // within the forwarder's stop deadline, or counts it as dropped.
    intake.set_schedule(FaultSchedule::new());
    let stopped = Instant::now();
    d.stop();
    let stop_secs = stopped.elapsed().as_secs_f64();
    let produced = d.logged("flushed_records");
    let points_submitted = d.logged("points_submitted");
    let points_sent = d.logged("points_sent");
    let points_lost = d.logged("points_rejected") + d.logged("points_dropped");
    let too_big = d.logged("points_too_big");
    assert_eq!(
        d.logged("payloads_submitted"),
        d.logged("payloads_sent") + d.logged("payloads_rejected") + d.logged("payloads_dropped"),
        "{mode:?}: every payload delivered or counted as dropped"
    );
    assert_eq!(
        produced,
        points_sent + points_lost + too_big,
        "{mode:?}: every flushed record delivered or counted (submitted {points_submitted})"
    );
    assert!(points_lost > 0, "{mode:?}: some points were dropped");
    let s = intake.stats();
    let received = s.series + s.sketches + s.events + s.service_checks;
    if mode == Mode::Slow {
        // A slow answer the forwarder gave up on was still recorded.
        assert!(received >= points_sent, "{mode:?}: {s:?}");
    } else {
        assert_eq!(received, points_sent, "{mode:?}: {s:?}");
    }
    match mode {
        Mode::Hang => assert!(s.hung > 0, "{s:?}"),
        Mode::Reset => assert!(s.reset > 0, "{s:?}"),
        Mode::Status5xx => assert!(s.retried > 0, "{s:?}"),
        // Answered 202, but after the forwarder had timed out.
        Mode::Slow => assert!(d.logged("retries") > 0, "{s:?}"),
    }
    let log = d.log.join("\n");
    assert!(!log.contains(API_KEY), "the API key never reaches the log");
    eprintln!(
        "{mode:?}: sent {sent} packets, produced {produced} records, delivered {points_sent}, dropped {points_lost}, too big {too_big}; RSS {rss_first}..{rss_max} KiB; stop took {stop_secs:.1} s; intake {s:?}"
    );
    rt.block_on(intake.shutdown());
}

#[test]
fn intake_hangs() {
    run(Mode::Hang);
}

#[test]
fn intake_resets_connections() {
    run(Mode::Reset);
}

#[test]
fn intake_answers_too_slowly() {
    run(Mode::Slow);
}

#[test]
fn intake_answers_5xx() {
    run(Mode::Status5xx);
}
