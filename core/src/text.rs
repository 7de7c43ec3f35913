//! `str` slicing and substring search without the standard library's
//! slicing panic.
//!
//! `&s[a..b]`, `split_at`, and `find`/`rfind`/`contains` with a `&str`
//! pattern (std's two-way searcher) can reach `core::str::slice_error_fail`,
//! whose message prints the cut char with `{:?}` and its byte range: that
//! links `char`'s `Debug` (with the Unicode printable and grapheme-extend
//! tables) and `Range`'s `Debug`. With no such call left, the wasm module
//! is 11 KB smaller (`wasm/README.md`); one new `&s[a..b]` on a `str`
//! anywhere the module reaches brings most of it back. Callers slice at
//! boundaries they found themselves, so [`substr`] keeps a panic for a
//! broken invariant, with a fixed message.

use std::slice::SliceIndex;

/// `&s[range]`; panics like it when `range` does not fall on char
/// boundaries, but without formatting the offending char.
#[inline]
pub(crate) fn substr<R: SliceIndex<str, Output = str>>(s: &str, range: R) -> &str {
    match s.get(range) {
        Some(t) => t,
        None => not_a_boundary(),
    }
}

#[cold]
#[inline(never)]
fn not_a_boundary() -> ! {
    panic!("str slice out of bounds or not on a char boundary")
}

/// Byte offset of the first occurrence of `needle` (not empty) in
/// `haystack`: `haystack.find(needle)` without std's two-way searcher.
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w == needle)
}

/// Byte offset of the last occurrence of `needle` (not empty) in
/// `haystack`: `haystack.rfind(needle)` without std's two-way searcher.
pub(crate) fn rfind(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_std() {
        let hay = "a::b:é::]x:]";
        for needle in [":", "::", ":]", "é", "é:", "x", "zz", hay, "a::b:é::]x:]!"] {
            assert_eq!(find(hay, needle), hay.find(needle), "{needle}");
            assert_eq!(rfind(hay, needle), hay.rfind(needle), "{needle}");
        }
        assert_eq!(substr(hay, 5..7), &hay[5..7]);
        assert_eq!(substr(hay, ..1), "a");
        assert_eq!(substr(hay, hay.len()..), "");
    }

    #[test]
    #[should_panic(expected = "not on a char boundary")]
    fn inside_a_char_panics() {
        let _ = substr("é", 1..);
    }
}
