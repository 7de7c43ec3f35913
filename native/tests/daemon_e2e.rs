//! End-to-end tests of the daemon binary over real sockets on loopback and
//! temp Unix socket paths: a third-party client (`cadence`), hand-built
//! stream frames, the transport cases of `framing.json`, and a SIGTERM
//! that must lose nothing.

#![cfg(unix)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use cadence::prelude::*;
use cadence::{StatsdClient, UdpMetricSink, UnixMetricSink};
use common::{Daemon, TempDir, base_config, frame, records, repo_file, series_sum};
use serde_json::{Value, json};

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Sends the same known traffic with cadence through `client`, paced:
/// UDP has no flow control, and on a loaded machine an unpaced burst of
/// 700 datagrams overflows the kernel's receive buffer before the reader
/// thread is scheduled (the daemon counts what it received, so such loss
/// would show as a clear assertion, not a wrong total).
fn send_known(client: &StatsdClient, prefix: &str, pace: bool) {
    for i in 0..100u64 {
        if pace {
            std::thread::sleep(Duration::from_millis(1));
        }
        client.count(&format!("{prefix}.hits"), 1).unwrap();
        client
            .count_with_tags(&format!("{prefix}.bytes"), 10)
            .with_tag("env", "test")
            .send();
        client.gauge(&format!("{prefix}.level"), i).unwrap();
        client.histogram(&format!("{prefix}.size"), i).unwrap();
        client.distribution(&format!("{prefix}.lat"), i).unwrap();
        client
            .set(&format!("{prefix}.users"), (i % 7) as i64)
            .unwrap();
        client.time(&format!("{prefix}.t"), 5u64).unwrap();
    }
}

fn check_known(out: &[Value], prefix: &str) {
    let name = |s: &str| format!("{prefix}.{s}");
    // Counts ship as rates over the 10 s interval.
    assert!(
        approx(series_sum(out, &name("hits")), 10.0),
        "{prefix}.hits"
    );
    let bytes = records(out, "series", Some(&name("bytes")));
    assert!(bytes.iter().all(|r| r["tags"] == json!(["env:test"])));
    assert!(approx(series_sum(out, &name("bytes")), 100.0));
    // The last gauge wins (all in one bucket unless a 10 s boundary
    // passed; then the latest bucket holds the final value).
    let levels = records(out, "series", Some(&name("level")));
    let last = levels
        .iter()
        .max_by_key(|r| r["timestamp"].as_i64())
        .unwrap();
    assert_eq!(last["value"], 99.0);
    assert!(approx(series_sum(out, &name("size.count")), 10.0));
    let sketches = records(out, "sketch", Some(&name("lat")));
    let count: u64 = sketches.iter().map(|s| s["count"].as_u64().unwrap()).sum();
    let sum: f64 = sketches.iter().map(|s| s["sum"].as_f64().unwrap()).sum();
    assert_eq!(count, 100);
    assert!(approx(sum, 4950.0));
    // Seven distinct set members (a bucket boundary could split them).
    let users = series_sum(out, &name("users"));
    assert!((7.0..=14.0).contains(&users), "{users}");
    assert!(approx(series_sum(out, &name("t.count")), 10.0));
    assert_eq!(
        records(out, "series", Some(&name("t.max")))[0]["value"],
        5.0
    );
}

