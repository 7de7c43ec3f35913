//! The Python `datadog` package's `DogStatsd` (a client nobody here
//! wrote) against the daemon binary, over UDP and a Unix datagram socket.
//! Skipped, loudly, when python3 or the package is missing
//! (`pip install datadog`; `tests/run-all` tries to install it).

#![cfg(unix)]

mod common;

use std::process::Command;

use common::{Daemon, TempDir, base_config, records, series_sum};
use serde_json::json;

const SCRIPT: &str = r#"
import sys, time
from datadog.dogstatsd.base import DogStatsd

port, path = int(sys.argv[1]), sys.argv[2]
clients = [
    ("py.udp", DogStatsd(host="127.0.0.1", port=port, disable_telemetry=True)),
    # A blocking socket (timeout) so a full receive queue waits instead of dropping.
    ("py.uds", DogStatsd(socket_path=path, disable_telemetry=True, socket_timeout=5)),
]
for prefix, c in clients:
    for i in range(50):
        c.increment(prefix + ".hits", tags=["lang:py"])
        c.gauge(prefix + ".level", i)
        c.histogram(prefix + ".size", 2)
        c.distribution(prefix + ".lat", 4)
        c.set(prefix + ".users", "u%d" % (i % 5))
        time.sleep(0.001)
    c.event("Deploy " + prefix, "line1\nline2", alert_type="success", tags=["a:b"])
    c.service_check(prefix + ".up", 2, tags=["db:main"], message="down")
    c.flush()
    c.close_socket()
print("sent")
"#;

fn python_ready() -> bool {
    match Command::new("python3")
        .args(["-c", "import datadog"])
        .output()
    {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "SKIPPED python_client: the `datadog` package is not installed (pip install datadog): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("SKIPPED python_client: no python3 ({e})");
            false
        }
    }
}

#[test]
fn datadogpy_over_udp_and_unix_datagram() {
    if !python_ready() {
        return;
    }
    let dir = TempDir::new("py");
    let sock = dir.path("dsd.sock");
    let mut cfg = base_config();
    cfg.insert("dogstatsd_socket".into(), json!(sock));
    cfg.insert("dogstatsd_so_rcvbuf".into(), json!(4 << 20));
    let mut d = Daemon::start(&cfg, dir);
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &d.udp.unwrap().port().to_string()])
        .arg(&sock)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 50 × 5 metrics + 1 event + 1 service check per transport.
    let udp = d.wait_metric(r#"dogstatsd_listener_packets_total{listener="udp"}"#, 252);
    let uds = d.wait_metric(r#"dogstatsd_listener_packets_total{listener="uds"}"#, 252);
    assert_eq!((udp, uds), (252, 252));
    let recs = d.stop();
    for p in ["py.udp", "py.uds"] {
        let hits = records(&recs, "series", Some(&format!("{p}.hits")));
        assert!(hits.iter().all(|r| r["tags"] == json!(["lang:py"])));
        assert!(
            (series_sum(&recs, &format!("{p}.hits")) - 5.0).abs() < 1e-9,
            "{p}"
        );
        assert!(
            (series_sum(&recs, &format!("{p}.size.count")) - 5.0).abs() < 1e-9,
            "{p}"
        );
        let lat = records(&recs, "sketch", Some(&format!("{p}.lat")));
        let n: u64 = lat.iter().map(|s| s["count"].as_u64().unwrap()).sum();
        assert_eq!(n, 50, "{p}");
        let users = series_sum(&recs, &format!("{p}.users"));
        assert!((5.0..=10.0).contains(&users), "{p}: {users}");
        let title = format!("Deploy {p}");
        let ev: Vec<_> = records(&recs, "event", None)
            .into_iter()
            .filter(|e| e["title"] == title.as_str())
            .collect();
        assert_eq!(ev.len(), 1, "{p}");
        assert_eq!(ev[0]["text"], "line1\nline2");
        assert_eq!(ev[0]["alert_type"], "success");
        assert_eq!(ev[0]["tags"], json!(["a:b"]));
        let sc: Vec<_> = records(&recs, "service_check", None)
            .into_iter()
            .filter(|s| s["name"] == format!("{p}.up").as_str())
            .collect();
        assert_eq!(sc.len(), 1, "{p}");
        assert_eq!(sc[0]["status"], 2);
        assert_eq!(sc[0]["message"], "down");
    }
}
