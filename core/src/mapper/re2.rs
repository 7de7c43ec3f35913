//! A front end for Go's regexp syntax (RE2 with Perl extensions, as
//! `regexp.Compile` accepts it), building an equivalent `regex-lite`
//! expression.
//!
//! The Agent compiles mapping patterns with Go's `regexp`; `regex-lite`
//! accepts a different language. Compiling the user's text directly would
//! accept patterns the Agent refuses (`a**`, `a{1001}`, `(?x)`, `\<`,
//! `(?P<a.b>x)`, `\u0041`), refuse patterns it accepts (`a{,3}`, `x{`,
//! `\Q…\E`, octal `\012`, `[a[b]`, `[a&&b]`, `[\d-z]`, `(?ii)`, `(?P<1>x)`,
//! duplicate group names) and read a few the same text differently (`\s`
//! matching `\v`, `\<` being a word boundary). So the pattern is parsed
//! here with Go's rules and error conditions into a tree that means the
//! same thing to `regex-lite`: every class spelled out as ranges, case
//! folding and flags resolved at parse time. The tree is then emitted as
//! normalised pattern text (every literal escaped, no inline flags left)
//! that the upstream `regex-lite` crate compiles.
//!
//! Known differences that remain (`regex-lite` has no Unicode tables):
//! Unicode classes `\pL`, `\p{Greek}` are refused; case-insensitive
//! matching of non-ASCII letters uses the standard library's case mappings
//! instead of Unicode simple case folding (identical for ASCII, including
//! Go's `k`/`K`/U+212A and `s`/`S`/U+017F orbits); nesting and size limits
//! are this module's and `regex-lite`'s, not Go's.

use std::fmt::Write as _;

use crate::text::{find, substr};

/// Go's limit on `{n,m}` counts.
const MAX_REPEAT: i64 = 1000;
/// Nesting limit, for group depth and for the height of the parsed tree.
/// Go allows 1000; this is lower because parsing here, emission and
/// regex-lite's own parser all recurse per level, and the mapper must be
/// buildable on a 2 MiB thread stack even in debug builds.
pub(crate) const MAX_HEIGHT: usize = 250;
/// First and last code points that take part in case folding (Go's
/// `minFold`, `maxFold`).
const MIN_FOLD: u32 = 0x41;
const MAX_FOLD: u32 = 0x1_E943;
const MAX_RUNE: u32 = 0x10_FFFF;

/// A pattern translated for `regex-lite`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Translated {
    /// The equivalent `regex-lite` pattern. Capture groups are unnamed and
    /// numbered as in the source.
    pub(crate) pattern: String,
    /// Group names by group index; index 0 (the whole match) is `None`.
    /// Go allows the same name on several groups.
    pub(crate) names: Vec<Option<String>>,
    /// Text every match must start with at the start of the haystack
    /// (literals right after a leading `\A`), for a cheap pre-check.
    pub(crate) required_prefix: String,
    /// Text every match must end with at the end of the haystack.
    pub(crate) required_suffix: String,
}

/// Parses `source` with Go's rules. The error reads like Go's:
/// `error parsing regexp: <what>: `<where>``.
pub(crate) fn translate(source: &str) -> Result<Translated, String> {
    let mut parser = Parser {
        src: source,
        pos: 0,
        flags: Flags::default(),
        names: vec![None],
        depth: 0,
    };
    let node = parser.parse_alternation()?;
    if parser.pos < source.len() {
        // Only a `)` stops the top-level alternation early.
        return Err(error("unexpected )", source));
    }
    if node.height() > MAX_HEIGHT {
        return Err(error("expression nests too deeply", source));
    }
    let pattern = {
        let mut pattern = String::with_capacity(source.len() * 2);
        node.emit(&mut pattern);
        pattern
    };
    let (required_prefix, required_suffix) = node.required_affixes();
    Ok(Translated {
        pattern,
        names: parser.names,
        required_prefix,
        required_suffix,
    })
}

#[cold]
#[inline(never)]
fn error(what: &str, at: &str) -> String {
    format!("error parsing regexp: {what}: `{at}`")
}

#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    /// `i`
    fold_case: bool,
    /// `m`: `^`/`$` match at line boundaries.
    multi_line: bool,
    /// `s`: `.` matches `\n`.
    dot_nl: bool,
    /// `U`: repetitions are lazy unless followed by `?`.
    ungreedy: bool,
}

/// Inclusive code point ranges, sorted and merged once built.
type Ranges = Vec<(u32, u32)>;

#[derive(Debug)]
enum Node {
    Empty,
    Literal(char),
    Class(Ranges),
    /// `.` without `s`.
    AnyNotNl,
    /// `.` with `s`.
    Any,
    BeginLine,
    EndLine,
    BeginText,
    EndText,
    WordBoundary,
    NotWordBoundary,
    Capture(Box<Self>),
    Repeat {
        sub: Box<Self>,
        min: i64,
        /// `-1` = unbounded.
        max: i64,
        greedy: bool,
        /// `{n,m}` as opposed to `*`, `+`, `?` (only these count toward
        /// Go's nested repeat limit).
        counted: bool,
    },
    Concat(Vec<Self>),
    Alternate(Vec<Self>),
}

impl Node {
    /// Literal text a match must start and end with, when the expression is
    /// a concatenation anchored at the start (end) of the text followed
    /// (preceded) by plain literals. Exact necessary conditions.
    fn required_affixes(&self) -> (String, String) {
        let Self::Concat(items) = self else {
            return (String::new(), String::new());
        };
        let literal = |node: &Self| match node {
            Self::Literal(c) => Some(*c),
            _ => None,
        };
        let mut prefix = String::new();
        if matches!(items.first(), Some(Self::BeginText)) {
            prefix.extend(items[1..].iter().map_while(literal));
        }
        let mut suffix = String::new();
        if matches!(items.last(), Some(Self::EndText)) {
            let mut reversed: Vec<char> = items[..items.len() - 1]
                .iter()
                .rev()
                .map_while(literal)
                .collect();
            reversed.reverse();
            suffix.extend(reversed);
        }
        (prefix, suffix)
    }

