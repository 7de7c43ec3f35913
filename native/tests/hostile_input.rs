//! Hostile input against the real daemon binary on loopback and temp Unix
//! sockets (issue #9): random datagrams on UDP and Unix datagram, garbage,
//! truncated, zero-length and oversized frames on the Unix stream socket, a
//! huge length prefix followed by a stall, thousands of idle stream
//! connections, the connection cap and idle timeout, over-limit tags and
//! names, and a packet queue too small for the load. In every case the
//! daemon keeps running, counts what it dropped, and good traffic sent
//! alongside aggregates exactly.

#![cfg(unix)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, TempDir, base_config, frame, records, series_sum};
use serde_json::{Value, json};

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// A small deterministic generator (xorshift64*), so every run sends the
/// same garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Asserts that the only records of `metric` are rate series whose values
/// add up to `count / 10` (a count split over two 10 s buckets still adds
/// up), each with exactly `tags`.
fn assert_count(out: &[Value], metric: &str, count: f64, tags: &Value) {
    let got = records(out, "series", Some(metric));
    assert!(!got.is_empty(), "{metric} missing");
    for r in &got {
        assert_eq!(r["type"], "rate", "{r}");
        assert_eq!(&r["tags"], tags, "{r}");
        assert_eq!(r["host"], "default-hostname", "{r}");
    }
    let sum = series_sum(out, metric);
    assert!(approx(sum, count / 10.0), "{metric}: {sum} != {count}/10");
}

/// Waits (bounded) until the Unix stream peer closes the connection; true
/// when it did.
fn closed_by_server(s: &mut UnixStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Waits (bounded) until `series` equals `want`; its last value.
fn wait_for(d: &Daemon, series: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = d.metric(series);
        if v == want || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Resident memory of a process in KiB (Linux; 0 elsewhere).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Raises this process's soft open-files limit to `want` (or the hard
/// limit); returns the soft limit in force.
fn raise_nofile(want: u64) -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let target = want.min(hard);
    if soft < target && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        return target;
    }
    soft
}

