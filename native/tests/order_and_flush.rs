//! Per-client order and flush completeness, through the binary: the last
//! gauge a client sends is the value flushed on any worker count, and a
//! flush (`POST /flush`, SIGTERM) holds everything sent before it.
#![cfg(unix)]

mod common;

use std::io::Write as _;
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{Daemon, TempDir, base_config, frame, records, series_sum};
use serde_json::{Value, json};

/// The value of the latest `metric` gauge among `recs`.
fn last_gauge(recs: &[Value], metric: &str) -> Option<f64> {
    records(recs, "series", Some(metric))
        .into_iter()
        .max_by_key(|r| r["timestamp"].as_i64())
        .and_then(|r| r["value"].as_f64())
}

/// Datagrams the kernel dropped on the UDP socket bound to `port`
/// (`/proc/net/udp`, last column).
fn kernel_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&local))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn many_workers(tag: &str) -> (serde_json::Map<String, Value>, TempDir) {
    let dir = TempDir::new(tag);
    let mut cfg = base_config();
    cfg.insert("dogstatsd_workers_count".into(), json!(4));
    cfg.insert("dogstatsd_pipeline_count".into(), json!(2));
    // Room for the bursts below: kernel drops are not what these test.
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    (cfg, dir)
}

/// Background load from other clients while the one under test sends.
fn noise(udp: std::net::SocketAddr, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let socks: Vec<UdpSocket> = (0..8)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut i = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 200_000 {
        for (k, s) in socks.iter().enumerate() {
            let line = format!("noise.{}:{}|g|#k:{k}\nnoise.c:1|c|#k:{}", i % 50, i, i % 97);
            let _ = s.send_to(line.as_bytes(), udp);
        }
        i += 1;
        // Moderate: the kernel must not drop (a lost last datagram would
        // look like a reordering).
        if i.is_multiple_of(4) {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

#[test]
fn one_udp_client_last_gauge_wins_on_four_workers() {
    for run in 0..3 {
        let (mut cfg, dir) = many_workers("order-udp");
        // Small packets: many of them, spread over the workers.
        cfg.insert("dogstatsd_buffer_size".into(), json!(64));
        let mut d = Daemon::start(&cfg, dir);
        let udp = d.udp.unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bg = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || noise(udp, stop))
        };
        let n = 3000u32;
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for v in 1..=n {
            // Two contexts on (likely) different pipelines, one datagram
            // each, so packets of this client interleave with others'.
            s.send_to(format!("order.gauge:{v}|g").as_bytes(), udp)
                .unwrap();
            s.send_to(format!("order.other:{v}|g|#x:y").as_bytes(), udp)
                .unwrap();
            if v.is_multiple_of(50) {
                std::thread::sleep(Duration::from_micros(300));
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        bg.join().unwrap();
        let kernel = kernel_drops(udp.port());
        let out = d.stop();
        assert_eq!(kernel, 0, "run {run}: the kernel dropped datagrams");
        let drops = d.logged("queue_drops");
        assert_eq!(drops, 0, "run {run}: the queue dropped packets");
        assert_eq!(
            last_gauge(&out, "order.gauge"),
            Some(f64::from(n)),
            "run {run}"
        );
        assert_eq!(
            last_gauge(&out, "order.other"),
            Some(f64::from(n)),
            "run {run}"
        );
    }
}

#[test]
fn one_stream_connection_last_gauge_wins_on_four_workers() {
    let (mut cfg, dir) = many_workers("order-stream");
    let sock = dir.path("s.sock");
    cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
    let mut d = Daemon::start(&cfg, dir);
    let mut c = UnixStream::connect(&sock).unwrap();
    let n = 5000;
    for v in 1..=n {
        c.write_all(&frame(format!("stream.gauge:{v}|g").as_bytes()))
            .unwrap();
    }
    drop(c);
    d.wait_metric(
        r#"dogstatsd_listener_packets_total{listener="uds_stream"}"#,
        n,
    );
    let out = d.stop();
    assert_eq!(last_gauge(&out, "stream.gauge"), Some(n as f64));
}

/// `POST /flush` right after sending: what was sent is in that flush (the
/// listeners hand over what they hold, the workers finish their queues).
#[test]
fn post_flush_includes_what_was_just_sent() {
    let (cfg, dir) = many_workers("flush-now");
    let out_file = dir.path("out.jsonl");
    let d = Daemon::start_with_args(&cfg, dir, &["--output".as_ref(), out_file.as_ref()]);
    let udp = d.udp.unwrap();
    let clients: Vec<UdpSocket> = (0..6)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut expect = 0.0;
    for round in 0..3 {
        for _ in 0..40 {
            for c in &clients {
                c.send_to(b"flushnow.hits:1|c", udp).unwrap();
            }
        }
        expect += 40.0 * clients.len() as f64 / 10.0;
        // No pause: the datagrams may still be in the socket buffer or
        // in a half-assembled packet.
        assert_eq!(d.admin_post("/flush"), "flushed\n");
        let text = std::fs::read_to_string(&out_file).unwrap_or_default();
        let recs: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got = series_sum(&recs, "flushnow.hits");
        assert!(
            (got - expect).abs() < 1e-9,
            "round {round}: flushed {got}, sent {expect}"
        );
    }
}

/// SIGTERM right after sending: everything sent is in the final flush.
#[test]
fn sigterm_includes_what_was_just_sent() {
    let (cfg, dir) = many_workers("flush-term");
    let mut d = Daemon::start(&cfg, dir);
    let udp = d.udp.unwrap();
    let clients: Vec<UdpSocket> = (0..6)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for i in 0..100u32 {
        for c in &clients {
            c.send_to(format!("term.hits:1|c\nterm.g:{i}|g").as_bytes(), udp)
                .unwrap();
        }
        if i.is_multiple_of(20) {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let out = d.stop();
    let got = series_sum(&out, "term.hits");
    assert!((got - 60.0).abs() < 1e-9, "flushed {got}");
    assert_eq!(last_gauge(&out, "term.g"), Some(99.0));
}

fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `dogstatsd_flush_incomplete_buckets: false` (the Agent's default): the
/// final flush at SIGTERM takes closed buckets only, so a count sent in
/// the bucket still open is not flushed; true (this project's default,
/// `sigterm_includes_what_was_just_sent`) flushes it.
#[test]
fn flush_incomplete_buckets_off_keeps_open_buckets_out_of_the_final_flush() {
    for attempt in 0..3 {
        let (mut cfg, dir) = many_workers("flush-incomplete");
        cfg.insert("dogstatsd_flush_incomplete_buckets".into(), json!(false));
        let mut d = Daemon::start(&cfg, dir);
        let udp = d.udp.unwrap();
        let before = unix_secs();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.send_to(b"incomplete.hits:1|c", udp).unwrap();
        d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 1);
        let out = d.stop();
        let after = unix_secs();
        let recs = records(&out, "series", Some("incomplete.hits"));
        // Every flushed point's bucket had closed when the daemon stopped.
        for r in &recs {
            assert!(r["timestamp"].as_i64().unwrap() + 10 <= after, "{r}");
        }
        if before.div_euclid(10) == after.div_euclid(10) {
            assert!(recs.is_empty(), "an open bucket was flushed: {recs:?}");
            return;
        }
        // The bucket closed while the test ran: try again.
        eprintln!("attempt {attempt} crossed a bucket boundary");
    }
    panic!("three attempts crossed a bucket boundary");
}