    fn height(&self) -> usize {
        // Iterative over concatenations and alternations so that long flat
        // patterns do not recurse; depth is bounded by the parser.
        match self {
            Self::Capture(sub) | Self::Repeat { sub, .. } => 1 + sub.height(),
            Self::Concat(items) | Self::Alternate(items) => {
                1 + items.iter().map(Self::height).max().unwrap_or(0)
            }
            _ => 1,
        }
    }

    fn emit(&self, out: &mut String) {
        match self {
            Self::Empty => {}
            Self::Literal(c) => push_char(out, *c),
            Self::Class(ranges) => push_class(out, ranges),
            Self::AnyNotNl => out.push_str(r"[^\n]"),
            Self::Any => out.push_str("(?s:.)"),
            Self::BeginLine => out.push_str("(?m:^)"),
            Self::EndLine => out.push_str("(?m:$)"),
            Self::BeginText => out.push_str(r"\A"),
            Self::EndText => out.push_str(r"\z"),
            Self::WordBoundary => out.push_str(r"\b"),
            Self::NotWordBoundary => out.push_str(r"\B"),
            Self::Capture(sub) => {
                out.push('(');
                sub.emit(out);
                out.push(')');
            }
            Self::Repeat {
                sub,
                min,
                max,
                greedy,
                ..
            } => {
                out.push_str("(?:");
                sub.emit(out);
                out.push(')');
                match (*min, *max) {
                    (0, -1) => out.push('*'),
                    (1, -1) => out.push('+'),
                    (0, 1) => out.push('?'),
                    (n, -1) => {
                        let _ = write!(out, "{{{n},}}");
                    }
                    (n, m) if n == m => {
                        let _ = write!(out, "{{{n}}}");
                    }
                    (n, m) => {
                        let _ = write!(out, "{{{n},{m}}}");
                    }
                }
                if !greedy {
                    out.push('?');
                }
            }
            Self::Concat(items) => {
                for item in items {
                    if matches!(item, Self::Alternate(_)) {
                        out.push_str("(?:");
                        item.emit(out);
                        out.push(')');
                    } else {
                        item.emit(out);
                    }
                }
            }
            Self::Alternate(branches) => {
                for (i, branch) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    branch.emit(out);
                }
            }
        }
    }
}

/// Go's `repeatIsValid`: nested counted repetitions may not multiply to
/// more than `n` copies of the innermost expression.
fn repeat_is_valid(node: &Node, mut n: i64) -> bool {
    if let Node::Repeat {
        min,
        max,
        counted: true,
        ..
    } = node
    {
        let mut m = *max;
        if m == 0 {
            return true;
        }
        if m < 0 {
            m = *min;
        }
        if m > n {
            return false;
        }
        if m > 0 {
            n /= m;
        }
    }
    match node {
        Node::Capture(sub) | Node::Repeat { sub, .. } => repeat_is_valid(sub, n),
        Node::Concat(items) | Node::Alternate(items) => {
            items.iter().all(|item| repeat_is_valid(item, n))
        }
        _ => true,
    }
}

fn push_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || !c.is_ascii() {
        out.push(c);
    } else {
        let _ = write!(out, r"\x{{{:X}}}", u32::from(c));
    }
}

fn push_code(out: &mut String, c: u32) {
    match char::from_u32(c) {
        Some(c) => push_char(out, c),
        None => unreachable!("surrogates are removed before emission"),
    }
}

fn push_class(out: &mut String, ranges: &[(u32, u32)]) {
    // Drop the surrogate block, which no `&str` can hold and `\x{..}`
    // cannot name.
    let ranges: Vec<(u32, u32)> = ranges
        .iter()
        .flat_map(|&(lo, hi)| {
            let below = (lo < 0xD800).then(|| (lo, hi.min(0xD7FF)));
            let above = (hi > 0xDFFF).then(|| (lo.max(0xE000), hi));
            below.into_iter().chain(above)
        })
        .collect();
    match ranges.as_slice() {
        [] => out.push_str(r"[^\x00-\x{10FFFF}]"),
        [(lo, hi)] if lo == hi => push_code(out, *lo),
        _ => {
            out.push('[');
            for &(lo, hi) in &ranges {
                push_code(out, lo);
                if hi > lo {
                    out.push('-');
                    push_code(out, hi);
                }
            }
            out.push(']');
        }
    }
}

/// Sorts and merges ranges (touching ranges included).
fn normalize(ranges: &mut Ranges) {
    crate::order::sort(ranges);
    let mut merged: Ranges = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    *ranges = merged;
}

/// The complement of normalised ranges within `0..=MAX_RUNE`.
fn negate(ranges: &[(u32, u32)]) -> Ranges {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    let mut next = 0;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= MAX_RUNE {
        out.push((next, MAX_RUNE));
    }
    out
}

