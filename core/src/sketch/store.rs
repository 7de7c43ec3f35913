//! The sparse bin store (spec §3): bins sorted by key, a key whose count
//! exceeds the bin width spread over several adjacent bins (the partial one
//! first), and at most [`BIN_LIMIT`] bins (plus overflow bins).
//!
//! Every function takes the bin width `max` (65535 or 4294967295) so one
//! implementation serves both layouts.

/// Maximum number of bins kept before the lowest ones are collapsed.
pub const BIN_LIMIT: usize = 4096;

/// One bin: a key and how many values it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bin {
    /// The key ([`super::key`]).
    pub key: i16,
    /// How many values fell into this bin (never 0).
    pub n: u32,
}

/// Appends `total` values of `key` to `out` split over as many bins as the
/// width requires: the remainder first, then the full bins.
fn push_split(out: &mut Vec<Bin>, key: i16, total: u64, max: u32) {
    let full = total / u64::from(max);
    let rem = total % u64::from(max);
    if rem != 0 {
        out.push(Bin { key, n: rem as u32 });
    }
    for _ in 0..full {
        out.push(Bin { key, n: max });
    }
}

/// Iterator form of [`push_split`] (for splicing into the middle).
fn split(key: i16, total: u64, max: u32) -> impl Iterator<Item = Bin> {
    let full = total / u64::from(max);
    let rem = total % u64::from(max);
    let first = (rem != 0).then_some(Bin { key, n: rem as u32 });
    first
        .into_iter()
        .chain(std::iter::repeat_n(Bin { key, n: max }, full as usize))
}

/// Adds `n` (> 0) values of `key`, then applies the bin limit.
///
/// This is the one-pair form of the Agent's batch merge (spec §3.1/§3.2):
/// an existing bin of the key (the first, partial one if the key is split)
/// absorbs the count, otherwise a new bin is inserted in key order.
pub(crate) fn add(bins: &mut Vec<Bin>, key: i16, n: u64, max: u32) {
    debug_assert!(n > 0);
    let i = find(bins, key);
    if let Some(b) = bins.get_mut(i).filter(|b| b.key == key) {
        let total = u64::from(b.n) + n;
        if total <= u64::from(max) {
            // The common steady-state path: no allocation, no move.
            b.n = total as u32;
            return;
        }
        bins.splice(i..=i, split(key, total, max));
    } else {
        if n <= u64::from(max)
            && bins.len() == BIN_LIMIT
            && fold_new_bin(bins, i, key, n as u32, max)
        {
            return;
        }
        if bins.capacity() == 0 {
            // Most contexts see one value per bucket: one bin, 8 bytes.
            bins.reserve_exact(1);
        }
        bins.splice(i..i, split(key, n, max));
    }
    trim(bins, max);
}

/// Index of the first bin with a key ≥ `key`. Bins of real distributions
/// are mostly dense (every key between the lowest and highest present), so
/// the key's offset from the first bin is tried before a binary search.
#[inline]
fn find(bins: &[Bin], key: i16) -> usize {
    if let Some(first) = bins.first() {
        let guess = (i32::from(key) - i32::from(first.key)) as usize;
        if let Some(b) = bins.get(guess)
            && b.key == key
            && (guess == 0 || bins[guess - 1].key < key)
        {
            return guess;
        }
    }
    bins.partition_point(|b| b.key < key)
}

/// Inserting a new bin at `i` into a full store and trimming one bin is the
/// same as folding the lowest bin into its successor: done in one move
/// instead of an insert and a removal. Returns false (and changes nothing)
/// when the fold would saturate a bin; the general path handles that.
fn fold_new_bin(bins: &mut [Bin], i: usize, key: i16, n: u32, max: u32) -> bool {
    if i == 0 {
        // The new bin is the lowest: it is folded into the current lowest.
        let total = u64::from(bins[0].n) + u64::from(n);
        if total > u64::from(max) {
            return false;
        }
        bins[0].n = total as u32;
        return true;
    }
    let lowest = bins[0].n;
    let successor = if i == 1 { n } else { bins[1].n };
    if u64::from(lowest) + u64::from(successor) > u64::from(max) {
        return false;
    }
    bins.copy_within(1..i, 0);
    bins[i - 1] = Bin { key, n };
    bins[0].n += lowest;
    true
}

/// Merges `other`'s bins into `bins` (spec §3.3), then applies the limit.
pub(crate) fn merge(bins: &mut Vec<Bin>, other: &[Bin], max: u32) {
    if other.is_empty() {
        return;
    }
    if bins.is_empty() {
        bins.extend_from_slice(other);
        trim(bins, max);
        return;
    }
    let mut out = Vec::with_capacity(bins.len() + other.len());
    let own = bins.as_slice();
    let mut j = 0;
    for ob in other {
        while j < own.len() && own[j].key < ob.key {
            out.push(own[j]);
            j += 1;
        }
        if j < own.len() && own[j].key == ob.key {
            push_split(&mut out, ob.key, u64::from(ob.n) + u64::from(own[j].n), max);
            j += 1;
        } else {
            out.push(*ob);
        }
    }
    out.extend_from_slice(&own[j..]);
    *bins = out;
    trim(bins, max);
}

