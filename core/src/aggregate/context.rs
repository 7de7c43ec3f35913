//! Context resolution: (name, host, tag set) → a small id, exactly.
//!
//! A sample arrives with its context hash computed by the worker. A known
//! context is found by that hash and verified byte for byte (so a hash
//! collision never merges two contexts); only a new context interns
//! strings. Contexts idle for `dogstatsd_context_expiry_seconds` leave the
//! live set when the sampler expires them: freed, or kept dormant (strings
//! and all, not counted) while a worker's cached route still names them,
//! since that route's samples come without bytes.

use std::collections::HashMap;
use std::sync::Arc;

use super::batch::{PackedSample, SampleBatch};
use super::hash::bytes_eq;
use super::intern::{Interner, StrId};
use super::inthash::IntBuild;
use super::route_cache::RouteRef;

/// Index of a context in its store.
pub(crate) type ContextId = u32;

/// A context's identity.
#[derive(Debug)]
struct Context {
    /// The worker's hash: where `by_key` holds it, unless a colliding
    /// context was there first (then a re-mix of it, see [`probe`]), and
    /// where a search for an equal context starts.
    hash: u64,
    name: StrId,
    host: StrId,
    /// Unique tags in canonical order (by hash), as samples carry them,
    /// so verification is one linear walk.
    tags: Box<[StrId]>,
}

/// The fields every sample touches, dense by id and apart from the
/// identity: a memoised route reads and writes only this.
#[derive(Debug, Clone, Copy)]
struct Meta {
    last_seen: i64,
    /// When a count was last sampled ([`NOT_COUNTER`] if never).
    counter_seen: i64,
    /// Bumped each time the context expires, revives or is freed, so
    /// memos of it take the slow path and see what became of it. Odd
    /// while dormant, even otherwise.
    generation: u32,
    /// Memos naming this context. An expired context that memos still
    /// name stays, dormant, so a bare route can bring it back.
    pins: u32,
    /// Where the sampler last found this context's value in a bucket
    /// ([`Slots`](super::slots::Slots)): read with the fields above, so
    /// finding the value costs no hash lookup.
    slot_hint: u32,
}

const NOT_COUNTER: i64 = i64::MIN;

/// A pipeline's memory of one worker route: which context its bytes
/// were verified to be. Once a route's bytes reached the pipeline, the
/// worker sends its samples bare (no bytes), so the memo pins its
/// context: expiry leaves a pinned context dormant (out of the live set,
/// strings kept) instead of freeing it, and a bare sample revives it.
#[derive(Debug, Default, Clone, Copy)]
struct Memo {
    /// 0 (never a real generation) for an empty memo.
    route_generation: u64,
    id: ContextId,
    context_generation: u32,
}

/// Memos per worker route cache (by origin), per slot. A worker or two
/// per pipeline: a short list beats hashing the origin on every sample.
#[derive(Debug, Default)]
struct Memos(Vec<(u32, Vec<Memo>)>);

