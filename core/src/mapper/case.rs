//! Single-character case mappings for the mapper's `(?i)` folding.
//!
//! `lower(c)` is `c.to_lowercase()` and `upper(c)` is `c.to_uppercase()`
//! when those give exactly one character, `None` otherwise. The answers
//! come from runs that `core/build.rs` derives from those very std
//! functions at build time: about 3 KB instead of std's two ~12 KB tables,
//! which dominated the wasm module's data. A test compares every code
//! point with std.

include!(concat!(env!("OUT_DIR"), "/case_runs.rs"));

/// The (lower, upper) deltas of `c`: 0 maps to itself, `NONE` to no
/// single character.
fn deltas(c: char) -> (i32, i32) {
    let code = u32::from(c);
    let mask = (1 << LO_BITS) - 1;
    // The last run starting at or before `code`.
    let i = RUNS.partition_point(|&r| r & mask <= code);
    let Some(&run) = i.checked_sub(1).and_then(|i| RUNS.get(i)) else {
        return (0, 0);
    };
    let (lo, len) = (run & mask, run >> LO_BITS);
    if code > lo + len {
        return (0, 0);
    }
    let palette = RUN_DELTAS[i - 1][((code - lo) % 2) as usize];
    DELTAS[usize::from(palette)]
}

fn apply(c: char, delta: i32) -> Option<char> {
    if delta == NONE {
        return None;
    }
    char::from_u32(u32::from(c).wrapping_add_signed(delta))
}

/// `c.to_lowercase()` when that is one character.
pub(super) fn lower(c: char) -> Option<char> {
    apply(c, deltas(c).0)
}

/// `c.to_uppercase()` when that is one character.
pub(super) fn upper(c: char) -> Option<char> {
    apply(c, deltas(c).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    #[test]
    fn every_code_point_matches_std() {
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(lower(c), single(c.to_lowercase()), "lower {c:?}");
            assert_eq!(upper(c), single(c.to_uppercase()), "upper {c:?}");
        }
    }
}
