//! The deployment files in the repository hold together: what the
//! Dockerfile copies exists and it builds with the README's command, the
//! systemd unit passes `systemd-analyze verify` (where systemd is
//! installed), and the Kubernetes DaemonSet exposes DogStatsD the way the
//! Datadog docs set it up (UDP hostPort 8125, a hostPath for the socket).
//! Nothing here can build or run a container image.

use std::path::{Path, PathBuf};
use std::process::Command;

use dogstatsd_tests::dogstatsd_bin;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Dockerfile instructions with continuation lines joined.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
        }
    }
    out
}

#[test]
fn dockerfile_copies_what_exists_and_builds_as_the_readme_says() {
    let docker = read("Dockerfile");
    let ins = instructions(&docker);
    let froms = ins.iter().filter(|i| i.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage build expected, found {froms} FROM");

    // Every COPY from the build context names a path in the repository.
    let mut copied = 0;
    for i in ins.iter().filter(|i| i.starts_with("COPY ")) {
        let words: Vec<&str> = i.split_whitespace().skip(1).collect();
        if words.iter().any(|w| w.starts_with("--from")) {
            continue;
        }
        let srcs = &words[..words.len() - 1];
        for src in srcs.iter().filter(|w| !w.starts_with("--")) {
            assert!(root().join(src).exists(), "Dockerfile copies missing {src}");
            copied += 1;
        }
    }
    assert!(copied > 0, "the Dockerfile copies nothing from the context");

    // Every workspace member the build needs is copied.
    let manifest = read("Cargo.toml");
    let members = manifest
        .lines()
        .find(|l| l.starts_with("members"))
        .expect("workspace members");
    for member in members.split('"').skip(1).step_by(2) {
        assert!(
            ins.iter()
                .any(|i| i.starts_with("COPY ") && i.split_whitespace().nth(1) == Some(member)),
            "workspace member {member} is not copied into the build stage"
        );
    }

    // The build step is the README's release build command.
    let run = ins
        .iter()
        .find(|i| i.starts_with("RUN cargo build"))
        .expect("a RUN cargo build step");
    let cmd = run.trim_start_matches("RUN ").replace(" --locked", "");
    assert!(
        read("README.md").contains(&cmd),
        "README.md does not show the Dockerfile's build command `{cmd}`"
    );

    // Runs as a non-root user, exposes DogStatsD's UDP port, and has a
    // volume for the UDS socket directory.
    let user = ins
        .iter()
        .rfind(|i| i.starts_with("USER "))
        .expect("a USER instruction");
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    assert!(ins.iter().any(|i| i == "EXPOSE 8125/udp"));
    assert!(
        ins.iter()
            .any(|i| i.starts_with("VOLUME") && i.contains("/var/run/datadog"))
    );
    // The binary the runtime stage copies is the one the build produces.
    assert!(ins.iter().any(|i| i.starts_with("COPY --from=build")
        && i.contains("/target/release/dogstatsd ")));
}

#[test]
fn systemd_unit_verifies() {
    let unit = read("deploy/systemd/dogstatsd.service");
    for needed in [
        "Type=notify",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "DynamicUser=yes",
        "ExecReload=",
        "WatchdogSec=",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed}");
    }
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED: systemd-analyze is not installed; the unit was not verified");
        return;
    };
    assert!(out.status.success());
    // The unit names the installed path; verify it against the binary just
    // built, and check that the arguments it passes are accepted.
    let bin = dogstatsd_bin();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let mut words = exec.split_whitespace();
    let installed = words.next().expect("ExecStart path");
    let args: Vec<&str> = words.collect();
    let dir = tempdir();
    let path = dir.join("dogstatsd.service");
    std::fs::write(&path, unit.replace(installed, &bin.display().to_string())).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Without a running systemd (a container, CI) verify may complain
    // about the environment; what matters is that it finds nothing wrong
    // in the unit itself.
    let about_unit: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("dogstatsd.service"))
        .collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify:\n{stderr}");
    // `run --config FILE` is what the unit runs: the binary accepts it
    // (check-config on an empty file stands in for a start).
    assert_eq!(args.first(), Some(&"run"));
    let cfg = dir.join("datadog.yaml");
    std::fs::write(&cfg, "hostname: unit-test\n").unwrap();
    let out = Command::new(bin)
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn daemonset_exposes_udp_and_the_socket() {
    let text = read("deploy/kubernetes/daemonset.yaml");
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).expect("valid YAML"))
        .collect();
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    let spec = &ds["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let ports = c["ports"].as_array().expect("ports");
    assert!(
        ports
            .iter()
            .any(|p| p["hostPort"] == 8125 && p["containerPort"] == 8125 && p["protocol"] == "UDP"),
        "no UDP hostPort 8125"
    );
    let vols = spec["volumes"].as_array().expect("volumes");
    let sock = vols
        .iter()
        .find(|v| {
            v["hostPath"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/var/run/datadog"))
        })
        .expect("a hostPath volume for /var/run/datadog");
    let mount = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == sock["name"])
        .expect("the socket volume is mounted");
    let env = c["env"].as_array().expect("env");
    let socket = env
        .iter()
        .find(|e| e["name"] == "DD_DOGSTATSD_SOCKET")
        .and_then(|e| e["value"].as_str())
        .expect("DD_DOGSTATSD_SOCKET");
    assert!(socket.starts_with(mount["mountPath"].as_str().unwrap()));
    assert!(
        env.iter()
            .any(|e| e["name"] == "DD_DOGSTATSD_NON_LOCAL_TRAFFIC" && e["value"] == "true")
    );
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    // The probes use the admin endpoint's unauthenticated paths.
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dogstatsd-packaging-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
