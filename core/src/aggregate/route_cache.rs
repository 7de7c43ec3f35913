//! The worker's memory of how recent messages were routed.
//!
//! A context's route — final name, host, canonical tags, context hash
//! and pipeline — depends only on the message's name and tag field (mapping,
//! namespace, extra tags and the default host are fixed by the
//! configuration). Clients send the same name/tag strings over and over, so
//! the worker keeps the route of recent (name, tags) pairs and skips
//! mapping, enrichment, tag splitting, hashing and sorting when the same
//! bytes come again.
//!
//! Entries are known by a 128-bit fingerprint of those bytes, not by the
//! bytes: a hit is one table access, where comparing bytes read a second,
//! cold allocation per message (about a sixth of a sample's cost at 10k
//! contexts). The fingerprint is XXH3-128 (`xxhash-rust`), a vetted hash
//! that passes SMHasher, not a home-made one: the name and the tag field
//! are hashed apart (so where the name ends is part of the fingerprint),
//! the tag field seeded by the name's hash, and the two combined. Two
//! different (name, tags) pairs then share a fingerprint with odds of
//! about 2^-128, far below those of the Agent, which keys its contexts by
//! a 64-bit hash and checks nothing. A deliberate collision would gain a
//! client nothing: it could send the other context's name and tags
//! itself. Past this cache, contexts are still compared byte for byte.
//!
//! The samples that fill a slot carry its [`RouteRef`], so their pipeline
//! learns the route together with its bytes; later hits need only the
//! reference. A cache that keeps route bytes (under a context limit, where
//! a pipeline may refuse a context and need its bytes again later) also
//! stores the routed name, host and tags.
//!
//! `dogstatsd_route_cache_size` slots (0 turns the cache off), reused in
//! CLOCK order: a slot hit since the hand last passed gets a second
//! chance, so routes in steady use outlive one-off ones. Once full, the
//! cache takes a route on its second miss within a while, so traffic of
//! more distinct routes than slots (high cardinality) does not churn it.
//! Once warm, inserting allocates nothing.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU32, Ordering};

use xxhash_rust::xxh3::xxh3_128_with_seed;

use super::inthash::IntBuild;

/// A route as the table holds it, beside the first half of its
/// fingerprint (the table's key).
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The fingerprint's second half.
    check: u64,
    generation: NonZeroU64,
    pipeline: u32,
    number: u32,
}

/// A route's context hash, name, host and packed tags, kept when hits
/// must carry them. Bare samples need none of it (their pipeline knows
/// the route), so the table entry stays at 32 bytes, two to a cache line.
#[derive(Debug, Default)]
struct Kept {
    key: u64,
    /// name | host | packed tags.
    bytes: Vec<u8>,
    name: u32,
    host: u32,
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

/// A route: its pipeline, context hash and bytes.
#[derive(Debug)]
pub(crate) struct Route<'a> {
    pub(crate) pipeline: u32,
    pub(crate) bytes: RouteBytes<'a>,
}

/// A cache hit: the route's pipeline and reference (its key and bytes,
/// when kept, come from [`RouteCache::kept`]). Small, so a hit returns it
/// in registers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub(crate) pipeline: u32,
    pub(crate) from: RouteRef,
}

/// A route's context hash and bytes: what packing a sample of a known
/// context needs.
#[derive(Debug)]
pub(crate) struct RouteBytes<'a> {
    pub(crate) key: u64,
    pub(crate) name: &'a [u8],
    pub(crate) host: &'a [u8],
    /// Tags packed as a batch stores them, canonical order.
    pub(crate) packed_tags: &'a [u8],
}

/// Recent routes by (name, tag field).
#[derive(Debug)]
pub(crate) struct RouteCache {
    /// Slots by the first half of their fingerprint.
    by_raw: HashMap<u64, Slot, IntBuild>,
    /// The table key each slot number was filled under, for reuse.
    order: Vec<u64>,
    /// Per slot number, 1 when hit since the CLOCK hand last passed. Apart
    /// from the slots, so the hand's sweep reads one small array instead
    /// of a table entry per slot it passes.
    referenced: Vec<u8>,
    /// Per slot number, the route's bytes (empty unless kept).
    kept: Vec<Kept>,
    capacity: usize,
    /// Whether slots keep the routed name, host and tags.
    keep_route_bytes: bool,
    /// The CLOCK hand: next slot to consider for reuse once full.
    hand: usize,
    origin: u32,
    next_generation: u64,
    /// Admission: a route is cached the second time it misses within a
    /// while, so routes seen once (high cardinality, scans) neither cost
    /// an insertion nor push out routes in use. One bit per hash bucket,
    /// 8 buckets per slot; cleared once as many bits are set as there are
    /// slots, so "a while" is about a cache's worth of distinct misses.
    seen: Vec<u64>,
    seen_set: usize,
    hits: u64,
    misses: u64,
}

