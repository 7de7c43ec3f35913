//! The forwarder against an https test intake whose certificate comes
//! from a CA made here with rcgen: refused with the default roots,
//! accepted with `skip_ssl_validation`, accepted when `SSL_CERT_FILE` or
//! `SSL_CERT_DIR` names the CA (in a child process, since the variables
//! are read when the client is built), and `min_tls_version: tlsv1.3`
//! refuses an intake that only speaks TLS 1.2.

#![cfg(feature = "tls")]

mod intake_support;
mod net_support;

use std::process::Command;
use std::time::Duration;

use dogstatsd_native::forwarder::config::TlsVersion;
use dogstatsd_native::forwarder::{Forwarder, ForwarderConfig, ForwarderStats};
use dogstatsd_native::intake::{IntakeConfig, IntakeStats, TestIntake, TlsIdentity};
use intake_support::{fast_config, records, sample_flush};
use net_support::{TestPki, pki};

const NOW: i64 = 1_700_000_100;
const HELPER_URL: &str = "DSD_TLS_TEST_INTAKE_URL";

async fn https_intake(pki: &TestPki, only_tls12: bool) -> TestIntake {
    TestIntake::start(IntakeConfig {
        tls: Some(TlsIdentity {
            cert_pem: pki.cert_pem.clone(),
            key_pem: pki.key_pem.clone(),
            only_tls12,
        }),
        ..IntakeConfig::default()
    })
    .await
    .unwrap()
}

/// Sends one sample flush with `cfg`; the forwarder's and the intake's
/// counters, and whether the intake got exactly the flush.
async fn ship(
    cfg: ForwarderConfig,
    intake: TestIntake,
    wait: Duration,
) -> (ForwarderStats, IntakeStats, bool) {
    let fwd = Forwarder::start(cfg).unwrap();
    let flush = sample_flush("tls", 2);
    let _ = fwd.submit(&flush, NOW).unwrap();
    fwd.wait_idle(wait).await;
    let stats = fwd.shutdown(Duration::from_millis(100)).await;
    let exact = records(&intake.received()) == records(&flush);
    (stats, intake.shutdown().await, exact)
}

#[tokio::test]
async fn an_unknown_ca_is_refused_and_retried_not_sent() {
    let pki = pki();
    let intake = https_intake(&pki, false).await;
    let cfg = fast_config(&intake.url());
    let (stats, seen, _) = ship(cfg, intake, Duration::from_millis(400)).await;
    assert_eq!(stats.payloads_sent, 0);
    assert!(stats.transport_errors > 0, "{stats:?}");
    assert_eq!(seen.total, 0, "no request passed the handshake");
}

#[tokio::test]
async fn skip_ssl_validation_accepts_any_certificate() {
    let pki = pki();
    let intake = https_intake(&pki, false).await;
    let mut cfg = fast_config(&intake.url());
    cfg.skip_ssl_validation = true;
    let (stats, seen, exact) = ship(cfg, intake, Duration::from_secs(5)).await;
    assert!(exact, "{stats:?} {seen:?}");
    assert_eq!(stats.payloads_sent, seen.accepted);
    assert_eq!(stats.transport_errors, 0);
}

#[tokio::test]
async fn min_tls_version_13_refuses_a_tls12_only_intake() {
    let pki = pki();
    let intake = https_intake(&pki, true).await;
    let mut cfg = fast_config(&intake.url());
    cfg.skip_ssl_validation = true;
    cfg.min_tls_version = TlsVersion::Tls13;
    let (stats, seen, _) = ship(cfg, intake, Duration::from_millis(400)).await;
    assert_eq!(stats.payloads_sent, 0);
    assert!(stats.transport_errors > 0);
    assert_eq!(seen.total, 0);
    // The default minimum (TLS 1.2) talks to it.
    let intake = https_intake(&pki, true).await;
    let mut cfg = fast_config(&intake.url());
    cfg.skip_ssl_validation = true;
    let (_, _, exact) = ship(cfg, intake, Duration::from_secs(5)).await;
    assert!(exact);
}

/// Runs in a child process (see below); without the variable it has
/// nothing to do.
#[tokio::test]
async fn custom_ca_child() {
    let Ok(url) = std::env::var(HELPER_URL) else {
        return;
    };
    let fwd = Forwarder::start(fast_config(&url)).unwrap();
    let flush = sample_flush("ca", 2);
    let r = fwd.submit(&flush, NOW).unwrap();
    assert!(fwd.wait_idle(Duration::from_secs(5)).await);
    let stats = fwd.shutdown(Duration::from_millis(100)).await;
    assert_eq!(stats.payloads_sent, r.payloads as u64, "{stats:?}");
}

/// Runs `custom_ca_child` with `var=value`; whether it delivered, and
/// its output.
fn run_child(url: &str, var: &str, value: &std::path::Path) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "custom_ca_child", "--test-threads=1"])
        .env(HELPER_URL, url)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env(var, value)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_and_dir_add_a_custom_ca() {
    let pki = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    for (var, value) in [
        ("SSL_CERT_FILE", ca.clone()),
        ("SSL_CERT_DIR", dir.path().to_path_buf()),
    ] {
        let intake = https_intake(&pki, false).await;
        let url = intake.url();
        let child = {
            let url = url.clone();
            let value = value.clone();
            tokio::task::spawn_blocking(move || run_child(&url, var, &value))
        };
        let (ok, out) = child.await.unwrap();
        assert!(ok, "{var}: the child could not deliver:\n{out}");
        let seen = intake.shutdown().await;
        assert!(seen.accepted >= 4, "{var}: {seen:?}");
    }
    // And a CA file that is not the intake's: refused.
    let other = net_support::pki();
    std::fs::write(&ca, &other.ca_pem).unwrap();
    let intake = https_intake(&pki, false).await;
    let url = intake.url();
    let ok = tokio::task::spawn_blocking(move || run_child(&url, "SSL_CERT_FILE", &ca))
        .await
        .unwrap();
    assert!(!ok.0, "a foreign CA must not be trusted:\n{}", ok.1);
    assert_eq!(intake.shutdown().await.total, 0);
}
