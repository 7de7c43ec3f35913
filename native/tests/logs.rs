//! The daemon's own log follows the Agent's keys: JSON lines, a rolled
//! log file, no console, RFC 3339 or the Agent's timestamps, and
//! `DD_LOG_LEVEL`.

mod common;

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TempDir;
use serde_json::{Value, json};

/// Starts the binary with `cfg` (plus `env`), stderr captured.
fn spawn(dir: &TempDir, cfg: &Value, env: &[(&str, &str)]) -> Child {
    let file = dir.path("datadog.yaml");
    std::fs::write(&file, cfg.to_string()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .arg("--config")
        .arg(&file)
        .env_remove("RUST_LOG")
        .env_remove("DD_LOG_LEVEL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dogstatsd")
}

/// Base settings: no UDP port to collide on, a UDS listener, the admin
/// endpoint on a random port with its token in `dir`.
fn config(dir: &TempDir, extra: Value) -> Value {
    let mut cfg = json!({
        "hostname": "logs-test",
        "dogstatsd_port": 0,
        "dogstatsd_socket": dir.path("dsd.socket"),
        "dogstatsd_admin_port": "__random__",
        "dogstatsd_admin_token_file": dir.path("admin_token"),
    });
    cfg.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    cfg
}

/// Waits until `ready` holds for what stderr said so far (bounded),
/// SIGTERMs, returns all of stderr.
fn run_until(mut child: Child, ready: impl Fn(&str) -> bool) -> String {
    let err = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().unwrap();
    let reader = {
        let err = Arc::clone(&err);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                err.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(&err.lock().unwrap()) {
        if let Some(s) = child.try_wait().unwrap() {
            let _ = reader.join();
            panic!("the daemon exited early ({s}):\n{}", err.lock().unwrap());
        }
        assert!(Instant::now() < deadline, "the daemon never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let _ = reader.join();
    let err = err.lock().unwrap().clone();
    assert!(status.success(), "exit {status}:\n{err}");
    err
}

/// The last listener bound (the admin endpoint) was logged.
fn started(log: &str) -> bool {
    log.contains("admin endpoint bound to")
}

#[test]
fn json_lines_are_one_object_each() {
    let dir = TempDir::new("logs-json");
    let cfg = config(&dir, json!({"log_format_json": true}));
    let err = run_until(spawn(&dir, &cfg, &[]), started);
    let lines: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    assert!(lines.len() >= 3, "{err}");
    for l in &lines {
        let time = l["time"].as_str().expect("time");
        assert!(time.len() >= 20 && time.as_bytes()[10] == b'T', "{time}");
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&l["level"].as_str().unwrap()),
            "{l}"
        );
        assert!(l["message"].is_string(), "{l}");
    }
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .unwrap()
            .contains("uds datagram listener bound to")),
        "{err}"
    );
    // Structured fields stay fields, not text: the stop line's counts.
    assert!(
        lines
            .iter()
            .all(|l| !l["message"].as_str().unwrap().contains("\u{1b}[")),
        "no colour codes in JSON"
    );
}

#[test]
fn the_log_file_rolls_and_the_console_can_be_silenced() {
    let dir = TempDir::new("logs-file");
    let log = dir.path("dogstatsd.log");
    let cfg = config(
        &dir,
        json!({
            "log_file": log,
            "log_file_max_size": "400",
            "log_file_max_rolls": 2,
            "log_to_console": false,
            "log_level": "warn",
        }),
    );
    // The file says warn; DD_LOG_LEVEL wins, as in the Agent.
    let child = spawn(&dir, &cfg, &[("DD_LOG_LEVEL", "info")]);
    let err = run_until(child, |_| {
        ["", ".1", ".2"].iter().any(|suffix| {
            std::fs::read_to_string(format!("{}{suffix}", log.display())).is_ok_and(|t| started(&t))
        })
    });
    assert!(err.trim().is_empty(), "log_to_console: false, yet:\n{err}");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let rolled = |n| std::path::PathBuf::from(format!("{}.{n}", log.display()));
    let all = format!("{}{}{}", read(&rolled(2)), read(&rolled(1)), read(&log));
    assert!(all.contains("uds datagram listener bound to"), "{all}");
    assert!(
        all.contains(" INFO "),
        "DD_LOG_LEVEL=info had no effect:\n{all}"
    );
    assert!(rolled(1).exists(), "the file never rolled:\n{all}");
    assert!(
        !rolled(3).exists(),
        "more rolls kept than log_file_max_rolls"
    );
    for p in [log.clone(), rolled(1)] {
        // A line may be longer than the limit, never two lines past it.
        let text = read(&p);
        let longest = text.lines().map(str::len).max().unwrap_or(0);
        assert!(
            text.len() <= 400 + longest + 1,
            "{} is {} B",
            p.display(),
            text.len()
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode & 0o007,
            0,
            "the log file is readable by others: {mode:o}"
        );
    }
}

#[test]
fn text_timestamps_are_the_agents_or_rfc3339() {
    for (rfc3339, sep) in [(false, b' '), (true, b'T')] {
        let dir = TempDir::new("logs-time");
        let cfg = config(&dir, json!({"log_format_rfc3339": rfc3339}));
        let err = run_until(spawn(&dir, &cfg, &[]), started);
        let line = err
            .lines()
            .find(|l| l.contains("uds datagram listener bound to"))
            .unwrap_or_else(|| panic!("{err}"));
        let b = line.as_bytes();
        assert!(
            b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-',
            "{line}"
        );
        assert_eq!(b[10], sep, "rfc3339={rfc3339}: {line}");
        if !rfc3339 {
            assert_eq!(&line[19..23], " UTC", "{line}");
        }
    }
}

#[test]
fn an_unsafe_log_file_is_a_configuration_error() {
    let dir = TempDir::new("logs-unsafe");
    let target = dir.path("elsewhere");
    std::fs::write(&target, "").unwrap();
    let link = dir.path("dogstatsd.log");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let cfg = config(&dir, json!({"log_file": link}));
    let mut child = spawn(&dir, &cfg, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the daemon kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("log_file") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
}
