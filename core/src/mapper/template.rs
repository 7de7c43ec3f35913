//! Name and tag templates, expanded the way Go's `Regexp.Expand` does.
//!
//! A template is parsed once, when the mapper is built, into literal runs
//! and references to capture groups already resolved to group indices, so
//! expanding it for a match is a walk over a short list.
//!
//! The rules (spec §8.4, §14 item 11):
//!
//! * `$$` is a literal `$`;
//! * `$name` takes the **longest** run of letters, digits and `_` after the
//!   `$` as the reference, so `$1_x` names a group called `1_x`;
//! * `${name}` delimits the reference explicitly;
//! * a reference made only of ASCII digits, without a leading zero (except
//!   `0` itself), is a group number (`$0` is the whole match); any other
//!   reference is a group name;
//! * a number past the last group, an unknown name, or a group that did not
//!   take part in the match expands to nothing;
//! * a `$` followed by neither a reference nor `{reference}` (`$-`, a
//!   trailing `$`, `${1`, `${}`) is copied literally, and scanning resumes
//!   right after it.

use regex_lite::Captures;

use crate::text::substr;

/// The groups of one match: `regex-lite` captures, or the stars of a
/// wildcard match.
pub(crate) trait Groups<'h> {
    /// The text of group `index` (0 = whole match), if it participated.
    fn group(&self, index: usize) -> Option<&'h str>;
}

impl<'h> Groups<'h> for Captures<'h> {
    fn group(&self, index: usize) -> Option<&'h str> {
        self.get(index).map(|m| m.as_str())
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Copied as is.
    Literal(Box<str>),
    /// The text of this capture group, if it participated in the match.
    Group(usize),
    /// The first of these groups (all of one name) that participated, as
    /// Go's `Expand` picks among groups sharing a name.
    Named(Box<[usize]>),
}

/// A template parsed against one regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    segments: Box<[Segment]>,
    /// Bytes of literal text, a lower bound for the expansion's length.
    literal_len: usize,
}

impl Template {
    /// Parses `template`, resolving group references against the group
    /// names of the regex, by group index (`names[0]`, the whole match,
    /// is `None`; `names.len()` is the number of groups plus one).
    pub(crate) fn parse(template: &str, names: &[Option<String>]) -> Self {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut literal_len = 0;
        let mut rest = template;
        while let Some(dollar) = rest.find('$') {
            literal.push_str(substr(rest, ..dollar));
            rest = substr(rest, dollar + 1..);
            if let Some(after) = rest.strip_prefix('$') {
                literal.push('$');
                rest = after;
                continue;
            }
            let Some((reference, after)) = split_reference(rest) else {
                // Malformed: the `$` is plain text.
                literal.push('$');
                continue;
            };
            rest = after;
            if let Some(segment) = resolve(reference, names) {
                if !literal.is_empty() {
                    literal_len += literal.len();
                    segments.push(Segment::Literal(std::mem::take(&mut literal).into()));
                }
                segments.push(segment);
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            literal_len += literal.len();
            segments.push(Segment::Literal(literal.into()));
        }
        Self {
            segments: segments.into(),
            literal_len,
        }
    }

    /// Appends the expansion for `captures` to `out`.
    pub(crate) fn expand_into<'h>(&self, captures: &impl Groups<'h>, out: &mut String) {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                _ => out.push_str(group_text(segment, captures)),
            }
        }
    }

    /// The expansion for `captures` as a new string.
    pub(crate) fn expand<'h>(&self, captures: &impl Groups<'h>) -> String {
        let mut out = String::with_capacity(self.literal_len + self.group_hint(captures));
        self.expand_into(captures, &mut out);
        out
    }

    /// Bytes the group references will contribute (for sizing the output).
    fn group_hint<'h>(&self, captures: &impl Groups<'h>) -> usize {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(_) => 0,
                _ => group_text(segment, captures).len(),
            })
            .sum()
    }

    /// Whether the template contains no group reference at all.
    #[cfg(test)]
    fn is_constant(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| matches!(segment, Segment::Literal(_)))
    }
}

