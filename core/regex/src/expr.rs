// dogstatsd addition (not in upstream regex-lite): builds the `Hir` a
// pattern would parse to, directly, so that a caller with its own parser
// (dogstatsd-core's Go-syntax front end) needs neither pattern text nor
// this crate's parser, which is then left out of the binary.

use alloc::{boxed::Box, vec::Vec};

use crate::hir::{self, Class, ClassRange, Hir, Look};

/// A regular expression built directly, for
/// [`RegexBuilder::build_expr`](crate::RegexBuilder::build_expr). Each
/// constructor gives the value that parsing the equivalent pattern (noted
/// on it) with default flags gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr(Hir);

impl Expr {
    pub(crate) fn into_hir(self) -> Hir {
        self.0
    }

    /// The empty expression (an empty pattern).
    pub fn empty() -> Expr {
        Expr(Hir::empty())
    }

    /// One character (a literal or an escape like `\x{..}`).
    pub fn char(ch: char) -> Expr {
        Expr(Hir::char(ch))
    }

    /// A class from inclusive ranges that are sorted, non-overlapping and
    /// not adjacent (`[..]` listing them; an empty list matches nothing,
    /// like `[^\x00-\x{10FFFF}]`). Panics on ranges not in that form.
    pub fn class(ranges: &[(char, char)]) -> Expr {
        for pair in ranges.windows(2) {
            assert!(
                u32::from(pair[0].1) + 1 < u32::from(pair[1].0),
                "class ranges must be sorted, disjoint and not adjacent"
            );
        }
        let ranges = ranges
            .iter()
            .map(|&(start, end)| {
                assert!(start <= end, "class range start after end");
                ClassRange { start, end }
            })
            .collect();
        Expr(Hir::class(Class { ranges }))
    }

    /// `\A`
    pub fn start_text() -> Expr {
        Expr(Hir::look(Look::Start))
    }

    /// `\z`
    pub fn end_text() -> Expr {
        Expr(Hir::look(Look::End))
    }

    /// `(?m:^)`
    pub fn start_line() -> Expr {
        Expr(Hir::look(Look::StartLF))
    }

    /// `(?m:$)`
    pub fn end_line() -> Expr {
        Expr(Hir::look(Look::EndLF))
    }

    /// `\b`
    pub fn word_boundary() -> Expr {
        Expr(Hir::look(Look::Word))
    }

    /// `\B`
    pub fn not_word_boundary() -> Expr {
        Expr(Hir::look(Look::WordNegate))
    }

    /// `(sub)`, the `index`th capturing group (1 for the first `(`).
    pub fn capture(index: u32, sub: Expr) -> Expr {
        Expr(Hir::capture(hir::Capture {
            index,
            name: None,
            sub: Box::new(sub.0),
        }))
    }

    /// `(?:sub){min,max}` (`max` `None`: unbounded), lazy when not
    /// `greedy` (`{min,max}?`).
    pub fn repeat(
        sub: Expr,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    ) -> Expr {
        Expr(Hir::repetition(hir::Repetition {
            min,
            max,
            greedy,
            sub: Box::new(sub.0),
        }))
    }

    /// `ab..`: the items one after the other. Parsing never nests a
    /// concatenation directly in another one, so callers flatten.
    pub fn concat(items: Vec<Expr>) -> Expr {
        Expr(Hir::concat(items.into_iter().map(|e| e.0).collect()))
    }

    /// `a|b|..`: the branches, leftmost first.
    pub fn alternate(branches: Vec<Expr>) -> Expr {
        Expr(Hir::alternation(branches.into_iter().map(|e| e.0).collect()))
    }

    /// Test support: whether `pattern`, parsed with the given nest limit,
    /// gives this very expression.
    #[doc(hidden)]
    pub fn same_as_parsed(&self, pattern: &str, nest_limit: u32) -> bool {
        let mut config = hir::Config::default();
        config.nest_limit = nest_limit;
        Hir::parse(config, pattern).map_or(false, |h| h == self.0)
    }
}
