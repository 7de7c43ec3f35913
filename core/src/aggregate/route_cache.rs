//! The worker's memory of how recent messages were routed.
//!
//! A context's route — final name, host, canonical tags, hashes and
//! pipeline — depends only on the message's name and tag field (mapping,
//! namespace, extra tags and the default host are fixed by the
//! configuration). Clients send the same name/tag strings over and over, so
//! the worker keeps the route of recent (name, tags) pairs and skips
//! mapping, enrichment, tag splitting, hashing and sorting when the same
//! bytes come again. Entries are verified byte for byte, so a hash
//! collision costs a miss, never a wrong route.
//!
//! Slots are reused first-in first-out: once warm, inserting copies into a
//! slot's existing buffers and allocates nothing
//! (`dogstatsd_route_cache_size` slots; 0 turns the cache off).

use std::collections::HashMap;
use std::ops::Range;

use super::hash::{bytes_eq, hash_bytes};
use super::inthash::IntBuild;

/// One cached route, all bytes in one reused buffer.
#[derive(Debug, Default)]
struct Slot {
    /// raw name | raw tags | name | host | packed tags.
    buf: Vec<u8>,
    hashes: Vec<u64>,
    raw_hash: u64,
    raw_name: u32,
    raw_tags: u32,
    name: u32,
    host: u32,
    tags: u32,
    key: u64,
    name_hash: u64,
    host_hash: u64,
    pipeline: u32,
}

/// A route: what packing a sample of a known context needs.
#[derive(Debug)]
pub(crate) struct Route<'a> {
    pub(crate) key: u64,
    pub(crate) name_hash: u64,
    pub(crate) host_hash: u64,
    pub(crate) pipeline: u32,
    pub(crate) name: &'a [u8],
    pub(crate) host: &'a [u8],
    /// Tags packed as a batch stores them, canonical order.
    pub(crate) packed_tags: &'a [u8],
    /// The canonical tags' hashes.
    pub(crate) hashes: &'a [u64],
}

/// Recent routes by (name, tag field).
#[derive(Debug)]
pub(crate) struct RouteCache {
    by_raw: HashMap<u64, u32, IntBuild>,
    slots: Vec<Slot>,
    capacity: usize,
    /// Next slot to (re)use once full.
    hand: usize,
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
    fn parts(&self) -> [&[u8]; 5] {
        let mut at = 0;
        let mut next = |len: u32| {
            let r = span(at, len);
            at = r.end;
            &self.buf[r]
        };
        let raw_name = next(self.raw_name);
        let raw_tags = next(self.raw_tags);
        let name = next(self.name);
        let host = next(self.host);
        let tags = next(self.tags);
        [raw_name, raw_tags, name, host, tags]
    }
}

impl RouteCache {
    /// A cache of at most `capacity` routes (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            by_raw: HashMap::default(),
            slots: Vec::new(),
            capacity,
            hand: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// The route of a message with this name and tag field, if known.
    pub(crate) fn get(&mut self, name: &[u8], tags: &[u8]) -> Option<Route<'_>> {
        if self.capacity == 0 {
            return None;
        }
        let hit = self
            .by_raw
            .get(&raw_hash(name, tags))
            .copied()
            .filter(|&i| {
                let [n, t, ..] = self.slots[i as usize].parts();
                bytes_eq(n, name) && bytes_eq(t, tags)
            });
        let Some(i) = hit else {
            self.misses += 1;
            return None;
        };
        self.hits += 1;
        let slot = &self.slots[i as usize];
        let [_, _, name, host, packed_tags] = slot.parts();
        Some(Route {
            key: slot.key,
            name_hash: slot.name_hash,
            host_hash: slot.host_hash,
            pipeline: slot.pipeline,
            name,
            host,
            packed_tags,
            hashes: &slot.hashes,
        })
    }

    /// Remembers a route, replacing the oldest when full.
    pub(crate) fn insert(&mut self, name: &[u8], tags: &[u8], route: Route<'_>) {
        if self.capacity == 0 {
            return;
        }
        let index = if self.slots.len() < self.capacity {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        } else {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.capacity;
            let old = self.slots[i].raw_hash;
            if self.by_raw.get(&old) == Some(&(i as u32)) {
                self.by_raw.remove(&old);
            }
            i
        };
        let len = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX);
        let raw_hash = raw_hash(name, tags);
        let slot = &mut self.slots[index];
        slot.buf.clear();
        for part in [name, tags, route.name, route.host, route.packed_tags] {
            slot.buf.extend_from_slice(part);
        }
        slot.hashes.clear();
        slot.hashes.extend_from_slice(route.hashes);
        slot.raw_hash = raw_hash;
        slot.raw_name = len(name);
        slot.raw_tags = len(tags);
        slot.name = len(route.name);
        slot.host = len(route.host);
        slot.tags = len(route.packed_tags);
        slot.key = route.key;
        slot.name_hash = route.name_hash;
        slot.host_hash = route.host_hash;
        slot.pipeline = route.pipeline;
        // A colliding older entry is simply shadowed.
        self.by_raw.insert(raw_hash, index as u32);
    }

    /// (hits, misses) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route<'a>(name: &'a [u8], hashes: &'a [u64]) -> Route<'a> {
        Route {
            key: hashes.iter().sum(),
            name_hash: 1,
            host_hash: 2,
            pipeline: 3,
            name,
            host: b"h",
            packed_tags: b"\x01\0\0\0a",
            hashes,
        }
    }

    #[test]
    fn hits_verify_bytes_and_slots_are_reused() {
        let mut c = RouteCache::new(2);
        c.insert(b"a", b"t:1", route(b"ns.a", &[7, 9]));
        let r = c.get(b"a", b"t:1").expect("hit");
        assert_eq!(
            (r.name, r.host, r.pipeline, r.key),
            (&b"ns.a"[..], &b"h"[..], 3, 16)
        );
        assert_eq!(r.hashes, [7, 9]);
        assert!(c.get(b"a", b"t:2").is_none());
        assert!(c.get(b"at", b":1").is_none(), "name/tags split matters");
        c.insert(b"b", b"", route(b"b", &[]));
        c.insert(b"c", b"", route(b"c", &[]));
        assert!(c.get(b"a", b"t:1").is_none(), "oldest replaced");
        assert!(c.get(b"b", b"").is_some());
        assert!(c.get(b"c", b"").is_some());
        assert_eq!(c.counts(), (3, 3));
        let mut off = RouteCache::new(0);
        off.insert(b"a", b"", route(b"a", &[]));
        assert!(off.get(b"a", b"").is_none());
    }
}
