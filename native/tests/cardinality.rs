//! A cardinality explosion: ten million distinct contexts sent to a daemon
//! with `dogstatsd_context_limit`. Memory stays bounded, every sample of a
//! context beyond the limit is counted, and contexts that were live before
//! keep aggregating exactly.

#![cfg(unix)]

mod common;

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use common::{Daemon, TempDir, base_config, frame, series_sum};
use serde_json::json;

const EXPLOSION: u64 = 10_000_000;
const LIMIT: u64 = 10_000;
const KNOWN: u64 = 100;

/// `boom.NNNNNNNN:1|c\n` for `first..first+n`, written without formatting
/// machinery (ten million of them in a debug build).
fn explosion_packet(first: u64, n: u64, out: &mut Vec<u8>) {
    out.clear();
    for i in first..first + n {
        out.extend_from_slice(b"boom.");
        let mut digits = [b'0'; 8];
        let mut v = i;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&digits);
        out.extend_from_slice(b":1|c\n");
    }
}

fn known_packet(value: u64) -> Vec<u8> {
    (0..KNOWN)
        .map(|i| format!("known.{i}:{value}|c|#env:test\n"))
        .collect::<String>()
        .into_bytes()
}

/// Peak resident memory of `pid` in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn ten_million_new_contexts_stay_bounded_and_known_contexts_stay_exact() {
    let dir = TempDir::new("cardinality");
    let sock = dir.path("dsd-stream.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_port".into(), json!(0));
    cfg.insert("dogstatsd_stream_socket".into(), json!(sock));
    cfg.insert("dogstatsd_context_limit".into(), json!(LIMIT));
    let mut d = Daemon::start(&cfg, dir);
    let mut s = UnixStream::connect(&sock).unwrap();

    s.write_all(&frame(&known_packet(1))).unwrap();
    d.wait_metric("dogstatsd_packets_processed_total", 1);
    let started = Instant::now();
    // ~480 messages a frame (8 KiB); paced so the packet queue never
    // fills: every explosion sample reaches a pipeline, none is dropped
    // for lack of queue space, and queued buffers do not count in RSS.
    let per_frame = 8192 / 18;
    let mut packet = Vec::new();
    let mut sent_frames = 1;
    let mut first = 0;
    while first < EXPLOSION {
        let n = per_frame.min(EXPLOSION - first);
        explosion_packet(first, n, &mut packet);
        s.write_all(&frame(&packet)).unwrap();
        first += n;
        sent_frames += 1;
        if sent_frames % 128 == 0 {
            d.wait_metric("dogstatsd_packets_processed_total", sent_frames - 64);
        }
    }
    d.wait_metric("dogstatsd_packets_processed_total", sent_frames);
    let explosion_took = started.elapsed();
    s.write_all(&frame(&known_packet(2))).unwrap();
    d.wait_metric("dogstatsd_packets_processed_total", sent_frames + 1);
    // Workers hand samples over in batches; a flush drains them first, so
    // after it every counter is final.
    d.admin_post("/flush");

    assert_eq!(
        d.metric(r#"dogstatsd_dropped_total{cause="queue_full"}"#),
        0
    );
    let limited = d.metric(r#"dogstatsd_dropped_total{cause="context_limit"}"#);
    let contexts = d.metric("dogstatsd_contexts");
    assert!(contexts <= LIMIT, "{contexts} live contexts");
    // Every explosion sample either made one of the contexts that fit
    // under the limit next to the known ones, or was counted as dropped.
    assert_eq!(limited + (contexts - KNOWN), EXPLOSION);
    let hwm_mib = vm_hwm_kib(d.pid()) / 1024;
    // Ten thousand contexts take a few MiB; ten million would take
    // gigabytes. The bound leaves room for buffers and the allocator.
    assert!(hwm_mib < 120, "peak RSS {hwm_mib} MiB");

    let records = d.stop();
    for i in 0..KNOWN {
        let total = series_sum(&records, &format!("known.{i}"));
        // Two samples, 1 and 2, flushed as rates over 10 s buckets.
        assert!((total - 0.3).abs() < 1e-9, "known.{i}: {total}");
    }
    eprintln!(
        "explosion of {EXPLOSION} contexts processed in {explosion_took:?}; \
         {limited} samples dropped at the limit; peak RSS {hwm_mib} MiB"
    );
}