/// The bin limit (spec §3.4): collapses the lowest bins into the lowest
/// kept one. No count is lost; saturation produces overflow bins, so the
/// result can exceed [`BIN_LIMIT`].
pub(crate) fn trim(bins: &mut Vec<Bin>, max: u32) {
    if bins.len() <= BIN_LIMIT {
        return;
    }
    let r = bins.len() - BIN_LIMIT;
    let max64 = u64::from(max);
    let mut missing: u64 = 0;
    let mut overflow = Vec::new();
    for b in &bins[..r] {
        missing += u64::from(b.n);
        if missing > max64 {
            overflow.push(Bin { key: b.key, n: max });
            missing -= max64;
        }
    }
    let kept = &mut bins[r];
    let total = u64::from(kept.n) + missing;
    if total > max64 {
        kept.n = max;
        let key = kept.key;
        push_split(&mut overflow, key, total - max64, max);
    } else {
        kept.n = total as u32;
    }
    bins.splice(..r, overflow);
}

#[cfg(test)]
mod tests {
    use super::*;

    const W16: u32 = 65535;

    fn b(key: i16, n: u32) -> Bin {
        Bin { key, n }
    }

    #[test]
    fn append_safe_split() {
        let mut bins = Vec::new();
        add(&mut bins, 5, 70000, W16);
        assert_eq!(bins, [b(5, 4465), b(5, 65535)]);
        let mut bins = Vec::new();
        add(&mut bins, 5, 200000, W16);
        assert_eq!(bins, [b(5, 3395), b(5, 65535), b(5, 65535), b(5, 65535)]);
        // The partial bin absorbs; exact multiples leave no partial bin.
        add(&mut bins, 5, 65535 - 3395, W16);
        assert_eq!(bins, [b(5, 65535); 4]);
        add(&mut bins, 5, 1, W16);
        assert_eq!(bins[..2], [b(5, 1), b(5, 65535)]);
        assert_eq!(bins.len(), 5);
    }

    #[test]
    fn merge_keeps_order_and_splits() {
        let mut a = vec![b(1, 2), b(3, 65000), b(3, 65535), b(9, 1)];
        merge(&mut a, &[b(0, 1), b(3, 1000), b(4, 4), b(9, 2)], W16);
        assert_eq!(
            a,
            [
                b(0, 1),
                b(1, 2),
                b(3, 465),
                b(3, 65535),
                b(3, 65535),
                b(4, 4),
                b(9, 3)
            ]
        );
    }

    #[test]
    fn trim_folds_lowest() {
        let mut bins: Vec<Bin> = (0..BIN_LIMIT as i16 + 3).map(|k| b(k, 1)).collect();
        trim(&mut bins, W16);
        assert_eq!(bins.len(), BIN_LIMIT);
        assert_eq!(bins[0], b(3, 4));
        assert_eq!(
            bins.iter().map(|b| u64::from(b.n)).sum::<u64>(),
            BIN_LIMIT as u64 + 3
        );
    }

    #[test]
    fn trim_overflow_keeps_removed_key() {
        let mut bins = vec![b(-5, 65535), b(-4, 10)];
        bins.extend((0..BIN_LIMIT as i16).map(|k| b(k, 65530)));
        trim(&mut bins, W16);
        // missing: 65535 then 65545 > max → overflow (-4, 65535), missing 10;
        // bin 0 (65530) + 10 saturates → (0, 65535) and a (0, 5) overflow.
        assert_eq!(bins[..3], [b(-4, 65535), b(0, 5), b(0, 65535)]);
        assert_eq!(bins.len(), BIN_LIMIT + 2);
    }

    #[test]
    fn fold_fast_path_equals_insert_then_trim() {
        let base: Vec<Bin> = (0..BIN_LIMIT as i16).map(|k| b(k * 2, 3)).collect();
        for key in [-1, 0, 1, 2, 3, 101, 8189, 9000] {
            let mut fast = base.clone();
            add(&mut fast, key, 7, W16);
            let mut slow = base.clone();
            let i = slow.partition_point(|x| x.key < key);
            if slow.get(i).is_some_and(|x| x.key == key) {
                slow[i].n += 7;
            } else {
                slow.insert(i, b(key, 7));
            }
            trim(&mut slow, W16);
            assert_eq!(fast, slow, "key {key}");
        }
    }
}