/// The characters `c` matches case-insensitively, `c` included.
///
/// ASCII follows Go exactly (`k` also matches KELVIN SIGN, `s` also
/// matches LATIN SMALL LETTER LONG S). Elsewhere the single-character
/// lower/upper case mappings stand in for Unicode simple case folding.
fn fold_orbit(c: char, out: &mut Vec<char>) {
    out.push(c);
    match c {
        'k' | 'K' | '\u{212A}' => out.extend(['k', 'K', '\u{212A}']),
        's' | 'S' | '\u{17F}' => out.extend(['s', 'S', '\u{17F}']),
        c if c.is_ascii() => {
            out.push(c.to_ascii_lowercase());
            out.push(c.to_ascii_uppercase());
        }
        c => {
            let mut pending = vec![c];
            while let Some(x) = pending.pop() {
                for mapped in [super::case::lower(x), super::case::upper(x)]
                    .into_iter()
                    .flatten()
                {
                    // Only KELVIN SIGN and LONG S fold to ASCII (handled
                    // above); e.g. dotless ı does not fold with i in Go.
                    if !mapped.is_ascii() && !out.contains(&mapped) {
                        out.push(mapped);
                        pending.push(mapped);
                    }
                }
            }
        }
    }
}

/// Adds `lo..=hi` to `ranges`, with its case variants when folding.
fn add_range(ranges: &mut Ranges, lo: u32, hi: u32, fold: bool) {
    ranges.push((lo, hi));
    if !fold || hi < MIN_FOLD || lo > MAX_FOLD || (lo <= MIN_FOLD && hi >= MAX_FOLD) {
        return;
    }
    let mut orbit = Vec::new();
    for code in lo.max(MIN_FOLD)..=hi.min(MAX_FOLD) {
        let Some(c) = char::from_u32(code) else {
            continue;
        };
        orbit.clear();
        fold_orbit(c, &mut orbit);
        ranges.extend(orbit.iter().map(|&f| (u32::from(f), u32::from(f))));
    }
}

/// Adds a named group (`\d`, `[:alpha:]`), folded then maybe negated, as
/// Go's `appendGroup` does.
fn add_group(ranges: &mut Ranges, group: &[(u32, u32)], negated: bool, fold: bool) {
    let mut set = Vec::new();
    for &(lo, hi) in group {
        add_range(&mut set, lo, hi, fold);
    }
    normalize(&mut set);
    if negated {
        set = negate(&set);
    }
    ranges.extend(set);
}

fn perl_group(c: char) -> Option<(&'static [(u32, u32)], bool)> {
    const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
    const SPACE: &[(u32, u32)] = &[(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)];
    const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)];
    Some(match c {
        'd' => (DIGIT, false),
        'D' => (DIGIT, true),
        's' => (SPACE, false),
        'S' => (SPACE, true),
        'w' => (WORD, false),
        'W' => (WORD, true),
        _ => return None,
    })
}

