//! The daemon under a service manager: systemd's notification protocol
//! (READY, WATCHDOG, RELOADING, STOPPING) and SIGHUP reloads that
//! validate first, apply the log level live, name what needs a restart,
//! keep the running configuration when the new one is bad, and lose
//! nothing received.
#![cfg(unix)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::TempDir;
use serde_json::{Value, json};

/// Waits for a notification containing `what`; returns every state seen.
fn expect_notify(sock: &UnixDatagram, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(Instant::now() < deadline, "no {what} in {seen:?}");
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        let hit = msg.lines().any(|l| l == what);
        seen.push(msg);
        if hit {
            return seen;
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Waits (bounded) for a log line containing `text`.
fn expect_log(rx: &mpsc::Receiver<String>, log: &mut Vec<String>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.iter().any(|l| l.contains(text)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => log.push(l),
            Err(_) => panic!("no log line with {text:?}:\n{}", log.join("\n")),
        }
    }
}

#[test]
fn systemd_notifications_and_sighup_reload() {
    let dir = TempDir::new("lifecycle");
    let notify_path = dir.path("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let cfg_file = dir.path("datadog.yaml");
    let base = json!({
        "hostname": "before-reload",
        "dogstatsd_port": "__random__",
        "log_level": "info",
    });
    std::fs::write(&cfg_file, base.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .arg("--config")
        .arg(&cfg_file)
        .env_remove("RUST_LOG")
        .env_remove("DD_LOG_LEVEL")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });

    // READY once the listeners are bound, then watchdog pings.
    expect_notify(&notify, "READY=1");
    let mut log = Vec::new();
    expect_log(&rx, &mut log, "udp listener bound to ");
    let udp: SocketAddr = log
        .iter()
        .find_map(|l| l.split("udp listener bound to ").nth(1))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    expect_notify(&notify, "WATCHDOG=1");
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(b"reload.count:1|c", udp).unwrap();

    // A good reload: the log level applies live, the hostname waits for a
    // restart; the daemon keeps running and says so.
    let mut next = base.clone();
    next["log_level"] = json!("debug");
    next["hostname"] = json!("after-reload");
    std::fs::write(&cfg_file, next.to_string()).unwrap();
    signal(pid, "-HUP");
    let states = expect_notify(&notify, "RELOADING=1");
    assert!(
        states.concat().contains("MONOTONIC_USEC="),
        "RELOADING without MONOTONIC_USEC: {states:?}"
    );
    expect_notify(&notify, "READY=1");
    expect_log(&rx, &mut log, "configuration reloaded: log_level applied");
    expect_log(
        &rx,
        &mut log,
        "hostname changed and take effect at the next restart",
    );
    client.send_to(b"reload.count:2|c", udp).unwrap();

    // A bad file is refused; the running configuration stays.
    std::fs::write(&cfg_file, "hostname: [unclosed\n").unwrap();
    signal(pid, "-HUP");
    expect_notify(&notify, "RELOADING=1");
    expect_log(&rx, &mut log, "reload refused");
    client.send_to(b"reload.count:4|c", udp).unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended the daemon"
    );

    // SIGTERM: STOPPING, exit 0, and every increment in the last flush.
    std::thread::sleep(Duration::from_millis(300));
    signal(pid, "-TERM");
    expect_notify(&notify, "STOPPING=1");
    let status = child.wait().unwrap();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
        log.push(l);
    }
    assert!(status.success(), "exit {status}:\n{}", log.join("\n"));
    let records: Vec<Value> = out
        .join()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let total: f64 = records
        .iter()
        .filter(|r| r["metric"] == "reload.count")
        .map(|r| r["value"].as_f64().unwrap() * r["interval"].as_f64().unwrap_or(1.0))
        .sum();
    assert!(
        (total - 7.0).abs() < 1e-9,
        "increments lost across reloads: {total} of 7\n{records:?}"
    );
    // The hostname in force is still the one the daemon started with.
    assert!(
        records
            .iter()
            .filter(|r| r["metric"] == "reload.count")
            .all(|r| r["host"] == "before-reload"),
        "{records:?}"
    );
}

#[test]
fn no_listener_bound_is_a_failed_start_unless_allowed() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("no-listener");
    let mut cfg = common::base_config();
    cfg.insert("dogstatsd_port".into(), json!(port));
    let (status, stderr) = common::run_to_exit(&cfg, &dir, &[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("listening on neither"), "{stderr}");

    // Allowed: it keeps running, alive but not ready.
    cfg.insert("dogstatsd_require_listener".into(), json!(false));
    let d = common::Daemon::start(&cfg, TempDir::new("no-listener-ok"));
    assert_eq!(common::request(d.admin, "GET", "/healthz", "").0, 200);
    let (code, body) = common::request(d.admin, "GET", "/readyz", "");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("udp"), "{body}");
}
