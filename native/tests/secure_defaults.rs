//! Secure defaults, one test per claim: UDP and the admin endpoint bind
//! loopback unless told otherwise, socket files get the Agent's mode, the
//! API key never shows in logs, `check-config` output or `Debug` output,
//! and configuration files that cannot be read, that anyone may change, or
//! that hold bad values produce clear messages naming the file and key.

#![cfg(unix)]

mod common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Daemon, TempDir};
use dogstatsd_native::forwarder::{Forwarder, ForwarderConfig};
use dogstatsd_native::intake::{Fault, FaultSchedule, IntakeConfig, TestIntake};
use serde_json::{Map, Value, json};

const API_KEY: &str = "sEcReT0123456789abcdefGHIJKLMNOPqr";

/// A config with random ports and no `bind_host`, so defaults apply.
fn config() -> Map<String, Value> {
    json!({
        "hostname": "secure-host",
        "dogstatsd_port": "__random__",
        "dogstatsd_admin_port": "__random__",
    })
    .as_object()
    .cloned()
    .unwrap()
}

/// No run of 8 characters of the key appears in `text`.
fn assert_no_key(text: &str, what: &str) {
    for w in API_KEY.as_bytes().windows(8) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !text.contains(w),
            "{what} shows part of the API key ({w}):\n{text}"
        );
    }
}

fn dogstatsd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dogstatsd"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DD_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run dogstatsd")
}