#[test]
fn random_datagrams_on_udp_and_unix_datagram() {
    let dir = TempDir::new("hostile-dgram");
    let sock = dir.path("dsd.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(sock));
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d = Daemon::start(&cfg, dir);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uds = UnixDatagram::unbound().unwrap();
    let target = d.udp.unwrap();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut udp_sent, mut uds_sent, mut too_long) = (0u64, 0u64, 0u64);
    for i in 0..300u64 {
        // Garbage of every size up to beyond dogstatsd_buffer_size (the
        // kernel read truncates those), then good traffic in between.
        let n = 1 + rng.below(9000) as usize;
        let junk = rng.bytes(n);
        udp.send_to(&junk, target).unwrap();
        uds.send_to(&junk, &sock).unwrap();
        too_long += u64::from(n > 8192);
        udp.send_to(b"hostile.udp.good:1|c|#k:v", target).unwrap();
        uds.send_to(
            format!("hostile.uds.good:2|c\nhostile.uds.gauge:{i}|g").as_bytes(),
            &sock,
        )
        .unwrap();
        // Half-valid lines: good lines around broken ones in one datagram.
        udp.send_to(
            b"hostile.udp.mixed:1|c\n:|\n\xff\xfe:1|q\nx:y|c\nhostile.udp.mixed:1|c",
            target,
        )
        .unwrap();
        udp_sent += 3;
        uds_sent += 2;
        if i % 20 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_listener_packets_total{listener="udp"}"#,
            udp_sent
        ),
        udp_sent,
        "the kernel dropped UDP datagrams; the test cannot compare totals"
    );
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_listener_packets_total{listener="uds"}"#,
            uds_sent
        ),
        uds_sent
    );
    // Datagrams longer than dogstatsd_buffer_size are cut and counted.
    assert!(too_long > 0);
    for l in ["udp", "uds"] {
        let series = format!(r#"dogstatsd_listener_truncated_total{{listener="{l}"}}"#);
        assert_eq!(d.metric(&series), too_long, "{l}");
    }
    let errors = d.metric(r#"dogstatsd_parse_errors_total{kind="metric"}"#);
    assert!(errors >= 300 * 3, "{errors}");
    let out = d.stop();
    assert_count(&out, "hostile.udp.good", 300.0, &json!(["k:v"]));
    assert_count(&out, "hostile.uds.good", 600.0, &json!([]));
    assert_count(&out, "hostile.udp.mixed", 600.0, &json!([]));
    // Gauges: last wins, and packets may reach different workers, so only
    // the context is checked.
    assert!(!records(&out, "series", Some("hostile.uds.gauge")).is_empty());
}

#[test]
fn garbage_truncated_oversized_and_stalled_stream_frames() {
    let dir = TempDir::new("hostile-stream");
    let sock = dir.path("dsd-stream.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
    cfg.insert("dogstatsd_stream_idle_timeout".into(), json!("1s"));
    let mut d = Daemon::start(&cfg, dir);
    let rss_before = rss_kib(d.pid());
    let closes = |d: &Daemon, reason: &str| {
        d.metric(&format!(
            r#"dogstatsd_connections_closed_total{{reason="{reason}"}}"#
        ))
    };

    // Good clients keep sending while the hostile ones run.
    let good: Vec<_> = (0..4)
        .map(|c| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).unwrap();
                for i in 0..250 {
                    let mut bytes = frame(format!("hostile.stream.good:1|c|#conn:{c}").as_bytes());
                    bytes.extend(frame(
                        format!("hostile.stream.two:1|c\nhostile.stream.two:{i}|c").as_bytes(),
                    ));
                    s.write_all(&bytes).unwrap();
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            })
        })
        .collect();

    // A length prefix of 4 GiB, then a stall: closed at once, and nothing
    // of that size is allocated.
    let mut huge = UnixStream::connect(&sock).unwrap();
    huge.write_all(&u32::MAX.to_le_bytes()).unwrap();
    assert!(closed_by_server(&mut huge, Duration::from_secs(10)));
    // One byte over dogstatsd_buffer_size.
    let mut over = UnixStream::connect(&sock).unwrap();
    let mut bytes = 8193u32.to_le_bytes().to_vec();
    bytes.extend([b'a'; 100]);
    over.write_all(&bytes).unwrap();
    assert!(closed_by_server(&mut over, Duration::from_secs(10)));
    // A zero-length frame after a good one.
    let mut zero = UnixStream::connect(&sock).unwrap();
    let mut bytes = frame(b"hostile.stream.before_zero:1|c");
    bytes.extend(0u32.to_le_bytes());
    bytes.extend(frame(b"hostile.stream.after_zero:1|c"));
    zero.write_all(&bytes).unwrap();
    assert!(closed_by_server(&mut zero, Duration::from_secs(10)));
    // A truncated frame: 100 bytes declared, 40 sent, then EOF.
    let mut cut = UnixStream::connect(&sock).unwrap();
    let mut bytes = frame(b"hostile.stream.before_cut:1|c");
    bytes.extend(100u32.to_le_bytes());
    bytes.extend([b'x'; 40]);
    cut.write_all(&bytes).unwrap();
    cut.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed_by_server(&mut cut, Duration::from_secs(10)));
    // A legal prefix (the maximum) and part of its payload, then a stall:
    // the connection waits until the idle timeout closes it.
    let mut stalled = UnixStream::connect(&sock).unwrap();
    stalled.write_all(&8192u32.to_le_bytes()).unwrap();
    stalled.write_all(b"hostile.stream.stalled:1|c").unwrap();
    let started = Instant::now();
    assert!(closed_by_server(&mut stalled, Duration::from_secs(10)));
    assert!(started.elapsed() >= Duration::from_millis(500));
    // Random bytes, ten connections.
    let mut rng = Rng(42);
    for _ in 0..10 {
        let mut s = UnixStream::connect(&sock).unwrap();
        let n = 1 + rng.below(20_000) as usize;
        // The server may close before reading everything.
        let _ = s.write_all(&rng.bytes(n));
        let _ = s.shutdown(std::net::Shutdown::Write);
        assert!(closed_by_server(&mut s, Duration::from_secs(10)));
    }

    for t in good {
        t.join().unwrap();
    }
    assert!(closes(&d, "frame_too_large") >= 2);
    assert!(closes(&d, "frame_zero_length") >= 1);
    assert!(closes(&d, "frame_truncated") >= 1);
    assert_eq!(closes(&d, "idle_timeout"), 1);
    let rss_after = rss_kib(d.pid());
    assert!(
        rss_after < rss_before + 64 * 1024,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    let out = d.stop();
    for c in 0..4 {
        let tag = format!("conn:{c}");
        let sum: f64 = records(&out, "series", Some("hostile.stream.good"))
            .iter()
            .filter(|r| r["tags"] == json!([tag]))
            .map(|r| r["value"].as_f64().unwrap())
            .sum();
        assert!(approx(sum, 25.0), "{tag}: {sum}");
    }
    // 4 connections × 250 × (1 + i) summed over i = 0..249.
    assert_count(
        &out,
        "hostile.stream.two",
        4.0 * (250.0 + 31125.0),
        &json!([]),
    );
    // Frames before the bad one count; what follows it does not.
    assert_count(&out, "hostile.stream.before_zero", 1.0, &json!([]));
    assert_count(&out, "hostile.stream.before_cut", 1.0, &json!([]));
    assert!(records(&out, "series", Some("hostile.stream.after_zero")).is_empty());
    assert!(records(&out, "series", Some("hostile.stream.stalled")).is_empty());
}

