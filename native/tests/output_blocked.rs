//! A stdout nobody reads never stops aggregation, `POST /flush` or a
//! stop: flushes queue for the output thread, what does not fit is
//! dropped and counted, `/readyz` reports the stall, and SIGTERM still
//! exits.

mod common;

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, read_token, request};
use serde_json::json;

fn counter(admin: SocketAddr, series: &str) -> u64 {
    let (_, text) = request(admin, "GET", "/metrics", "");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
}

#[test]
fn a_stdout_nobody_reads_blocks_nothing() {
    let dir = TempDir::new("output-blocked");
    let token_file = dir.path("admin_token");
    let cfg = json!({
        "hostname": "blocked",
        "dogstatsd_port": "__random__",
        "dogstatsd_admin_port": "__random__",
        "dogstatsd_admin_token_file": token_file,
        "dogstatsd_so_rcvbuf": 4_194_304,
    });
    let file = dir.path("datadog.yaml");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .arg("--config")
        .arg(&file)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        // Piped and never read: the pipe fills after 64 KiB.
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let mut log = Vec::new();
    let (mut udp, mut admin) = (None, None);
    while admin.is_none() {
        let l = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("daemon start");
        if let Some(i) = l.find("udp listener bound to ") {
            udp = l[i + 22..].trim().parse::<SocketAddr>().ok();
        }
        if let Some(i) = l.find("admin endpoint bound to http://") {
            admin = l[i + 31..].split_whitespace().next().unwrap().parse().ok();
        }
        log.push(l);
    }
    let (udp, admin) = (udp.unwrap(), admin.unwrap());
    let auth = format!("Authorization: Bearer {}\r\n", read_token(&token_file));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();

    // Each round: 3,000 new contexts (far more than a pipe holds once
    // rendered), then POST /flush, which must answer at once.
    let mut sent = 0u64;
    for round in 0..8 {
        for i in 0..3000 {
            let m = format!("blocked.gauge.{round}:{i}|g|#ctx:{i}");
            sock.send_to(m.as_bytes(), udp).unwrap();
            sent += 1;
        }
        // Let the daemon take them in before flushing.
        let deadline = Instant::now() + Duration::from_secs(10);
        while counter(
            admin,
            "dogstatsd_messages_total{message_type=\"metrics\",state=\"ok\"}",
        ) < sent
        {
            assert!(Instant::now() < deadline, "the daemon stopped reading");
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = Instant::now();
        let (code, body) = request(admin, "POST", "/flush", &auth);
        assert_eq!(code, 200, "{body}");
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "POST /flush waited {:?} on the blocked output",
            t.elapsed()
        );
    }
    // Aggregation went on: every packet was processed.
    assert_eq!(
        counter(
            admin,
            "dogstatsd_messages_total{message_type=\"metrics\",state=\"ok\"}"
        ),
        sent
    );
    // Four flushes fit the queue behind the one being written; the rest
    // were dropped and counted.
    let dropped = counter(admin, "dogstatsd_output_flushes_total{state=\"dropped\"}");
    assert!(dropped >= 1, "no flush counted as dropped");
    assert!(counter(admin, "dogstatsd_output_records_total{state=\"dropped\"}") >= 3000 * dropped);

    // Not ready once the write has stalled past the threshold; alive.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, body) = request(admin, "GET", "/readyz", "");
        if code == 503 {
            assert!(body.contains("output blocked"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {code}: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(request(admin, "GET", "/healthz", "").0, 200);

    // SIGTERM still ends the daemon, which says what it could not write.
    let t = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "SIGTERM hung on the blocked output"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
        log.push(l);
    }
    let log = log.join("\n");
    assert!(status.success(), "exit {status}:\n{log}");
    assert!(log.contains("output still blocked"), "{log}");
}
