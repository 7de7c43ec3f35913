//! Runs the real `dogstatsd` binary for end-to-end tests: a JSON config in
//! a temp dir, random ports, temp socket paths, SIGTERM to stop, stdout
//! parsed as `aggregate` JSON Lines. Every wait is bounded.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A fresh directory for one test's config and sockets. Unix socket paths
/// are limited to ~100 bytes, so it lives directly under /tmp.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dsd-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The base configuration: random UDP and admin ports, a fixed hostname.
pub fn base_config() -> serde_json::Map<String, Value> {
    let v = json!({
        "hostname": "default-hostname",
        "dogstatsd_port": "__random__",
        "bind_host": "127.0.0.1",
        "dogstatsd_admin_port": "__random__",
        "log_level": "info",
    });
    v.as_object().cloned().unwrap_or_default()
}

/// The daemon binary with config `file` and `args`, stderr piped.
fn dogstatsd(file: &Path, args: &[&std::ffi::OsStr], stdout: Stdio) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dogstatsd"));
    cmd.arg("--config")
        .arg(file)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped());
    cmd
}

/// A running daemon process.
pub struct Daemon {
    child: Child,
    pub udp: Option<SocketAddr>,
    pub admin: SocketAddr,
    stderr_lines: mpsc::Receiver<String>,
    stdout: Option<std::thread::JoinHandle<String>>,
    pub log: Vec<String>,
    /// The admin token file (`dogstatsd_admin_token_file`).
    pub token_file: PathBuf,
    _dir: TempDir,
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Daemon {
    /// Starts the binary with `cfg` and waits until the admin endpoint
    /// (always the last listener bound) is logged.
    pub fn start(cfg: &serde_json::Map<String, Value>, dir: TempDir) -> Self {
        Self::start_with_args(cfg, dir, &[])
    }

    /// [`start`](Self::start) with extra command-line flags.
    pub fn start_with_args(
        cfg: &serde_json::Map<String, Value>,
        dir: TempDir,
        args: &[&std::ffi::OsStr],
    ) -> Self {
        let file = dir.path("datadog.yaml");
        // The admin token goes in the test's directory unless the test
        // chose a place.
        let mut cfg = cfg.clone();
        let token_file = cfg
            .entry("dogstatsd_admin_token_file")
            .or_insert_with(|| json!(dir.path("admin_token")))
            .as_str()
            .map(PathBuf::from)
            .unwrap_or_default();
        std::fs::write(&file, serde_json::to_string(&cfg).unwrap()).unwrap();
        let mut child = dogstatsd(&file, args, Stdio::piped())
            .spawn()
            .expect("spawn dogstatsd");
        let stderr = child.stderr.take().unwrap();
        // Read stdout as it comes so a large flush never blocks the daemon.
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut d = Self {
            child,
            udp: None,
            admin: "127.0.0.1:1".parse().unwrap(),
            stderr_lines: rx,
            stdout: Some(stdout),
            log: Vec::new(),
            token_file,
            _dir: dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = d.stderr_lines.recv_timeout(left) else {
                let _ = d.child.kill();
                panic!("daemon did not start:\n{}", d.log.join("\n"));
            };
            if let Some(a) = after(&line, "udp listener bound to ") {
                d.udp = Some(a.parse().unwrap());
            }
            let admin = after(&line, "admin endpoint bound to http://").map(|a| {
                a.split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<SocketAddr>()
                    .unwrap()
            });
            d.log.push(line);
            if let Some(a) = admin {
                d.admin = a;
                return d;
            }
        }
    }

    /// The daemon's process id.
    #[allow(dead_code)] // not every test binary reads it
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the daemon now, in KiB (`VmRSS` of
    /// `/proc/<pid>/status`; Linux only).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// `GET path` on the admin endpoint; the body.
    pub fn admin_get(&self, path: &str) -> String {
        http(self.admin, "GET", path)
    }

    /// The admin token the daemon created.
    pub fn token(&self) -> String {
        read_token(&self.token_file)
    }

    /// `POST path` on the admin endpoint with the token; the body of a
    /// 200 answer.
    pub fn admin_post(&self, path: &str) -> String {
        let (code, body) = self.admin_request("POST", path);
        assert_eq!(code, 200, "POST {path}: {body}");
        body
    }

    /// A request on the admin endpoint with the token: status and body.
    pub fn admin_request(&self, method: &str, path: &str) -> (u16, String) {
        let auth = format!("Authorization: Bearer {}\r\n", self.token());
        request(self.admin, method, path, &auth)
    }

    /// One counter from `/metrics` (exact series line, labels included).
    pub fn metric(&self, series: &str) -> u64 {
        let text = self.admin_get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
    }

    /// Waits (bounded) until `series` reaches `at_least`.
    pub fn wait_metric(&self, series: &str, at_least: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.metric(series);
            if v >= at_least || Instant::now() > deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM.
    pub fn signal(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// The exit status once the process ends within `within`, else `None`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, wait for exit (bounded), return the flushed records.
    pub fn stop(&mut self) -> Vec<Value> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("daemon did not stop within 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok(l) = self.stderr_lines.recv_timeout(Duration::from_millis(500)) {
            self.log.push(l);
        }
        assert!(exit.success(), "exit {exit:?}:\n{}", self.log.join("\n"));
        let out = self.stdout.take().unwrap().join().unwrap();
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// A `key=N` number from the shutdown log line.
    pub fn logged(&self, key: &str) -> u64 {
        self.log
            .iter()
            .find_map(|l| after(l, &format!("{key}=")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} not logged:\n{}", self.log.join("\n")))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| line[i + marker.len()..].trim())
}

/// A minimal HTTP/1.1 request without a token; the body of a 200
/// response.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> String {
    let (code, body) = request(addr, method, path, "");
    assert_eq!(code, 200, "{method} {path}: {body}");
    body
}

/// A minimal HTTP/1.1 request with `Host: addr` and `extra` header lines
/// (each ending in CRLF): status and body.
pub fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> (u16, String) {
    request_raw(
        addr,
        &format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: 0\r\n\r\n"),
    )
}

/// Sends `head` as is: status and body.
pub fn request_raw(addr: SocketAddr, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect admin");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read admin response");
    let (head, body) = resp.split_once("\r\n\r\n").expect("http response");
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, body.to_string())
}

/// The token in a token file (trailing newline removed).
pub fn read_token(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim_end()
        .to_string()
}

/// Records of one kind, optionally of one metric.
pub fn records<'a>(all: &'a [Value], kind: &str, metric: Option<&str>) -> Vec<&'a Value> {
    all.iter()
        .filter(|r| r["kind"] == kind)
        .filter(|r| metric.is_none_or(|m| r["metric"] == m))
        .collect()
}

/// Sum of the values of every series of `metric` and `type` (a count
/// split over two buckets still adds up).
pub fn series_sum(all: &[Value], metric: &str) -> f64 {
    records(all, "series", Some(metric))
        .iter()
        .map(|r| r["value"].as_f64().unwrap())
        .sum()
}

/// A 4-byte little-endian length prefix and the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// Path of a repository data file.
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Waits, if needed, until the current 10-second bucket has at least
/// `need` left. The daemon stamps samples when a worker processes them: a
/// burst sent across a bucket edge falls into two buckets, which changes
/// gauges, sets and the number of points.
pub fn clear_of_a_bucket_edge(need: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = Duration::from_millis((now.as_millis() % 10_000) as u64);
    if into + need > Duration::from_secs(10) {
        std::thread::sleep(Duration::from_secs(10) - into + Duration::from_millis(100));
    }
}

/// Runs `program args` as user `nobody` (`setpriv`), or `None` after a
/// SKIPPED line when that cannot be done here.
pub fn as_nobody(test: &str, program: &str, args: &[&str]) -> Option<std::process::Output> {
    let ok = Command::new("setpriv")
        .args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "true",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED {test}: cannot switch to user nobody with setpriv (not root?)");
        return None;
    }
    Some(
        Command::new("setpriv")
            .args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                program,
            ])
            .args(args)
            .output()
            .expect("setpriv"),
    )
}

