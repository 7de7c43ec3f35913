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
use super::intern::{Interner, StrId};
use super::inthash::IntBuild;

/// Index of a context in its store.
pub(crate) type ContextId = u32;

#[derive(Debug)]
struct Context {
    key: u64,
    name: StrId,
    host: StrId,
    /// Unique tags in canonical order (by hash), as samples carry them,
    /// so verification is one linear walk.
    tags: Box<[StrId]>,
    last_seen: i64,
}

/// The contexts one time sampler owns.
#[derive(Debug, Default)]
pub(crate) struct ContextStore {
    /// Context hash → id. A rare colliding context is stored under a
    /// re-mixed hash (open addressing over the key space).
    by_key: HashMap<u64, ContextId, IntBuild>,
    contexts: Vec<Option<Context>>,
    free: Vec<ContextId>,
    strings: Interner,
}

fn probe(key: u64) -> u64 {
    key.rotate_left(17).wrapping_mul(0xA076_1D64_78BD_642F) ^ 0x5851_F42D_4C95_7F2D
}

impl ContextStore {
    /// Finds or creates the context of `s`, marking it seen at `now`.
    pub(crate) fn resolve(&mut self, batch: &SampleBatch, s: &PackedSample, now: i64) -> ContextId {
        let mut key = s.key;
        // Bounded: each probe step is a distinct stored context that
        // failed verification; real collisions are astronomically rare.
        for _ in 0..64 {
            match self.by_key.get(&key) {
                Some(&id) => {
                    if self.matches(id, batch, s) {
                        if let Some(c) = self.contexts[id as usize].as_mut() {
                            c.last_seen = c.last_seen.max(now);
                        }
                        return id;
                    }
                    key = probe(key);
                }
                None => return self.insert(key, batch, s, now),
            }
        }
        self.insert(key, batch, s, now)
    }

    fn matches(&self, id: ContextId, batch: &SampleBatch, s: &PackedSample) -> bool {
        let Some(c) = self.contexts[id as usize].as_ref() else {
            return false;
        };
        let hashes = batch.hashes(&s.hashes);
        if c.tags.len() != hashes.len()
            || self.strings.bytes(c.name) != batch.bytes(&s.name)
            || self.strings.bytes(c.host) != batch.bytes(&s.host)
        {
            return false;
        }
        // Both sides are in canonical order: one linear walk.
        c.tags
            .iter()
            .zip(hashes)
            .zip(batch.tags(&s.tags))
            .all(|((&t, &h), tag)| self.strings.hash(t) == h && self.strings.bytes(t) == tag)
    }

    fn insert(&mut self, key: u64, batch: &SampleBatch, s: &PackedSample, now: i64) -> ContextId {
        let hashes = batch.hashes(&s.hashes);
        let tags: Box<[StrId]> = hashes
            .iter()
            .zip(batch.tags(&s.tags))
            .map(|(&h, tag)| self.strings.acquire(tag, h))
            .collect();
        let ctx = Context {
            key,
            name: self.strings.acquire(batch.bytes(&s.name), s.name_hash),
            host: self.strings.acquire(batch.bytes(&s.host), s.host_hash),
            tags,
            last_seen: now,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.contexts[id as usize] = Some(ctx);
                id
            }
            None => {
                self.contexts.push(Some(ctx));
                ContextId::try_from(self.contexts.len() - 1).unwrap_or(ContextId::MAX)
            }
        };
        self.by_key.insert(key, id);
        id
    }

    /// Keeps a context alive (counter zero-fill does this).
    pub(crate) fn touch(&mut self, id: ContextId, at: i64) {
        if let Some(Some(c)) = self.contexts.get_mut(id as usize) {
            c.last_seen = c.last_seen.max(at);
        }
    }

    /// Drops contexts last seen before `cutoff` unless `keep` says not to.
    pub(crate) fn expire(&mut self, cutoff: i64, keep: impl Fn(ContextId) -> bool) -> usize {
        let mut expired = 0;
        for id in 0..self.contexts.len() {
            let id = id as ContextId;
            let stale = matches!(&self.contexts[id as usize], Some(c) if c.last_seen < cutoff);
            if stale && !keep(id) {
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