fn posix_group(name: &str) -> Option<&'static [(u32, u32)]> {
    Some(match name {
        "alnum" => &[(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
        "alpha" => &[(0x41, 0x5A), (0x61, 0x7A)],
        "ascii" => &[(0x00, 0x7F)],
        "blank" => &[(0x09, 0x09), (0x20, 0x20)],
        "cntrl" => &[(0x00, 0x1F), (0x7F, 0x7F)],
        "digit" => &[(0x30, 0x39)],
        "graph" => &[(0x21, 0x7E)],
        "lower" => &[(0x61, 0x7A)],
        "print" => &[(0x20, 0x7E)],
        "punct" => &[(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
        "space" => &[(0x09, 0x0D), (0x20, 0x20)],
        "upper" => &[(0x41, 0x5A)],
        "word" => &[(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
        "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
        _ => return None,
    })
}

/// Go's `parseInt` for repeat counts: no leading zeros; values of 10^8 and
/// more become -1. Returns the value and the bytes consumed.
fn parse_count(s: &str) -> Option<(i64, usize)> {
    let bytes = s.as_bytes();
    if bytes.first().is_none_or(|b| !b.is_ascii_digit()) {
        return None;
    }
    if bytes.len() >= 2 && bytes[0] == b'0' && bytes[1].is_ascii_digit() {
        return None;
    }
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut n: i64 = 0;
    for &b in &bytes[..len] {
        if n >= 100_000_000 {
            n = -1;
            break;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some((n, len))
}

/// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}` at the start of `s`, as
/// `(min, max, bytes consumed)` with `max == -1` for "no maximum".
fn parse_repeat(s: &str) -> Option<(i64, i64, usize)> {
    let body = s.strip_prefix('{')?;
    let (mut min, len) = parse_count(body)?;
    let mut rest = substr(body, len..);
    let max;
    if let Some(after) = rest.strip_prefix(',') {
        if after.starts_with('}') {
            max = -1;
            rest = after;
        } else {
            let (m, len) = parse_count(after)?;
            if m < 0 {
                min = -1;
            }
            max = m;
            rest = substr(after, len..);
        }
    } else {
        max = min;
    }
    let rest = rest.strip_prefix('}')?;
    Some((min, max, s.len() - rest.len()))
}

/// Go's `isValidCaptureName`.
fn is_valid_capture_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    flags: Flags,
    names: Vec<Option<String>>,
    depth: usize,
}

/// What a `(?` construct turned out to be.
enum PerlGroup {
    /// `(?flags)`: changes the flags for the rest of the current group.
    Flags(Flags),
    /// `(?flags:` or `(?P<name>` / `(?<name>`: a group follows.
    Open { capture: bool, inner: Flags },
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        substr(self.src, self.pos..)
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn parse_alternation(&mut self) -> Result<Node, String> {
        let mut branches = vec![self.parse_concat()?];
        while self.peek() == Some('|') {
            self.bump();
            branches.push(self.parse_concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alternate(branches)
        })
    }

    fn parse_concat(&mut self) -> Result<Node, String> {
        let mut items: Vec<Node> = Vec::new();
        // Start of the previous token when it was a repetition operator.
        let mut last_repeat: Option<usize> = None;
        while let Some(c) = self.peek() {
            let start = self.pos;
            let mut repeat = None;
            match c {
                '|' | ')' => break,
                '(' => self.parse_group(&mut items)?,
                '^' => {
                    self.bump();
                    items.push(if self.flags.multi_line {
                        Node::BeginLine
                    } else {
                        Node::BeginText
                    });
                }
                '$' => {
                    self.bump();
                    items.push(if self.flags.multi_line {
                        Node::EndLine
                    } else {
                        Node::EndText
                    });
                }
                '.' => {
                    self.bump();
                    items.push(if self.flags.dot_nl {
                        Node::Any
                    } else {
                        Node::AnyNotNl
                    });
                }
                '[' => items.push(self.parse_class()?),
                '*' | '+' | '?' => {
                    self.bump();
                    let (min, max) = match c {
                        '*' => (0, -1),
                        '+' => (1, -1),
                        _ => (0, 1),
                    };
                    self.repeat(&mut items, min, max, false, start, last_repeat)?;
                    repeat = Some(start);
                }
                '{' => match parse_repeat(self.rest()) {
                    None => {
                        // Not a repeat: a literal `{`.
                        self.bump();
                        self.literal(&mut items, '{');
                    }
                    Some((min, max, len)) => {
                        self.pos += len;
                        if !(0..=MAX_REPEAT).contains(&min)
                            || max > MAX_REPEAT
                            || (max >= 0 && min > max)
                        {
                            return Err(error(
                                "invalid repeat count",
                                substr(self.src, start..self.pos),
                            ));
                        }
                        self.repeat(&mut items, min, max, true, start, last_repeat)?;
                        repeat = Some(start);
                    }
                },
                '\\' => self.parse_backslash(&mut items)?,
                c => {
                    self.bump();
                    self.literal(&mut items, c);
                }
            }
            last_repeat = repeat;
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    fn literal(&self, items: &mut Vec<Node>, c: char) {
        if self.flags.fold_case {
            let mut orbit = Vec::new();
            fold_orbit(c, &mut orbit);
            let mut ranges: Ranges = orbit
                .iter()
                .map(|&f| (u32::from(f), u32::from(f)))
                .collect();
            normalize(&mut ranges);
            if ranges.len() > 1 {
                items.push(Node::Class(ranges));
                return;
            }
        }
        items.push(Node::Literal(c));
    }

    /// Applies a repetition operator (already consumed, from `start`) to
    /// the last item, as Go's `parser.repeat` does.
    fn repeat(
        &mut self,
        items: &mut Vec<Node>,
        min: i64,
        max: i64,
        counted: bool,
        start: usize,
        last_repeat: Option<usize>,
    ) -> Result<(), String> {
        let mut greedy = !self.flags.ungreedy;
        if self.peek() == Some('?') {
            self.bump();
            greedy = !greedy;
        }
        if let Some(previous) = last_repeat {
            return Err(error(
                "invalid nested repetition operator",
                substr(self.src, previous..self.pos),
            ));
        }
        let Some(sub) = items.pop() else {
            return Err(error(
                "missing argument to repetition operator",
                substr(self.src, start..self.pos),
            ));
        };
        let node = Node::Repeat {
            sub: Box::new(sub),
            min,
            max,
            greedy,
            counted,
        };
        if counted && (min >= 2 || max >= 2) && !repeat_is_valid(&node, MAX_REPEAT) {
            return Err(error(
                "invalid repeat count",
                substr(self.src, start..self.pos),
            ));
        }
        if node.height() > MAX_HEIGHT {
            return Err(error("expression nests too deeply", self.src));
        }
        items.push(node);
        Ok(())
    }

    fn parse_group(&mut self, items: &mut Vec<Node>) -> Result<(), String> {
        let start = self.pos;
        let (capture, inner) = if self.rest().starts_with("(?") {
            match self.parse_perl_group()? {
                PerlGroup::Flags(flags) => {
                    self.flags = flags;
                    return Ok(());
                }
                PerlGroup::Open { capture, inner } => (capture, inner),
            }
        } else {
            self.bump();
            self.names.push(None);
            (true, self.flags)
        };
        self.depth += 1;
        if self.depth > MAX_HEIGHT {
            return Err(error("expression nests too deeply", self.src));
        }
        let outer = self.flags;
        self.flags = inner;
        let body = self.parse_alternation()?;
        if self.peek() != Some(')') {
            return Err(error("missing closing )", substr(self.src, start..)));
        }
        self.bump();
        self.flags = outer;
        self.depth -= 1;
        items.push(if capture {
            Node::Capture(Box::new(body))
        } else {
            body
        });
        Ok(())
    }

    /// Parses `(?…` up to the start of the group body (or past the `)` of
    /// a flags-only group).
    fn parse_perl_group(&mut self) -> Result<PerlGroup, String> {
        let t = self.rest();
        let named = if t.starts_with("(?P<") {
            Some(4)
        } else if t.starts_with("(?<") {
            Some(3)
        } else {
            None
        };
        if let Some(name_start) = named {
            let Some(end) = t.find('>') else {
                return Err(error("invalid named capture", t));
            };
            let name = substr(t, name_start..end);
            if !is_valid_capture_name(name) {
                return Err(error("invalid named capture", substr(t, ..=end)));
            }
            self.names.push(Some(name.to_owned()));
            self.pos += end + 1;
            return Ok(PerlGroup::Open {
                capture: true,
                inner: self.flags,
            });
        }
        let start = self.pos;
        self.pos += 2;
        let mut flags = self.flags;
        let mut negated = false;
        let mut saw_flag = false;
        while let Some(c) = self.bump() {
            let on = !negated;
            match c {
                'i' => flags.fold_case = on,
                'm' => flags.multi_line = on,
                's' => flags.dot_nl = on,
                'U' => flags.ungreedy = on,
                '-' if !negated => {
                    negated = true;
                    saw_flag = false;
                    continue;
                }
                ':' | ')' if !negated || saw_flag => {
                    return Ok(if c == ':' {
                        PerlGroup::Open {
                            capture: false,
                            inner: flags,
                        }
                    } else {
                        PerlGroup::Flags(flags)
                    });
                }
                _ => break,
            }
            saw_flag = true;
        }
        Err(error(
            "invalid or unsupported Perl syntax",
            substr(self.src, start..self.pos),
        ))
    }

    fn parse_backslash(&mut self, items: &mut Vec<Node>) -> Result<(), String> {
        let start = self.pos;
        let mut chars = self.rest().chars();
        chars.next();
        match chars.next() {
            Some('A') => items.push(Node::BeginText),
            Some('b') => items.push(Node::WordBoundary),
            Some('B') => items.push(Node::NotWordBoundary),
            Some('z') => items.push(Node::EndText),
            Some('C') => return Err(error("invalid escape sequence", r"\C")),
            Some('Q') => {
                self.pos += 2;
                let src = self.src;
                let text = substr(src, self.pos..);
                let (literal, consumed) = match find(text, r"\E") {
                    Some(end) => (substr(text, ..end), end + 2),
                    None => (text, text.len()),
                };
                self.pos += consumed;
                for c in literal.chars() {
                    self.literal(items, c);
                }
                return Ok(());
            }
            Some('p' | 'P') => {
                // `\p` and the character after it, which may be multi-byte.
                let end = start + 2 + chars.next().map_or(0, char::len_utf8);
                return Err(error(
                    "Unicode character classes are not supported by this implementation",
                    substr(self.src, start..end),
                ));
            }
            Some(c) => {
                if let Some((group, negated)) = perl_group(c) {
                    self.pos += 2;
                    let mut ranges = Vec::new();
                    add_group(&mut ranges, group, negated, self.flags.fold_case);
                    normalize(&mut ranges);
                    items.push(Node::Class(ranges));
                    return Ok(());
                }
                let code = self.parse_escape()?;
                match char::from_u32(code) {
                    Some(c) => self.literal(items, c),
                    // A surrogate: matches nothing.
                    None => items.push(Node::Class(vec![(code, code)])),
                }
                return Ok(());
            }
            None => return Err(error("trailing backslash at end of expression", "")),
        }
        self.pos += 2;
        Ok(())
    }

    /// Go's `parseEscape`, positioned on the `\`. Returns a code point,
    /// which may be a surrogate (valid to Go, never present in a name).
    fn parse_escape(&mut self) -> Result<u32, String> {
        let start = self.pos;
        self.bump();
        let Some(c) = self.bump() else {
            return Err(error("trailing backslash at end of expression", ""));
        };
        let invalid = |p: &Self| error("invalid escape sequence", substr(p.src, start..p.pos));
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            return Ok(u32::from(c));
        }
        match c {
            '0'..='7' => {
                if c != '0' && !matches!(self.peek(), Some('0'..='7')) {
                    // `\1`..`\7` alone would be backreferences.
                    return Err(invalid(self));
                }
                let mut value = u32::from(c) - u32::from('0');
                for _ in 1..3 {
                    match self.peek() {
                        Some(d @ '0'..='7') => {
                            self.bump();
                            value = value * 8 + (u32::from(d) - u32::from('0'));
                        }
                        _ => break,
                    }
                }
                Ok(value)
            }
            'x' => {
                let Some(first) = self.bump() else {
                    return Err(invalid(self));
                };
                if first == '{' {
                    let mut value: u32 = 0;
                    let mut digits = 0;
                    loop {
                        let Some(d) = self.bump() else {
                            return Err(invalid(self));
                        };
                        if d == '}' {
                            break;
                        }
                        let Some(v) = d.to_digit(16) else {
                            return Err(invalid(self));
                        };
                        value = value * 16 + v;
                        if value > MAX_RUNE {
                            return Err(invalid(self));
                        }
                        digits += 1;
                    }
                    if digits == 0 {
                        return Err(invalid(self));
                    }
                    return Ok(value);
                }
                let second = self.bump();
                match (first.to_digit(16), second.and_then(|s| s.to_digit(16))) {
                    (Some(x), Some(y)) => Ok(x * 16 + y),
                    _ => Err(invalid(self)),
                }
            }
            'a' => Ok(0x07),
            'f' => Ok(0x0C),
            'n' => Ok(0x0A),
            'r' => Ok(0x0D),
            't' => Ok(0x09),
            'v' => Ok(0x0B),
            _ => Err(invalid(self)),
        }
    }

    /// Go's `parseClass`, positioned on the `[`.
    fn parse_class(&mut self) -> Result<Node, String> {
        let start = self.pos;
        self.bump();
        let fold = self.flags.fold_case;
        let mut negated = false;
        if self.peek() == Some('^') {
            self.bump();
            negated = true;
        }
        let mut ranges: Ranges = Vec::new();
        let mut first = true;
        loop {
            match self.peek() {
                Some(']') if !first => break,
                None => return Err(error("missing closing ]", substr(self.src, start..))),
                _ => {}
            }
            first = false;
            let t = self.rest();
            if t.len() > 2
                && t.starts_with("[:")
                && let Some(end) = find(substr(t, 2..), ":]")
            {
                let whole = substr(t, ..end + 4);
                let name = substr(t, 2..end + 2);
                let (name, group_negated) = match name.strip_prefix('^') {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                let Some(group) = posix_group(name) else {
                    return Err(error("invalid character class range", whole));
                };
                add_group(&mut ranges, group, group_negated, fold);
                self.pos += whole.len();
                continue;
            }
            if t.starts_with(r"\p") || t.starts_with(r"\P") {
                // `\p` and the character after it, which may be multi-byte.
                let end = 2 + substr(t, 2..).chars().next().map_or(0, char::len_utf8);
                return Err(error(
                    "Unicode character classes are not supported by this implementation",
                    substr(t, ..end),
                ));
            }
            if let Some(group) = t
                .strip_prefix('\\')
                .and_then(|r| r.chars().next())
                .and_then(perl_group)
            {
                add_group(&mut ranges, group.0, group.1, fold);
                self.pos += 2;
                continue;
            }
            let range_start = self.pos;
            let lo = self.parse_class_char(start)?;
            let mut hi = lo;
            let t = self.rest();
            if t.len() >= 2 && t.starts_with('-') && !substr(t, 1..).starts_with(']') {
                self.bump();
                hi = self.parse_class_char(start)?;
                if hi < lo {
                    return Err(error(
                        "invalid character class range",
                        substr(self.src, range_start..self.pos),
                    ));
                }
            }
            add_range(&mut ranges, lo, hi, fold);
        }
        self.bump(); // `]`
        normalize(&mut ranges);
        if negated {
            ranges = negate(&ranges);
        }
        Ok(Node::Class(ranges))
    }

    fn parse_class_char(&mut self, class_start: usize) -> Result<u32, String> {
        match self.peek() {
            None => Err(error("missing closing ]", substr(self.src, class_start..))),
            Some('\\') => self.parse_escape(),
            Some(c) => {
                self.bump();
                Ok(u32::from(c))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_lite::{Regex, RegexBuilder};

    /// Compiles like the mapper does: anchored by concatenation.
    fn compile(pattern: &str) -> Result<Regex, String> {
        let t = translate(&format!("^{pattern}$"))?;
        RegexBuilder::new(&t.pattern)
            .nest_limit(crate::mapper::compile::NEST_LIMIT)
            .build()
            .map_err(|e| e.to_string())
    }

    fn matches(pattern: &str, name: &str) -> bool {
        compile(pattern)
            .unwrap_or_else(|e| panic!("{pattern}: {e}"))
            .is_match(name)
    }

    fn rejects(pattern: &str, what: &str) {
        match compile(pattern) {
            Ok(r) => panic!("{pattern:?} must be rejected, compiled to {r:?}"),
            Err(e) => assert!(e.contains(what), "{pattern:?}: {e}"),
        }
    }

    #[test]
    fn unicode_class_before_a_multibyte_char_is_an_error() {
        // Found by the mapper_config fuzz target: the error text sliced
        // the pattern inside `é`.
        rejects(r"\pé", "Unicode character classes");
        rejects(r"a\P€b", "Unicode character classes");
        rejects(r"\p", "Unicode character classes");
        rejects(r"[a\pé]", "Unicode character classes");
        rejects(r"[\P€", "Unicode character classes");
    }

    #[test]
    fn go_rejects_these() {
        rejects("a**", "invalid nested repetition operator");
        rejects("a*+", "invalid nested repetition operator");
        rejects("a+?+", "invalid nested repetition operator");
        rejects("a*??", "invalid nested repetition operator");
        rejects("a{2}{3}", "invalid nested repetition operator");
        rejects("a{2}*", "invalid nested repetition operator");
        rejects("a{1001}", "invalid repeat count");
        rejects("a{2,1}", "invalid repeat count");
        rejects("a{100000000}", "invalid repeat count");
        rejects("(a{100}){11}", "invalid repeat count");
        rejects("((a{10}){10}){11}", "invalid repeat count");
        rejects("(*)", "missing argument to repetition operator");
        rejects("a|*", "missing argument to repetition operator");
        rejects("(?i:*)", "missing argument to repetition operator");
        rejects("({2})", "missing argument to repetition operator");
        rejects("(?x)a", "invalid or unsupported Perl syntax");
        rejects("(?R)a", "invalid or unsupported Perl syntax");
        rejects("(?i-)a", "invalid or unsupported Perl syntax");
        rejects("(?-)a", "invalid or unsupported Perl syntax");
        rejects("(?--i)a", "invalid or unsupported Perl syntax");
        rejects("(?=a)", "invalid or unsupported Perl syntax");
        rejects("(?!a)", "invalid or unsupported Perl syntax");
        rejects("(?#c)", "invalid or unsupported Perl syntax");
        rejects("(?P=n)", "invalid or unsupported Perl syntax");
        rejects("(?<=a)b", "invalid named capture");
        rejects("(?P<a.b>x)", "invalid named capture");
        rejects("(?P<é>x)", "invalid named capture");
        rejects("(?P<>x)", "invalid named capture");
        rejects("(?P<a", "invalid named capture");
        rejects(r"\u0041", "invalid escape sequence");
        rejects(r"\e", "invalid escape sequence");
        rejects(r"\y", "invalid escape sequence");
        rejects(r"\C", "invalid escape sequence");
        rejects(r"\E", "invalid escape sequence");
        rejects(r"\Z", "invalid escape sequence");
        rejects(r"\1", "invalid escape sequence");
        rejects(r"\8", "invalid escape sequence");
        rejects(r"\18", "invalid escape sequence");
        rejects(r"\xZZ", "invalid escape sequence");
        rejects(r"\x{110000}", "invalid escape sequence");
        rejects(r"\x{}", "invalid escape sequence");
        rejects(r"\é", "invalid escape sequence");
        rejects("[z-a]", "invalid character class range");
        rejects("[a--b]", "invalid character class range");
        rejects("[[:foo:]]", "invalid character class range");
        rejects(r"[a-\d]", "invalid escape sequence");
        rejects("[a", "missing closing ]");
        rejects("[]", "missing closing ]");
        rejects("[^]", "missing closing ]");
        rejects("(a", "missing closing )");
        rejects("a)", "unexpected )");
        rejects(r"\pL", "not supported");
        rejects(r"[\p{Greek}]", "not supported");
    }

    #[test]
    fn go_accepts_these() {
        // `{` that does not start a valid repeat is a literal.
        assert!(matches("a{,3}", "a{,3}"));
        assert!(matches("a{", "a{"));
        assert!(matches("a{x}", "a{x}"));
        assert!(matches("x{2", "x{2"));
        assert!(matches("a{01}", "a{01}"));
        assert!(matches("a{1000}", &"a".repeat(1000)));
        assert!(matches("a{2,}", "aaa"));
        assert!(matches("(a{10}){100}", &"a".repeat(1000)));
        // Escapes.
        assert!(matches(r"\Q.*\E+", ".*"));
        assert!(matches(r"\Q.*\E+", ".**"));
        // `\Q` without `\E` runs to the end, swallowing the appended `$`.
        assert!(matches(r"a\Q.*", "a.*$"));
        assert!(matches(r"a\Q.*", "a.*$xyz"));
        assert!(!matches(r"a\Q.*", "a.*"));
        assert!(matches(r"\0\012\101\x41\x{42}", "\0\nAAB"));
        assert!(matches(r"\_\ \'\@\<\>", "_ '@<>"));
        assert!(matches(r"\a\f\t\v\r", "\x07\x0C\t\x0B\r"));
        assert!(matches(r"a\b{start}", "a{start}"));
        assert!(!matches(r"\x{D800}|b", "\u{FFFD}"));
        // Classes in Go's own syntax.
        assert!(matches("[a[b]", "["));
        assert!(matches("[a[b]", "b"));
        assert!(matches("[a&&b]+", "a&&b"));
        assert!(matches("[a-a-b]+", "a-b"));
        assert!(matches("[a~~b]+", "a~b"));
        assert!(matches(r"[\d-z]+", "1-z"));
        assert!(matches("[]a]+", "]a"));
        assert!(matches("[^]a]", "b"));
        assert!(matches("[a-]+", "a-"));
        assert!(matches("[[:alpha:][:digit:]]+", "ab12"));
        assert!(matches("[[:^alpha:]]+", "12"));
        assert!(!matches("[[:^alpha:]]", "a"));
        assert!(matches("[[:a]", "["));
        // Flags.
        assert!(matches("(?ii)a", "A"));
        assert!(matches("(?i-i)a", "a"));
        assert!(!matches("(?i-i)a", "A"));
        assert!(matches("(?)a", "a"));
        assert!(matches("a(?i)b|c", "C"));
        assert!(matches("(a(?i)b|c)", "C"));
        assert!(!matches("((?i)b|c)C", "Cc"));
        assert!(matches("(?i:b)B", "bB"));
        assert!(!matches("(?i:b)B", "bb"));
        // Names: digits first, duplicates.
        assert!(compile("(?P<1a>x)").is_ok());
        assert!(compile("(?P<n>a)|(?P<n>b)").is_ok());
        assert!(compile("(?<n>a)").is_ok());
        // Repeating an assertion or a flags group's predecessor. With the
        // anchoring, a leading `*` repeats the `^`: `(?:^)*$` matches at the
        // end of every name.
        assert!(matches("*", "anything"));
        assert!(matches("{2}", ""));
        assert!(matches("(?i)*", "x"));
        assert!(matches("^*a", "a"));
        assert!(matches("a(?i)*", "aaa"));
        assert!(matches("a*(?i)*", "aaa"));
        assert!(matches("()|a", ""));
    }

    #[test]
    fn same_meaning_as_go() {
        // `\s` has no `\v` in Go; `[[:space:]]` does.
        assert!(!matches(r"\s", "\x0B"));
        assert!(matches(r"\s", "\x0C"));
        assert!(matches("[[:space:]]", "\x0B"));
        assert!(matches(r"\S", "\x0B"));
        // `\<` is a literal `<` in Go, not a word boundary.
        assert!(matches(r"a\<", "a<"));
        // `.` does not match `\n` unless `s`.
        assert!(!matches("a.b", "a\nb"));
        assert!(matches("(?s)a.b", "a\nb"));
        assert!(matches("(?s:a.)b", "a\nb"));
        // `$` is end of text; with `m` end of line.
        assert!(!matches("a$\nb", "a\nb"));
        assert!(matches("(?m)a$\nb", "a\nb"));
        // Case folding, including Go's KELVIN SIGN and LONG S orbits.
        assert!(matches("(?i)kelvin", "\u{212A}ELVIN"));
        assert!(matches("(?i)[a-z]+", "\u{17F}\u{212A}"));
        assert!(matches("(?i)é", "É"));
        assert!(!matches("(?i)i", "\u{131}"));
        assert!(!matches("(?i)[^k]", "\u{212A}"));
        assert!(!matches("(?i)[[:^lower:]]", "A"));
        assert!(!matches(r"(?i)\W", "\u{17F}"));
        // Laziness and `U`.
        let re = compile("(a+?)(a*)").unwrap();
        assert_eq!(&re.captures("aaa").unwrap()[1], "a");
        let re = compile("(?U)(a+)(a*)").unwrap();
        assert_eq!(&re.captures("aaa").unwrap()[1], "a");
        let re = compile("(?U)(a+?)(a*)").unwrap();
        assert_eq!(&re.captures("aaa").unwrap()[1], "aaa");
        // Alternation inside the concatenation anchors.
        assert!(matches("a|b", "axx"));
        assert!(matches("a|b", "xxb"));
        assert!(!matches("a|b", "xbx"));
        // Backslash before the appended `$` escapes it.
        assert!(matches(r"a\", "a$"));
        assert!(matches(r"a\", "a$xyz"));
    }

    #[test]
    fn required_affixes() {
        let affixes = |p: &str| {
            let t = translate(&format!("^{p}$")).unwrap();
            (t.required_prefix, t.required_suffix)
        };
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            affixes(r"app\.http\.(\w+)\.count"),
            s("app.http.", ".count")
        );
        assert_eq!(affixes(r"abc"), s("abc", "abc"));
        assert_eq!(affixes(r"a|b"), s("", ""));
        assert_eq!(affixes(r"(?:a|b)c"), s("", "c"));
        assert_eq!(affixes(r"(?i)ab"), s("", ""));
        assert_eq!(affixes(r"a(?i)b"), s("a", ""));
        assert_eq!(affixes(r"ab*"), s("a", ""));
        assert_eq!(affixes(r"(?m)ab$"), s("ab", ""));
        assert_eq!(affixes(r"\Qa.b\E.*x"), s("a.b", "x"));
        assert_eq!(affixes(r""), s("", ""));
    }

    #[test]
    fn group_numbering_and_names() {
        let t = translate(r"^(?P<a>x)(?:y)(z)(?<a>w)(?i:v)$").unwrap();
        assert_eq!(
            t.names,
            vec![None, Some("a".to_owned()), None, Some("a".to_owned())]
        );
        let re = Regex::new(&t.pattern).unwrap();
        assert_eq!(re.captures_len(), 4);
        let caps = re.captures("xyzwV").unwrap();
        assert_eq!((&caps[1], &caps[2], &caps[3]), ("x", "z", "w"));
    }

    #[test]
    fn empty_and_full_classes() {
        assert!(!matches(r"[^\x00-\x{10FFFF}]", "a"));
        assert!(matches(r"[^\x00-\x{10FFFF}]|b", "b"));
        assert!(matches(r"[\x00-\x{10FFFF}]", "\u{E000}"));
        assert!(matches(r"[^a]", "\n"));
    }

    /// Compiles as the mapper does, on a thread with a 2 MiB stack.
    fn compile_on_small_stack(pattern: String) -> Result<(), String> {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let t = translate(&format!("^{pattern}$"))?;
                RegexBuilder::new(&t.pattern)
                    .nest_limit(crate::mapper::compile::NEST_LIMIT)
                    .build()
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .expect("spawn")
            .join()
            .expect("no stack overflow")
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let n = MAX_HEIGHT;
        for shape in [
            format!("{}a{}", "(".repeat(n), ")".repeat(n)),
            format!("{}a{}", "(?:".repeat(n), ")".repeat(n)),
            format!("{}a{}", "(b|".repeat(n), ")".repeat(n)),
            format!("{}a{}", "(?i:b|(c)*".repeat(n), ")".repeat(n)),
            format!("a{}", "(?i)*".repeat(n)),
            format!("{}a*", "[x]".repeat(n)),
        ] {
            let len = shape.len();
            let _ = compile_on_small_stack(shape);
            // Either result is fine; what matters is not overflowing.
            let _ = len;
        }
        let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert!(
            compile_on_small_stack(deep)
                .unwrap_err()
                .contains("nests too deeply")
        );
        let stars = format!("a{}", "(?i)*".repeat(5000));
        assert!(
            compile_on_small_stack(stars)
                .unwrap_err()
                .contains("nests too deeply")
        );
        let ok = format!("{}a{}", "(".repeat(50), ")".repeat(50));
        assert!(compile_on_small_stack(ok).is_ok());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use regex_lite::RegexBuilder;

    /// Strings made mostly of regex syntax, so that the parser's corners
    /// are reached far more often than with arbitrary text.
    fn syntax() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just("(?".to_owned()),
            Just("(?P<n>".to_owned()),
            Just("(?i)".to_owned()),
            Just("(?-m:".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("[^".to_owned()),
            Just("[:alpha:]".to_owned()),
            Just("-".to_owned()),
            Just("\\".to_owned()),
            Just("\\Q".to_owned()),
            Just("\\E".to_owned()),
            Just("\\x{".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just(",".to_owned()),
            Just("|".to_owned()),
            Just("*".to_owned()),
            Just("+".to_owned()),
            Just("?".to_owned()),
            Just("^".to_owned()),
            Just("$".to_owned()),
            Just(".".to_owned()),
            "[0-9]{1,4}",
            "[a-zA-Z_\\\\dswDSWbBAzpPk]",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Never panics; whatever it accepts, regex-lite compiles.
        #[test]
        fn accepted_patterns_compile(pattern in syntax()) {
            if let Ok(t) = translate(&format!("^{pattern}$")) {
                let built = RegexBuilder::new(&t.pattern)
                    .nest_limit(crate::mapper::compile::NEST_LIMIT)
                    .build();
                prop_assert!(built.is_ok(), "{pattern:?} -> {:?}: {:?}", t.pattern, built.err());
                let regex = built.unwrap_or_else(|_| unreachable!());
                prop_assert_eq!(regex.captures_len(), t.names.len());
            }
        }

        /// A pattern of plain characters matches exactly itself.
        #[test]
        fn literals_match_themselves(text in "[^\\\\.+*?()|\\[\\]{}^$]{0,20}") {
            let t = translate(&format!("^{text}$")).unwrap();
            let regex = regex_lite::Regex::new(&t.pattern).unwrap();
            prop_assert!(regex.is_match(&text));
            let longer = format!("{text}x");
            prop_assert!(!regex.is_match(&longer));
        }
    }
}
