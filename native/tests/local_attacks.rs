//! Attacks by a local user (and by a web page in a browser on the same
//! host) against the daemon binary, each with good traffic alongside
//! that must aggregate exactly. Where the point is privilege the attacker
//! runs as `nobody` (`setpriv`; the test skips loudly where it cannot).

#![cfg(target_os = "linux")]

mod common;

use std::io::Write as _;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    Daemon, TempDir, as_nobody, base_config, clear_of_a_bucket_edge, frame, records, request,
    request_raw, run_to_exit, series_sum,
};
use serde_json::json;

/// The increments a counter received: its flushed rates times the
/// 10-second interval.
fn count(all: &[serde_json::Value], metric: &str) -> u64 {
    (series_sum(all, metric) * 10.0).round() as u64
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// `POST path` from user `nobody` with python's http.client: the status,
/// or `None` when the test cannot switch users.
fn post_as_nobody(test: &str, addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    let script = format!(
        "import http.client\nc = http.client.HTTPConnection('{}', {}, timeout=10)\nc.request('POST', '{path}')\nprint(c.getresponse().status)",
        addr.ip(),
        addr.port()
    );
    let out = as_nobody(test, "/usr/bin/python3", &["-c", &script])?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{text} {}", String::from_utf8_lossy(&out.stderr))),
    )
}

#[test]
fn the_admin_endpoint_needs_the_token_and_refuses_browsers() {
    let dir = TempDir::new("atk-admin");
    let mut d = Daemon::start(&base_config(), dir);
    let token_file = d.token_file.clone();
    let token = d.token();
    assert_eq!(mode(&token_file), 0o600, "the token file is private");
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = d.udp.unwrap();
    clear_of_a_bucket_edge(Duration::from_secs(5));
    let mut sent = 0u64;
    let mut good = |n: u64| {
        for _ in 0..n {
            udp.send_to(b"good.hits:1|c|#k:v", to).unwrap();
        }
        sent += n;
    };
    good(40);

    // Read-only endpoints answer anyone who reaches the address.
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(request(d.admin, "GET", path, "").0, 200, "{path}");
    }
    // No token, a wrong one, a different scheme: 401 on every other one.
    let wrong = format!("Authorization: Bearer {}\r\n", "0".repeat(64));
    let basic = format!("Authorization: Basic {token}\r\n");
    for (method, path) in [
        ("POST", "/flush"),
        ("POST", "/capture?duration=87600h&compressed=false"),
        ("POST", "/capture/stop"),
        ("GET", "/capture"),
    ] {
        for auth in ["", wrong.as_str(), basic.as_str()] {
            let (code, body) = request(d.admin, method, path, auth);
            assert_eq!(code, 401, "{method} {path} with {auth:?}: {body}");
        }
    }
    good(30);
    // A page in a browser: Origin set, or a rebound name as Host; the
    // token would not help it.
    let auth = format!("Authorization: Bearer {token}\r\n");
    let with_origin = format!("{auth}Origin: http://evil.example\r\n");
    assert_eq!(request(d.admin, "POST", "/flush", &with_origin).0, 403);
    assert_eq!(
        request(d.admin, "GET", "/metrics", "Origin: null\r\n").0,
        403
    );
    let port = d.admin.port();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let head = format!("POST /flush HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n");
        assert_eq!(request_raw(d.admin, &head).0, 403, "Host {host}");
    }
    let head = format!("POST /flush HTTP/1.1\r\n{auth}\r\n");
    assert_eq!(request_raw(d.admin, &head).0, 403, "no Host at all");
    let head = format!("GET /healthz HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n");
    assert_eq!(request_raw(d.admin, &head).0, 200, "localhost:PORT");
    // As another user: the token file cannot be read, the endpoint
    // refuses.
    if let Some(out) = as_nobody(
        "the_admin_endpoint_needs_the_token (as nobody)",
        "cat",
        &[token_file.to_str().unwrap()],
    ) {
        assert!(!out.status.success(), "nobody read the token file");
        assert_eq!(
            post_as_nobody("post_as_nobody", d.admin, "/flush"),
            Some(401)
        );
    }
    good(30);
    assert_eq!(
        d.metric(r#"dogstatsd_admin_refused_total{reason="unauthorized"}"#),
        12 + u64::from(as_nobody("count", "true", &[]).is_some())
    );
    assert_eq!(
        d.metric(r#"dogstatsd_admin_refused_total{reason="forbidden"}"#),
        6
    );
    d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 1);
    // With the token: it works.
    let (code, body) = d.admin_request("GET", "/capture");
    assert_eq!(code, 200, "{body}");
    let all = d.stop();
    // None of the refused flushes split the bucket: one point, every
    // increment in it.
    let points = records(&all, "series", Some("good.hits"));
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(count(&all, "good.hits"), sent);
}

