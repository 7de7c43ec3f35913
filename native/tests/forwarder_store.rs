//! The disk-backed retry store through the library: overflow of the
//! memory queue spills to files (bounded, oldest dropped and counted),
//! files are read back when memory is empty and deleted once delivered,
//! a new forwarder resends an old one's files exactly once, and corrupt
//! files are skipped, counted and kept aside.

mod intake_support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dogstatsd_core::payload::Endpoint;
use dogstatsd_native::forwarder::{Compression, FailReason, Forwarder, ForwarderConfig};
use dogstatsd_native::intake::FaultSchedule;
use dogstatsd_native::intake::schedule::scripted_body;
use intake_support::{down_addr, fast_config, intake_at};

fn config(addr: SocketAddr, store: &Path, store_bytes: usize) -> ForwarderConfig {
    let mut cfg = fast_config(&format!("http://{addr}"));
    cfg.compression = Compression::None;
    // Room for three 100-byte payloads in memory.
    cfg.retry_queue_max_bytes = 350;
    cfg.storage_max_bytes = store_bytes;
    cfg.storage_path = store.to_path_buf();
    // One request at a time: at most four payloads in memory or in flight.
    cfg.max_concurrent_requests = 1;
    cfg
}

fn body(id: u64) -> Vec<u8> {
    let mut b = scripted_body(id, &[200]);
    b.resize(100, b' ');
    b
}

/// Stored payload files under `dir` (any endpoint directory).
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for lane in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(lane.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|x| x == "dsdp") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflow_spills_to_disk_and_a_restart_resends_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let addr = down_addr().await;
    let fwd = Forwarder::start(config(addr, dir.path(), 1 << 20)).unwrap();
    for id in 0..10 {
        let dropped = fwd
            .submit_payload(Endpoint::SeriesV2, &body(100 + id), 1)
            .unwrap();
        assert_eq!(dropped, 0, "spilled, not dropped");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let during = fwd.stats();
    // Three fit in memory and one is in flight; the others are files.
    assert!(during.payloads_stored >= 6, "{during:?}");
    assert!(files(dir.path()).len() >= 6, "{during:?}");
    // Stop with the intake still down: the rest is stored too.
    let stats = fwd.shutdown(Duration::from_millis(50)).await;
    assert_eq!(stats.payloads_dropped, 0, "{stats:?}");
    assert_eq!(stats.points_pending(), 0);
    assert_eq!(files(dir.path()).len(), 10);
    drop(fwd);

    // Next start, intake up: all ten arrive once, the store empties.
    let intake = intake_at(addr, FaultSchedule::new()).await;
    let fwd = Forwarder::start(config(addr, dir.path(), 1 << 20)).unwrap();
    assert!(fwd.wait_idle(Duration::from_secs(10)).await);
    let stats = fwd.shutdown(Duration::from_millis(50)).await;
    assert_eq!(stats.payloads_restored, 10, "{stats:?}");
    assert_eq!(stats.payloads_sent, 10);
    assert!(files(dir.path()).is_empty());
    let seen = intake.shutdown().await;
    assert_eq!((seen.total, seen.accepted), (10, 10), "exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_drops_its_oldest_files_counted() {
    let dir = tempfile::tempdir().unwrap();
    let addr = down_addr().await;
    // Memory: three payloads; disk: four.
    let fwd = Forwarder::start(config(addr, dir.path(), 450)).unwrap();
    for id in 0..12 {
        fwd.submit_payload(Endpoint::SeriesV2, &body(200 + id), 1)
            .unwrap();
    }
    let stats = fwd.shutdown(Duration::from_millis(50)).await;
    // Twelve payloads: four on disk at the end, eight dropped from the
    // store, oldest first; nothing lost without a count.
    assert_eq!(files(dir.path()).len(), 4, "{stats:?}");
    assert_eq!(stats.stored_dropped, 8, "{stats:?}");
    let full: u64 = fwd
        .failures()
        .iter()
        .filter(|f| f.reason == FailReason::StoreFull)
        .map(|f| f.payloads)
        .sum();
    assert_eq!(full, 8);
    // The newest survive.
    let intake = intake_at(addr, FaultSchedule::new()).await;
    let fwd = Forwarder::start(config(addr, dir.path(), 450)).unwrap();
    assert!(fwd.wait_idle(Duration::from_secs(10)).await);
    fwd.shutdown(Duration::from_millis(50)).await;
    assert_eq!(intake.shutdown().await.accepted, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_files_are_skipped_counted_and_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let addr = down_addr().await;
    let fwd = Forwarder::start(config(addr, dir.path(), 1 << 20)).unwrap();
    for id in 0..5 {
        fwd.submit_payload(Endpoint::SeriesV2, &body(300 + id), 1)
            .unwrap();
    }
    fwd.shutdown(Duration::from_millis(50)).await;
    let stored = files(dir.path());
    assert_eq!(stored.len(), 5);
    // Truncate one, garble another.
    let len = std::fs::metadata(&stored[0]).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&stored[0])
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    std::fs::write(&stored[1], b"not a payload").unwrap();
    let intake = intake_at(addr, FaultSchedule::new()).await;
    let fwd = Forwarder::start(config(addr, dir.path(), 1 << 20)).unwrap();
    assert!(fwd.wait_idle(Duration::from_secs(10)).await);
    let stats = fwd.shutdown(Duration::from_millis(50)).await;
    assert_eq!(stats.stored_corrupt, 2, "{stats:?}");
    assert_eq!(stats.payloads_sent, 3);
    assert_eq!(intake.shutdown().await.accepted, 3);
    let aside = stored[0].parent().unwrap().join("corrupt");
    assert_eq!(std::fs::read_dir(aside).unwrap().count(), 2, "kept aside");
    assert!(files(dir.path()).is_empty());
}