#[test]
fn thousands_of_idle_stream_connections() {
    // This process holds one end of every connection, the daemon the other.
    let want = 2_000u64;
    let limit = raise_nofile(2 * want + 512);
    let n = want.min(limit.saturating_sub(256));
    assert!(n >= 500, "open-files limit {limit} too low for this test");
    let dir = TempDir::new("hostile-idle");
    let sock = dir.path("dsd-stream.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
    let mut d = Daemon::start(&cfg, dir);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();

    let idle: Vec<UnixStream> = (0..n)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_listener_open_connections{listener="uds_stream"}"#,
            n
        ),
        n
    );
    // A new client and UDP still get through, while all of them stay open.
    let mut s = UnixStream::connect(&sock).unwrap();
    for _ in 0..500 {
        s.write_all(&frame(b"hostile.idle.stream:1|c")).unwrap();
    }
    drop(s);
    for _ in 0..100 {
        udp.send_to(b"hostile.idle.udp:1|c", d.udp.unwrap())
            .unwrap();
    }
    assert_eq!(
        d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 100),
        100
    );
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_listener_packets_total{listener="uds_stream"}"#,
            500
        ),
        500
    );
    assert_eq!(
        d.metric(r#"dogstatsd_connections_closed_total{reason="max_connections"}"#),
        0
    );
    drop(idle);
    let out = d.stop();
    assert_count(&out, "hostile.idle.stream", 500.0, &json!([]));
    assert_count(&out, "hostile.idle.udp", 100.0, &json!([]));
}

