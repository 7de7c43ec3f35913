#![cfg(unix)]

//! The daemon as a library: `Daemon::start` inside a tokio runtime with an
//! in-memory sink, the periodic flush, `flush_now`, and `run` with a
//! caller-supplied shutdown future.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use dogstatsd_native::daemon::sink::MemorySink;
use dogstatsd_native::daemon::{Daemon, run};
use dogstatsd_native::settings::Settings;
use serde_json::{Value, json};

fn settings(extra: Value) -> Settings {
    let mut v = json!({
        "hostname": "lib-host",
        "dogstatsd_port": "__random__",
        "bind_host": "127.0.0.1",
    });
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    Settings::from_settings(v.as_object().unwrap()).unwrap()
}

fn lines(sink: &MemorySink) -> Vec<Value> {
    String::from_utf8(sink.contents())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn periodic_flush_and_flush_now() {
    let sink = MemorySink::default();
    let d = Daemon::start_with_interval(
        &settings(json!({})),
        Box::new(sink.clone()),
        Duration::from_millis(100),
    )
    .unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"_e{2,2}:hi|yo", d.udp_addr().unwrap())
        .unwrap();
    // Events drain at every periodic flush, without a stop.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines(&sink).iter().any(|r| r["kind"] == "event") {
        assert!(Instant::now() < deadline, "no periodic flush");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    udp.send_to(b"lib.hits:3|c", d.udp_addr().unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // the assembler's 100 ms
    assert!(d.flush_now().await);
    let recs = lines(&sink);
    let hits: Vec<_> = recs.iter().filter(|r| r["metric"] == "lib.hits").collect();
    // A bucket boundary may pass during the test: then counter zero-fill
    // adds a 0 point, so sum rather than count points.
    let total: f64 = hits.iter().map(|r| r["value"].as_f64().unwrap()).sum();
    assert!((total - 0.3).abs() < 1e-9, "{recs:?}");
    assert!(hits.iter().all(|r| r["host"] == "lib-host"));
    assert!(d.telemetry().render(0).contains("dogstatsd_flushes_total"));
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn run_until_the_shutdown_future() {
    let sink = MemorySink::default();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let dir = std::env::temp_dir().join(format!("dsd-lib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("d.sock");
    let s = settings(json!({"dogstatsd_port": 0, "dogstatsd_socket": path}));
    let task = {
        let sink = sink.clone();
        tokio::spawn(async move {
            run(&s, Box::new(sink), async {
                let _ = rx.await;
            })
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "socket never bound");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = std::os::unix::net::UnixDatagram::unbound().unwrap();
    c.send_to(b"lib.g:5|g|#a:b", &path).unwrap();
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    let recs = lines(&sink);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["value"], 5.0);
    assert_eq!(recs[0]["tags"], json!(["a:b"]));
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
