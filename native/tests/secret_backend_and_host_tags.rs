//! Agent configuration fidelity against the binary: `ENC[...]` values
//! resolved by `secret_backend_command` with the Agent's protocol (JSON
//! on stdin and stdout, arguments, timeout, output cap, permission
//! checks) or refused with exit 2; an empty `DD_API_KEY` over a
//! configured key is an error; `tags`, `extra_tags` and `env` reach every
//! DogStatsD sample.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Daemon, TempDir};
use dogstatsd_native::intake::IntakeConfig;
use serde_json::{Value, json};

const RESOLVED_KEY: &str = "resolvedApiKey0123456789abcdef";

fn run(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    common::run_clean(args, env, stdin)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A backend script: saves its stdin and arguments next to itself, then
/// runs `body` (shell) to answer.
fn backend(dir: &TempDir, name: &str, body: &str, mode: u32) -> PathBuf {
    let p = dir.path(name);
    let input = dir.path(&format!("{name}.stdin"));
    let args = dir.path(&format!("{name}.args"));
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\ncat > '{}'\nprintf '%s\\n' \"$@\" > '{}'\n{body}\n",
            input.display(),
            args.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

const ANSWER: &str = r#"printf '{"the_key":{"value":"resolvedApiKey0123456789abcdef","error":null},"host":{"value":"host-from-backend\\n","error":null}}'"#;

fn config(dir: &TempDir, text: &str) -> PathBuf {
    let p = dir.path("datadog.yaml");
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn check_config(file: &Path, env: &[(&str, &str)]) -> (Output, Value) {
    let out = run(
        &["check-config", "--config", file.to_str().unwrap()],
        env,
        b"",
    );
    let shown = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, shown)
}

#[test]
fn enc_values_are_resolved_with_the_agents_protocol() {
    let dir = TempDir::new("secret-ok");
    let cmd = backend(&dir, "backend.sh", ANSWER, 0o700);
    let file = config(
        &dir,
        &format!(
            "api_key: ENC[the_key]\nhostname: \"  ENC[host]\"\ndogstatsd_tags: [\"ENC[the_key]\"]\nsecret_backend_command: {}\nsecret_backend_arguments: [--region, eu-west-1]\nsecret_backend_remove_trailing_line_break: true\n",
            cmd.display()
        ),
    );
    let (out, shown) = check_config(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Every resolved value is a secret, as in the Agent: the key shows
    // only its last 5 characters, the hostname is masked...
    assert_eq!(shown["hostname"], "********");
    assert_eq!(shown["api_key"], "***************************bcdef");
    // One call, each handle once, the Agent's payload.
    let sent: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("backend.sh.stdin")).unwrap())
            .unwrap();
    assert_eq!(sent["version"], "1.0");
    let mut handles: Vec<&str> = sent["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    handles.sort_unstable();
    assert_eq!(handles, ["host", "the_key"]);
    assert_eq!(
        std::fs::read_to_string(dir.path("backend.sh.args")).unwrap(),
        "--region\neu-west-1\n"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("resolvedApiKey0123"));
    // ...but applied: the samples carry it (trailing line break removed).
    let parsed = run(
        &["parse", "--config", file.to_str().unwrap()],
        &[],
        b"x:1|c\n",
    );
    let line: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(line["host"], "host-from-backend", "{}", stderr(&parsed));
    // From DD_ variables too.
    let plain = dir.path("plain.yaml");
    std::fs::write(&plain, "hostname: h\n").unwrap();
    let env = [
        ("DD_API_KEY", "ENC[the_key]"),
        ("DD_SECRET_BACKEND_COMMAND", cmd.to_str().unwrap()),
    ];
    let (out, shown) = check_config(&plain, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(shown["api_key"], "***************************bcdef");
}

#[test]
fn the_daemon_sends_the_resolved_key() {
    let (rt, intake) = common::start_intake(IntakeConfig::default());
    let dir = TempDir::new("secret-daemon");
    let cmd = backend(&dir, "backend.sh", ANSWER, 0o700);
    let mut cfg = common::base_config();
    cfg.insert("api_key".into(), json!("ENC[the_key]"));
    cfg.insert("dd_url".into(), json!(intake.url()));
    cfg.insert("secret_backend_command".into(), json!(cmd));
    let mut d = Daemon::start(&cfg, dir);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"secret.test:1|c", d.udp.unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    d.admin_post("/flush");
    let deadline = Instant::now() + Duration::from_secs(10);
    while intake.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    d.stop();
    let requests = intake.requests();
    assert!(!requests.is_empty(), "nothing reached the intake");
    for r in &requests {
        let key = r.headers.iter().find(|(k, _)| k == "dd-api-key");
        assert_eq!(
            key.map(|(_, v)| v.as_str()),
            Some(RESOLVED_KEY),
            "{}",
            r.path
        );
    }
    rt.block_on(intake.shutdown());
}

#[test]
fn enc_without_a_backend_is_exit_2() {
    let dir = TempDir::new("secret-none");
    let file = config(&dir, "api_key: ENC[the_key]\nhostname: h\n");
    for cmd in ["check-config", "run"] {
        let out = run(&[cmd, "--config", file.to_str().unwrap()], &[], b"");
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("api_key") && err.contains("secret_backend_command"),
            "{err}"
        );
    }
    let plain = config(&dir, "hostname: h\n");
    let out = run(
        &["run", "--config", plain.to_str().unwrap()],
        &[("DD_API_KEY", "ENC[x]")],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("DD_API_KEY"), "{}", stderr(&out));
}

#[test]
fn a_misbehaving_backend_is_exit_2_with_the_reason() {
    let dir = TempDir::new("secret-bad");
    let cases: [(&str, &str, u32, &str, &str); 7] = [
        (
            "loose.sh",
            ANSWER,
            0o755,
            "",
            "'group' or 'others' have rights",
        ),
        ("noexec.sh", ANSWER, 0o600, "", "cannot execute"),
        (
            "slow.sh",
            "sleep 20",
            0o700,
            "secret_backend_timeout: 1\n",
            "timed out after 1s",
        ),
        (
            "chatty.sh",
            "head -c 5000 /dev/zero | tr '\\0' x",
            0o700,
            "secret_backend_output_max_size: 100\n",
            "exceeded 100 bytes",
        ),
        (
            "refuses.sh",
            r#"printf '{"the_key":{"value":null,"error":"access denied by vault"}}'"#,
            0o700,
            "",
            "access denied by vault",
        ),
        ("forgets.sh", "printf '{}'", 0o700, "", "was not resolved"),
        ("fails.sh", "exit 3", 0o700, "", "exit status: 3"),
    ];
    for (name, body, mode, extra, want) in cases {
        let cmd = backend(&dir, name, body, mode);
        let file = config(
            &dir,
            &format!(
                "api_key: ENC[the_key]\nhostname: h\nsecret_backend_command: {}\n{extra}",
                cmd.display()
            ),
        );
        let start = Instant::now();
        let (out, _) = check_config(&file, &[]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
        // The command is named, so the user knows which one failed.
        assert!(
            stderr(&out).contains(cmd.to_str().unwrap())
                || name == "refuses.sh"
                || name == "forgets.sh",
            "{name}: {}",
            stderr(&out)
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            start.elapsed()
        );
    }
    // The group may read and run it when allowed.
    let cmd = backend(&dir, "group.sh", ANSWER, 0o750);
    let file = config(
        &dir,
        &format!(
            "api_key: ENC[the_key]\nhostname: h\nsecret_backend_command: {}\nsecret_backend_command_allow_group_exec_perm: true\n",
            cmd.display()
        ),
    );
    let (out, _) = check_config(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_empty_dd_api_key_over_a_configured_key_is_exit_2() {
    let dir = TempDir::new("secret-empty");
    let file = config(&dir, "api_key: abcdef0123456789\nhostname: h\n");
    for cmd in ["check-config", "run"] {
        for empty in ["", "  "] {
            let out = run(
                &[cmd, "--config", file.to_str().unwrap()],
                &[("DD_API_KEY", empty)],
                b"",
            );
            assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.contains("DD_API_KEY") && err.contains("empty"), "{err}");
            assert!(!err.contains("abcdef0123456789"), "{err}");
        }
    }
    // Empty with no configured key is simply no key: stdout output.
    let plain = config(&dir, "hostname: h\n");
    let (out, shown) = check_config(&plain, &[("DD_API_KEY", "")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(shown["api_key"], "");
}

#[test]
fn tags_extra_tags_and_env_reach_every_sample() {
    let dir = TempDir::new("host-tags");
    let file = config(
        &dir,
        "hostname: h\ntags: [team:core, \"role:db\"]\nextra_tags: [rack:r1]\nenv: prod\ndogstatsd_tags: [from:dsd]\n",
    );
    let f = file.to_str().unwrap();
    let payload = b"a.count:1|c|#own:tag\na.dist:5|d\n_e{2,2}:ti|te\n_sc|svc|0\n";
    let out = run(
        &["aggregate", "--config", f, "--now", "1700000000"],
        &[],
        payload,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let metrics: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "series" || l["kind"] == "sketch")
        .collect();
    assert_eq!(metrics.len(), 2, "{lines:?}");
    for l in &lines {
        let tags: Vec<&str> = l["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        for want in ["team:core", "role:db", "rack:r1", "env:prod", "from:dsd"] {
            assert!(tags.contains(&want), "{want} missing from {l}");
        }
    }
    // From the environment, as the Agent reads DD_TAGS (space-separated),
    // DD_EXTRA_TAGS and DD_ENV; the daemon applies them the same way.
    let plain = config(&dir, "hostname: h\n");
    let env = [
        ("DD_TAGS", "team:env role:web"),
        ("DD_EXTRA_TAGS", "[\"rack:r2\"]"),
        ("DD_ENV", "staging"),
    ];
    let out = run(
        &["parse", "--config", plain.to_str().unwrap()],
        &env,
        b"b:1|g\n",
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        line["tags"],
        json!(["env:staging", "rack:r2", "role:web", "team:env"]),
        "{line}"
    );
    let (out, shown) = check_config(&plain, &env);
    assert!(out.status.success());
    assert_eq!(shown["env"], "staging");
    assert_eq!(shown["tags"], json!(["team:env", "role:web"]));
    let mut cfg = common::base_config();
    cfg.insert("tags".into(), json!(["team:daemon"]));
    cfg.insert("env".into(), json!("live"));
    let mut d = Daemon::start(&cfg, TempDir::new("host-tags-d"));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"d.count:1|c", d.udp.unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = d.stop();
    let series = out
        .iter()
        .find(|l| l["metric"] == "d.count")
        .expect("flushed at stop");
    assert_eq!(
        series["tags"],
        json!(["env:live", "team:daemon"]),
        "{series}"
    );
}