#[test]
fn stream_connection_cap_and_idle_timeout() {
    let dir = TempDir::new("hostile-cap");
    let sock = dir.path("dsd-stream.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
    cfg.insert("dogstatsd_stream_max_connections".into(), json!(20));
    // Every client here is one uid: no per-uid share, the global cap
    // alone (local_attacks.rs tests the share).
    cfg.insert("dogstatsd_stream_max_uid_share".into(), json!(1.0));
    cfg.insert("dogstatsd_stream_idle_timeout".into(), json!("1500ms"));
    let mut d = Daemon::start(&cfg, dir);
    let open = r#"dogstatsd_listener_open_connections{listener="uds_stream"}"#;
    let capped = r#"dogstatsd_connections_closed_total{reason="max_connections"}"#;

    // Nineteen silent connections, then one that has sent something.
    let mut idle: Vec<UnixStream> = (0..19)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    assert_eq!(d.wait_metric(open, 19), 19);
    std::thread::sleep(Duration::from_millis(5));
    let mut busy = UnixStream::connect(&sock).unwrap();
    busy.write_all(&frame(b"hostile.cap.busy:1|c")).unwrap();
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_listener_packets_total{listener="uds_stream"}"#,
            1
        ),
        1
    );
    assert_eq!(d.metric(open), 20);
    // At the cap a new client still gets in: a silent connection is
    // closed to make room, never the one that sent something.
    let mut good = UnixStream::connect(&sock).unwrap();
    for _ in 0..100 {
        good.write_all(&frame(b"hostile.cap.good:1|c")).unwrap();
    }
    assert_eq!(d.wait_metric(capped, 1), 1);
    assert_eq!(d.metric(open), 20);
    std::thread::sleep(Duration::from_millis(50));
    let mut closed = 0;
    for s in &mut idle {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        if matches!(s.read(&mut b), Ok(0)) {
            closed += 1;
        }
    }
    assert_eq!(closed, 1, "exactly one silent connection was closed");
    drop(good);
    busy.write_all(&frame(b"hostile.cap.busy:1|c")).unwrap();
    drop(busy);
    // The other silent ones time out and free their slots.
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_connections_closed_total{reason="idle_timeout"}"#,
            18
        ),
        18
    );
    assert_eq!(wait_for(&d, open, 0), 0);
    assert_eq!(d.metric(capped), 1);
    drop(idle);
    let out = d.stop();
    assert_count(&out, "hostile.cap.good", 100.0, &json!([]));
    assert_count(&out, "hostile.cap.busy", 2.0, &json!([]));
}

