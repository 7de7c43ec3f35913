//! End-to-end benchmark harness (Linux): for each scenario it starts the
//! `dogstatsd` binary with a temporary config (random ports, temporary
//! socket paths, output to /dev/null, 4 MiB receive buffer), sends the
//! seeded load of `dogstatsd_benches::load` from this process, lets the
//! daemon drain what it read, then reports from the daemon's own
//! `/metrics` and from `/proc`: messages received per second, loss,
//! daemon CPU-seconds per million messages and peak RSS. The table goes
//! to stdout and to `benches/results/e2e-<date>.md`.
//!
//! ```text
//! cargo build --release -p dogstatsd-native -p dogstatsd-benches && target/release/e2e
//! ```
//!
//! Options: `--bin PATH` (default `target/release/dogstatsd`),
//! `--seconds N` per scenario (default 5, at most 10), `--seed N`,
//! `--out DIR` (default `benches/results`), `--only NAME` (scenarios whose
//! name contains NAME). `--find-max` (or `--transport udp|uds|uds-stream`)
//! instead searches the highest fixed rate with < 0.1 % loss, with
//! `--per-datagram N` messages per datagram (default 1); it prints and
//! writes no file.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dogstatsd_benches::load::{self, LoadConfig, Rate, Summary, Transport};

