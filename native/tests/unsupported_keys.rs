//! Keys nobody reads are reported, at start and in `check-config`: one
//! stderr line containing `warning` and the key for each Datadog Agent
//! setting this server does not support and for each key neither knows;
//! the exit code is unchanged. The README lists every unsupported Agent
//! key.

#![cfg(unix)]

mod common;

use common::{Daemon, TempDir};
use serde_json::json;

const FILE: &str = "hostname: h\napm_config:\n  enabled: true\nlogs_enabled: true\nprocess_config:\n  enabled: \"true\"\ndogstatsd_prot: 8126\nmy_own_setting: 1\ndogstatsd_port: 0\nproxy:\n  https: http://proxy.example:3128\n";

/// Lines of `stderr` mentioning `key`.
fn lines_naming<'a>(stderr: &'a str, key: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| l.contains(&format!("`{key}`")))
        .collect()
}

#[test]
fn check_config_warns_once_per_key_and_still_succeeds() {
    let dir = TempDir::new("unsup-cc");
    let file = dir.path("datadog.yaml");
    std::fs::write(&file, FILE).unwrap();
    let out = common::run_clean(
        &["check-config", "--config", file.to_str().unwrap()],
        &[("DD_APM_CONFIG", "x"), ("DD_SERVICE", "checkout")],
        b"",
    );
    assert!(out.status.success(), "exit code unchanged");
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["apm_config", "logs_enabled", "process_config"] {
        let lines = lines_naming(&err, key);
        assert_eq!(
            lines.len(),
            if key == "apm_config" { 2 } else { 1 },
            "{key}: {err}"
        );
        assert!(lines.iter().all(|l| l.contains("warning")), "{err}");
        assert!(lines[0].contains("Datadog Agent setting"), "{err}");
    }
    assert!(
        err.lines()
            .any(|l| l.contains("DD_APM_CONFIG") && l.contains("warning")),
        "{err}"
    );
    for key in ["dogstatsd_prot", "my_own_setting"] {
        let lines = lines_naming(&err, key);
        assert_eq!(lines.len(), 1, "{key}: {err}");
        assert!(
            lines[0].contains("warning") && lines[0].contains("neither"),
            "{err}"
        );
    }
    assert!(err.contains("did you mean `dogstatsd_port`?"), "{err}");
    // Each names the file and the key's line.
    assert!(err.contains("datadog.yaml:2: `apm_config`"), "{err}");
    assert!(
        err.contains("datadog.yaml:7: unknown setting `dogstatsd_prot`"),
        "{err}"
    );
    // Supported keys, nested keys and other DD_ variables draw nothing.
    for quiet in ["hostname", "dogstatsd_port", "proxy", "enabled", "https"] {
        assert!(!err.contains(&format!(": `{quiet}` is")), "{quiet}: {err}");
        assert!(
            !err.contains(&format!("setting `{quiet}`")),
            "{quiet}: {err}"
        );
    }
    assert!(!err.contains("DD_SERVICE"), "{err}");
    assert_eq!(err.lines().count(), 6, "{err}");
}

#[test]
fn the_daemon_warns_at_start() {
    let mut cfg = common::base_config();
    cfg.insert("apm_config".into(), json!({"enabled": false}));
    cfg.insert("dogstatsd_prot".into(), json!(1));
    let mut d = Daemon::start(&cfg, TempDir::new("unsup-run"));
    d.stop();
    let log = d.log.join("\n");
    assert_eq!(lines_naming(&log, "apm_config").len(), 1, "{log}");
    assert_eq!(lines_naming(&log, "dogstatsd_prot").len(), 1, "{log}");
    assert!(
        log.lines()
            .filter(|l| l.contains('`'))
            .all(|l| l.contains("warning"))
    );
}

#[test]
fn the_readme_lists_every_unsupported_agent_key() {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("<!-- unsupported-agent-keys -->")
        .expect("README marker");
    let end = readme[start..]
        .find("<!-- /unsupported-agent-keys -->")
        .expect("README end marker")
        + start;
    let listed = &readme[start..end];
    let keys = dogstatsd_native::keys::unsupported_agent_keys();
    let missing: Vec<&&str> = keys
        .iter()
        .filter(|k| !listed.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README misses {missing:?}; the whole list:\n{}",
        keys.iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
