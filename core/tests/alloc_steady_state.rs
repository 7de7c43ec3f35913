//! A warmed-up parse + aggregate of known contexts allocates nothing.
//!
//! Its own test binary (one scenario per file), and only the test's own
//! thread is counted (libtest's main thread may allocate meanwhile).

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use dogstatsd_core::aggregate::FlushMode;
use dogstatsd_core::config::Config;
use dogstatsd_core::protocol::Transport;
use dogstatsd_core::server::Server;
use dogstatsd_core::time::Timestamp;

struct Counting;

thread_local! {
    // `const` and no destructor: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn packets() -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    for p in 0..50 {
        let mut packet = String::new();
        for i in 0..40 {
            let n = p * 40 + i;
            let line = match n % 4 {
                0 => format!(
                    "app.requests.count:{n}|c|@0.5|#env:prod,service:web,endpoint:/api/v{}",
                    n % 9
                ),
                1 => format!("app.queue.depth:{n}.5|g|#env:prod,queue:q{}", n % 17),
                2 => format!("app.users:user{}|s|#env:prod", n % 5),
                _ => format!("app.multi:1:2:3|c|#env:prod,host:web{}", n % 3),
            };
            packet.push_str(&line);
            packet.push('\n');
        }
        // Over dogstatsd_max_metrics_tags: dropped and counted.
        packet.push_str("app.too.many.tags:1|c|#a,b,c,d\n");
        packets.push(packet.into_bytes());
    }
    packets
}

#[test]
fn warmed_up_parse_and_aggregate_allocates_nothing() {
    let cfg = Config {
        hostname: "h".into(),
        dogstatsd_tags: vec!["region:eu".into()],
        statsd_metric_namespace: "ns".into(),
        // Tight enough that every tag field is scanned against the limits.
        dogstatsd_max_metrics_tags: 3,
        dogstatsd_max_tag_length: 40,
        ..Config::default()
    };
    let mut server = Server::new(&cfg).unwrap();
    let packets = packets();
    let now = 1_700_000_001;
    // Warm-up: contexts, set members, buckets and batch buffers exist.
    for _ in 0..3 {
        for p in &packets {
            server.handle_packet(Timestamp::from_secs(now), Transport::Udp.into(), p);
        }
    }
    let contexts_before = server.stats();
    COUNTING.with(|c| c.set(true));
    for _ in 0..20 {
        for p in &packets {
            server.handle_packet(Timestamp::from_secs(now + 1), Transport::Udp.into(), p);
        }
    }
    COUNTING.with(|c| c.set(false));
    let allocs = ALLOCS.load(Ordering::SeqCst);
    let after = server.stats();
    assert_eq!(after.shards.contexts, contexts_before.shards.contexts);
    assert!(after.router.samples > contexts_before.router.samples + 40_000);
    assert_eq!(allocs, 0, "steady-state pushes allocated {allocs} times");
    assert_eq!(
        after.router.process.too_many_tags - contexts_before.router.process.too_many_tags,
        20 * 50
    );
    // And the aggregates are right: flush and check one counter.
    let f = server.flush(Timestamp::from_secs(now + 20), FlushMode::Closed);
    assert!(!f.series.is_empty());
}