/// Runs the binary with `cfg` (and `args`) expecting it to exit within
/// 20 s: its status and stderr.
pub fn run_to_exit(
    cfg: &serde_json::Map<String, Value>,
    dir: &TempDir,
    args: &[&std::ffi::OsStr],
) -> (std::process::ExitStatus, String) {
    let file = dir.path("exit.yaml");
    std::fs::write(&file, serde_json::to_string(cfg).unwrap()).unwrap();
    let mut child = dogstatsd(&file, args, Stdio::null())
        .spawn()
        .expect("spawn dogstatsd");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon kept running: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap())
}

/// The binary with `args` and `env`, none of the caller's `DD_*`
/// variables and no `RUST_LOG`, all three streams piped.
pub fn clean_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dogstatsd"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DD_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs [`clean_command`] with `stdin` and waits for it.
pub fn run_clean(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> std::process::Output {
    let mut child = clean_command(args, env).spawn().expect("run dogstatsd");
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// No run of 8 characters of `secret` appears in `text`.
pub fn assert_no_secret(text: &str, secret: &str, what: &str) {
    for w in secret.as_bytes().windows(8) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !text.contains(w),
            "{what} shows part of a secret ({w}):\n{text}"
        );
    }
}

/// A test intake on its own one-worker runtime (kept alive by the caller).
pub fn start_intake(
    cfg: dogstatsd_native::intake::IntakeConfig,
) -> (
    tokio::runtime::Runtime,
    dogstatsd_native::intake::TestIntake,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let intake = rt
        .block_on(dogstatsd_native::intake::TestIntake::start(cfg))
        .unwrap();
    (rt, intake)
}
