//! Secrets never leave: a recognisable API key, additional-endpoint key
//! and URL password are planted in every place a configuration can hold
//! them (YAML syntax errors right at the secret, values of the wrong
//! type, `check-config`, `DD_*` variables, `dd_url` and proxy URLs), and
//! every output of every command (stdout, stderr, the daemon's log at
//! debug level) is searched for any 8 characters of them.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;

use common::{Daemon, TempDir};
use serde_json::json;

const API_KEY: &str = "ZqAPIkey0123456789abcdefXYZW";
const URL_PASSWORD: &str = "ZqURLpassw0rd4711";
const ENDPOINT_KEY: &str = "ZqENDPOINTkey31415926";

/// No run of 8 characters of any planted secret appears in `text`.
fn assert_clean(text: &str, what: &str) {
    for secret in [API_KEY, URL_PASSWORD, ENDPOINT_KEY] {
        common::assert_no_secret(text, secret, what);
    }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    common::run_clean(args, env, b"a:1|c\n")
}

fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Broken configurations holding the secrets, each with what its error
/// must name.
fn broken() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let k = API_KEY;
    let p = URL_PASSWORD;
    let e = ENDPOINT_KEY;
    vec![
        // YAML syntax errors at, before and after the secret.
        (
            "unclosed-quote",
            format!("hostname: h\napi_key: \"{k}\nlog_level: info\n"),
            vec!["line 2", "column", "api_key"],
        ),
        (
            "bad-indent",
            format!("api_key: {k}\n  oops: [1, 2\nhostname: h\n"),
            vec!["line 2", "api_key"],
        ),
        (
            "unclosed-bracket",
            format!("api_key: [{k}\n"),
            vec!["line 1", "api_key"],
        ),
        (
            "endpoints-syntax",
            format!(
                "api_key: {k}\nadditional_endpoints:\n  \"https://u:{p}@intake.example\":\n    - {e}\n  - [broken\n"
            ),
            vec!["line", "additional_endpoints"],
        ),
        (
            "proxy-syntax",
            format!(
                "proxy:\n  https: http://user:{p}@proxy.example:3128\n  http: [\napi_key: {k}\n"
            ),
            vec!["line", "column"],
        ),
        // Values of the wrong type.
        (
            "key-as-map",
            format!("api_key:\n  nested: {k}\n"),
            vec!["api_key"],
        ),
        (
            "bad-value-beside-secrets",
            format!("api_key: {k}\ndd_url: http://u:{p}@127.0.0.1:9\nforwarder_timeout: soon\n"),
            vec!["forwarder_timeout"],
        ),
        (
            "bad-port-beside-secrets",
            format!("api_key: {k}\ndogstatsd_port: {k}\n"),
            vec!["dogstatsd_port"],
        ),
    ]
}

#[test]
fn configuration_errors_never_show_a_secret() {
    let dir = TempDir::new("sec-out");
    for (name, text, expect) in broken() {
        let file = dir.path(&format!("{name}.yaml"));
        std::fs::write(&file, &text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let f = file.to_str().unwrap();
        for cmd in ["check-config", "run", "parse", "aggregate"] {
            let out = run(&[cmd, "--config", f], &[]);
            let text = all_output(&out);
            assert_clean(&text, &format!("{cmd} {name}"));
            // The offline commands read core's keys only, so only syntax
            // errors stop them.
            if cmd == "check-config" || cmd == "run" {
                assert_eq!(out.status.code(), Some(2), "{cmd} {name}: {text}");
                for e in &expect {
                    assert!(text.contains(e), "{cmd} {name}: {e} missing from {text}");
                }
            }
        }
    }
}

#[test]
fn check_config_and_env_never_show_a_secret() {
    let dir = TempDir::new("sec-cc");
    let file = dir.path("datadog.yaml");
    std::fs::write(
        &file,
        format!(
            "hostname: h\napi_key: {API_KEY}\ndd_url: http://user:{URL_PASSWORD}@127.0.0.1:9\nproxy:\n  https: http://user:{URL_PASSWORD}@proxy.example:3128\nadditional_endpoints:\n  \"https://u:{URL_PASSWORD}@intake.example\":\n    - {ENDPOINT_KEY}\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = file.to_str().unwrap();
    let out = run(&["check-config", "--config", f], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_clean(&all_output(&out), "check-config");
    // The permission warning names api_key but not its value.
    assert!(
        all_output(&out).contains("holds api_key"),
        "{}",
        all_output(&out)
    );
    // From the environment, with a bad value beside it.
    let env = [
        ("DD_API_KEY", API_KEY),
        ("DD_DD_URL", "http://u:ZqURLpassw0rd4711@127.0.0.1:9"),
        ("DD_FORWARDER_TIMEOUT", "soon"),
    ];
    let out = run(&["check-config"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(all_output(&out).contains("DD_FORWARDER_TIMEOUT"));
    assert_clean(&all_output(&out), "check-config with DD_ variables");
    let out = run(&["check-config"], &env[..2]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_clean(&all_output(&out), "check-config with DD_ variables");
}

#[test]
fn the_daemon_log_never_shows_a_secret() {
    let mut cfg = common::base_config();
    cfg.insert("log_level".into(), json!("debug"));
    cfg.insert("api_key".into(), json!(API_KEY));
    // Nothing listens there: every send fails and is logged.
    cfg.insert(
        "dd_url".into(),
        json!(format!("http://user:{URL_PASSWORD}@127.0.0.1:9")),
    );
    cfg.insert(
        "additional_endpoints".into(),
        json!({format!("http://u:{URL_PASSWORD}@127.0.0.1:9"): [ENDPOINT_KEY]}),
    );
    let mut d = Daemon::start(&cfg, TempDir::new("sec-log"));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"planted.metric:1|c", d.udp.unwrap()).unwrap();
    let out = d.stop();
    let log = d.log.join("\n");
    assert!(log.contains("forwarding flushes"), "{log}");
    // The intake URL is logged, its password masked.
    assert!(log.contains("user:********@127.0.0.1:9"), "{log}");
    assert_clean(&log, "the daemon's log");
    assert_clean(&format!("{out:?}"), "the daemon's stdout");
}
