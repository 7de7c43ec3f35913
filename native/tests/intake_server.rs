//! The test intake on its own: endpoints, encodings, counters, `/stats`,
//! recording, and the `test-intake` subcommand.

mod intake_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dogstatsd_core::payload::{FlushEncoding, PayloadLimits, encode_flush, encode_series_v1};
use dogstatsd_native::forwarder::Compression;
use dogstatsd_native::intake::schedule::scripted_body;
use dogstatsd_native::intake::{FaultSchedule, IntakeConfig, TestIntake};
use intake_support::{get_stats, post, records, sample_flush};

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dsd-intake-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[tokio::test]
async fn decodes_every_endpoint_in_every_encoding_and_records_it() {
    let record = temp_file("all.jsonl");
    let intake = TestIntake::start(IntakeConfig {
        record: Some(record.clone()),
        ..IntakeConfig::default()
    })
    .await
    .unwrap();
    let base = intake.url();
    let flush = sample_flush("enc", 4);
    let opts = FlushEncoding {
        hostname: "agent-host",
        now: 1_700_000_100,
        series_v2: true,
        limits: PayloadLimits::default(),
    };
    let mut payloads = Vec::new();
    encode_flush(&flush, &opts, &mut payloads);
    // Also the v1 JSON series, for the same points again.
    encode_series_v1(&flush.series, &PayloadLimits::default(), &mut payloads);
    let encodings = [
        Compression::Zstd(1),
        Compression::Deflate,
        Compression::Gzip,
        Compression::None,
    ];
    for (i, p) in payloads.iter().enumerate() {
        let c = encodings[i % encodings.len()];
        let mut headers = vec![("content-type", p.endpoint.content_type())];
        if let Some(enc) = c.content_encoding() {
            headers.push(("content-encoding", enc));
        }
        let (status, body) = post(
            &base,
            p.endpoint.path(),
            &headers,
            c.compress(&p.body).unwrap(),
        )
        .await;
        assert_eq!(status, 202, "{:?}: {body}", p.endpoint);
        let expected = if p.endpoint.path() == "/api/v1/check_run" {
            r#"{"status":"ok"}"#
        } else {
            r#"{"errors":[]}"#
        };
        assert_eq!(body, expected);
    }
    let mut expected = flush.clone();
    expected.series.extend(flush.series.iter().cloned());
    assert_eq!(records(&intake.received()), records(&expected));
    let stats = intake.stats();
    assert_eq!(stats.total, payloads.len() as u64);
    assert_eq!(stats.accepted, payloads.len() as u64);
    assert_eq!(stats.series, 2 * flush.series.len() as u64);
    assert_eq!(stats.sketches, flush.sketches.len() as u64);
    assert_eq!((stats.events, stats.service_checks), (1, 1));
    let mut lines: Vec<String> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, records(&expected));
    intake.shutdown().await;
}

#[tokio::test]
async fn bad_requests_are_counted_as_failed() {
    let intake = TestIntake::start(IntakeConfig::default()).await.unwrap();
    let base = intake.url();
    let (s, _) = post(&base, "/nowhere", &[], b"[]".to_vec()).await;
    assert_eq!(s, 404);
    let (s, body) = post(&base, "/api/v1/check_run", &[], b"not json".to_vec()).await;
    assert_eq!(s, 400);
    assert!(body.contains("Bad Request"), "{body}");
    let (s, _) = post(
        &base,
        "/api/v2/series",
        &[("content-encoding", "zstd")],
        b"garbage".to_vec(),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &base,
        "/api/v2/series",
        &[("content-encoding", "br")],
        b"x".to_vec(),
    )
    .await;
    assert_eq!(s, 400);
    // Over the real intake's 3.2 MB compressed limit.
    let (s, _) = post(&base, "/api/v2/series", &[], vec![0; 3_200_001]).await;
    assert_eq!(s, 413);
    let stats = get_stats(&base).await;
    assert_eq!(
        (stats.total, stats.failed, stats.accepted, stats.retried),
        (5, 5, 0, 0)
    );
    assert_eq!(stats.bad_bodies, 4);
    assert!(intake.received().series.is_empty());
    intake.shutdown().await;
}

#[tokio::test]
async fn scripted_bodies_follow_the_trace_writer_convention() {
    let intake = TestIntake::start(IntakeConfig::default()).await.unwrap();
    let base = intake.url();
    let body = scripted_body(1, &[503, 503, 200]);
    let got: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(post(&base, "/api/v2/series", &[], body.clone()).await.0);
        }
        v
    };
    assert_eq!(got, [503, 503, 200, 503]);
    for i in 0..3 {
        let (s, _) = post(&base, "/anywhere", &[], scripted_body(100 + i, &[403])).await;
        assert_eq!(s, 403);
    }
    let stats = get_stats(&base).await;
    assert_eq!(
        (stats.total, stats.retried, stats.accepted, stats.failed),
        (7, 3, 1, 3)
    );
    // Control bodies are not data.
    assert_eq!(intake.received().series.len(), 0);
    intake.shutdown().await;
}

#[tokio::test]
async fn latency_delays_and_peak_counts_concurrent_requests() {
    let intake = TestIntake::start(IntakeConfig::with_schedule(
        FaultSchedule::new().with_latency(Duration::from_millis(150)),
    ))
    .await
    .unwrap();
    let base = intake.url();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..5u64 {
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            post(&base, "/x", &[], scripted_body(i, &[200])).await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150), "{took:?}");
    assert!(
        took < Duration::from_millis(1500),
        "answered concurrently: {took:?}"
    );
    let stats = get_stats(&base).await;
    assert!((3..=5).contains(&stats.peak), "{stats:?}");
    assert_eq!(stats.active, 0);
    intake.shutdown().await;
}

#[test]
fn the_subcommand_listens_records_and_reports() {
    let record = temp_file("cli.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .args([
            "test-intake",
            "--port",
            "0",
            "--latency",
            "20ms",
            "--record",
        ])
        .arg(&record)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = v["listening"].as_str().unwrap().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let base = format!("http://{addr}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let flush = sample_flush("cli", 2);
    let stats = rt.block_on(async {
        let mut payloads = Vec::new();
        encode_flush(
            &flush,
            &FlushEncoding {
                hostname: "h",
                now: 0,
                series_v2: true,
                limits: PayloadLimits::default(),
            },
            &mut payloads,
        );
        for p in &payloads {
            let body = Compression::Zstd(1).compress(&p.body).unwrap();
            let (s, _) = post(
                &base,
                p.endpoint.path(),
                &[("content-encoding", "zstd")],
                body,
            )
            .await;
            assert_eq!(s, 202);
        }
        get_stats(&base).await
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(stats.total, 4);
    assert_eq!(stats.accepted, 4);
    let mut lines: Vec<String> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, records(&flush));
}

#[test]
fn the_subcommand_fails_requests_at_the_given_rate() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
        .args([
            "test-intake",
            "--fail-rate",
            "1",
            "--fail-status",
            "500",
            "--seed",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let base = format!("http://{}", v["listening"].as_str().unwrap());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, stats) = rt.block_on(async {
        let (s, _) = post(&base, "/api/v1/check_run", &[], b"[]".to_vec()).await;
        (s, get_stats(&base).await)
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 500);
    assert_eq!((stats.total, stats.retried), (1, 1));
}

#[test]
fn the_subcommand_rejects_bad_flags() {
    for args in [
        &["test-intake", "--fail-rate", "2"][..],
        &["test-intake", "--latency", "soon"][..],
        &["test-intake", "--fail-status", "42"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dogstatsd"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
