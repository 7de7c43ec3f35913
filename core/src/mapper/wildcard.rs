//! Direct matching of wildcard patterns, without the regex engine.
//!
//! A wildcard pattern compiles to `^` + pattern + `$` with `.` escaped and
//! each `*` replaced by the greedy group `([^.]*)`. Because a star never
//! crosses a dot and the pattern's dots are literal, a name matches only
//! if it has exactly as many dots as the pattern, and then each
//! dot-separated segment of the name must match the corresponding
//! segment of the pattern, independently.
//!
//! Within a segment `L0 * L1 * … * Lk` (`L0` and `Lk` possibly empty, the
//! inner literals not, since `**` is refused), a backtracking or
//! leftmost-first engine gives the first star the longest text that lets
//! the rest match, then the second star, and so on. That is the same as
//! placing each inner literal at its rightmost possible position, which is
//! found right to left with `rfind`. The result is identical to the
//! regex's and roughly ten times faster than `regex-lite`. (`rfind` is a
//! plain window scan, `crate::text::rfind`: segments and literals are
//! short, and std's two-way searcher cost ~3 KB of wasm, memchr's
//! reverse searcher as much.)
//! (Debug builds check every match against the regex.)

use crate::text::{rfind, substr};

/// A validated wildcard pattern, ready for matching.
#[derive(Debug)]
pub(crate) struct Wildcard {
    /// The pattern's dot-separated segments, each split on `*`.
    segments: Box<[Box<[Box<str>]>]>,
    /// Number of `*` in the whole pattern.
    stars: usize,
}

impl Wildcard {
    /// `pattern` must have passed validation (`[a-zA-Z0-9\-_*.]+`, no `**`).
    pub(crate) fn new(pattern: &str) -> Self {
        let segments = pattern
            .split('.')
            .map(|segment| segment.split('*').map(Box::from).collect())
            .collect();
        Self {
            segments,
            stars: pattern.bytes().filter(|&b| b == b'*').count(),
        }
    }

    /// The text of each `*` in order, or `None` when `name` does not match.
    pub(crate) fn captures<'h>(&self, name: &'h str) -> Option<Vec<&'h str>> {
        let mut stars = Vec::with_capacity(self.stars);
        let mut rest = name;
        let last = self.segments.len() - 1;
        for (i, pieces) in self.segments.iter().enumerate() {
            let segment = if i == last {
                if rest.contains('.') {
                    return None;
                }
                rest
            } else {
                let (segment, after) = rest.split_once('.')?;
                rest = after;
                segment
            };
            if !match_segment(pieces, segment, &mut stars) {
                return None;
            }
        }
        Some(stars)
    }
}

/// Matches one dot-free segment against `L0 * L1 * … * Lk`, pushing the
/// text of each star.
fn match_segment<'h>(pieces: &[Box<str>], segment: &'h str, stars: &mut Vec<&'h str>) -> bool {
    let [first, inner @ .., last] = pieces else {
        // No star: the segment is literal.
        return pieces.first().is_some_and(|p| **p == *segment);
    };
    if segment.len() < first.len() + last.len()
        || !segment.starts_with(&**first)
        || !segment.ends_with(&**last)
    {
        return false;
    }
    let middle = substr(segment, first.len()..segment.len() - last.len());
    // Rightmost placement of the inner literals, found right to left.
    let mut positions = Vec::with_capacity(inner.len());
    let mut limit = middle.len();
    for literal in inner.iter().rev() {
        let Some(at) = rfind(substr(middle, ..limit), literal) else {
            return false;
        };
        positions.push(at);
        limit = at;
    }
    let mut start = 0;
    for (literal, &at) in inner.iter().zip(positions.iter().rev()) {
        stars.push(substr(middle, start..at));
        start = at + literal.len();
    }
    stars.push(substr(middle, start..));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapper::compile::wildcard_to_regex;
    use proptest::prelude::*;
    use regex_lite::Regex;

    fn via_regex<'h>(pattern: &str, name: &'h str) -> Option<Vec<&'h str>> {
        let regex = Regex::new(&format!("^{}$", wildcard_to_regex(pattern))).unwrap();
        let captures = regex.captures(name)?;
        Some(
            (1..captures.len())
                .map(|i| captures.get(i).map_or("", |m| m.as_str()))
                .collect(),
        )
    }

    #[test]
    fn examples() {
        let w = Wildcard::new("a.*.b*c*d.*");
        assert_eq!(w.captures("a.x.bcd."), Some(vec!["x", "", "", ""]));
        assert_eq!(
            w.captures("a.x.b1c2c3d.y"),
            Some(vec!["x", "1c2", "3", "y"])
        );
        assert_eq!(w.captures("a.x.bcd"), None);
        assert_eq!(w.captures("a.x.y.bcd.z"), None);
        let w = Wildcard::new("*_*");
        assert_eq!(w.captures("x_y_z"), Some(vec!["x_y", "z"]));
        assert_eq!(w.captures("xyz"), None);
        let w = Wildcard::new("plain.name");
        assert_eq!(w.captures("plain.name"), Some(vec![]));
        assert_eq!(w.captures("plain.names"), None);
        let w = Wildcard::new("*");
        assert_eq!(w.captures(""), Some(vec![""]));
        assert_eq!(w.captures("héllo wörld\n"), Some(vec!["héllo wörld\n"]));
        assert_eq!(w.captures("a.b"), None);
        let w = Wildcard::new("aa*aa");
        assert_eq!(w.captures("aaa"), None);
        assert_eq!(w.captures("aaaa"), Some(vec![""]));
        assert_eq!(w.captures("aaaaa"), Some(vec!["a"]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Same answer and same captures as the regex the Agent builds.
        #[test]
        fn agrees_with_the_regex(
            pattern in "[ab.*_]{1,10}".prop_filter("validated", |p| !p.contains("**")),
            name in "[ab._é]{0,12}",
        ) {
            prop_assert_eq!(Wildcard::new(&pattern).captures(&name), via_regex(&pattern, &name));
        }

        /// Names built to match: the pattern with each star replaced.
        #[test]
        fn agrees_on_matching_names(
            pattern in "[ab.*]{1,10}".prop_filter("validated", |p| !p.contains("**")),
            fills in prop::collection::vec("[ab_]{0,4}", 10),
        ) {
            let mut fills = fills.into_iter();
            let name: String = pattern
                .chars()
                .map(|c| if c == '*' { fills.next().unwrap_or_default() } else { c.to_string() })
                .collect();
            let ours = Wildcard::new(&pattern).captures(&name);
            prop_assert!(ours.is_some());
            prop_assert_eq!(ours, via_regex(&pattern, &name));
        }
    }
}