struct Opts {
    bin: PathBuf,
    seconds: f64,
    seed: u64,
    out: PathBuf,
    only: Option<String>,
    find_max: Option<Transport>,
    per_datagram: usize,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        bin: "target/release/dogstatsd".into(),
        seconds: 5.0,
        seed: 1,
        out: "benches/results".into(),
        only: None,
        find_max: None,
        per_datagram: 1,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--find-max" {
            o.find_max = Some(Transport::Udp);
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bin" => o.bin = v.into(),
            "--seconds" => {
                o.seconds = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && *s <= 10.0)
                    .ok_or("--seconds: more than 0, at most 10")?;
            }
            "--seed" => o.seed = v.parse().map_err(|_| "--seed: a number")?,
            "--out" => o.out = v.into(),
            "--only" => o.only = Some(v.clone()),
            "--transport" => {
                o.find_max =
                    Some(Transport::parse(v).ok_or("--transport: udp, uds or uds-stream")?);
            }
            "--per-datagram" => {
                o.per_datagram = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--per-datagram: a positive number")?;
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

struct Scenario {
    name: String,
    transport: Transport,
    rate: Rate,
    per_datagram: usize,
    contexts: usize,
}

fn scenarios() -> Vec<Scenario> {
    let s = |name: &str, transport, rate, per_datagram, contexts| Scenario {
        name: name.into(),
        transport,
        rate,
        per_datagram,
        contexts,
    };
    let fixed = Rate::Fixed(100_000);
    vec![
        s("udp 100k/s", Transport::Udp, fixed, 1, 3_000),
        s("uds 100k/s", Transport::Uds, fixed, 1, 3_000),
        s("uds-stream 100k/s", Transport::UdsStream, fixed, 1, 3_000),
        // Everyday rates with datagrams packed as clients' buffers pack
        // them (about 8 messages each), 10k contexts.
        s(
            "udp 30k/s, 8/datagram",
            Transport::Udp,
            Rate::Fixed(30_000),
            8,
            11_430,
        ),
        s("udp 100k/s, 8/datagram", Transport::Udp, fixed, 8, 11_430),
        s("udp max, 1/datagram", Transport::Udp, Rate::Max, 1, 3_000),
        s("udp max, 10/datagram", Transport::Udp, Rate::Max, 10, 3_000),
        // The corpus draws contexts skewed towards hot ones, so with four
        // messages per context about 7 in 8 of them are ever sent: ask for
        // 8/7 as many to get about 10k and 100k live ones (the table shows
        // the daemon's own count).
        s("rss ~10k live contexts", Transport::Udp, fixed, 1, 11_430),
        s("rss ~100k live contexts", Transport::Udp, fixed, 1, 114_300),
    ]
}

/// A running daemon with its temporary directory.
struct Daemon {
    child: Child,
    udp: Option<SocketAddr>,
    admin: SocketAddr,
    dir: PathBuf,
}

impl Daemon {
    fn start(bin: &Path, dir: PathBuf) -> Result<Self, String> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let cfg = dir.join("datadog.yaml");
        std::fs::write(
            &cfg,
            format!(
                "hostname: bench\n\
                 bind_host: 127.0.0.1\n\
                 dogstatsd_port: __random__\n\
                 dogstatsd_admin_port: __random__\n\
                 dogstatsd_admin_token_file: {}\n\
                 dogstatsd_socket: {}\n\
                 dogstatsd_stream_socket: {}\n\
                 dogstatsd_so_rcvbuf: 4194304\n\
                 log_level: info\n",
                dir.join("admin_token").display(),
                dir.join("dsd.sock").display(),
                dir.join("dsd-stream.sock").display(),
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .args(["--output", "/dev/null"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = mpsc::channel();
        // Reads stderr to the end so the daemon never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut d = Self {
            child,
            udp: None,
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut log = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                return Err(format!("daemon did not start:\n{}", log.join("\n")));
            };
            if let Some(a) = after(&line, "udp listener bound to ") {
                d.udp = a.trim().parse().ok();
            }
            if let Some(a) = after(&line, "admin endpoint bound to http://")
                .and_then(|a| a.split_whitespace().next())
                .and_then(|a| a.parse().ok())
            {
                d.admin = a;
                break;
            }
            log.push(line);
        }
        for sock in ["dsd.sock", "dsd-stream.sock"] {
            let p = d.dir.join(sock);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !p.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(d)
    }

    fn target(&self, t: Transport) -> String {
        match t {
            Transport::Udp => self.udp.map(|a| a.to_string()).unwrap_or_default(),
            Transport::Uds => self.dir.join("dsd.sock").display().to_string(),
            Transport::UdsStream => self.dir.join("dsd-stream.sock").display().to_string(),
        }
    }

    /// Every series of `/metrics`, by its full name with labels.
    fn metrics(&self) -> HashMap<String, f64> {
        let mut text = String::new();
        if let Ok(mut s) = TcpStream::connect_timeout(&self.admin, Duration::from_secs(2)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            // The admin endpoint answers only a loopback Host (DNS
            // rebinding guard).
            let _ = write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.admin
            );
            let _ = s.read_to_string(&mut text);
        }
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
    }

    /// CPU seconds (user + system) so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_file("stat");
        // utime and stime are the 12th and 13th fields after "(comm) ".
        let rest = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        (tick(11) + tick(12)) as f64 / 100.0 // USER_HZ is 100 on Linux
    }

    fn status_kib(&self, field: &str) -> u64 {
        self.proc_file("status")
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

fn get(m: &HashMap<String, f64>, k: &str) -> f64 {
    m.get(k).copied().unwrap_or(0.0)
}

struct Row {
    sent: Summary,
    parsed: f64,
    queue_drops: f64,
    contexts: f64,
    cpu: f64,
    peak_rss_kib: u64,
}

fn run(o: &Opts, s: &Scenario, n: usize) -> Result<Row, String> {
    let cfg = LoadConfig {
        transport: s.transport,
        rate: s.rate,
        duration: Duration::from_secs_f64(o.seconds),
        seed: o.seed,
        contexts: s.contexts,
        per_datagram: s.per_datagram,
        ..LoadConfig::default()
    };
    let pool = cfg.datagrams();
    let dir = std::env::temp_dir().join(format!("dsd-e2e-{}-{n}", std::process::id()));
    let d = Daemon::start(&o.bin, dir)?;
    let cfg = LoadConfig {
        target: d.target(s.transport),
        ..cfg
    };
    let cpu0 = d.cpu_seconds();
    let sent = match load::run_pool(&cfg, &pool) {
        Ok(sent) => sent,
        Err(e) => {
            d.stop();
            return Err(format!("send: {e}"));
        }
    };
    // Let the daemon finish what it read (bounded): a backlog still in a
    // socket buffer or the queue is not loss.
    let listener = format!(
        "dogstatsd_listener_packets_total{{listener=\"{}\"}}",
        s.transport.name().replace('-', "_")
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = -1.0;
    let m = loop {
        std::thread::sleep(Duration::from_millis(200));
        let m = d.metrics();
        let read = get(&m, &listener);
        let idle = get(&m, "dogstatsd_packets_processed_total")
            >= get(&m, "dogstatsd_packets_queued_total")
            && read == last;
        if idle || Instant::now() >= deadline {
            break m;
        }
        last = read;
    };
    let cpu = d.cpu_seconds() - cpu0;
    let row = Row {
        sent,
        parsed: get(
            &m,
            r#"dogstatsd_messages_total{message_type="metrics",state="ok"}"#,
        ),
        queue_drops: get(&m, r#"dogstatsd_dropped_total{cause="queue_full"}"#),
        contexts: get(&m, "dogstatsd_contexts"),
        cpu,
        peak_rss_kib: d.status_kib("VmHWM:"),
    };
    d.stop();
    Ok(row)
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn date(unix_secs: u64) -> String {
    // Days since 1970-01-01 to a proleptic Gregorian date, by 400-year eras
    // counted from 0000-03-01 so the leap day ends each year.
    let days = (unix_secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn git_commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn fmt_rate(r: Rate) -> String {
    match r {
        Rate::Fixed(n) if n % 1000 == 0 => format!("{}k", n / 1000),
        Rate::Fixed(n) => n.to_string(),
        Rate::Max => "max".into(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "e2e: {e}\nusage: e2e [--bin PATH] [--seconds N] [--seed N] [--out DIR] [--only NAME]\n       e2e --find-max [--transport T] [--per-datagram N] [--bin PATH] [--seconds N]"
            );
            return ExitCode::from(2);
        }
    };
    if !o.bin.exists() {
        eprintln!(
            "e2e: no daemon at {} (cargo build --release -p dogstatsd-native)",
            o.bin.display()
        );
        return ExitCode::FAILURE;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let command = std::iter::once("target/release/e2e".to_string())
        .chain(args.iter().map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ");
    let mut table = String::new();
    table.push_str(&format!(
        "# DogStatsD end-to-end benchmark, {}\n\n\
         - machine: {cores} cores (`available_parallelism`), load generator in the same process\n\
         - commit: {}\n\
         - command: `cargo build --release -p dogstatsd-native -p dogstatsd-benches && {command}`\n\
         - load: seed {}, {} s per scenario, metrics only, counts 208 : gauges 66 : \
         distributions 72 : sets 9 : histograms 1, 8 % multi-value, 2–10 tags; \
         daemon with `dogstatsd_so_rcvbuf` 4 MiB, output to /dev/null\n\n\
         | scenario | transport | target rate | msgs/datagram | contexts (live) | sent msg/s | received msg/s | loss % | daemon CPU-s per M msgs | peak RSS MiB |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        date(now),
        git_commit(),
        o.seed,
        o.seconds,
    ));
    if let Some(t) = o.find_max {
        return find_max(&o, t);
    }
    print!("{table}");
    let mut failed = false;
    for (n, s) in scenarios().iter().enumerate() {
        if o.only
            .as_ref()
            .is_some_and(|w| !s.name.contains(w.as_str()))
        {
            continue;
        }
        let line = match run(&o, s, n) {
            Ok(r) => {
                let loss = loss(&r) * 100.0;
                let secs = r.sent.seconds.max(1e-9);
                let cpu_per_m = if r.parsed > 0.0 {
                    r.cpu / r.parsed * 1e6
                } else {
                    0.0
                };
                let mut line = format!(
                    "| {} | {} | {} | {} | {} ({:.0}) | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} |",
                    s.name,
                    s.transport.name(),
                    fmt_rate(s.rate),
                    s.per_datagram,
                    s.contexts,
                    r.contexts,
                    r.sent.rate(),
                    r.parsed / secs,
                    loss,
                    cpu_per_m,
                    r.peak_rss_kib as f64 / 1024.0,
                );
                if r.queue_drops > 0.0 || r.sent.send_errors > 0 {
                    line.push_str(&format!(
                        " <!-- queue drops {}, send errors {} -->",
                        r.queue_drops, r.sent.send_errors
                    ));
                }
                line
            }
            Err(e) => {
                failed = true;
                eprintln!("e2e: {}: {e}", s.name);
                format!(
                    "| {} | {} | failed | | | | | | | |",
                    s.name,
                    s.transport.name()
                )
            }
        };
        println!("{line}");
        table.push_str(&line);
        table.push('\n');
    }
    table.push_str(
        "\nreceived msg/s: metric messages the daemon parsed (`dogstatsd_messages_total`) \
         over the sending time; loss: 1 − parsed / sent; CPU: the daemon's user + system \
         time from the first send until it has drained, per million parsed messages; \
         peak RSS: `VmHWM`. One run per row: expect run-to-run noise, more so when the \
         machine is shared. The sender shares the machine's cores with the daemon, so a \
         `max` row with no loss is the sender's limit, not the daemon's.\n",
    );
    let file = o.out.join(format!("e2e-{}.md", date(now)));
    if let Err(e) = std::fs::create_dir_all(&o.out).and_then(|()| std::fs::write(&file, &table)) {
        eprintln!("e2e: {}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    println!("\nwritten to {}", file.display());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Loss as a fraction of what was sent.
fn loss(r: &Row) -> f64 {
    let sent = r.sent.messages as f64;
    if sent > 0.0 {
        (1.0 - r.parsed / sent).max(0.0)
    } else {
        0.0
    }
}

/// `--find-max`: doubles the rate from 50k msg/s, then bisects, until the
/// loss crosses 0.1 % (at most 10 runs). A sender that cannot reach the
/// asked rate is judged by what it achieved.
fn find_max(o: &Opts, transport: Transport) -> ExitCode {
    let (mut good, mut bad) = (0u64, None::<u64>);
    let mut rate = 50_000u64;
    for n in 0..10 {
        let s = Scenario {
            name: format!("{} {rate}/s", transport.name()),
            transport,
            rate: Rate::Fixed(rate),
            per_datagram: o.per_datagram,
            contexts: 3_000,
        };
        let r = match run(o, &s, n) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("e2e: {}: {e}", s.name);
                return ExitCode::FAILURE;
            }
        };
        let l = loss(&r);
        println!(
            "target {rate:>9} msg/s  achieved {:>10.0}  loss {:>7.3} %  daemon CPU-s per M msgs {:.2}  peak RSS {:.1} MiB",
            r.sent.rate(),
            l * 100.0,
            r.cpu / r.parsed.max(1.0) * 1e6,
            r.peak_rss_kib as f64 / 1024.0
        );
        if l < 0.001 {
            good = good.max((r.sent.rate() as u64).min(rate));
            if r.sent.rate() < 0.9 * rate as f64 {
                println!("the sender cannot go faster: the daemon's limit is higher");
                break;
            }
        } else {
            bad = Some(bad.map_or(rate, |b| b.min(rate)));
        }
        rate = match bad {
            None => rate * 2,
            Some(b) if b.saturating_sub(good) > good / 10 => (good + b) / 2,
            Some(_) => break,
        };
    }
    println!(
        "highest rate with < 0.1 % loss ({}, {} msgs/datagram): {good} msg/s",
        transport.name(),
        o.per_datagram
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_795_564_800), "2026-11-25");
    }

    #[test]
    fn opts() {
        let a = |s: &str| parse_opts(&s.split_whitespace().map(String::from).collect::<Vec<_>>());
        let o = a("--seconds 2 --only udp").unwrap();
        assert_eq!((o.seconds, o.only.as_deref()), (2.0, Some("udp")));
        assert!(a("--seconds 11").is_err());
        assert!(a("--nope 1").is_err());
    }
}