/// Sends `lines` as one datagram per entry, paced.
fn send_lines(udp: &UdpSocket, target: std::net::SocketAddr, lines: &[String]) {
    for (i, l) in lines.iter().enumerate() {
        udp.send_to(l.as_bytes(), target).unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn over_limit_tags_and_names_are_dropped_and_counted() {
    let dir = TempDir::new("hostile-limits");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_max_metrics_tags".into(), json!(5));
    cfg.insert("dogstatsd_max_tag_length".into(), json!(50));
    cfg.insert("dogstatsd_max_name_length".into(), json!(40));
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d = Daemon::start(&cfg, dir);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = d.udp.unwrap();

    let long_tag = format!("t:{}", "x".repeat(60));
    let long_name = format!("hostile.{}", "n".repeat(40));
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines.push("hostile.limits.good:1|c|#a,b,c,d,e".to_string());
        lines.push("hostile.limits.many:1|c|#a,b,c,d,e,f".to_string());
        lines.push(format!("hostile.limits.long:1|c|#a,{long_tag}"));
        lines.push(format!("{long_name}:1|c"));
        // A good message in the same datagram as over-limit ones.
        lines.push(format!(
            "hostile.limits.many:1|c|#1,2,3,4,5,6,7\nhostile.limits.mixed:1|c|#{}\n{long_name}:2|g",
            "y".repeat(50)
        ));
        // Events and service checks are not limited.
        lines.push("_sc|hostile.limits.check|0|#a,b,c,d,e,f,g".to_string());
    }
    send_lines(&udp, target, &lines);
    let sent = lines.len() as u64;
    assert_eq!(
        d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, sent),
        sent
    );
    assert_eq!(
        d.wait_metric(r#"dogstatsd_dropped_total{cause="name_too_long"}"#, 200),
        200
    );
    assert_eq!(
        d.wait_metric(r#"dogstatsd_dropped_total{cause="too_many_tags"}"#, 200),
        200
    );
    assert_eq!(
        d.wait_metric(r#"dogstatsd_dropped_total{cause="tag_too_long"}"#, 100),
        100
    );
    assert_eq!(
        d.metric(r#"dogstatsd_parse_errors_total{kind="metric"}"#),
        0
    );
    let out = d.stop();
    assert_count(
        &out,
        "hostile.limits.good",
        100.0,
        &json!(["a", "b", "c", "d", "e"]),
    );
    let y = format!("y{}", "y".repeat(49));
    assert_count(&out, "hostile.limits.mixed", 100.0, &json!([y]));
    for name in [
        "hostile.limits.many",
        "hostile.limits.long",
        long_name.as_str(),
    ] {
        assert!(records(&out, "series", Some(name)).is_empty(), "{name}");
    }
    assert_eq!(records(&out, "service_check", None).len(), 100);
}

#[test]
fn parse_command_reports_over_limit_messages() {
    let dir = TempDir::new("hostile-parse");
    let file = dir.path("cfg.yaml");
    std::fs::write(
        &file,
        r#"{"hostname":"h","dogstatsd_max_metrics_tags":2,"dogstatsd_max_name_length":10}"#,
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .args(["parse", "--config"])
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"ok:1|c|#a,b\nmany:1|c|#a,b,c\nname.too.long:1|c\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["kind"], "metric");
    assert_eq!(lines[1]["kind"], "error");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("too many tags")
    );
    assert_eq!(lines[1]["input"], "many:1|c|#a,b,c");
    assert_eq!(lines[2]["kind"], "error");
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("name too long")
    );
}

#[test]
fn full_queue_drops_and_counts_without_blocking_listeners() {
    let dir = TempDir::new("hostile-queue");
    let sock = dir.path("dsd-stream.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
    // Room for one packet.
    cfg.insert("dogstatsd_queue_size".into(), json!(1));
    cfg.insert("dogstatsd_packet_buffer_size".into(), json!(1));
    let mut d = Daemon::start(&cfg, dir);

    // 3,000 frames of ~8 KB, each 400 messages: far more than the workers
    // keep up with through a one-packet queue. The writer must never
    // stall: the listener drops what does not fit.
    let mut payload = Vec::new();
    while payload.len() < 8000 {
        payload.extend_from_slice(b"hostile.flood:1|c\n");
    }
    payload.pop();
    let per_frame = payload.split(|&b| b == b'\n').count() as f64;
    let one = frame(&payload);
    let frames = 3_000u64;
    let started = Instant::now();
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    for _ in 0..frames {
        s.write_all(&one).unwrap();
    }
    drop(s);
    assert!(started.elapsed() < Duration::from_secs(20));
    let received = d.wait_metric(
        r#"dogstatsd_listener_packets_total{listener="uds_stream"}"#,
        frames,
    );
    assert_eq!(received, frames);
    // Wait for every frame to be queued or dropped, and the workers to
    // finish what was queued.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (queued, dropped) = loop {
        let q = d.metric("dogstatsd_packets_queued_total");
        let dropped = d.metric(r#"dogstatsd_dropped_total{cause="queue_full"}"#);
        let done = d.metric("dogstatsd_packets_processed_total") >= q;
        if (done && q + dropped >= frames) || Instant::now() > deadline {
            break (q, dropped);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(queued + dropped, frames);
    assert!(dropped > 0, "no drop: the queue never filled");

    // The queue is empty again: good traffic goes through exactly.
    let mut s = UnixStream::connect(&sock).unwrap();
    s.write_all(&frame(b"hostile.after_flood:1|c\nhostile.after_flood:2|c"))
        .unwrap();
    drop(s);
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_listener_packets_total{listener="uds_stream"}"#,
            frames + 1
        ),
        frames + 1
    );
    let out = d.stop();
    assert_count(&out, "hostile.after_flood", 3.0, &json!([]));
    // Every frame that was queued was aggregated in full, no more.
    assert_count(
        &out,
        "hostile.flood",
        per_frame * (queued as f64),
        &json!([]),
    );
    assert_eq!(d.logged("queue_drops"), dropped);
}