#[test]
fn cadence_over_udp_and_unix_datagram() {
    let dir = TempDir::new("cadence");
    let sock = dir.path("dsd.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(sock));
    // Room for bursts while the 2-core test machine is busy compiling.
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d = Daemon::start(&cfg, dir);

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink = UdpMetricSink::from(d.udp.unwrap(), udp).unwrap();
    send_known(&StatsdClient::from_sink("", sink), "udp", true);

    let uds = UnixDatagram::unbound().unwrap();
    let sink = UnixMetricSink::from(&sock, uds);
    send_known(&StatsdClient::from_sink("", sink), "uds", true);

    // 700 datagrams each way; make sure the kernel handed them all over.
    assert_eq!(
        d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 700),
        700
    );
    assert_eq!(
        d.wait_metric(r#"dogstatsd_listener_packets_total{listener="uds"}"#, 700),
        700
    );
    let out = d.stop();
    check_known(&out, "udp");
    check_known(&out, "uds");
    assert!(out.iter().all(|r| r["host"] == "default-hostname"));
    assert!(!sock.exists(), "socket file removed on exit");
}

#[test]
fn unix_stream_many_connections_and_bad_frames() {
    let dir = TempDir::new("stream");
    let sock = dir.path("dsd-stream.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
    let mut d = Daemon::start(&cfg, dir);
    let mode = std::fs::metadata(&sock).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o722
    );

    // Eight concurrent connections, 200 frames each, some frames holding
    // several messages, written in odd-sized pieces.
    let threads: Vec<_> = (0..8)
        .map(|c| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).unwrap();
                let mut bytes = Vec::new();
                for i in 0..200 {
                    bytes.extend(frame(
                        format!("stream.hits:1|c|#conn:{c}\nstream.g:{i}|g").as_bytes(),
                    ));
                }
                bytes.extend(frame(b"_e{5,4}:title|text"));
                bytes.extend(frame(b"_sc|stream.check|1|m:warn"));
                for chunk in bytes.chunks(37) {
                    s.write_all(chunk).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    // An oversized frame closes its own connection; others keep working.
    let mut bad = UnixStream::connect(&sock).unwrap();
    let mut good = UnixStream::connect(&sock).unwrap();
    bad.write_all(&[0x28, 0x23, 0, 0, b'a']).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(bad.read(&mut b).unwrap(), 0, "server closed the connection");
    good.write_all(&frame(b"stream.after:1|c")).unwrap();
    drop(good);
    assert_eq!(
        d.metric(r#"dogstatsd_connections_closed_total{reason="frame_too_large"}"#),
        1
    );
    assert_eq!(
        d.wait_metric(
            r#"dogstatsd_listener_packets_total{listener="uds_stream"}"#,
            8 * 202 + 1
        ),
        8 * 202 + 1
    );

    let out = d.stop();
    assert!(approx(series_sum(&out, "stream.hits"), 160.0));
    for c in 0..8 {
        let tag = format!("conn:{c}");
        let hits: f64 = records(&out, "series", Some("stream.hits"))
            .iter()
            .filter(|r| r["tags"] == json!([tag]))
            .map(|r| r["value"].as_f64().unwrap())
            .sum();
        assert!(approx(hits, 20.0), "{tag}");
    }
    assert!(approx(series_sum(&out, "stream.after"), 0.1));
    assert_eq!(records(&out, "event", None).len(), 8);
    let checks = records(&out, "service_check", None);
    assert_eq!(checks.len(), 8);
    assert!(
        checks
            .iter()
            .all(|c| c["status"] == 1 && c["message"] == "warn")
    );
    assert!(!sock.exists(), "socket file removed on exit");
}

/// What the daemon flushes for a `parse`-format expectation of a count:
/// a rate of value/10 in the aggregate output.
fn expected_series(expect: &Value) -> (String, f64) {
    assert_eq!(expect["type"], "count", "framing cases use counts");
    let v: f64 = expect["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    (
        expect["metric"]
            .as_str()
            .or(expect["name"].as_str())
            .unwrap()
            .to_string(),
        v / 10.0,
    )
}

#[test]
fn framing_transport_cases_against_the_daemon() {
    let text = std::fs::read_to_string(repo_file("tests/data/conformance/framing.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["transport_cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let dir = TempDir::new("framing");
        let sock = dir.path("s.sock");
        let mut cfg = base_config();
        if let Some(Value::Object(o)) = case.get("config") {
            cfg.extend(o.clone());
        }
        let transport = case["transport"].as_str().unwrap();
        if transport == "uds_stream" {
            cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
        }
        let mut d = Daemon::start(&cfg, dir);
        match transport {
            "udp" => {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                let datagrams = case["datagrams"].as_array().unwrap();
                for dg in datagrams {
                    s.send_to(dg.as_str().unwrap().as_bytes(), d.udp.unwrap())
                        .unwrap();
                }
                let n = datagrams.len() as u64;
                assert_eq!(
                    d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, n),
                    n,
                    "{id}"
                );
            }
            "uds_stream" => {
                let hex = case["bytes_hex"].as_str().unwrap();
                let bytes: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                let mut s = UnixStream::connect(&sock).unwrap();
                s.write_all(&bytes).unwrap();
                // A truncated frame is only known to be truncated at EOF.
                s.shutdown(std::net::Shutdown::Write).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut b = [0u8; 1];
                let closed = matches!(s.read(&mut b), Ok(0));
                assert_eq!(
                    closed,
                    case["expect_connection_closed_by_server"] == true,
                    "{id}: connection closed"
                );
            }
            other => panic!("{id}: unknown transport {other}"),
        }
        let expect = case["expect"].as_array().unwrap();
        let errors = expect.iter().filter(|e| e["kind"] == "error").count() as u64;
        assert_eq!(
            d.wait_metric(r#"dogstatsd_parse_errors_total{kind="metric"}"#, errors),
            errors,
            "{id}: parse errors"
        );
        let out = d.stop();
        let metrics: Vec<_> = expect.iter().filter(|e| e["kind"] == "metric").collect();
        assert_eq!(out.len(), metrics.len(), "{id}: {out:?}");
        for m in metrics {
            let (name, value) = expected_series(m);
            let got = records(&out, "series", Some(&name));
            assert_eq!(got.len(), 1, "{id}: {name}");
            assert_eq!(got[0]["type"], "rate", "{id}");
            assert_eq!(got[0]["host"], m["host"], "{id}");
            assert!(
                approx(got[0]["value"].as_f64().unwrap(), value),
                "{id}: {}",
                got[0]
            );
        }
    }
}

#[test]
fn sigterm_loses_nothing_received() {
    let dir = TempDir::new("sigterm");
    let dgram = dir.path("d.sock");
    let stream = dir.path("s.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(dgram));
    cfg.insert("dogstatsd_stream_socket".into(), json!(stream));
    // 400 datagrams fit in the receive buffer even if the reader thread
    // is not scheduled at all while they arrive.
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d = Daemon::start(&cfg, dir);

    // UDP: 400 datagrams of 25 messages, paced so the kernel buffer never
    // overflows; the daemon's own count proves what it received.
    const DATAGRAMS: u64 = 400;
    const PER: u64 = 25;
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = vec!["term.udp:1|c"; PER as usize].join("\n");
    for i in 0..DATAGRAMS {
        udp.send_to(payload.as_bytes(), d.udp.unwrap()).unwrap();
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let uds = UnixDatagram::unbound().unwrap();
    for _ in 0..300 {
        uds.send_to(b"term.uds:1|c\nterm.set:a|s", &dgram).unwrap();
    }
    let mut s = UnixStream::connect(&stream).unwrap();
    for _ in 0..300 {
        s.write_all(&frame(b"term.stream:1|c")).unwrap();
    }
    s.write_all(&frame(b"_e{4,4}:last|sent")).unwrap();
    // Connections made just before the signal, possibly not accepted yet,
    // all left open: the daemon must take what they sent.
    let late: Vec<UnixStream> = (0..20)
        .map(|_| {
            let mut c = UnixStream::connect(&stream).unwrap();
            c.write_all(&frame(b"term.late:1|c")).unwrap();
            c
        })
        .collect();
    // The connection stays open: the daemon must take what is buffered.
    let out = d.stop();
    drop(s);
    drop(late);
    assert!(approx(series_sum(&out, "term.late"), 2.0));

    let udp_received = d.logged("udp_packets");
    assert_eq!(
        udp_received, DATAGRAMS,
        "loopback lost datagrams (test pacing too fast?)"
    );
    assert_eq!(d.logged("queue_drops"), 0);
    assert!(approx(
        series_sum(&out, "term.udp"),
        (udp_received * PER) as f64 / 10.0
    ));
    assert!(approx(series_sum(&out, "term.uds"), 30.0));
    assert!(approx(series_sum(&out, "term.stream"), 30.0));
    assert_eq!(records(&out, "event", None).len(), 1);
}

#[test]
fn port_zero_disables_udp_and_bad_values_exit_2() {
    let dir = TempDir::new("port0");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_port".into(), json!(0));
    // Some listener must come up (`dogstatsd_require_listener`, default
    // true): a Unix socket here.
    cfg.insert("dogstatsd_socket".into(), json!(dir.path("dsd.socket")));
    let mut d = Daemon::start(&cfg, dir);
    assert!(d.udp.is_none());
    assert!(
        d.log.iter().any(|l| l.contains("udp listener disabled")),
        "{:?}",
        d.log
    );
    assert_eq!(d.admin_get("/healthz"), "ok\n");
    assert!(d.stop().is_empty());

    let bin = env!("CARGO_BIN_EXE_dogstatsd");
    // A path that exists and is not a socket is refused; with no other
    // listener and `dogstatsd_require_listener` the start fails (exit 1).
    let dir = TempDir::new("notsock");
    let plain = dir.path("plain-file");
    std::fs::write(&plain, "keep me").unwrap();
    let cfg_path = dir.path("c.yaml");
    let cfg = json!({"dogstatsd_port": 0, "dogstatsd_socket": plain,
                     "dogstatsd_require_listener": true});
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let out = std::process::Command::new(bin)
        .arg("--config")
        .arg(&cfg_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exists and is not a socket"), "{stderr}");
    assert!(
        stderr.contains("listening on neither udp nor socket"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "keep me");

    let out = std::process::Command::new(bin)
        .args(["--port", "eighty"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dogstatsd_port"));
    let out = std::process::Command::new(bin)
        .args(["run", "--log-level", "chatty"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log_level"));
    let out = std::process::Command::new(bin)
        .arg("check-config")
        .env("DD_API_KEY", "abcdefabcdefabcdefabcdef12345")
        .env("DD_DOGSTATSD_STREAM_SOCKET", "/tmp/x.sock")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(printed["api_key"], "abcdefabcdefabcdefabcdef12345");
    assert_eq!(printed["dogstatsd_stream_socket"], "/tmp/x.sock");
    assert_eq!(printed["dogstatsd_port"], 8125);
}

#[test]
fn flush_now_and_output_file() {
    let dir = TempDir::new("flushnow");
    let out_file = dir.path("out.jsonl");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_buffer_size".into(), json!(16));
    let token_file = dir.path("admin_token");
    cfg.insert("dogstatsd_admin_token_file".into(), json!(token_file));
    let file_flag = out_file.clone();
    // --output goes through the flag, so start by hand.
    let cfg_path = dir.path("c.yaml");
    std::fs::write(&cfg_path, serde_json::to_string(&cfg).unwrap()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .args(["run", "--config"])
        .arg(&cfg_path)
        .arg("--output")
        .arg(&file_flag)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (mut udp, mut admin) = (None, None);
    let mut line = String::new();
    while admin.is_none() {
        line.clear();
        if std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() == 0 {
            panic!("daemon exited");
        }
        if let Some(i) = line.find("udp listener bound to ") {
            udp = Some(
                line[i + 22..]
                    .trim()
                    .parse::<std::net::SocketAddr>()
                    .unwrap(),
            );
        }
        if let Some(i) = line.find("http://") {
            admin = Some(
                line[i + 7..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        }
    }
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(b"now.hits:5|c", udp.unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(300)); // past the assembler's 100 ms
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        common::read_token(&token_file)
    );
    assert_eq!(
        common::request(admin.unwrap(), "POST", "/flush", &auth),
        (200, "flushed\n".to_string())
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(approx(series_sum(&recs, "now.hits"), 0.5), "{text}");
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(target_os = "linux")]
#[test]
fn unix_datagram_with_origin_detection() {
    let dir = TempDir::new("origin");
    let sock = dir.path("o.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_port".into(), json!(0));
    cfg.insert("dogstatsd_socket".into(), json!(sock));
    cfg.insert("dogstatsd_origin_detection".into(), json!(true));
    let mut d = Daemon::start(&cfg, dir);
    let c = UnixDatagram::unbound().unwrap();
    for _ in 0..20 {
        c.send_to(b"origin.hits:1|c", &sock).unwrap();
    }
    assert_eq!(
        d.wait_metric(r#"dogstatsd_listener_packets_total{listener="uds"}"#, 20),
        20
    );
    // Credentials arrived with every datagram and our PID resolved (to a
    // container or to none): no detection error.
    assert_eq!(d.metric("dogstatsd_uds_origin_detection_errors_total"), 0);
    let out = d.stop();
    assert!(approx(series_sum(&out, "origin.hits"), 2.0));
}

/// A second signal ends the process at once, even while the final flush
/// is stuck: the output is a FIFO whose reader never reads, so writing
/// the ~200 KB flush blocks once the pipe buffer is full.
#[test]
fn second_signal_exits_at_once() {
    let dir = TempDir::new("twice");
    let fifo = dir.path("out.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED second_signal_exits_at_once: no mkfifo");
        return;
    }
    // Opening a FIFO blocks until both ends are open: hold the read end,
    // never read from it.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::File::open(fifo).unwrap())
    };
    let mut cfg = base_config();
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d = Daemon::start_with_args(&cfg, dir, &["--output".as_ref(), fifo.as_os_str()]);
    let _reader = reader.join().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for batch in 0..60 {
        let lines: Vec<String> = (0..50)
            .map(|i| format!("twice.gauge.number.{batch}.{i}:1|g|#some:tag,other:tag"))
            .collect();
        udp.send_to(lines.join("\n").as_bytes(), d.udp.unwrap())
            .unwrap();
    }
    assert_eq!(
        d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 60),
        60
    );
    assert_eq!(d.wait_metric("dogstatsd_samples_total", 3000), 3000);
    d.signal();
    assert!(
        d.wait_exit(Duration::from_millis(500)).is_none(),
        "the final flush should be stuck on the full FIFO"
    );
    d.signal();
    let status = d
        .wait_exit(Duration::from_secs(5))
        .expect("exit after the second signal");
    assert_eq!(status.code(), Some(1));
}
