//! Context resolution: (name, host, tag set) → a small id, exactly.
//!
//! A sample arrives with its context hash computed by the worker. A known
//! context is found by that hash and verified byte for byte (so a hash
//! collision never merges two contexts); only a new context interns
//! strings. Contexts idle for `dogstatsd_context_expiry_seconds` are
//! dropped by the sampler.

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
    key: u64,
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
    /// Bumped each time the id is freed, so memos of the old context miss.
    generation: u32,
}

const NOT_COUNTER: i64 = i64::MIN;

/// A pipeline's memory of one worker route: which context its bytes
/// were verified to be. It holds references to the context's strings:
/// once a route's bytes reached the pipeline, the worker sends its
/// samples bare (no bytes), so the pipeline must be able to bring the
/// context back by itself after it expired.
#[derive(Debug, Default)]
struct Memo {
    /// 0 (never a real generation) for an empty memo.
    route_generation: u64,
    id: ContextId,
    context_generation: u32,
    /// The context hash the worker computed (before any probing).
    key: u64,
    name: StrId,
    host: StrId,
    tags: Box<[StrId]>,
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
        let memos = self.memos.of(route.origin);
        let slot = route.slot as usize;
        if let Some(m) = memos.get(slot)
            && m.route_generation == route.generation.get()
        {
            let id = m.id;
            if self.meta[id as usize].generation == m.context_generation {
                // The route's bytes were verified to be this context
                // before, and neither has changed since.
                let meta = &mut self.meta[id as usize];
                meta.last_seen = meta.last_seen.max(now);
                return Ok(id);
            }
            if s.bare {
                // The context expired since: bring it back from the
                // memo's strings. Cloning the tag ids allocates, but only
                // here, when a bare route revives an expired context.
                let m = &memos[slot];
                let (key, name, host, tags) = (m.key, m.name, m.host, m.tags.clone());
                let id = self
                    .resolve_ids(key, name, host, &tags, now)
                    .ok_or(Unresolved::Limit)?;
                let generation = self.meta[id as usize].generation;
                let m = &mut self.memos.of(route.origin)[slot];
                (m.id, m.context_generation) = (id, generation);
                return Ok(id);
            }
        }
        if s.bare {
            return Err(Unresolved::UnknownRoute);
        }
        let id = self.resolve_bytes(batch, s, now).ok_or(Unresolved::Limit)?;
        self.remember(route, s.key, id);
        Ok(id)
    }

    /// Memoises that `route` is context `id`, holding its strings.
    fn remember(&mut self, route: RouteRef, key: u64, id: ContextId) {
        let Some(c) = self.contexts[id as usize].as_ref() else {
            return;
        };
        let (name, host, tags) = (c.name, c.host, c.tags.clone());
        for &t in [name, host].iter().chain(tags.iter()) {
            self.strings.retain(t);
        }
        let memos = self.memos.of(route.origin);
        let slot = route.slot as usize;
        if memos.len() <= slot {
            memos.resize_with(slot + 1, Memo::default);
        }
        let old = std::mem::replace(
            &mut memos[slot],
            Memo {
                route_generation: route.generation.get(),
                id,
                context_generation: self.meta[id as usize].generation,
                key,
                name,
                host,
                tags,
            },
        );
        if old.route_generation != 0 {
            for &t in [old.name, old.host].iter().chain(old.tags.iter()) {
                self.strings.release(t);
            }
        }
    }

    /// As [`resolve_bytes`](Self::resolve_bytes), from interned strings
    /// (equal ids are equal bytes while they live).
    fn resolve_ids(
        &mut self,
        mut key: u64,
        name: StrId,
        host: StrId,
        tags: &[StrId],
        now: i64,
    ) -> Option<ContextId> {
        for _ in 0..64 {
            match self.by_key.get(&key) {
                Some(&id) => {
                    let same = self.contexts[id as usize]
                        .as_ref()
                        .is_some_and(|c| c.name == name && c.host == host && *c.tags == *tags);
                    if same {
                        let meta = &mut self.meta[id as usize];
                        meta.last_seen = meta.last_seen.max(now);
                        return Some(id);
                    }
                    key = probe(key);
                }
                None => break,
            }
        }
        if self.limit > 0 && self.by_key.len() >= self.limit {
            return None;
        }
        for &t in [name, host].iter().chain(tags.iter()) {
            self.strings.retain(t);
        }
        Some(self.insert_context(
            Context {
                key,
                name,
                host,
                tags: tags.into(),
            },
            now,
        ))
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
            key,
            name: self.strings.acquire(batch.bytes(&s.name)),
            host: self.strings.acquire(batch.bytes(&s.host)),
            tags,
        };
        Some(self.insert_context(ctx, now))
    }

    fn insert_context(&mut self, ctx: Context, now: i64) -> ContextId {
        let key = ctx.key;
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

    /// Keeps a context alive (counter zero-fill does this).
    pub(crate) fn touch(&mut self, id: ContextId, at: i64) {
        if let Some(m) = self.meta.get_mut(id as usize) {
            m.last_seen = m.last_seen.max(at);
        }
    }

    /// Drops contexts last seen before `cutoff`, unless zero-filled or
    /// `in_use` says they hold data.
    pub(crate) fn expire(&mut self, cutoff: i64, in_use: impl Fn(ContextId) -> bool) -> usize {
        let mut expired = 0;
        for id in 0..self.contexts.len() {
            let id = id as ContextId;
            let m = self.meta[id as usize];
            let stale = self.contexts[id as usize].is_some()
                && m.last_seen < cutoff
                && m.counter_seen == NOT_COUNTER;
            if stale && !in_use(id) {
                self.remove(id);
                expired += 1;
            }
        }
        expired
    }

    fn remove(&mut self, id: ContextId) {
        let Some(c) = self.contexts[id as usize].take() else {
            return;
        };
        self.by_key.remove(&c.key);
        self.strings.release(c.name);
        self.strings.release(c.host);
        for &t in c.tags.iter() {
            self.strings.release(t);
        }
        let meta = &mut self.meta[id as usize];
        meta.generation = meta.generation.wrapping_add(1);
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
        crate::sort::sort(&mut tags);
        tags.dedup();
        tags.into()
    }
}