const FINGERPRINT_SEED: u64 = 0x05EE_D0FC_4C4E;

/// The 128-bit fingerprint of a message's raw name and tag field, with
/// both lengths, so where the name ends is part of what is fingerprinted.
fn fingerprint(name: &[u8], tags: &[u8]) -> [u64; 2] {
    let n = xxh3_128_with_seed(name, FINGERPRINT_SEED);
    let f = xxh3_128_with_seed(tags, n as u64) ^ n.rotate_left(64);
    [f as u64, (f >> 64) as u64]
}

/// Caches are numbered so pipelines can tell their routes apart.
static NEXT_ORIGIN: AtomicU32 = AtomicU32::new(0);

impl RouteCache {
    /// A cache of at most `capacity` routes (0 disables it), keeping each
    /// route's bytes or not.
    pub(crate) fn new(capacity: usize, keep_route_bytes: bool) -> Self {
        Self {
            by_raw: HashMap::default(),
            order: Vec::new(),
            referenced: Vec::new(),
            kept: Vec::new(),
            capacity,
            keep_route_bytes,
            hand: 0,
            origin: NEXT_ORIGIN.fetch_add(1, Ordering::Relaxed),
            next_generation: 1,
            seen: Vec::new(),
            seen_set: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// The route of a message with this name and tag field, if known.
    pub(crate) fn get(&mut self, name: &[u8], tags: &[u8]) -> Option<Hit> {
        if self.capacity == 0 {
            return None;
        }
        let [at, check] = fingerprint(name, tags);
        let Some(&slot) = self.by_raw.get(&at).filter(|s| s.check == check) else {
            self.misses += 1;
            return None;
        };
        self.hits += 1;
        if let Some(r) = self.referenced.get_mut(slot.number as usize) {
            *r = 1;
        }
        Some(Hit {
            pipeline: slot.pipeline,
            from: RouteRef {
                origin: self.origin,
                slot: slot.number,
                generation: slot.generation,
            },
        })
    }

    /// The context hash and bytes of the route `hit` found, when this
    /// cache keeps them (then its hits must carry them).
    pub(crate) fn kept(&self, hit: Hit) -> Option<RouteBytes<'_>> {
        let k = self.kept.get(hit.from.slot as usize)?;
        let (name, rest) = k.bytes.split_at(k.name as usize);
        let (host, packed_tags) = rest.split_at(k.host as usize);
        Some(RouteBytes {
            key: k.key,
            name,
            host,
            packed_tags,
        })
    }

    /// Whether a route missing now missed before, lately (then cached);
    /// notes it otherwise. Until the cache is full every route is taken.
    fn admit(&mut self, check: u64) -> bool {
        if self.order.len() < self.capacity {
            return true;
        }
        if self.seen.is_empty() {
            self.seen = vec![0; self.capacity.div_ceil(8).max(1)];
        }
        // The fingerprint's second half: the table's buckets come from
        // the first.
        let bit = check as usize % (self.seen.len() * 64);
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        if self.seen[word] & mask != 0 {
            return true;
        }
        if self.seen_set >= self.capacity {
            self.seen.fill(0);
            self.seen_set = 0;
        }
        self.seen[word] |= mask;
        self.seen_set += 1;
        false
    }

    /// The slot number to fill next: a fresh slot until full, then the
    /// first the CLOCK hand finds unreferenced (clearing the flags it
    /// passes; after a whole turn every flag is clear, so the search
    /// ends).
    fn victim(&mut self, at: u64) -> usize {
        if self.order.len() < self.capacity {
            self.order.push(at);
            self.referenced.push(0);
            if self.keep_route_bytes {
                self.kept.push(Kept::default());
            }
            return self.order.len() - 1;
        }
        let i = loop {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.capacity;
            if self.referenced[i] == 0 {
                break i;
            }
            self.referenced[i] = 0;
        };
        let old = std::mem::replace(&mut self.order[i], at);
        // A later entry under the same key shadowed slot `i`: not this
        // slot's to remove.
        if self.by_raw.get(&old).is_some_and(|s| s.number == i as u32) {
            self.by_raw.remove(&old);
        }
        i
    }

    /// Remembers a route, replacing one not hit lately when full, and
    /// names this filling of its slot (`None` when the cache is off).
    pub(crate) fn insert(
        &mut self,
        name: &[u8],
        tags: &[u8],
        route: Route<'_>,
    ) -> Option<RouteRef> {
        let Route { pipeline, bytes } = route;
        if self.capacity == 0 {
            return None;
        }
        let [at, check] = fingerprint(name, tags);
        if !self.admit(check) {
            return None;
        }
        let number = self.victim(at);
        let generation = NonZeroU64::new(self.next_generation).unwrap_or(NonZeroU64::MIN);
        self.next_generation += 1;
        if let Some(k) = self.kept.get_mut(number) {
            let len = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX);
            k.bytes.clear();
            // Exact for a fresh slot: doubling growth would leave up to
            // half of each unused, and there may be tens of thousands.
            k.bytes
                .reserve_exact(bytes.name.len() + bytes.host.len() + bytes.packed_tags.len());
            for part in [bytes.name, bytes.host, bytes.packed_tags] {
                k.bytes.extend_from_slice(part);
            }
            (k.name, k.host) = (len(bytes.name), len(bytes.host));
            k.key = bytes.key;
        }
        let slot = Slot {
            check,
            generation,
            pipeline,
            number: number as u32,
        };
        // An older entry under the same key is simply shadowed.
        self.by_raw.insert(at, slot);
        self.referenced[number] = 0;
        Some(RouteRef {
            origin: self.origin,
            slot: number as u32,
            generation,
        })
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
            pipeline: 3,
            bytes: RouteBytes {
                key,
                name,
                host: b"h",
                packed_tags: b"\x01\0\0\0a",
            },
        }
    }

    #[test]
    fn where_the_name_ends_and_every_byte_are_fingerprinted() {
        let joined = b"metric.name.of.some.lengthenv:prod,service:web,version:1.2.3";
        let mut seen = std::collections::HashSet::new();
        for cut in 0..=joined.len() {
            let (name, tags) = joined.split_at(cut);
            assert!(seen.insert(fingerprint(name, tags)), "cut {cut}");
            for i in 0..joined.len() {
                let mut flipped = joined.to_vec();
                flipped[i] ^= 1;
                let (name, tags) = flipped.split_at(cut);
                assert!(seen.insert(fingerprint(name, tags)), "cut {cut}, byte {i}");
            }
        }
    }

    #[test]
    fn hits_match_the_fingerprint_and_name_the_filling_insert_returned() {
        let mut c = RouteCache::new(4, true);
        let filled = c.insert(b"a", b"t:1", route(b"ns.a", 16)).expect("on");
        let hit = c.get(b"a", b"t:1").expect("hit");
        let r = c.kept(hit).expect("kept");
        assert_eq!(
            (r.name, r.host, hit.pipeline, r.key),
            (&b"ns.a"[..], &b"h"[..], 3, 16)
        );
        assert_eq!(r.packed_tags, b"\x01\0\0\0a");
        assert_eq!(hit.from, filled);
        assert!(c.get(b"a", b"t:2").is_none());
        assert!(c.get(b"at", b":1").is_none(), "name/tags split matters");
        assert_eq!(c.counts(), (1, 2));
        assert_ne!(RouteCache::new(1, true).origin, c.origin);
        let mut off = RouteCache::new(0, true);
        assert!(off.insert(b"a", b"", route(b"a", 0)).is_none());
        assert!(off.get(b"a", b"").is_none());
    }

    /// Inserts `name` into a full cache: the first try only notes it.
    fn admitted(c: &mut RouteCache, name: &'static [u8], key: u64) -> RouteRef {
        assert!(
            c.insert(name, b"", route(name, key)).is_none(),
            "first miss: noted"
        );
        c.insert(name, b"", route(name, key))
            .expect("second miss: cached")
    }

    #[test]
    fn a_full_cache_takes_a_route_on_its_second_miss_within_a_while() {
        let mut c = RouteCache::new(4, false);
        for (i, name) in [b"a", b"b", b"c", b"d"].into_iter().enumerate() {
            assert!(
                c.insert(name, b"", route(name, i as u64)).is_some(),
                "not full yet"
            );
        }
        // One-off routes do not displace cached ones.
        for i in 0..3u64 {
            let name = format!("once{i}");
            assert!(c.insert(name.as_bytes(), b"", route(b"x", i)).is_none());
        }
        for name in [b"a", b"b", b"c", b"d"] {
            assert!(c.get(name, b"").is_some());
        }
        assert!(
            c.insert(b"once1", b"", route(b"x", 1)).is_some(),
            "seen lately"
        );
        // Once a cache's worth of routes was noted, notes start over.
        let mut c = RouteCache::new(4, false);
        for (i, name) in [b"a", b"b", b"c", b"d"].into_iter().enumerate() {
            c.insert(name, b"", route(name, i as u64));
        }
        assert!(c.insert(b"old", b"", route(b"x", 0)).is_none());
        for i in 0..4u64 {
            let name = format!("new{i}");
            c.insert(name.as_bytes(), b"", route(b"x", i));
        }
        assert!(c.insert(b"old", b"", route(b"x", 0)).is_none(), "forgotten");
    }

    #[test]
    fn a_hit_needs_both_halves_of_the_fingerprint() {
        let mut c = RouteCache::new(4, false);
        c.insert(b"a", b"t:1", route(b"a", 16));
        let at = c.order[0];
        // Another route under the same table key, as a 64-bit collision
        // would put it: its check half differs, so it is no hit.
        let slot = c.by_raw.get_mut(&at).expect("filled");
        slot.check ^= 1;
        assert!(c.get(b"a", b"t:1").is_none());
        c.by_raw.get_mut(&at).expect("filled").check ^= 1;
        assert!(c.get(b"a", b"t:1").is_some());
        // Name and tags are fingerprinted apart, each with its length.
        let mut seen = std::collections::HashSet::new();
        for (name, tags) in [("ab", "c"), ("a", "bc"), ("abc", ""), ("", "abc")] {
            assert!(seen.insert(fingerprint(name.as_bytes(), tags.as_bytes())));
        }
    }

    #[test]
    fn without_route_bytes_a_slot_keeps_only_what_bare_samples_need() {
        let mut c = RouteCache::new(2, false);
        let filled = c.insert(b"a", b"t:1", route(b"ns.a", 16));
        let hit = c.get(b"a", b"t:1").expect("hit");
        assert_eq!(Some(hit.from), filled);
        assert_eq!(hit.pipeline, 3);
        assert!(c.kept(hit).is_none());
        assert!(c.kept.is_empty());
        // Two table entries to a cache line.
        assert_eq!(size_of::<(u64, Slot)>(), 32);
    }

    #[test]
    fn slots_are_reused_in_clock_order_with_a_second_chance_for_hits() {
        let mut c = RouteCache::new(2, false);
        let a = c.insert(b"a", b"", route(b"a", 1)).expect("on");
        c.insert(b"b", b"", route(b"b", 2));
        // `a` was hit, `b` was not: `c` takes b's slot.
        assert!(c.get(b"a", b"").is_some());
        let third = admitted(&mut c, b"c", 3);
        assert!(c.get(b"b", b"").is_none(), "the unreferenced slot went");
        assert!(c.get(b"a", b"").is_some());
        assert_ne!(third.slot, a.slot);
        // Both referenced now: a whole turn clears them and the hand's
        // first slot goes.
        assert!(c.get(b"c", b"").is_some());
        let fourth = admitted(&mut c, b"d", 4);
        assert_eq!(fourth.slot, a.slot, "slot reused");
        assert_ne!(fourth.generation, a.generation, "new filling, new name");
        assert!(c.get(b"a", b"").is_none());
        assert!(c.get(b"c", b"").is_some() && c.get(b"d", b"").is_some());
    }

    #[test]
    fn a_shadowed_slot_is_reused_without_evicting_its_shadow() {
        // Two names that collide in the table cannot be made on purpose
        // with a good hash; shadow by hand: fill slot 0, then make slot
        // 1's entry take slot 0's key.
        let mut c = RouteCache::new(2, false);
        c.insert(b"a", b"", route(b"a", 1));
        c.insert(b"b", b"", route(b"b", 2));
        let (ha, hb) = (c.order[0], c.order[1]);
        let slot_b = c.by_raw.remove(&hb).expect("b");
        c.by_raw.insert(ha, slot_b);
        c.order[1] = ha;
        // Slot 0 is shadowed: reused without removing slot 1's entry.
        let r = admitted(&mut c, b"c", 3);
        assert_eq!(r.slot, 0);
        assert!(c.get(b"c", b"").is_some());
        assert_eq!(c.by_raw.get(&ha).map(|s| s.number), Some(1));
    }
}
