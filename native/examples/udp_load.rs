//! End-to-end UDP ingest benchmark: starts the `dogstatsd` binary (output
//! to /dev/null), sends DogStatsD metrics at a fixed rate from this
//! process for a bounded time, then reads what the daemon parsed from its
//! `/metrics` and its CPU time and RSS from `/proc`. Linux only.
//!
//! ```text
//! cargo build --release -p dogstatsd-native --bin dogstatsd --example udp_load
//! target/release/examples/udp_load --bin target/release/dogstatsd --rate 100000 --seconds 10
//! target/release/examples/udp_load --bin target/release/dogstatsd --find-max --seconds 5
//! ```
//!
//! Options: `--per-datagram N` messages per datagram (default 1, the
//! worst case: clients without buffering), `--contexts N` distinct
//! contexts (default 1000), `--rcvbuf BYTES` (`dogstatsd_so_rcvbuf`,
//! default 0).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Opts {
    bin: String,
    rate: u64,
    seconds: u64,
    per_datagram: u64,
    contexts: u64,
    rcvbuf: u64,
    find_max: bool,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        bin: "target/release/dogstatsd".into(),
        rate: 100_000,
        seconds: 10,
        per_datagram: 1,
        contexts: 1000,
        rcvbuf: 0,
        find_max: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--rate" => o.rate = num("--rate"),
            "--seconds" => o.seconds = num("--seconds").clamp(1, 120),
            "--per-datagram" => o.per_datagram = num("--per-datagram").max(1),
            "--contexts" => o.contexts = num("--contexts").max(1),
            "--rcvbuf" => o.rcvbuf = num("--rcvbuf"),
            "--find-max" => o.find_max = true,
            "--bin" => o.bin = args.next().expect("--bin needs a path"),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

struct Daemon {
    child: Child,
    udp: SocketAddr,
    admin: SocketAddr,
}

impl Daemon {
    fn start(o: &Opts) -> Self {
        let cfg = std::env::temp_dir().join(format!("dsd-bench-{}.yaml", std::process::id()));
        std::fs::write(
            &cfg,
            format!(
                "dogstatsd_port: __random__\nbind_host: 127.0.0.1\ndogstatsd_admin_port: __random__\nhostname: bench\ndogstatsd_so_rcvbuf: {}\n",
                o.rcvbuf
            ),
        )
        .unwrap();
        let mut child = Command::new(&o.bin)
            .arg("--config")
            .arg(&cfg)
            .args(["--output", "/dev/null"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the daemon (--bin)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut udp, mut admin) = (None, None);
        while admin.is_none() {
            let line = lines.next().expect("daemon exited").unwrap();
            if let Some(i) = line.find("udp listener bound to ") {
                udp = line[i + 22..].trim().parse().ok();
            }
            if let Some(i) = line.find("http://") {
                admin = line[i + 7..]
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.parse().ok());
            }
        }
        // Keep draining stderr so the daemon never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            udp: udp.expect("udp address"),
            admin: admin.unwrap(),
        }
    }

    fn metric(&self, series: &str) -> u64 {
        let mut s = TcpStream::connect(self.admin).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU seconds (user + system) so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the `(comm)`; utime and stime are the 14th and 15th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0 // USER_HZ is 100 on Linux
    }

    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

struct Outcome {
    sent: u64,
    parsed: u64,
    received: u64,
    queue_drops: u64,
    cpu: f64,
    rss_kib: u64,
    hwm_kib: u64,
    achieved_rate: f64,
}

fn run_once(o: &Opts, rate: u64) -> Outcome {
    let d = Daemon::start(o);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(d.udp).unwrap();
    let payloads: Vec<Vec<u8>> = (0..o.contexts)
        .map(|k| {
            let kind = ["c", "g", "h", "d", "ms"][(k % 5) as usize];
            let line = format!(
                "bench.metric.{k}:{}|{kind}|#env:prod,service:web,shard:{}",
                k % 97,
                k % 13
            );
            vec![line; o.per_datagram as usize].join("\n").into_bytes()
        })
        .collect();
    let cpu0 = d.cpu_seconds();
    let start = Instant::now();
    let total_datagrams = rate * o.seconds / o.per_datagram;
    let per_ms = (rate / o.per_datagram / 1000).max(1);
    let mut sent = 0u64;
    let mut tick = 0u64;
    while sent < total_datagrams {
        for _ in 0..per_ms.min(total_datagrams - sent) {
            let _ = sock.send(&payloads[(sent % o.contexts) as usize]);
            sent += 1;
        }
        tick += 1;
        let due = start + Duration::from_millis(tick);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = d.cpu_seconds() - cpu0;
    let rss_kib = d.rss_kib("VmRSS:");
    // Let the assembler and workers finish what was read (bounded): a
    // backlog still queued is not loss.
    let settle = Instant::now() + Duration::from_secs(10);
    std::thread::sleep(Duration::from_millis(200));
    while Instant::now() < settle
        && d.metric("dogstatsd_packets_processed_total")
            < d.metric("dogstatsd_packets_queued_total")
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let parsed = d.metric(r#"dogstatsd_messages_total{message_type="metrics",state="ok"}"#);
    let received = d.metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#);
    let queue_drops = d.metric(r#"dogstatsd_dropped_total{cause="queue_full"}"#);
    let hwm_kib = d.rss_kib("VmHWM:");
    d.stop();
    Outcome {
        sent: sent * o.per_datagram,
        parsed,
        received,
        queue_drops,
        cpu: cpu / elapsed,
        rss_kib,
        hwm_kib,
        achieved_rate: (sent * o.per_datagram) as f64 / elapsed,
    }
}

fn report(rate: u64, r: &Outcome) -> f64 {
    let loss = 1.0 - r.parsed as f64 / r.sent as f64;
    println!(
        "target {rate:>9} msg/s  achieved {:>10.0} msg/s  sent {:>9}  parsed {:>9}  loss {:>7.3}% (datagrams read {}, queue drops {})  daemon CPU {:>5.1}% of one core  RSS {} KiB (peak {} KiB)",
        r.achieved_rate,
        r.sent,
        r.parsed,
        loss * 100.0,
        r.received,
        r.queue_drops,
        r.cpu * 100.0,
        r.rss_kib,
        r.hwm_kib
    );
    loss
}

fn main() {
    let o = parse_args();
    if !o.find_max {
        let r = run_once(&o, o.rate);
        report(o.rate, &r);
        return;
    }
    // Double, then bisect, until the loss crosses 0.1%.
    let (mut good, mut bad) = (0u64, None::<u64>);
    let mut rate = 50_000u64;
    for _ in 0..10 {
        let r = run_once(&o, rate);
        let loss = report(rate, &r);
        // The sender itself may not keep up; judge by what it achieved.
        let achieved = r.achieved_rate as u64;
        if loss < 0.001 {
            good = good.max(achieved.min(rate));
        } else {
            bad = Some(bad.map_or(rate, |b| b.min(rate)));
        }
        rate = match bad {
            None => rate * 2,
            Some(b) if b - good > good / 10 => (good + b) / 2,
            Some(_) => break,
        };
    }
    println!("highest rate with < 0.1% loss: {good} msg/s");
}
