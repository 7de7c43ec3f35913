//! The one sort core uses, instead of `slice::sort*`.
//!
//! Every `sort_by` call site with its own element type and comparator
//! instantiates the standard library's driftsort/ipnsort, several KB of
//! code each; in the wasm module they added up to ~90 KB. Here short
//! slices (the tags of one message, the common case on the hot path) get
//! a small generic insertion sort, and longer ones sort a list of indices
//! with one shared, non-generic merge sort and then move the elements
//! into place. The sort is stable, so it gives the same order as
//! `slice::sort_by`, and also as `sort_unstable*` wherever core uses it
//! (equal elements there are indistinguishable, or re-sorted by a full
//! key afterwards).

use std::cmp::Ordering;

/// Slices up to this length are insertion-sorted in place; merge runs
/// start at this length too.
const SMALL: usize = 20;

/// Sorts `v` in ascending order, stably.
pub(crate) fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// Sorts `v` by `key`, stably.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` by `cmp`, stably (elements comparing equal keep their order).
pub(crate) fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() <= SMALL {
        insertion_sort(v, &mut cmp);
        return;
    }
    assert!(v.len() <= u32::MAX as usize, "slice too long to sort");
    let mut order: Vec<u32> = (0..v.len() as u32).collect();
    sort_indices(&mut order, &mut |a, b| cmp(&v[a as usize], &v[b as usize]));
    permute(v, &mut order);
}

fn insertion_sort<T>(v: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && cmp(&v[j - 1], &v[j]) == Ordering::Greater {
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Stable bottom-up merge sort of indices, compared through `cmp`.
fn sort_indices(idx: &mut [u32], cmp: &mut dyn FnMut(u32, u32) -> Ordering) {
    let n = idx.len();
    for run in idx.chunks_mut(SMALL) {
        insertion_sort(run, &mut |a: &u32, b: &u32| cmp(*a, *b));
    }
    let mut buf = vec![0u32; n];
    let mut width = SMALL;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            for slot in &mut buf[start..end] {
                // Ties take the left run's element: stable.
                if i < mid && (j == end || cmp(idx[j], idx[i]) != Ordering::Less) {
                    *slot = idx[i];
                    i += 1;
                } else {
                    *slot = idx[j];
                    j += 1;
                }
            }
            start = end;
        }
        idx.copy_from_slice(&buf);
        width *= 2;
    }
}

/// Rearranges `v` so that position `i` holds the element that was at
/// `order[i]`, following each cycle of the permutation with swaps.
/// `order` is left as the identity.
fn permute<T>(v: &mut [T], order: &mut [u32]) {
    for i in 0..v.len() {
        let mut j = i;
        loop {
            let k = order[j] as usize;
            order[j] = j as u32;
            if k == i {
                break;
            }
            v.swap(j, k);
            j = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_order_as_std_stable_sort(v in proptest::collection::vec((0u8..8, any::<u16>()), 0..300)) {
            let mut ours = v.clone();
            sort_by_key(&mut ours, |e| e.0);
            let mut std_sorted = v.clone();
            std_sorted.sort_by_key(|e| e.0);
            prop_assert_eq!(&ours, &std_sorted);

            let mut ours = v.clone();
            sort(&mut ours);
            let mut std_sorted = v;
            std_sorted.sort();
            prop_assert_eq!(ours, std_sorted);
        }
    }

    #[test]
    fn lengths_around_the_run_size() {
        for n in [
            0,
            1,
            2,
            SMALL - 1,
            SMALL,
            SMALL + 1,
            2 * SMALL,
            2 * SMALL + 1,
            1000,
        ] {
            let mut v: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % 101).collect();
            let mut expected = v.clone();
            expected.sort();
            sort(&mut v);
            assert_eq!(v, expected, "n = {n}");
        }
    }
}