impl Memos {
    fn of(&mut self, origin: u32) -> &mut Vec<Memo> {
        let i = match self.0.iter().position(|(o, _)| *o == origin) {
            Some(i) => i,
            None => {
                self.0.push((origin, Vec::new()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
}

/// Why a sample found no context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// New context, and the store is at its limit.
    Limit,
    /// A bare sample of a route this pipeline has no memo of. The worker
    /// only sends a route bare after sending it with bytes, and batches
    /// arrive in order, so this means a batch was lost on the way.
    UnknownRoute,
}

/// The contexts one time sampler owns.
#[derive(Debug, Default)]
pub(crate) struct ContextStore {
    /// Context hash → id. A rare colliding context is stored under a
    /// re-mixed hash (open addressing over the key space).
    by_key: HashMap<u64, ContextId, IntBuild>,
    contexts: Vec<Option<Context>>,
    meta: Vec<Meta>,
    free: Vec<ContextId>,
    strings: Interner,
    /// Per worker route cache (by origin), per slot.
    memos: Memos,
    /// Most live contexts (0: no limit).
    limit: usize,
}

/// The places a context of worker hash `hash` may be held, in order.
fn chain(hash: u64) -> impl Iterator<Item = u64> {
    std::iter::successors(Some(hash), |&k| Some(probe(k))).take(65)
}

fn probe(key: u64) -> u64 {
    key.rotate_left(17).wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5851_F42D_4C95_7F2D
}

impl ContextStore {
    /// A store holding at most `limit` live contexts (0: unlimited).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Finds or creates the context of `s`, marking it seen at `now`.
    pub(crate) fn resolve(
        &mut self,
        batch: &SampleBatch,
        s: &PackedSample,
        now: i64,
    ) -> Result<ContextId, Unresolved> {
        let Some(route) = s.route else {
            return self.resolve_bytes(batch, s, now).ok_or(Unresolved::Limit);
        };
        let slot = route.slot as usize;
        let memo = self.memos.of(route.origin).get(slot).copied();
        if let Some(m) = memo
            && m.route_generation == route.generation.get()
        {
            let meta = &mut self.meta[m.id as usize];
            if meta.generation == m.context_generation {
                // The route's bytes were verified to be this context
                // before, and it has not expired since.
                meta.last_seen = meta.last_seen.max(now);
                return Ok(m.id);
            }
            if s.bare {
                // Expired since: dormant, or live again through another
                // route. Either way the memo's pin kept its identity.
                let id = self.revive(m.id, now).ok_or(Unresolved::Limit)?;
                self.remember(route, id);
                return Ok(id);
            }
        }
        if s.bare {
            return Err(Unresolved::UnknownRoute);
        }
        let id = self.resolve_bytes(batch, s, now).ok_or(Unresolved::Limit)?;
        self.remember(route, id);
        Ok(id)
    }

    /// Memoises that `route` is context `id`, moving the slot's pin from
    /// its old context (freed if that was its last pin and it is dormant).
    fn remember(&mut self, route: RouteRef, id: ContextId) {
        let slot = route.slot as usize;
        let memos = self.memos.of(route.origin);
        if memos.len() <= slot {
            memos.resize_with(slot + 1, Memo::default);
        }
        let old = std::mem::replace(
            &mut memos[slot],
            Memo {
                route_generation: route.generation.get(),
                id,
                context_generation: self.meta[id as usize].generation,
            },
        );
        self.meta[id as usize].pins += 1;
        if old.route_generation != 0 {
            self.unpin(old.id);
        }
    }

    fn unpin(&mut self, id: ContextId) {
        let meta = &mut self.meta[id as usize];
        meta.pins = meta.pins.saturating_sub(1);
        if meta.pins == 0 && self.is_dormant(id) {
            self.free(id);
        }
    }

    /// Whether `id` holds a context that expired while pinned.
    fn is_dormant(&self, id: ContextId) -> bool {
        self.meta[id as usize].generation % 2 == 1
    }

    /// The live context with `id`'s identity: `id` itself if live, else an
    /// equal context made live since, else `id` brought back to life
    /// (`None` at the context limit).
    fn revive(&mut self, id: ContextId, now: i64) -> Option<ContextId> {
        if !self.is_dormant(id) {
            let meta = &mut self.meta[id as usize];
            meta.last_seen = meta.last_seen.max(now);
            return Some(id);
        }
        let c = self.contexts[id as usize].as_ref()?;
        let mut key = c.hash;
        for _ in 0..64 {
            match self.by_key.get(&key) {
                Some(&other) => {
                    // Equal interned ids are equal bytes.
                    let same = self.contexts[other as usize]
                        .as_ref()
                        .is_some_and(|o| o.name == c.name && o.host == c.host && o.tags == c.tags);
                    if same {
                        let meta = &mut self.meta[other as usize];
                        meta.last_seen = meta.last_seen.max(now);
                        return Some(other);
                    }
                    key = probe(key);
                }
                None => break,
            }
        }
        if self.limit > 0 && self.by_key.len() >= self.limit {
            return None;
        }
        self.by_key.insert(key, id);
        let meta = &mut self.meta[id as usize];
        meta.last_seen = now;
        meta.counter_seen = NOT_COUNTER;
        meta.generation = meta.generation.wrapping_add(1);
        Some(id)
    }

    fn resolve_bytes(
        &mut self,
        batch: &SampleBatch,
        s: &PackedSample,
        now: i64,
    ) -> Option<ContextId> {
        let mut key = s.key;
        // Bounded: each probe step is a distinct stored context that
        // failed verification; real collisions are astronomically rare.
        for _ in 0..64 {
            match self.by_key.get(&key) {
                Some(&id) => {
                    if self.matches(id, batch, s) {
                        let meta = &mut self.meta[id as usize];
                        meta.last_seen = meta.last_seen.max(now);
                        return Some(id);
                    }
                    key = probe(key);
                }
                None => break,
            }
        }
        self.insert(key, batch, s, now)
    }

    fn matches(&self, id: ContextId, batch: &SampleBatch, s: &PackedSample) -> bool {
        let Some(c) = self.contexts[id as usize].as_ref() else {
            return false;
        };
        if !bytes_eq(self.strings.bytes(c.name), batch.bytes(&s.name))
            || !bytes_eq(self.strings.bytes(c.host), batch.bytes(&s.host))
        {
            return false;
        }
        // Both sides are in canonical order: one linear walk. Bytes only:
        // one interned string serves names, hosts and tags alike, so no
        // per-use hash can be kept with it.
        let mut sample_tags = batch.tags(&s.tags);
        c.tags.iter().all(|&t| {
            sample_tags
                .next()
                .is_some_and(|b| bytes_eq(b, self.strings.bytes(t)))
        }) && sample_tags.next().is_none()
    }

    fn insert(
        &mut self,
        key: u64,
        batch: &SampleBatch,
        s: &PackedSample,
        now: i64,
    ) -> Option<ContextId> {
        if self.limit > 0 && self.by_key.len() >= self.limit {
            return None;
        }
        let tags: Box<[StrId]> = batch
            .tags(&s.tags)
            .map(|tag| self.strings.acquire(tag))
            .collect();
        let ctx = Context {
            hash: s.key,
            name: self.strings.acquire(batch.bytes(&s.name)),
            host: self.strings.acquire(batch.bytes(&s.host)),
            tags,
        };
        Some(self.insert_context(ctx, key, now))
    }

    /// Stores `ctx` under `key` in `by_key`.
    fn insert_context(&mut self, ctx: Context, key: u64, now: i64) -> ContextId {
        let id = match self.free.pop() {
            Some(id) => {
                self.contexts[id as usize] = Some(ctx);
                let meta = &mut self.meta[id as usize];
                meta.last_seen = now;
                meta.counter_seen = NOT_COUNTER;
                id
            }
            None => {
                self.contexts.push(Some(ctx));
                self.meta.push(Meta {
                    last_seen: now,
                    counter_seen: NOT_COUNTER,
                    generation: 0,
                    pins: 0,
                    slot_hint: u32::MAX,
                });
                ContextId::try_from(self.contexts.len() - 1).unwrap_or(ContextId::MAX)
            }
        };
        self.by_key.insert(key, id);
        id
    }

    /// Notes that a count of `id` was sampled at `at` (zero-fill, §9.8).
    pub(crate) fn mark_counter(&mut self, id: ContextId, at: i64) {
        self.meta[id as usize].counter_seen = at;
    }

    /// Stops zero-filling `id`.
    pub(crate) fn forget_counter(&mut self, id: ContextId) {
        self.meta[id as usize].counter_seen = NOT_COUNTER;
    }

    /// `(id, last sampled)` of every live context sampled as a count.
    pub(crate) fn counters(&self) -> impl Iterator<Item = (ContextId, i64)> + '_ {
        self.meta
            .iter()
            .enumerate()
            .filter(|(_, m)| m.counter_seen != NOT_COUNTER)
            .map(|(id, m)| (id as ContextId, m.counter_seen))
    }

    /// True when some context is zero-filled.
    pub(crate) fn has_counters(&self) -> bool {
        self.meta.iter().any(|m| m.counter_seen != NOT_COUNTER)
    }

    /// Where `id`'s value was last found in a bucket (a hint).
    #[inline]
    pub(crate) fn slot_hint(&mut self, id: ContextId) -> &mut u32 {
        &mut self.meta[id as usize].slot_hint
    }

    /// Keeps a context alive (counter zero-fill does this).
    pub(crate) fn touch(&mut self, id: ContextId, at: i64) {
        if let Some(m) = self.meta.get_mut(id as usize) {
            m.last_seen = m.last_seen.max(at);
        }
    }

    /// Expires contexts last seen before `cutoff`, unless zero-filled or
    /// `in_use` says they hold data: freed, or dormant while memos pin
    /// them.
    pub(crate) fn expire(&mut self, cutoff: i64, in_use: impl Fn(ContextId) -> bool) -> usize {
        let mut expired = 0;
        for id in 0..self.contexts.len() {
            let id = id as ContextId;
            let m = self.meta[id as usize];
            let stale = m.last_seen < cutoff && m.counter_seen == NOT_COUNTER;
            if stale && !self.is_dormant(id) && !in_use(id) {
                let Some(c) = self.contexts[id as usize].as_ref() else {
                    continue;
                };
                let hash = c.hash;
                self.unhold(id, hash);
                if self.meta[id as usize].pins == 0 {
                    self.free(id);
                } else {
                    let meta = &mut self.meta[id as usize];
                    meta.generation = meta.generation.wrapping_add(1);
                }
                expired += 1;
            }
        }
        expired
    }

    /// Takes `id` (worker hash `hash`) out of `by_key`. It is held at its
    /// hash or, past colliding contexts, at a re-mix of it; lookups stop
    /// at the first empty place of a chain, so contexts held further down
    /// the chain move up into the gap, or they could not be found again
    /// (and would be made a second time).
    fn unhold(&mut self, id: ContextId, hash: u64) {
        // 65 places: `resolve_bytes` re-mixes at most 64 times.
        let Some(mut gap) = chain(hash).find(|k| self.by_key.get(k) == Some(&id)) else {
            return;
        };
        self.by_key.remove(&gap);
        let mut next = probe(gap);
        // Bounded like every chain walk here; a run of held places past
        // a gap is almost always empty.
        for _ in 0..64 {
            let Some(&other) = self.by_key.get(&next) else {
                break;
            };
            let Some(o) = self.contexts[other as usize].as_ref() else {
                break;
            };
            // Moves up only if its own chain reaches the gap before here.
            if chain(o.hash).take_while(|&k| k != next).any(|k| k == gap) {
                self.by_key.remove(&next);
                self.by_key.insert(gap, other);
                gap = next;
            }
            next = probe(next);
        }
    }

    /// Frees an expired context (out of `by_key` already).
    fn free(&mut self, id: ContextId) {
        let Some(c) = self.contexts[id as usize].take() else {
            return;
        };
        self.strings.release(c.name);
        self.strings.release(c.host);
        for &t in c.tags.iter() {
            self.strings.release(t);
        }
        let meta = &mut self.meta[id as usize];
        // Even again: to the next even number.
        meta.generation = (meta.generation | 1).wrapping_add(1);
        meta.counter_seen = NOT_COUNTER;
        self.free.push(id);
    }

    /// Live contexts.
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Name of a context.
    pub(crate) fn name(&self, id: ContextId) -> &Arc<str> {
        let c = self.contexts[id as usize].as_ref();
        self.strings.text(c.map_or(0, |c| c.name))
    }

    /// Host of a context.
    pub(crate) fn host(&self, id: ContextId) -> Arc<str> {
        match self.contexts[id as usize].as_ref() {
            Some(c) => self.strings.text(c.host).clone(),
            None => Arc::from(""),
        }
    }

    /// Sorted tags of a context, for output.
    pub(crate) fn sorted_tags(&self, id: ContextId) -> Arc<[Arc<str>]> {
        let Some(c) = self.contexts[id as usize].as_ref() else {
            return Arc::from(Vec::new());
        };
        let mut tags: Vec<Arc<str>> = c
            .tags
            .iter()
            .map(|&t| self.strings.text(t).clone())
            .collect();
        crate::order::sort(&mut tags);
        tags.dedup();
        tags.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::batch::SampleKind;

    /// A gauge sample of `name` on host `h`, no tags, claiming `key`.
    fn sample(batch: &mut SampleBatch, key: u64, name: &str) -> PackedSample {
        let name = batch.push_bytes(&[name.as_bytes()]);
        let host = batch.push_bytes(&[b"h"]);
        let tags = batch.range_since(batch.arena.len());
        PackedSample {
            key,
            name,
            host,
            tags,
            kind: SampleKind::Gauge,
            value: 1.0,
            member: 0..0,
            sample_rate: 1.0,
            timestamp: 0,
            route: None,
            bare: false,
        }
    }

    #[test]
    fn colliding_contexts_stay_apart_and_expire_from_where_they_are_held() {
        let mut store = ContextStore::new(0);
        let mut batch = SampleBatch::default();
        // Same worker hash, other bytes: b is held at a re-mix of 7.
        let a = sample(&mut batch, 7, "a");
        let b = sample(&mut batch, 7, "b");
        let ida = store.resolve(&batch, &a, 0).expect("a");
        let idb = store.resolve(&batch, &b, 0).expect("b");
        assert_ne!(ida, idb);
        assert_eq!(store.resolve(&batch, &b, 1), Ok(idb));
        assert_eq!(store.len(), 2);
        store.touch(ida, 100);
        assert_eq!(store.expire(50, |_| false), 1, "b only");
        assert_eq!(store.len(), 1);
        assert_eq!(store.resolve(&batch, &a, 101), Ok(ida), "a still held at 7");
        let again = store.resolve(&batch, &b, 102).expect("b again");
        assert_eq!(store.len(), 2);
        assert_eq!(store.name(again).as_ref(), "b");
        // Now a expires: b, held past it, is still found (no second b).
        store.touch(again, 200);
        assert_eq!(store.expire(150, |_| false), 1, "a only");
        assert_eq!(store.resolve(&batch, &b, 201), Ok(again));
        assert_eq!(store.len(), 1);
    }
}