#[test]
fn the_admin_host_opens_probes_not_the_token_rule() {
    let dir = TempDir::new("atk-host");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_admin_host".into(), json!("0.0.0.0"));
    let mut d = Daemon::start(&cfg, dir);
    assert!(d.admin.ip().is_unspecified(), "{}", d.admin);
    let at = std::net::SocketAddr::from(([127, 0, 0, 1], d.admin.port()));
    // Probes and scrapers send an address as Host.
    let head = format!("GET /readyz HTTP/1.1\r\nHost: {at}\r\n\r\n");
    assert_eq!(request_raw(at, &head), (200, "ready\n".to_string()));
    let head = format!("POST /flush HTTP/1.1\r\nHost: {at}\r\n\r\n");
    assert_eq!(request_raw(at, &head).0, 401);
    // A name (DNS rebinding) is not an address.
    let head = format!(
        "GET /metrics HTTP/1.1\r\nHost: rebind.example:{}\r\n\r\n",
        at.port()
    );
    assert_eq!(request_raw(at, &head).0, 403);
    d.stop();
}

#[test]
fn readyz_reports_a_listener_that_could_not_bind() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = base_config();
    cfg.insert(
        "dogstatsd_port".into(),
        json!(taken.local_addr().unwrap().port()),
    );
    let dir = TempDir::new("atk-ready");
    let stream = dir.path("s.sock");
    cfg.insert("dogstatsd_stream_socket".into(), json!(stream));
    let mut d = Daemon::start(&cfg, dir);
    let (code, body) = request(d.admin, "GET", "/readyz", "");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("udp listener"), "{body}");
    assert_eq!(request(d.admin, "GET", "/healthz", "").0, 200);
    d.stop();
}

#[test]
fn an_unsafe_token_file_stops_start_up() {
    let dir = TempDir::new("atk-token");
    let victim = dir.path("victim");
    std::fs::write(&victim, "0123456789abcdef").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.path("link_token");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let open = dir.path("open_token");
    std::fs::write(&open, "0123456789abcdef").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    for (file, why) in [(&link, "symbolic link"), (&open, "other users")] {
        let mut cfg = base_config();
        cfg.insert("dogstatsd_admin_token_file".into(), json!(file));
        let (status, stderr) = run_to_exit(&cfg, &dir, &[]);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("dogstatsd_admin_token_file") && stderr.contains(why),
            "{stderr}"
        );
        assert!(!stderr.contains("0123456789abcdef"), "{stderr}");
    }
}

