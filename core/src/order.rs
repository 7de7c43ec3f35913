//! Sorting through one instantiation of the standard library's stable
//! sort.
//!
//! Every `slice::sort_by` call site with its own element type and
//! comparator instantiates std's driftsort, several KB of code each; in
//! the wasm module they added up to the largest part of its size. Here
//! std sorts a list of indices with a `dyn` comparator (one
//! instantiation for all of core), and the elements are then moved into
//! place along the permutation's cycles. The order is std's stable order.

use std::cmp::Ordering;

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
    if v.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort_indices(&mut order, &mut |a, b| cmp(&v[a], &v[b]));
    permute(v, &mut order);
}

/// The one instantiation of std's sort.
#[inline(never)]
fn sort_indices(order: &mut [usize], cmp: &mut dyn FnMut(usize, usize) -> Ordering) {
    order.sort_by(|&a, &b| cmp(a, b));
}

/// Moves `v[order[i]]` to position `i` for every `i`, cycle by cycle, in
/// place (`order` is left as the identity).
fn permute<T>(v: &mut [T], order: &mut [usize]) {
    for start in 0..order.len() {
        let mut at = start;
        loop {
            let from = order[at];
            order[at] = at;
            if from == start || from == at {
                break;
            }
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_order_as_std_stable_sort() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in [0usize, 1, 2, 3, 7, 20, 21, 100, 1000] {
            let v: Vec<(u8, u32)> = (0..len as u32)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ((x % 7) as u8, i)
                })
                .collect();
            let mut ours = v.clone();
            sort_by_key(&mut ours, |e| e.0);
            let mut std = v.clone();
            std.sort_by_key(|e| e.0);
            assert_eq!(ours, std, "len {len}");
            let mut ours = v.clone();
            sort(&mut ours);
            let mut std = v;
            std.sort();
            assert_eq!(ours, std, "len {len}");
        }
    }
}
