//! The worker's memory of how recent messages were routed.
//!
//! A context's route — final name, host, canonical tags, context hash
//! and pipeline — depends only on the message's name and tag field (mapping,
//! namespace, extra tags and the default host are fixed by the
//! configuration). Clients send the same name/tag strings over and over, so
//! the worker keeps the route of recent (name, tags) pairs and skips
//! mapping, enrichment, tag splitting, hashing and sorting when the same
//! bytes come again. Entries are verified byte for byte, so a hash
//! collision costs a miss, never a wrong route.
//!
//! Slots are reused first-in first-out: once warm, inserting copies into a
//! slot's existing buffers and allocates nothing
//! (`dogstatsd_route_cache_size` slots; 0 turns the cache off). Each
//! slot's buffer sits in the hash table itself, so a lookup reads the
//! table, then the buffer: two dependent memory accesses, not three.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

use super::hash::{bytes_eq, hash_bytes};
use super::inthash::IntBuild;

/// One cached route, header and bytes in one reused buffer, so a lookup
/// touches one allocation (the header's first line holds what verifying
/// needs):
///
/// ```text
/// raw_hash key generation   (u64 each)
/// pipeline raw_name raw_tags name host tags sent slot   (u32; sent: 1
///                                           once the route went out)
/// raw name | raw tags | name | host | packed tags
/// ```
#[derive(Debug, Default)]
struct Slot(Vec<u8>);

const HEADER: usize = 3 * 8 + 8 * 4;
/// Where the u32 lengths start.
const LENS: usize = 3 * 8;
/// The `sent` flag.
const SENT: usize = LENS + 6 * 4;
/// The slot number.
const NUMBER: usize = LENS + 7 * 4;

// Byte by byte, not `copy_from_slice`: at wasm's opt-level "s" that
// stays an out-of-line memcpy call (6 % of wasm push time).
#[inline]
fn u64_at(b: &[u8], at: usize) -> u64 {
    let w = &b[at..at + 8];
    u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}

#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    let w = &b[at..at + 4];
    u32::from_le_bytes([w[0], w[1], w[2], w[3]])
}

/// Names one filling of one slot of one worker's cache: the bytes behind
/// it never change, so a pipeline that verified it once may trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteRef {
    /// The worker's cache ([`RouteCache::origin`]).
    pub(crate) origin: u32,
    pub(crate) slot: u32,
    /// Never 0, so `Option<RouteRef>` is no larger than `RouteRef`.
    pub(crate) generation: NonZeroU64,
}

/// A route: what packing a sample of a known context needs.
#[derive(Debug)]
pub(crate) struct Route<'a> {
    pub(crate) key: u64,
    pub(crate) pipeline: u32,
    pub(crate) name: &'a [u8],
    pub(crate) host: &'a [u8],
    /// Tags packed as a batch stores them, canonical order.
    pub(crate) packed_tags: &'a [u8],
    /// Set on routes the cache returns.
    pub(crate) from: Option<RouteRef>,
    /// Set on routes the cache returns when this filling of the slot was
    /// returned before (its bytes already went to the pipeline).
    pub(crate) sent_before: bool,
}

/// Recent routes by (name, tag field).
#[derive(Debug)]
pub(crate) struct RouteCache {
    /// Slots by the hash of their raw name and tags.
    by_raw: HashMap<u64, Slot, IntBuild>,
    /// The raw hash each slot number was filled under, for FIFO reuse.
    order: Vec<u64>,
    capacity: usize,
    /// Next slot to (re)use once full.
    hand: usize,
    origin: u32,
    next_generation: u64,
    hits: u64,
    misses: u64,
}

const RAW_SEED: u64 = 0x05EE_D0FC_4C4E;

fn raw_hash(name: &[u8], tags: &[u8]) -> u64 {
    hash_bytes(name, RAW_SEED) ^ hash_bytes(tags, RAW_SEED.rotate_left(7)).rotate_left(29)
}

fn span(start: usize, len: u32) -> Range<usize> {
    start..start + len as usize
}

impl Slot {
    fn number(&self) -> Option<u32> {
        (self.0.len() >= HEADER).then(|| u32_at(&self.0, NUMBER))
    }

    /// raw name, raw tags, name, host, packed tags.
    fn parts(&self) -> [&[u8]; 5] {
        let b = &self.0;
        let mut at = HEADER;
        let mut next = |len: u32| {
            let r = span(at, len);
            at = r.end;
            &b[r]
        };
        let len = |i: usize| u32_at(b, LENS + 4 + 4 * i);
        let raw_name = next(len(0));
        let raw_tags = next(len(1));
        let name = next(len(2));
        let host = next(len(3));
        let tags = next(len(4));
        [raw_name, raw_tags, name, host, tags]
    }
}

/// Caches are numbered so pipelines can tell their routes apart.
static NEXT_ORIGIN: AtomicU32 = AtomicU32::new(0);

