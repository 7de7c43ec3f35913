//! One bucket's per-context values, dense in arrival order.
//!
//! Each sample reads its context's bookkeeping anyway, which remembers
//! where the context's value sat last ([`Slots::get_or_insert_with`]'s
//! hint). Found there, the value costs one access to a dense array, where
//! a hash map cost a probe of its control bytes and then a sparse entry:
//! an extra cache miss per sample once contexts outgrow the cache. The
//! index behind it serves hints that miss (a context's first sample in a
//! bucket, or one of an older bucket).

use std::collections::HashMap;

use super::context::ContextId;
use super::inthash::IntBuild;

#[derive(Debug)]
pub(crate) struct Slots<T> {
    entries: Vec<(ContextId, T)>,
    /// Position of each context's entry.
    index: HashMap<ContextId, u32, IntBuild>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::default(),
        }
    }
}

impl<T> Slots<T> {
    /// The value of `id`, made by `make` if it has none; `hint` is where
    /// it was last seen in some bucket, and is set to where it is here.
    /// A context has one entry at most, so an entry naming `id` is its
    /// own wherever the hint came from.
    #[inline]
    pub(crate) fn get_or_insert_with(
        &mut self,
        id: ContextId,
        hint: &mut u32,
        make: impl FnOnce() -> T,
    ) -> &mut T {
        let at = *hint as usize;
        if self.entries.get(at).is_some_and(|e| e.0 == id) {
            return &mut self.entries[at].1;
        }
        let entries = &mut self.entries;
        let at = *self.index.entry(id).or_insert_with(|| {
            entries.push((id, make()));
            u32::try_from(entries.len() - 1).unwrap_or(u32::MAX)
        });
        *hint = at;
        &mut self.entries[at as usize].1
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The contexts with a value.
    pub(crate) fn ids(&self) -> impl Iterator<Item = ContextId> + '_ {
        self.entries.iter().map(|e| e.0)
    }

    /// Every entry, in context id order, leaving the slots empty (their
    /// capacity kept).
    pub(crate) fn drain_sorted(&mut self) -> std::vec::Drain<'_, (ContextId, T)> {
        crate::order::sort_by_key(&mut self.entries, |e| e.0);
        self.index.clear();
        self.entries.drain(..)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_find_values_and_stale_hints_fall_back_to_the_index() {
        let mut s: Slots<u32> = Slots::default();
        let mut hints = [u32::MAX; 4];
        for id in [3u32, 1, 2] {
            *s.get_or_insert_with(id, &mut hints[id as usize], || 0) += id * 10;
        }
        assert_eq!(hints[3], 0, "first in, first entry");
        // Hints that are right, wrong (another context's entry), out of
        // range: all find the same value, and none makes a second entry.
        for hint in [hints[1], 0, 2, 7, u32::MAX] {
            let mut h = hint;
            *s.get_or_insert_with(1, &mut h, || 0) += 1;
            assert_eq!(h, 1);
        }
        assert_eq!(*s.get_or_insert_with(1, &mut 0, || 99), 15);
        assert_eq!(s.ids().count(), 3);
        let drained: Vec<(ContextId, u32)> = s.drain_sorted().collect();
        assert_eq!(drained, [(1, 15), (2, 20), (3, 30)]);
        assert!(s.is_empty());
        // After a drain, an old hint names nothing (or another context).
        let mut h = hints[2];
        *s.get_or_insert_with(2, &mut h, || 5) += 1;
        assert_eq!(*s.get_or_insert_with(2, &mut h, || 0), 6);
        s.clear();
        assert!(s.is_empty() && s.ids().next().is_none());
    }
}
