//! Loading the configuration file against the binary: `--config` takes a
//! file or the directory holding `datadog.yaml` (as the Agent's `-c`
//! does); only a regular file of at most 16 MiB is read, so a device or a
//! FIFO fails at once with exit 2; usage errors exit 64, configuration
//! errors 2.

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;

/// Runs the binary with no `DD_*` variables, killed after `limit`.
fn dogstatsd_within(args: &[&str], limit: Duration) -> (Output, Duration) {
    let mut cmd = common::clean_command(args, &[]);
    cmd.stdin(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("run dogstatsd");
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "dogstatsd {args:?} still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

fn dogstatsd(args: &[&str]) -> Output {
    dogstatsd_within(args, Duration::from_secs(20)).0
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dev_zero_fails_fast_with_exit_2() {
    for cmd in ["check-config", "run", "aggregate", "parse"] {
        let (out, took) =
            dogstatsd_within(&[cmd, "--config", "/dev/zero"], Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("/dev/zero") && err.contains("not a regular file"),
            "{cmd}: {err}"
        );
        assert!(err.contains("character device"), "{cmd}: {err}");
        assert!(took < Duration::from_secs(5), "{cmd} took {took:?}");
    }
}

#[test]
fn a_fifo_fails_fast_with_exit_2() {
    let dir = TempDir::new("cfg-fifo");
    let fifo = dir.path("datadog.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED a_fifo_fails_fast_with_exit_2: mkfifo(1) is not available");
        return;
    }
    // Nobody ever writes to it: a blocking open would hang forever.
    for path in [fifo.to_str().unwrap(), dir.0.to_str().unwrap()] {
        let (out, took) =
            dogstatsd_within(&["check-config", "--config", path], Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("a FIFO") && err.contains("not a regular file"),
            "{err}"
        );
        assert!(err.contains(fifo.to_str().unwrap()), "{err}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
}

#[test]
fn a_file_over_16_mib_is_refused() {
    let dir = TempDir::new("cfg-big");
    let big = dir.path("big.yaml");
    // A valid YAML file: one key, then 16 MiB of comment.
    let mut text = String::from("hostname: h\n");
    let line = format!("# {}\n", "x".repeat(1021));
    while text.len() <= 16 * 1024 * 1024 {
        text.push_str(&line);
    }
    std::fs::write(&big, &text).unwrap();
    let out = dogstatsd(&["check-config", "--config", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("larger than 16777216 bytes"),
        "{}",
        stderr(&out)
    );
    // Just under the limit still loads.
    let ok = dir.path("ok.yaml");
    std::fs::write(&ok, &text[..16 * 1024 * 1024 - 2048]).unwrap();
    let out = dogstatsd(&["check-config", "--config", ok.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn config_dir_reads_datadog_yaml() {
    let dir = TempDir::new("cfg-dir");
    std::fs::write(dir.path("datadog.yaml"), "hostname: from-the-dir\n").unwrap();
    let d = dir.0.to_str().unwrap();
    for flag in ["--config", "-c"] {
        let out = dogstatsd(&["check-config", flag, d]);
        assert!(out.status.success(), "{}", stderr(&out));
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(shown["hostname"], "from-the-dir");
    }
    // The offline commands read it too.
    let out = common::run_clean(&["parse", "--config", d], &[], b"a:1|c\n");
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["host"], "from-the-dir");
    // A directory without datadog.yaml names the file it looked for.
    let empty = TempDir::new("cfg-dir-empty");
    let out = dogstatsd(&["check-config", "--config", empty.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let want = empty.path("datadog.yaml");
    assert!(
        stderr(&out).contains(want.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_64_and_configuration_errors_2() {
    for args in [
        &["--no-such-flag"][..],
        &["run", "--port"],
        &["check-config", "--bogus"],
        &["no-such-command", "x"],
        &["aggregate", "--now", "yesterday"],
        // Flag values checked after parsing are usage errors too.
        &[
            "replay",
            "/nonexistent",
            "--to",
            "127.0.0.1:9",
            "--speed",
            "0",
        ],
        &["test-intake", "--fail-rate", "2"],
    ] {
        let out = dogstatsd(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
    for args in [&["--help"][..], &["--version"], &["check-config", "--help"]] {
        let out = dogstatsd(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!out.stdout.is_empty(), "{args:?}");
    }
    let missing = Path::new("/nonexistent/datadog.yaml");
    let out = dogstatsd(&["check-config", "--config", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = dogstatsd(&["run", "--port", "eighty"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_bad_value_names_the_file_line_and_key() {
    let dir = TempDir::new("cfg-line");
    let file = dir.path("datadog.yaml");
    std::fs::write(&file, "hostname: h\n# comment\n\ndogstatsd_port: 70000\n").unwrap();
    let out = dogstatsd(&["check-config", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let want = format!("{}:4: dogstatsd_port", file.display());
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
}

#[test]
fn a_clean_stop_exits_0_and_a_failed_start_1() {
    let dir = TempDir::new("cfg-exit");
    let mut d = common::Daemon::start(&common::base_config(), dir);
    // `stop` sends SIGTERM and asserts exit status 0.
    d.stop();
    // The UDP port is taken and a listener is required: start-up fails.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = TempDir::new("cfg-exit1");
    let file = dir.path("datadog.yaml");
    std::fs::write(
        &file,
        format!("bind_host: 127.0.0.1\ndogstatsd_port: {port}\ndogstatsd_require_listener: true\n"),
    )
    .unwrap();
    let (out, _) = dogstatsd_within(
        &["--config", file.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}
