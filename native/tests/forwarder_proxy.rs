//! The forwarder through a real proxy (Debian's tinyproxy, started on
//! 127.0.0.1 by each test): a plain forward proxy for an http intake, a
//! `CONNECT` tunnel for an https one, proxy credentials from the URL
//! (never shown), `no_proxy`, and the daemon reading `proxy:` from its
//! configuration. Exact totals at the intake; the proxy's own log shows
//! the requests.

mod common;
mod intake_support;
mod net_support;

use std::time::Duration;

use dogstatsd_core::flush::Flush;
use dogstatsd_native::forwarder::Forwarder;
use dogstatsd_native::forwarder::proxy::{ProxyConfig, ProxySource};
use dogstatsd_native::intake::{IntakeConfig, TestIntake};
use intake_support::{fast_config, merged, points, records, sample_flush};
use net_support::Tinyproxy;

const NOW: i64 = 1_700_000_100;
const AUTH: (&str, &str) = ("alice", "s3cret-pass");

fn proxy_for_http(url: String) -> ProxyConfig {
    ProxyConfig {
        http: Some(url),
        source: ProxySource::Config,
        ..ProxyConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_intake_is_reached_through_the_forward_proxy_with_credentials() {
    let Some(proxy) = Tinyproxy::start("forward proxy", Some(AUTH)) else {
        return;
    };
    let intake = TestIntake::start(IntakeConfig::default()).await.unwrap();
    let mut cfg = fast_config(&intake.url());
    cfg.proxy = proxy_for_http(proxy.url(Some(AUTH)));
    let fwd = Forwarder::start(cfg).unwrap();
    assert!(!format!("{fwd:?}").contains(AUTH.1));
    let flushes: Vec<Flush> = (0..3).map(|i| sample_flush(&format!("px{i}"), 4)).collect();
    let mut payloads = 0;
    for f in &flushes {
        payloads += fwd.submit(f, NOW).unwrap().payloads as u64;
    }
    let stats = fwd.shutdown(Duration::from_secs(10)).await;
    let (addr, received) = (intake.addr(), intake.received());
    let seen = intake.shutdown().await;
    assert_eq!(stats.payloads_sent, payloads, "{stats:?}");
    assert_eq!(
        stats.points_sent,
        flushes.iter().map(points).sum::<usize>() as u64
    );
    assert_eq!((seen.total, seen.accepted), (payloads, payloads));
    assert_eq!(records(&received), records(&merged(&flushes)));
    // The proxy saw every request, in absolute form, as a forward proxy.
    let target = format!("POST http://{addr}/");
    assert_eq!(proxy.requests(&target) as u64, payloads, "{}", proxy.log());
    assert_eq!(
        proxy.requests(&format!("POST http://{addr}/api/v2/series")),
        3
    );
    assert!(!proxy.log().contains(AUTH.1));
}

#[tokio::test]
async fn wrong_proxy_credentials_never_count_as_sent() {
    let Some(proxy) = Tinyproxy::start("proxy credentials", Some(AUTH)) else {
        return;
    };
    let intake = TestIntake::start(IntakeConfig::default()).await.unwrap();
    let mut cfg = fast_config(&intake.url());
    cfg.proxy = proxy_for_http(proxy.url(Some(("alice", "wrong-password"))));
    let fwd = Forwarder::start(cfg).unwrap();
    let flush = sample_flush("pxbad", 2);
    let r = fwd.submit(&flush, NOW).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = fwd.shutdown(Duration::from_millis(100)).await;
    // tinyproxy answers 401 and closes before reading the body, which
    // the client sees as a broken connection: retried, then accounted
    // for at stop; never delivered, never counted as sent.
    assert_eq!(stats.payloads_sent, 0);
    assert!(stats.retries > 0, "{stats:?}");
    assert_eq!(
        stats.points_rejected + stats.points_dropped,
        r.points as u64,
        "{stats:?}"
    );
    assert!(!format!("{fwd:?}").contains("wrong-password"));
    assert!(fwd.failures().iter().all(|f| f.intake == intake.url()));
    assert!(proxy.requests("POST http://") >= 1, "{}", proxy.log());
    assert_eq!(intake.shutdown().await.total, 0);
}

#[tokio::test]
async fn no_proxy_hosts_are_reached_directly() {
    let Some(proxy) = Tinyproxy::start("no_proxy", None) else {
        return;
    };
    let intake = TestIntake::start(IntakeConfig::default()).await.unwrap();
    let mut cfg = fast_config(&intake.url());
    cfg.proxy = ProxyConfig {
        no_proxy: vec!["localhost".into(), "127.0.0.1".into()],
        ..proxy_for_http(proxy.url(None))
    };
    let fwd = Forwarder::start(cfg).unwrap();
    let flush = sample_flush("direct", 2);
    let r = fwd.submit(&flush, NOW).unwrap();
    let stats = fwd.shutdown(Duration::from_secs(10)).await;
    assert_eq!(stats.payloads_sent, r.payloads as u64);
    assert_eq!(records(&intake.received()), records(&flush));
    assert_eq!(proxy.requests("POST"), 0, "{}", proxy.log());
    intake.shutdown().await;
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_intake_is_reached_through_a_connect_tunnel() {
    use dogstatsd_native::intake::TlsIdentity;
    let Some(proxy) = Tinyproxy::start("CONNECT proxy", Some(AUTH)) else {
        return;
    };
    let pki = net_support::pki();
    let intake = TestIntake::start(IntakeConfig {
        tls: Some(TlsIdentity {
            cert_pem: pki.cert_pem.clone(),
            key_pem: pki.key_pem.clone(),
            only_tls12: false,
        }),
        ..IntakeConfig::default()
    })
    .await
    .unwrap();
    assert!(intake.url().starts_with("https://"));
    let mut cfg = fast_config(&intake.url());
    // The intake's certificate is the test CA's; trusting that CA is
    // tested in forwarder_tls.rs.
    cfg.skip_ssl_validation = true;
    cfg.proxy = ProxyConfig {
        https: Some(proxy.url(Some(AUTH))),
        source: ProxySource::Config,
        ..ProxyConfig::default()
    };
    let fwd = Forwarder::start(cfg).unwrap();
    let flush = sample_flush("tunnel", 3);
    let r = fwd.submit(&flush, NOW).unwrap();
    let stats = fwd.shutdown(Duration::from_secs(10)).await;
    let (addr, received) = (intake.addr(), intake.received());
    let seen = intake.shutdown().await;
    assert_eq!(stats.payloads_sent, r.payloads as u64, "{stats:?}");
    assert_eq!(seen.accepted, r.payloads as u64);
    assert_eq!(records(&received), records(&flush));
    // One pooled connection may carry several requests: at least one
    // CONNECT, and no request ever in the clear.
    assert!(
        proxy.requests(&format!("CONNECT {addr}")) >= 1,
        "{}",
        proxy.log()
    );
    assert_eq!(proxy.requests("POST"), 0);
}

#[cfg(unix)]
#[test]
fn the_daemon_reads_proxy_from_its_configuration_and_never_logs_the_password() {
    use common::{Daemon, TempDir, base_config};
    use serde_json::json;
    let Some(proxy) = Tinyproxy::start("daemon proxy", Some(AUTH)) else {
        return;
    };
    let (rt, intake) = common::start_intake(IntakeConfig::default());
    let mut cfg = base_config();
    cfg.insert("api_key".into(), json!("0123456789abcdef0123456789abcdef"));
    cfg.insert("dd_url".into(), json!(intake.url()));
    cfg.insert("log_level".into(), json!("debug"));
    cfg.insert("proxy".into(), json!({ "http": proxy.url(Some(AUTH)) }));
    let mut d = Daemon::start(&cfg, TempDir::new("fwd-proxy"));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        udp.send_to(format!("px.count:{i}|c").as_bytes(), d.udp.unwrap())
            .unwrap();
    }
    d.wait_metric("dogstatsd_listener_packets_total{listener=\"udp\"}", 20);
    d.stop();
    let received = intake.received();
    let seen = rt.block_on(intake.shutdown());
    let total: f64 = received
        .series
        .iter()
        .filter(|s| s.metric == "px.count")
        .map(|s| s.value * 10.0)
        .sum();
    assert!((total - 190.0).abs() < 1e-6, "sum 0..20 once, got {total}");
    assert_eq!(d.logged("payloads_sent"), seen.accepted);
    assert!(proxy.requests("POST http://") as u64 >= seen.accepted);
    let log = d.log.join("\n");
    assert!(
        !log.contains(AUTH.1),
        "the proxy password was logged:\n{log}"
    );
}