/// The text a group reference expands to.
fn group_text<'h>(segment: &Segment, captures: &impl Groups<'h>) -> &'h str {
    let found = match segment {
        Segment::Literal(_) => None,
        Segment::Group(index) => captures.group(*index),
        Segment::Named(indices) => indices.iter().find_map(|&i| captures.group(i)),
    };
    found.unwrap_or("")
}

/// Whether `c` may be part of a reference name. Go accepts Unicode letters
/// (category L), decimal digits (Nd) and `_`; outside ASCII this uses the
/// closest tests the standard library offers (`is_alphabetic`,
/// `is_numeric`). No capture group name can hold a non-ASCII character
/// that Go would accept, so the difference only moves where an
/// (unresolvable, hence empty) reference ends.
fn is_name_char(c: char) -> bool {
    c == '_'
        || c.is_ascii_alphanumeric()
        || (!c.is_ascii() && (c.is_alphabetic() || c.is_numeric()))
}

/// Splits the text after a `$` into a reference and what follows it, or
/// `None` when no valid reference starts there.
fn split_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let (name, after) = (substr(body, ..end), substr(body, end..));
    if braced {
        let after = after.strip_prefix('}')?;
        Some((name, after))
    } else {
        Some((name, after))
    }
}

/// The group number a reference denotes, as Go reads it: ASCII digits only,
/// no leading zero unless it is `0`, and it stops being a number once the
/// value reaches 10^8 with digits still to read.
fn group_number(reference: &str) -> Option<usize> {
    let bytes = reference.as_bytes();
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    let mut number: usize = 0;
    for &b in bytes {
        if !b.is_ascii_digit() || number >= 100_000_000 {
            return None;
        }
        number = number * 10 + usize::from(b - b'0');
    }
    Some(number)
}

