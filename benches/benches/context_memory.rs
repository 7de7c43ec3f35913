//! Bytes of heap per live context, at 100k and 1M contexts.
//!
//! Not a timing benchmark: a counting allocator measures the live heap
//! after pushing N distinct contexts (each a counter with 5 tags drawn
//! from a realistic vocabulary) into an inline server, so the figure
//! includes the context store, the interned strings and the open bucket's
//! state. Run: `cargo bench -p dogstatsd-benches --bench context_memory`.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use dogstatsd_core::config::Config;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

struct Tracking;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator unchanged; only tracks sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Context `i`: a metric name out of 500, and 5 tags whose values vary so
/// that every `i` is a distinct context while tag strings repeat, as in
/// real traffic.
fn line(i: usize, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "service.component{}.requests.latency_bucket:1|c|#env:prod,service:svc{},endpoint:/api/v1/items/{},pod:web-{},status_code:{}",
        i % 500,
        i % 50,
        (i / 500) % 1000,
        (i / 7) % 20000,
        200 + i % 5
    );
}

fn measure(contexts: usize) -> (f64, u64) {
    let cfg = Config {
        hostname: "bench-host".into(),
        ..Config::default()
    };
    let before = LIVE.load(Ordering::SeqCst);
    let mut server = Server::new(&cfg).expect("config");
    let mut packet = String::with_capacity(8192);
    let now = 1_700_000_001;
    for i in 0..contexts {
        line(i, &mut packet);
        if packet.len() > 8000 {
            server.handle_packet(
                Timestamp::from_secs(now),
                Transport::Udp.into(),
                packet.as_bytes(),
            );
            packet.clear();
        }
    }
    server.handle_packet(
        Timestamp::from_secs(now),
        Transport::Udp.into(),
        packet.as_bytes(),
    );
    drop(packet);
    let live = LIVE.load(Ordering::SeqCst) - before;
    let n = server.stats().shards.contexts;
    assert_eq!(n as usize, contexts, "every line is a distinct context");
    std::hint::black_box(&server);
    (live as f64 / contexts as f64, n)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too,
    // so keep it quick there.
    let quick = std::env::args().all(|a| a != "--bench");
    let sizes: &[usize] = if quick {
        &[10_000]
    } else {
        &[100_000, 1_000_000]
    };
    for &n in sizes {
        let (per_context, contexts) = measure(n);
        println!(
            "context_memory/{contexts} contexts: {per_context:.0} bytes per context (live heap)"
        );
    }
}
