//! Native baseline for `bench/throughput.cjs`: push + flush throughput of
//! `dogstatsd_core::server::Server` on one core, on the same corpus and
//! schedule (packets of at most 8192 bytes split at line breaks, spread
//! over 60 simulated seconds, closed buckets flushed at each 10 s
//! boundary and rendered as `aggregate` records, everything at the end).
//!
//! ```text
//! cargo run --release -p dogstatsd-wasm --example native_throughput -- CORPUS [ROUNDS]
//! ```

use std::time::Instant;

use dogstatsd_core::aggregate::FlushMode;
use dogstatsd_core::config::Config;
use dogstatsd_core::output;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

const T0_MS: i64 = 1_700_000_000_000;
const SPAN_MS: i64 = 60_000;
const MAX_PACKET: usize = 8192;

fn packets(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut end, mut pos) = (0, 0, 0);
    while pos < bytes.len() {
        let nl = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        if end > start && nl - start > MAX_PACKET {
            out.push(&bytes[start..end]);
            start = pos;
        }
        end = nl;
        pos = nl + 1;
    }
    if end > start {
        out.push(&bytes[start..end]);
    }
    out
}

/// Seconds this thread has run on a CPU (Linux `schedstat`), so that a
/// busy shared machine skews the figures less; `None` elsewhere.
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

struct Run {
    /// CPU seconds (wall seconds where CPU time is unavailable).
    secs: f64,
    wall: f64,
    flush_secs: f64,
    accepted: u64,
    records: usize,
}

fn run(cfg: &Config, pkts: &[&[u8]]) -> Run {
    let mut server = Server::new(cfg).expect("config");
    let mut out = Vec::new();
    let mut records = 0;
    let mut accepted = 0u64;
    let mut last_bucket = T0_MS.div_euclid(10_000);
    let n = pkts.len() as i64;
    let mut flush_secs = 0.0;
    let cpu_start = cpu_secs();
    let start = Instant::now();
    let mut flush = |server: &mut Server, now_ms: i64, all: bool| {
        let t = Instant::now();
        let mode = if all {
            FlushMode::All
        } else {
            FlushMode::Closed
        };
        let f = server.flush(Timestamp::from_secs(now_ms.div_euclid(1000)), mode);
        out.clear();
        output::write_flush(&mut out, &f);
        flush_secs += t.elapsed().as_secs_f64();
        f.series.len() + f.sketches.len() + f.events.len() + f.service_checks.len()
    };
    for (i, p) in pkts.iter().enumerate() {
        let now = T0_MS + (i as i64 * SPAN_MS) / n;
        let bucket = now.div_euclid(10_000);
        if bucket != last_bucket {
            records += flush(&mut server, now, false);
            last_bucket = bucket;
        }
        accepted += u64::from(
            server
                .handle_packet(
                    Timestamp::from_secs(now.div_euclid(1000)),
                    Transport::Push.into(),
                    p,
                )
                .accepted,
        );
    }
    records += flush(&mut server, T0_MS + SPAN_MS, true);
    let wall = start.elapsed().as_secs_f64();
    let secs = match (cpu_start, cpu_secs()) {
        (Some(a), Some(b)) => b - a,
        _ => wall,
    };
    Run {
        secs,
        wall,
        flush_secs,
        accepted,
        records,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(file) = args.next() else {
        eprintln!("usage: native_throughput CORPUS [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(7);
    let bytes = std::fs::read(&file).unwrap_or_else(|e| {
        eprintln!("{file}: {e}");
        std::process::exit(1);
    });
    let pkts = packets(&bytes);
    let cfg = Config::from_json(r#"{"hostname":"bench"}"#).expect("config");
    let runs: Vec<Run> = (0..rounds.max(1)).map(|_| run(&cfg, &pkts)).collect();
    for r in &runs {
        eprintln!(
            "  round: {:.3} s CPU, {:.3} s wall, of which flush + render {:.3} s wall",
            r.secs, r.wall, r.flush_secs
        );
    }
    let mut secs: Vec<f64> = runs.iter().map(|r| r.secs).collect();
    secs.sort_by(f64::total_cmp);
    let (accepted, records) = (runs[0].accepted, runs[0].records);
    let best = accepted as f64 / secs[0];
    let median = accepted as f64 / secs[secs.len() / 2];
    let best_wall = runs.iter().map(|r| r.wall).fold(f64::INFINITY, f64::min);
    println!(
        "native: {accepted} messages in {} packets, {records} records; CPU time: best {:.3} M msg/s, median {:.3} M msg/s; wall: best {:.3} M msg/s",
        pkts.len(),
        best / 1e6,
        median / 1e6,
        accepted as f64 / best_wall / 1e6
    );
    println!(
        "{{\"impl\":\"native\",\"messages\":{accepted},\"records\":{records},\"best_msgs_per_sec\":{best},\"median_msgs_per_sec\":{median}}}"
    );
}