/// What a reference denotes, `None` when it can only expand to nothing.
fn resolve(reference: &str, names: &[Option<String>]) -> Option<Segment> {
    match group_number(reference) {
        Some(number) => (number < names.len()).then_some(Segment::Group(number)),
        None => {
            let indices: Box<[usize]> = names
                .iter()
                .enumerate()
                .filter(|(_, name)| name.as_deref() == Some(reference))
                .map(|(i, _)| i)
                .collect();
            match *indices {
                [] => None,
                [single] => Some(Segment::Group(single)),
                _ => Some(Segment::Named(indices)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapper::re2::translate;
    use regex_lite::Regex;

    fn expand(pattern: &str, template: &str, haystack: &str) -> String {
        let translated = translate(pattern).unwrap();
        let regex = Regex::new(&translated.pattern).unwrap();
        let captures = regex.captures(haystack).expect("test pattern must match");
        Template::parse(template, &translated.names).expand(&captures)
    }

    #[test]
    fn numbered_references() {
        let p = r"^a\.([^.]*)\.([^.]*)$";
        assert_eq!(expand(p, "$1-$2", "a.x.y"), "x-y");
        assert_eq!(expand(p, "${1}${2}", "a.x.y"), "xy");
        assert_eq!(expand(p, "$0", "a.x.y"), "a.x.y");
        assert_eq!(expand(p, "${0}!", "a.x.y"), "a.x.y!");
    }

    #[test]
    fn longest_name_rule() {
        let p = r"^a\.([^.]*)$";
        // `$1_x` is a reference to a group named `1_x`: empty.
        assert_eq!(expand(p, "$1_x", "a.b"), "");
        assert_eq!(expand(p, "${1}_x", "a.b"), "b_x");
        assert_eq!(expand(p, "$1x", "a.b"), "");
        assert_eq!(expand(p, "$1.x", "a.b"), "b.x");
        assert_eq!(expand(p, "$1-x", "a.b"), "b-x");
    }

    #[test]
    fn named_references() {
        let p = r"^(?P<first>[a-z]+)\.(?P<second>[a-z]+)$";
        assert_eq!(expand(p, "$second.$first", "ab.cd"), "cd.ab");
        assert_eq!(expand(p, "${first}_${second}", "ab.cd"), "ab_cd");
        // Named groups are numbered too.
        assert_eq!(expand(p, "$2$1", "ab.cd"), "cdab");
        // `$first_` is a reference to `first_`, which does not exist.
        assert_eq!(expand(p, "$first_", "ab.cd"), "");
        let p = r"^(?<x>[a-z]+)$";
        assert_eq!(expand(p, "<$x>", "ab"), "<ab>");
    }

    #[test]
    fn unknown_and_unmatched_groups_are_empty() {
        let p = r"^(a)|(b)$";
        assert_eq!(
            expand(p, "[$1][$2][$3][$nope][$99999999999]", "b"),
            "[][b][][][]"
        );
        assert_eq!(expand(p, "[$1][$2]", "a"), "[a][]");
    }

    #[test]
    fn dollar_escapes_and_malformed_references() {
        let p = r"^a\.([^.]*)$";
        assert_eq!(expand(p, "$$1", "a.b"), "$1");
        assert_eq!(expand(p, "$$$1", "a.b"), "$b");
        assert_eq!(expand(p, "$-", "a.b"), "$-");
        assert_eq!(expand(p, "x$", "a.b"), "x$");
        assert_eq!(expand(p, "$", "a.b"), "$");
        assert_eq!(expand(p, "${1", "a.b"), "${1");
        assert_eq!(expand(p, "${}", "a.b"), "${}");
        assert_eq!(expand(p, "${1x}", "a.b"), "");
        assert_eq!(expand(p, "${1 }", "a.b"), "${1 }");
        assert_eq!(expand(p, "$.$1", "a.b"), "$.b");
        assert_eq!(expand(p, "${-1}", "a.b"), "${-1}");
    }

    #[test]
    fn leading_zero_is_a_name_not_a_number() {
        let p = r"^a\.([^.]*)$";
        assert_eq!(expand(p, "[$01]", "a.b"), "[]");
        assert_eq!(expand(p, "[$00]", "a.b"), "[]");
        assert_eq!(expand(p, "[$0]", "a.b"), "[a.b]");
    }

    #[test]
    fn non_ascii_letters_extend_a_reference() {
        let p = r"^a\.([^.]*)$";
        // Go's `unicode.IsLetter`: `é` continues the name `1é`, which is unknown.
        assert_eq!(expand(p, "$1é", "a.b"), "");
        assert_eq!(expand(p, "${1}é", "a.b"), "bé");
        assert_eq!(expand(p, "é$1é.", "a.b"), "é.");
    }

    #[test]
    fn huge_numbers() {
        assert_eq!(group_number("100000000"), Some(100_000_000));
        assert_eq!(group_number("1000000000"), None);
        assert_eq!(group_number("0"), Some(0));
        assert_eq!(group_number("07"), None);
        assert_eq!(group_number("1a"), None);
    }

    #[test]
    fn duplicate_names_take_the_first_participating_group() {
        let p = r"^(?P<x>a)|(?P<x>b)$";
        assert_eq!(expand(p, "[$x]", "a"), "[a]");
        assert_eq!(expand(p, "[$x]", "b"), "[b]");
        let p = r"^(?P<x>a)(?P<x>b)$";
        assert_eq!(expand(p, "[${x}]", "ab"), "[a]");
    }

    #[test]
    fn digit_first_group_names() {
        // Go accepts `(?P<1a>…)`; `$1a` is then that group, `$1` group 1.
        let p = r"^(?P<1a>x)(y)$";
        assert_eq!(expand(p, "$1a|$1|$2", "xy"), "x|x|y");
        let p = r"^(?P<01>x)$";
        assert_eq!(expand(p, "$01|$1", "x"), "x|x");
    }

    #[test]
    fn constant_templates() {
        let names = [None];
        assert!(Template::parse("plain.name", &names).is_constant());
        assert!(Template::parse("cost$$", &names).is_constant());
        // `$1` does not exist in this regex: dropped at parse time.
        assert!(Template::parse("x$1", &names).is_constant());
        assert!(!Template::parse("x$0", &names).is_constant());
    }
}