fn write_config(dir: &TempDir, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    let p = dir.path(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn udp_binds_loopback_by_default() {
    let mut d = Daemon::start(&config(), TempDir::new("sec-udp"));
    assert_eq!(d.udp.unwrap().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    d.stop();
}

#[test]
fn udp_binds_every_interface_with_non_local_traffic() {
    let mut cfg = config();
    cfg.insert("dogstatsd_non_local_traffic".into(), json!(true));
    let mut d = Daemon::start(&cfg, TempDir::new("sec-udp-all"));
    assert_eq!(d.udp.unwrap().ip(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    d.stop();
}

#[test]
fn the_admin_endpoint_binds_loopback_even_with_non_local_traffic() {
    let mut cfg = config();
    cfg.insert("dogstatsd_non_local_traffic".into(), json!(true));
    cfg.insert("bind_host".into(), json!("0.0.0.0"));
    let mut d = Daemon::start(&cfg, TempDir::new("sec-admin"));
    assert_eq!(d.admin.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(d.admin_get("/healthz"), "ok\n");
    d.stop();
}

#[test]
fn socket_files_get_the_agents_mode() {
    let dir = TempDir::new("sec-sock");
    let (dgram, stream) = (dir.path("dsd.socket"), dir.path("dsd-stream.socket"));
    let mut cfg = config();
    cfg.insert("dogstatsd_socket".into(), json!(dgram));
    cfg.insert("dogstatsd_stream_socket".into(), json!(stream));
    let mut d = Daemon::start(&cfg, dir);
    for p in [&dgram, &stream] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o722, "{}: {mode:o}", p.display());
    }
    d.stop();
    assert!(!dgram.exists() && !stream.exists(), "socket files removed");
}

#[test]
fn the_api_key_never_reaches_the_logs_even_at_trace_level() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // 403 (logged as "API key invalid?"), 5xx, resets: every failure path.
    let schedule = FaultSchedule::new()
        .with_script([403, 503, 500])
        .with_random_failures(0.3, 502, 3)
        .unwrap()
        .with_random_fault(Fault::Reset, 0.3, 3)
        .unwrap();
    let intake = rt
        .block_on(TestIntake::start(IntakeConfig::with_schedule(schedule)))
        .unwrap();
    let mut cfg = config();
    cfg.insert("api_key".into(), json!(API_KEY));
    cfg.insert("dd_url".into(), json!(intake.url()));
    cfg.insert("forwarder_timeout".into(), json!(1));
    cfg.insert("log_level".into(), json!("trace"));
    let mut d = Daemon::start(&cfg, TempDir::new("sec-log"));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for round in 0..8 {
        for i in 0..20 {
            let msg = format!("sec.count{i}:1|c|#r:{round}\nsec.dist:{i}|d");
            udp.send_to(msg.as_bytes(), d.udp.unwrap()).unwrap();
        }
        d.admin_post("/flush");
        std::thread::sleep(Duration::from_millis(150));
    }
    intake.set_schedule(FaultSchedule::new());
    d.stop();
    let log = d.log.join("\n");
    assert!(log.contains("status 403"), "the 403 was logged:\n{log}");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "verbose logging on"
    );
    assert_no_key(&log, "the daemon's log");
    rt.block_on(intake.shutdown());
}

#[test]
fn check_config_output_redacts_the_api_key() {
    let dir = TempDir::new("sec-check");
    let file = write_config(
        &dir,
        "datadog.yaml",
        &format!("api_key: {API_KEY}\nhostname: h\n"),
        0o600,
    );
    let out = dogstatsd(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(text.contains("\"api_key\": \"****"), "{text}");
    assert_no_key(&text[..text.len()], "check-config (file)");
    // The same through DD_API_KEY.
    let plain = write_config(&dir, "plain.yaml", "hostname: h\n", 0o600);
    let out = dogstatsd(
        &["check-config", "--config", plain.to_str().unwrap()],
        &[("DD_API_KEY", API_KEY)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(text.contains("\"api_key\": \"****"), "{text}");
    assert_no_key(&text, "check-config (DD_API_KEY)");
}

#[test]
fn debug_output_and_errors_never_show_the_api_key() {
    // What a panic message or `{:?}` in a log would print.
    let dir = TempDir::new("sec-debug");
    let file = write_config(
        &dir,
        "datadog.yaml",
        &format!("api_key: {API_KEY}\ndd_url: http://127.0.0.1:9\nhostname: h\n"),
        0o600,
    );
    let settings = dogstatsd_native::config::load_all(Some(&file), [], []).unwrap();
    assert_eq!(settings.daemon.api_key.expose(), API_KEY);
    assert_no_key(&format!("{settings:?}"), "Debug of Settings");
    assert_no_key(&format!("{settings:#?}"), "pretty Debug of Settings");
    let fwd_cfg = settings.forwarder.clone().unwrap();
    assert_no_key(&format!("{fwd_cfg:?}"), "Debug of ForwarderConfig");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fwd = Forwarder::start(fwd_cfg).unwrap();
        assert_no_key(&format!("{fwd:?}"), "Debug of Forwarder");
        // A key the HTTP layer refuses: the error does not echo it.
        let bad = format!("{API_KEY}\n");
        let e = Forwarder::start(ForwarderConfig::new("http://127.0.0.1:9", bad)).unwrap_err();
        assert!(e.to_string().contains("api_key"), "{e}");
        assert_no_key(&e.to_string(), "forwarder start error");
    });
}

/// The effective user id (from `/proc/self/status`).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn an_unreadable_config_file_is_a_clear_error() {
    let dir = TempDir::new("sec-unreadable");
    let file = write_config(&dir, "datadog.yaml", "hostname: h\n", 0o000);
    let bin = env!("CARGO_BIN_EXE_dogstatsd");
    let args = ["check-config", "--config", file.to_str().unwrap()];
    let out = if euid() == Some(0) {
        // Root reads any file whatever its mode; run the check as
        // `nobody` instead (the temp dir must let it reach the file).
        let setpriv = Path::new("/usr/bin/setpriv");
        if !setpriv.exists() {
            eprintln!("skipped: running as root and setpriv(1) is missing");
            return;
        }
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin])
            .args(args)
            .output()
            .unwrap()
    } else {
        Command::new(bin).args(args).output().unwrap()
    };
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(file.to_str().unwrap()) && err.contains("ermission denied"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_world_writable_config_file_is_warned_about() {
    let dir = TempDir::new("sec-writable");
    let file = write_config(
        &dir,
        "datadog.yaml",
        &format!("api_key: {API_KEY}\nhostname: h\n"),
        0o666,
    );
    let out = dogstatsd(&["check-config", "--config", file.to_str().unwrap()], &[]);
    // Warned, like the Agent (which loads it whatever its mode), not refused.
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert!(err.contains("writable by every user"), "{err}");
    assert!(err.contains("0666"), "{err}");
    assert!(err.contains("holds api_key and is readable"), "{err}");
    assert_no_key(&err, "the permission warning");
    // A private file draws no warning.
    let private = write_config(&dir, "private.yaml", "hostname: h\n", 0o600);
    let out = dogstatsd(
        &["check-config", "--config", private.to_str().unwrap()],
        &[],
    );
    assert!(out.status.success());
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

/// File name, its text, environment, what stderr must name.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

#[test]
fn bad_values_name_the_file_and_the_key() {
    let dir = TempDir::new("sec-bad");
    let cases: [Case; 5] = [
        (
            "port.yaml",
            "dogstatsd_port: 70000\n",
            &[],
            &["port.yaml", "dogstatsd_port", "70000"],
        ),
        (
            "level.yaml",
            "log_level: loud\n",
            &[],
            &["level.yaml", "log_level", "loud"],
        ),
        (
            "timeout.yaml",
            "api_key: k\nforwarder_timeout: soon\n",
            &[],
            &["timeout.yaml", "forwarder_timeout"],
        ),
        (
            "depth.yaml",
            "dogstatsd_capture_depth: -5\n",
            &[],
            &["depth.yaml", "dogstatsd_capture_depth"],
        ),
        (
            "env.yaml",
            "hostname: h\n",
            &[("DD_DOGSTATSD_PORT", "eighty")],
            &["DD_DOGSTATSD_PORT", "dogstatsd_port"],
        ),
    ];
    for (name, text, env, expect) in cases {
        let file = write_config(&dir, name, text, 0o600);
        for cmd in ["check-config", "run"] {
            let out = dogstatsd(&[cmd, "--config", file.to_str().unwrap()], env);
            assert_eq!(out.status.code(), Some(2), "{cmd} {name}: {}", stderr(&out));
            let err = stderr(&out);
            for e in expect {
                assert!(err.contains(e), "{cmd} {name}: {e} missing from {err}");
            }
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    // A syntax error names the file too.
    let file = write_config(&dir, "syntax.yaml", "a: [1, 2\nb: :\n", 0o600);
    let out = dogstatsd(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("syntax.yaml"), "{}", stderr(&out));
}