/// A directory like `/tmp`: everyone may create files, only owners may
/// remove them.
fn shared_dir(dir: &TempDir, name: &str, mode: u32) -> std::path::PathBuf {
    let p = dir.path(name);
    std::fs::create_dir(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn output_files_are_never_redirected() {
    let dir = TempDir::new("atk-output");
    let victim = dir.path("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let sticky = shared_dir(&dir, "shared", 0o1777);
    let planted = sticky.join("out.jsonl");
    let owned = sticky.join("theirs.jsonl");
    // The attacker, as nobody, plants a symbolic link and a file of
    // their own where the daemon will write.
    let script = format!(
        "import os\nos.symlink('{}', '{}')\nopen('{}', 'w').close()",
        victim.display(),
        planted.display(),
        owned.display()
    );
    let by_nobody = as_nobody(
        "output_files (as nobody)",
        "/usr/bin/python3",
        &["-c", &script],
    )
    .is_some();
    if !by_nobody {
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
    }
    let cfg = base_config();
    let (status, stderr) = run_to_exit(&cfg, &dir, &["--output".as_ref(), planted.as_os_str()]);
    assert!(!status.success());
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    if by_nobody {
        let (status, stderr) = run_to_exit(&cfg, &dir, &["--output".as_ref(), owned.as_os_str()]);
        assert!(!status.success());
        assert!(stderr.contains("belongs to uid 65534"), "{stderr}");
    }
    // A directory anyone may write to without the sticky bit.
    let open = shared_dir(&dir, "open", 0o777);
    let (status, stderr) = run_to_exit(
        &cfg,
        &dir,
        &["--output".as_ref(), open.join("out.jsonl").as_os_str()],
    );
    assert!(!status.success());
    assert!(stderr.contains("writable by other users"), "{stderr}");
    // A file of our own in the shared directory is fine, and aggregates.
    let mine = sticky.join("mine.jsonl");
    let mut d = Daemon::start_with_args(
        &cfg,
        TempDir::new("atk-output-ok"),
        &["--output".as_ref(), mine.as_os_str()],
    );
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..25 {
        udp.send_to(b"out.hits:2|c", d.udp.unwrap()).unwrap();
    }
    d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 25);
    d.stop();
    let text = std::fs::read_to_string(&mine).unwrap();
    let recs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(count(&recs, "out.hits"), 50, "{text}");
}

#[test]
fn capture_files_refuse_a_directory_others_may_write() {
    let keep = TempDir::new("atk-capdir");
    let open = shared_dir(&keep, "open", 0o777);
    let mut cfg = base_config();
    cfg.insert("dogstatsd_capture_path".into(), json!(open));
    let mut d = Daemon::start(&cfg, TempDir::new("atk-cap"));
    let (code, body) = d.admin_request("POST", "/capture?duration=1s");
    assert_ne!(code, 200, "{body}");
    assert!(body.contains("writable by other users"), "{body}");
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
    d.stop();
}

#[test]
fn a_live_socket_is_never_taken_over_a_stale_one_is() {
    let dir = TempDir::new("atk-sock");
    let dgram = dir.path("d.sock");
    let stream = dir.path("s.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(dgram));
    cfg.insert("dogstatsd_stream_socket".into(), json!(stream));
    let mut first = Daemon::start(&cfg, TempDir::new("atk-sock-a"));
    let c = UnixDatagram::unbound().unwrap();
    c.send_to(b"sock.hits:1|c", &dgram).unwrap();
    // A second daemon on either path exits 2 naming it.
    for (key, path) in [
        ("dogstatsd_socket", &dgram),
        ("dogstatsd_stream_socket", &stream),
    ] {
        let mut cfg2 = base_config();
        cfg2.insert(key.into(), json!(path));
        let (status, stderr) = run_to_exit(&cfg2, &dir, &[]);
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(path.to_str().unwrap()) && stderr.contains("in use"),
            "{stderr}"
        );
    }
    // The first still receives on both.
    c.send_to(b"sock.hits:1|c", &dgram).unwrap();
    let mut s = UnixStream::connect(&stream).unwrap();
    s.write_all(&frame(b"sock.hits:1|c")).unwrap();
    drop(s);
    first.wait_metric(r#"dogstatsd_listener_packets_total{listener="uds"}"#, 2);
    first.wait_metric(
        r#"dogstatsd_listener_packets_total{listener="uds_stream"}"#,
        1,
    );
    let all = first.stop();
    assert_eq!(count(&all, "sock.hits"), 3);
    // Stale files (the daemon was killed) are replaced.
    let stale_d = UnixDatagram::bind(&dgram).unwrap();
    drop(stale_d);
    let stale_s = std::os::unix::net::UnixListener::bind(&stream).unwrap();
    drop(stale_s);
    assert!(dgram.exists() && stream.exists());
    let mut again = Daemon::start(&cfg, TempDir::new("atk-sock-b"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while UnixStream::connect(&stream).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    c.send_to(b"sock.hits:1|c", &dgram).unwrap();
    again.wait_metric(r#"dogstatsd_listener_packets_total{listener="uds"}"#, 1);
    assert_eq!(count(&again.stop(), "sock.hits"), 1);
}

#[test]
fn captures_are_capped_and_one_at_a_time() {
    let keep = TempDir::new("atk-capcap");
    let cap_dir = keep.path("captures");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_capture_path".into(), json!(cap_dir));
    cfg.insert("dogstatsd_capture_max_duration".into(), json!("1m"));
    cfg.insert("dogstatsd_capture_max_bytes".into(), json!(4096));
    let mut d = Daemon::start(&cfg, TempDir::new("atk-capcap-d"));
    // The ten-year capture of the report: refused, naming the limit.
    let (code, body) = d.admin_request("POST", "/capture?duration=87600h&compressed=false");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("dogstatsd_capture_max_duration"), "{body}");
    let (code, body) = d.admin_request("POST", "/capture?duration=1m&compressed=false");
    assert_eq!(code, 200, "{body}");
    let (code, body) = d.admin_request("POST", "/capture?duration=10s");
    assert_eq!(code, 409, "one capture at a time: {body}");
    // Good traffic well past the byte limit: the capture stops, the
    // traffic is all aggregated.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = format!("cap.hits:1|c|#pad:{}", "x".repeat(80));
    for _ in 0..200 {
        udp.send_to(payload.as_bytes(), d.udp.unwrap()).unwrap();
    }
    d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let (_, body) = d.admin_request("GET", "/capture");
        let st: serde_json::Value = serde_json::from_str(&body).unwrap();
        if st["active"] == false {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the byte cap did not stop it: {st}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status["stopped_by"]
            .as_str()
            .is_some_and(|s| s.contains("dogstatsd_capture_max_bytes")),
        "{status}"
    );
    let file = status["path"].as_str().unwrap();
    let size = std::fs::metadata(file).unwrap().len();
    assert!(size <= 4096 && size > 3000, "{size}");
    assert_eq!(status["bytes"], size, "{status}");
    let all = d.stop();
    assert_eq!(count(&all, "cap.hits"), 200);
}

/// The stream attacker, run as `nobody`: keeps up to 20 connections
/// open for `seconds`, opening a new one every 100 ms (60 at most), and
/// on each either trickles a 100-byte frame a byte at a time (`trickle`)
/// or sends a complete tiny frame (`fresh`) every 100 ms; reconnects
/// when closed. Prints how many connections it opened.
const ATTACKER: &str = r#"
import socket, struct, sys, time
path, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
conns, opened, end = [], 0, time.time() + seconds
while time.time() < end:
    if len(conns) < 20 and opened < 60:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            opened += 1
            if mode == "trickle":
                s.send(struct.pack("<I", 100))
            conns.append(s)
        except OSError:
            pass
    alive = []
    for s in conns:
        try:
            s.send(b"x" if mode == "trickle" else struct.pack("<I", 12) + b"atk.hits:1|c")
            alive.append(s)
        except OSError:
            s.close()
    conns = alive
    time.sleep(0.1)
print(opened)
"#;

/// Starts the attacker as `nobody`, or `None` (after a SKIPPED line).
fn spawn_attacker(
    test: &str,
    socket: &Path,
    mode: &str,
    seconds: f64,
) -> Option<std::process::Child> {
    as_nobody(test, "true", &[])?;
    Some(
        std::process::Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .args(["/usr/bin/python3", "-c", ATTACKER])
            .arg(socket)
            .args([mode, &seconds.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the attacker"),
    )
}

/// `legit` connections from this (root) process send `total` increments
/// round-robin over about `seconds`, each write checked; then close.
fn legit_traffic(socket: &Path, connections: usize, total: usize, seconds: f64) {
    let mut conns: Vec<UnixStream> = (0..connections)
        .map(|_| UnixStream::connect(socket).unwrap())
        .collect();
    let gap = Duration::from_secs_f64(seconds / total as f64);
    for i in 0..total {
        let n = conns.len();
        conns[i % n]
            .write_all(&frame(b"legit.hits:1|c"))
            .unwrap_or_else(|e| panic!("legit connection {} closed at {i}: {e}", i % n));
        std::thread::sleep(gap);
    }
}

/// Waits until every accepted stream connection has been counted as
/// closed under some reason; returns the closes by reason.
fn every_close_counted(d: &Daemon) -> std::collections::BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = d.admin_get("/metrics");
        let mut closes = std::collections::BTreeMap::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("dogstatsd_connections_closed_total{reason=\"") {
                let (reason, v) = rest.split_once("\"} ").unwrap();
                closes.insert(reason.to_string(), v.parse::<u64>().unwrap());
            }
        }
        let accepted = d.metric(r#"dogstatsd_listener_connections_total{listener="uds_stream"}"#);
        let open = d.metric(r#"dogstatsd_listener_open_connections{listener="uds_stream"}"#);
        if open == 0 && closes.values().sum::<u64>() == accepted {
            return closes;
        }
        assert!(
            Instant::now() < deadline,
            "{accepted} accepted, {open} open, closes {closes:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_trickling_user_cannot_evict_another_users_stream_clients() {
    let dir = TempDir::new("atk-stream");
    let socket = dir.path("s.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_port".into(), json!(0));
    cfg.insert("dogstatsd_stream_socket".into(), json!(socket));
    cfg.insert("dogstatsd_stream_max_connections".into(), json!(8));
    cfg.insert("dogstatsd_stream_frame_timeout".into(), json!("1s"));
    let mut d = Daemon::start(&cfg, dir);
    let Some(attacker) = spawn_attacker(
        "a_trickling_user_cannot_evict_another_users_stream_clients",
        &socket,
        "trickle",
        4.0,
    ) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(500));
    legit_traffic(&socket, 4, 110, 3.0);
    let out = attacker.wait_with_output().unwrap();
    let opened: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(opened > 8, "the attacker opened {opened}");
    let closes = every_close_counted(&d);
    assert!(closes["uid_limit"] > 0, "{closes:?}");
    assert!(closes["frame_timeout"] > 0, "{closes:?}");
    assert_eq!(closes["max_connections"], 0, "{closes:?}");
    let all = d.stop();
    assert_eq!(count(&all, "legit.hits"), 110);
}

#[test]
fn at_the_connection_limit_the_uid_holding_most_is_evicted() {
    let dir = TempDir::new("atk-evict");
    let socket = dir.path("s.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_port".into(), json!(0));
    cfg.insert("dogstatsd_stream_socket".into(), json!(socket));
    cfg.insert("dogstatsd_stream_max_connections".into(), json!(6));
    // No per-uid share: only the eviction choice protects the client.
    cfg.insert("dogstatsd_stream_max_uid_share".into(), json!(1.0));
    let mut d = Daemon::start(&cfg, dir);
    let Some(mut attacker) = spawn_attacker(
        "at_the_connection_limit_the_uid_holding_most_is_evicted",
        &socket,
        "fresh",
        4.0,
    ) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(800));
    legit_traffic(&socket, 2, 110, 2.5);
    attacker.wait().unwrap();
    let closes = every_close_counted(&d);
    assert!(closes["max_connections"] > 0, "{closes:?}");
    assert_eq!(closes["uid_limit"], 0, "{closes:?}");
    let all = d.stop();
    assert_eq!(count(&all, "legit.hits"), 110);
}

/// The Python `datadog` package's client over the stream socket: 110
/// increments over about 3 s on its one connection, unbuffered.
const DATADOGPY: &str = r#"
import sys, time
from datadog.dogstatsd.base import DogStatsd
c = DogStatsd(socket_path="unixstream://" + sys.argv[1], disable_buffering=True,
              disable_telemetry=True, disable_background_sender=True, socket_timeout=5)
for i in range(110):
    c.increment("py.stream.hits")
    time.sleep(0.027)
c.close_socket()
print("sent")
"#;

#[test]
fn a_datadogpy_stream_client_loses_nothing_under_the_trickle_attack() {
    let test = "a_datadogpy_stream_client_loses_nothing_under_the_trickle_attack";
    match std::process::Command::new("python3")
        .args(["-c", "import datadog"])
        .output()
    {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!(
                "SKIPPED {test}: python3 with the `datadog` package is missing (pip install datadog)"
            );
            return;
        }
    }
    let dir = TempDir::new("atk-py");
    let socket = dir.path("s.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_port".into(), json!(0));
    cfg.insert("dogstatsd_stream_socket".into(), json!(socket));
    cfg.insert("dogstatsd_stream_max_connections".into(), json!(8));
    cfg.insert("dogstatsd_stream_frame_timeout".into(), json!("1s"));
    let mut d = Daemon::start(&cfg, dir);
    let Some(attacker) = spawn_attacker(test, &socket, "trickle", 4.0) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(500));
    let out = std::process::Command::new("python3")
        .args(["-c", DATADOGPY])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    attacker.wait_with_output().unwrap();
    let closes = every_close_counted(&d);
    assert!(
        closes["uid_limit"] + closes["frame_timeout"] > 0,
        "{closes:?}"
    );
    let all = d.stop();
    assert_eq!(count(&all, "py.stream.hits"), 110);
}
