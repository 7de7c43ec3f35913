//! Traffic capture and replay through the real binary: a daemon captures
//! what it receives (for its whole life, or on demand through the admin
//! endpoint), and `dogstatsd replay` reproduces the same aggregates
//! offline (`--aggregate`) and in a second daemon (`--to`).

#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, TempDir, base_config, frame, series_sum};
use serde_json::{Value, json};

/// The aggregates that must survive a capture and replay, keyed so that
/// bucket timestamps do not matter: series values summed per context,
/// sketch counts and sums per context, events and checks counted.
fn summary(records: &[Value]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for r in records {
        let tags = r["tags"].to_string();
        let mut add = |k: String, v: f64| *m.entry(k).or_insert(0.0) += v;
        match r["kind"].as_str().unwrap() {
            "series" => add(
                format!("series {} {} {tags} {}", r["metric"], r["type"], r["host"]),
                r["value"].as_f64().unwrap(),
            ),
            "sketch" => {
                let k = format!("sketch {} {tags} {}", r["metric"], r["host"]);
                add(format!("{k} count"), r["count"].as_f64().unwrap());
                add(format!("{k} sum"), r["sum"].as_f64().unwrap());
            }
            "event" => add(format!("event {} {tags}", r["title"]), 1.0),
            "service_check" => add(format!("check {} {} {tags}", r["name"], r["status"]), 1.0),
            other => panic!("unexpected record kind {other}"),
        }
    }
    // Float sums in another order may differ in the last bits.
    m.values_mut().for_each(|v| *v = (*v * 1e6).round() / 1e6);
    m
}

fn replay(args: &[&std::ffi::OsStr]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .arg("replay")
        .args(args)
        .output()
        .expect("run dogstatsd replay");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "replay failed: {stderr}");
    (stdout, stderr)
}

fn parse_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn capture_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "dsdcap"));
    v.sort();
    v
}

fn hostname_config(dir: &TempDir) -> PathBuf {
    let p = dir.path("replay.yaml");
    std::fs::write(&p, "hostname: default-hostname\n").unwrap();
    p
}

#[test]
fn a_whole_life_capture_replays_to_the_same_aggregates() {
    let keep = TempDir::new("capture-files");
    let cap_dir = keep.path("captures");
    let dir = TempDir::new("capture-a");
    let stream_path = dir.path("s.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_stream_socket".into(), json!(stream_path));
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    cfg.insert("dogstatsd_capture_path".into(), json!(cap_dir));
    cfg.insert("dogstatsd_capture_on_start".into(), json!(true));
    let mut d = Daemon::start(&cfg, dir);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = d.udp.unwrap();
    let mut sent = 0;
    common::clear_of_a_bucket_edge(Duration::from_secs(2));
    for i in 0..150 {
        let msg = format!(
            "cap.count:1|c|#k:v\ncap.dist:{}|d\ncap.set:{}|s\ncap.hist:{}|h|@0.5",
            i % 7,
            i % 13,
            i % 5
        );
        udp.send_to(msg.as_bytes(), to).unwrap();
        sent += 1;
    }
    udp.send_to(b"_e{6,4}:deploy|text|#a:b\n_sc|cap.check|2|m:down", to)
        .unwrap();
    sent += 1;
    let mut stream = UnixStream::connect(&stream_path).unwrap();
    for _ in 0..20 {
        stream.write_all(&frame(b"cap.stream:2|c")).unwrap();
    }
    drop(stream);
    d.wait_metric("dogstatsd_listener_packets_total{listener=\"udp\"}", sent);
    d.wait_metric(
        "dogstatsd_listener_packets_total{listener=\"uds_stream\"}",
        20,
    );
    assert!(d.metric("dogstatsd_capture_active") == 1);
    let live = summary(&d.stop());
    assert!(live.len() >= 12, "{live:#?}");

    let files = capture_files(&cap_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].as_os_str();

    // Offline: the same aggregates, without sockets.
    let conf = hostname_config(&keep);
    let (out, _) = replay(&[
        file,
        "--aggregate".as_ref(),
        "--config".as_ref(),
        conf.as_os_str(),
    ]);
    assert_eq!(summary(&parse_lines(&out)), live);

    // Into a second daemon, at 20x the captured pace.
    let mut cfg2 = base_config();
    cfg2.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d2 = Daemon::start(&cfg2, TempDir::new("capture-b"));
    let target = format!("udp://{}", d2.udp.unwrap());
    common::clear_of_a_bucket_edge(Duration::from_secs(2));
    let (out, _) = replay(&[
        file,
        "--to".as_ref(),
        target.as_ref(),
        "--speed".as_ref(),
        "20".as_ref(),
    ]);
    let sum: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(sum["packets"], sent + 20, "{sum}");
    assert_eq!(sum["errors"], 0, "{sum}");
    d2.wait_metric(
        "dogstatsd_listener_packets_total{listener=\"udp\"}",
        sent + 20,
    );
    assert_eq!(summary(&d2.stop()), live);
}