impl RouteCache {
    /// A cache of at most `capacity` routes (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            by_raw: HashMap::default(),
            order: Vec::new(),
            capacity,
            hand: 0,
            origin: NEXT_ORIGIN.fetch_add(1, Ordering::Relaxed),
            next_generation: 1,
            hits: 0,
            misses: 0,
        }
    }

    /// The route of a message with this name and tag field, if known.
    pub(crate) fn get(&mut self, name: &[u8], tags: &[u8]) -> Option<Route<'_>> {
        if self.capacity == 0 {
            return None;
        }
        let hit = self.by_raw.get_mut(&raw_hash(name, tags)).filter(|slot| {
            let b = &slot.0;
            // Lengths first: a cheap reject before comparing bytes.
            u32_at(b, LENS + 4) as usize == name.len()
                && u32_at(b, LENS + 8) as usize == tags.len()
                && b.get(HEADER..HEADER + name.len())
                    .is_some_and(|n| bytes_eq(n, name))
                && b.get(HEADER + name.len()..HEADER + name.len() + tags.len())
                    .is_some_and(|t| bytes_eq(t, tags))
        });
        let Some(slot) = hit else {
            self.misses += 1;
            return None;
        };
        self.hits += 1;
        let sent = &mut slot.0[SENT..SENT + 4];
        let sent_before = sent[0] == 1;
        sent[0] = 1;
        let b = &slot.0;
        let [_, _, name, host, packed_tags] = slot.parts();
        Some(Route {
            key: u64_at(b, 8),
            pipeline: u32_at(b, LENS),
            name,
            host,
            packed_tags,
            from: Some(RouteRef {
                origin: self.origin,
                slot: u32_at(b, NUMBER),
                generation: NonZeroU64::new(u64_at(b, 16)).unwrap_or(NonZeroU64::MIN),
            }),
            sent_before,
        })
    }

    /// Remembers a route, replacing the oldest when full.
    pub(crate) fn insert(&mut self, name: &[u8], tags: &[u8], route: Route<'_>) {
        if self.capacity == 0 {
            return;
        }
        let raw_hash = raw_hash(name, tags);
        let (index, mut slot) = if self.order.len() < self.capacity {
            self.order.push(raw_hash);
            (self.order.len() - 1, Slot::default())
        } else {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.capacity;
            let old = std::mem::replace(&mut self.order[i], raw_hash);
            // The slot may have been shadowed by a later colliding entry,
            // which is not this slot to take.
            let mine = self
                .by_raw
                .get(&old)
                .is_some_and(|s| s.number() == Some(i as u32));
            let slot = if mine {
                self.by_raw.remove(&old).unwrap_or_default()
            } else {
                Slot::default()
            };
            (i, slot)
        };
        let len = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX);
        let generation = self.next_generation;
        self.next_generation += 1;
        let b = &mut slot.0;
        b.clear();
        for w in [raw_hash, route.key, generation] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        let lens = [
            route.pipeline,
            len(name),
            len(tags),
            len(route.name),
            len(route.host),
            len(route.packed_tags),
            0,
            index as u32,
        ];
        for w in lens {
            b.extend_from_slice(&w.to_le_bytes());
        }
        for part in [name, tags, route.name, route.host, route.packed_tags] {
            b.extend_from_slice(part);
        }
        // A colliding older entry is simply shadowed.
        self.by_raw.insert(raw_hash, slot);
    }

    /// (hits, misses) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &[u8], key: u64) -> Route<'_> {
        Route {
            key,
            pipeline: 3,
            name,
            host: b"h",
            packed_tags: b"\x01\0\0\0a",
            from: None,
            sent_before: false,
        }
    }

    #[test]
    fn hits_verify_bytes_and_slots_are_reused() {
        let mut c = RouteCache::new(2);
        c.insert(b"a", b"t:1", route(b"ns.a", 16));
        let r = c.get(b"a", b"t:1").expect("hit");
        assert_eq!(
            (r.name, r.host, r.pipeline, r.key),
            (&b"ns.a"[..], &b"h"[..], 3, 16)
        );
        assert_eq!(r.packed_tags, b"\x01\0\0\0a");
        let first = r.from.expect("cached routes are named");
        assert!(!r.sent_before, "first hit of a filling");
        assert!(c.get(b"a", b"t:1").expect("hit").sent_before);
        assert_eq!(c.get(b"a", b"t:1").and_then(|r| r.from), Some(first));
        assert!(c.get(b"a", b"t:2").is_none());
        assert!(c.get(b"at", b":1").is_none(), "name/tags split matters");
        c.insert(b"b", b"", route(b"b", 0));
        c.insert(b"c", b"", route(b"c", 0));
        assert!(c.get(b"a", b"t:1").is_none(), "oldest replaced");
        assert!(c.get(b"b", b"").is_some());
        let third = c.get(b"c", b"").and_then(|r| r.from).expect("hit");
        assert_eq!(third.slot, first.slot, "slot reused");
        assert_ne!(third.generation, first.generation, "new filling, new name");
        assert_eq!(c.counts(), (5, 3));
        assert_ne!(RouteCache::new(1).origin, c.origin);
        let mut off = RouteCache::new(0);
        off.insert(b"a", b"", route(b"a", 0));
        assert!(off.get(b"a", b"").is_none());
    }
}
