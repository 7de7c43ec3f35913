//! The datagram listeners' receive buffer: raised by default and logged,
//! overridden by `dogstatsd_so_rcvbuf`, and a real client's burst survives
//! the default configuration run after run.

#![cfg(unix)]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, StatsdClient};
use common::{Daemon, TempDir, base_config};
use serde_json::json;

/// The effective size from the `<listener> receive buffer N bytes (why)`
/// start-up line.
fn logged_rcvbuf(d: &Daemon, listener: &str) -> (usize, String) {
    let marker = format!("{listener} receive buffer ");
    d.log
        .iter()
        .find_map(|l| {
            let rest = &l[l.find(&marker)? + marker.len()..];
            let (n, why) = rest.split_once(" bytes ")?;
            Some((n.parse().ok()?, why.to_string()))
        })
        .unwrap_or_else(|| panic!("no {marker:?} line:\n{}", d.log.join("\n")))
}

fn os_default() -> usize {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&s).recv_buffer_size().unwrap()
}

#[test]
fn default_buffer_is_raised_and_logged_for_udp_and_uds() {
    let dir = TempDir::new("rcvbuf-default");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(dir.path("dsd.sock")));
    let mut d = Daemon::start(&cfg, dir);
    let default = os_default();
    for listener in ["udp", "uds"] {
        let (bytes, why) = logged_rcvbuf(&d, listener);
        assert!(
            bytes >= default,
            "{listener}: {bytes} < OS default {default}"
        );
        assert!(!why.contains("dogstatsd_so_rcvbuf"), "{why}");
        let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0);
        // Linux books twice the asked size: at least rmem_max unless the
        // OS default was already larger or the buffer was forced.
        if cfg!(target_os = "linux") && rmem_max > default / 2 {
            assert!(bytes >= rmem_max.min(4 << 20), "{listener}: {bytes} {why}");
        }
    }
    d.stop();
}

#[test]
fn configured_so_rcvbuf_overrides_the_default() {
    let dir = TempDir::new("rcvbuf-configured");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(dir.path("dsd.sock")));
    // Below any OS default, so the override is visible.
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(65536));
    let mut d = Daemon::start(&cfg, dir);
    for listener in ["udp", "uds"] {
        let (bytes, why) = logged_rcvbuf(&d, listener);
        assert!(why.contains("dogstatsd_so_rcvbuf"), "{why}");
        if cfg!(target_os = "linux") {
            assert_eq!(
                bytes,
                2 * 65536,
                "{listener}: Linux books twice the asked size"
            );
        }
    }
    d.stop();
}

/// Kernel drops on the UDP socket bound to `port` (`/proc/net/udp`, last
/// column), `None` where that file is not there.
fn kernel_drops(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!(":{port:04X}");
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        cols.get(1)?
            .ends_with(&local)
            .then(|| cols.last()?.parse().ok())?
    })
}

const METRICS_OK: &str = r#"dogstatsd_messages_total{message_type="metrics",state="ok"}"#;

#[test]
fn cadence_buffered_bursts_lose_nothing_on_the_default_configuration() {
    let dir = TempDir::new("rcvbuf-burst");
    let d = Daemon::start(&base_config(), dir);
    let addr = d.udp.unwrap();
    // cadence's buffered sink packs lines into 512-byte datagrams and
    // sends each as it fills: 1,500 lines are about 70 datagrams, back to
    // back, as an application flushing its buffer does. CLIENTS such
    // applications burst at the same moment (as at a shared timer tick),
    // one right after the other.
    const LINES: u64 = 1500;
    const CLIENTS: u64 = 8;
    const RUNS: u64 = 5;
    for run in 1..=RUNS {
        let clients: Vec<StatsdClient> = (0..CLIENTS)
            .map(|_| {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                let sink = BufferedUdpMetricSink::from(addr, socket).unwrap();
                StatsdClient::from_sink("burst", sink)
            })
            .collect();
        for i in 0..LINES {
            for client in &clients {
                client
                    .count_with_tags("hits", 1)
                    .with_tag("i", &(i % 50).to_string())
                    .send();
            }
        }
        for client in &clients {
            client.flush().unwrap();
        }
        let sent = run * LINES * CLIENTS;
        let got = d.wait_metric(METRICS_OK, sent);
        assert_eq!(
            got,
            sent,
            "run {run}: kernel drops {:?}",
            kernel_drops(addr.port())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(drops) = kernel_drops(addr.port()) {
        assert_eq!(drops, 0, "kernel drops on the daemon's socket");
    } else {
        eprintln!("SKIPPED kernel drop check: no /proc/net/udp");
    }
}