#[test]
fn an_on_demand_capture_holds_only_its_window() {
    let keep = TempDir::new("capture-files");
    let cap_dir = keep.path("captures");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_capture_path".into(), json!(cap_dir));
    let mut d = Daemon::start(&cfg, TempDir::new("capture-c"));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = d.udp.unwrap();
    let udp_packets = "dogstatsd_listener_packets_total{listener=\"udp\"}";

    udp.send_to(b"before:1|c", to).unwrap();
    d.wait_metric(udp_packets, 1);
    let (code, body) = d.admin_request("POST", "/capture?duration=30s&compressed=false");
    assert_eq!(code, 200, "{body}");
    let started: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(started["active"], true);
    let (code, _) = d.admin_request("POST", "/capture?duration=30s");
    assert_eq!(code, 409, "one capture at a time");
    let (code, _) = d.admin_request("POST", "/capture?duration=soon");
    assert_eq!(code, 400);
    for _ in 0..10 {
        udp.send_to(b"during:1|c", to).unwrap();
    }
    d.wait_metric(udp_packets, 11);
    let (code, body) = d.admin_request("POST", "/capture/stop");
    assert_eq!(code, 200, "{body}");
    let stopped: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stopped["active"], false);
    assert_eq!(stopped["packets"], 10, "{stopped}");
    assert_eq!(stopped["dropped"], 0, "{stopped}");
    assert_eq!(stopped["path"], started["path"]);
    udp.send_to(b"after:1|c", to).unwrap();
    d.wait_metric(udp_packets, 12);
    let (code, _) = d.admin_request("POST", "/capture/stop");
    assert_eq!(code, 409, "nothing to stop");

    // A timed capture ends by itself.
    let (code, body) = d.admin_request("POST", "/capture?duration=100ms");
    assert_eq!(code, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = d.admin_request("GET", "/capture");
        let st: Value = serde_json::from_str(&body).unwrap();
        if st["active"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "timed capture did not end: {st}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(d.metric("dogstatsd_capture_packets_total"), 10);
    d.stop();

    let file = PathBuf::from(started["path"].as_str().unwrap());
    assert_eq!(capture_files(&cap_dir).len(), 2);
    let conf = hostname_config(&keep);
    let (out, _) = replay(&[
        file.as_os_str(),
        "--aggregate".as_ref(),
        "--config".as_ref(),
        conf.as_os_str(),
    ]);
    let records = parse_lines(&out);
    assert!((series_sum(&records, "during") - 1.0).abs() < 1e-9, "{out}");
    assert_eq!(series_sum(&records, "before"), 0.0, "{out}");
    assert_eq!(series_sum(&records, "after"), 0.0, "{out}");
}

#[test]
fn the_capture_flag_and_unix_socket_targets() {
    let keep = TempDir::new("capture-files");
    let cap_dir = keep.path("captures");
    let mut d = Daemon::start_with_args(
        &base_config(),
        TempDir::new("capture-flag"),
        &["--capture".as_ref(), cap_dir.as_os_str()],
    );
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..30 {
        udp.send_to(format!("flag.count:{i}|c|#t:u").as_bytes(), d.udp.unwrap())
            .unwrap();
    }
    d.wait_metric("dogstatsd_listener_packets_total{listener=\"udp\"}", 30);
    let live = d.stop();
    let total = series_sum(&live, "flag.count");
    assert!(
        (total - 43.5).abs() < 1e-9,
        "0..30 summed as rate/10: {total}"
    );
    let files = capture_files(&cap_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].as_os_str();

    // Into a second daemon's datagram and stream sockets, once each.
    let dir = TempDir::new("capture-unix");
    let (dgram, stream) = (dir.path("d.sock"), dir.path("s.sock"));
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(dgram));
    cfg.insert("dogstatsd_stream_socket".into(), json!(stream));
    let mut d2 = Daemon::start(&cfg, dir);
    for target in [
        format!("unix://{}", dgram.display()),
        format!("unixstream://{}", stream.display()),
    ] {
        let (out, _) = replay(&[file, "--to".as_ref(), target.as_ref(), "--fast".as_ref()]);
        let sum: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(sum["packets"], 30, "{target}: {sum}");
        assert_eq!(sum["errors"], 0, "{target}: {sum}");
    }
    d2.wait_metric("dogstatsd_listener_packets_total{listener=\"uds\"}", 30);
    d2.wait_metric(
        "dogstatsd_listener_packets_total{listener=\"uds_stream\"}",
        30,
    );
    let replayed = series_sum(&d2.stop(), "flag.count");
    assert!((replayed - 2.0 * total).abs() < 1e-9, "{replayed}");
}
