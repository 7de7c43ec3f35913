//! Datagrams the kernel drops on a full receive buffer are on `/metrics`,
//! equal to what the kernel itself reports for the daemon's socket.
#![cfg(target_os = "linux")]

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{Daemon, TempDir, base_config};
use serde_json::json;

/// The kernel's drops for UDP sockets bound to `port` (`/proc/net/udp`).
fn kernel_drops(port: u16) -> u64 {
    let port = format!(":{port:04X}");
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|row| {
                    let cols: Vec<&str> = row.split_whitespace().collect();
                    cols.get(1)?
                        .ends_with(&port)
                        .then(|| cols.get(12)?.parse::<u64>().ok())?
                })
                .collect::<Vec<_>>()
        })
        .sum()
}

#[test]
fn a_flooded_tiny_receive_buffer_shows_its_kernel_drops() {
    let mut cfg = base_config();
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4096));
    let d = Daemon::start(&cfg, TempDir::new("kernel-drops"));
    let udp = d.udp.unwrap();
    let series = r#"dogstatsd_kernel_drops_total{listener="udp"}"#;
    assert_eq!(d.metric(series), 0);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let msg = format!("flood.metric:1|c|#pad:{}", "x".repeat(200));
    for _ in 0..100_000 {
        let _ = client.send_to(msg.as_bytes(), udp);
    }
    std::thread::sleep(Duration::from_millis(500));
    let kernel = kernel_drops(udp.port());
    let ours = d.metric(series);
    assert!(
        kernel > 0,
        "the kernel dropped nothing; the test proves nothing"
    );
    assert_eq!(ours, kernel, "/metrics {ours}, /proc/net/udp {kernel}");
}
