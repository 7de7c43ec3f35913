//! Splitting a packet into messages (the Agent's `scanLines`).

use memchr::memchr;

/// One line of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A message to parse.
    Message(&'a [u8]),
    /// The packet's final segment had no `\n` and the transport requires
    /// one: dropped and counted (`UnterminatedMetricErrors`).
    Unterminated(&'a [u8]),
}

/// Iterator over the non-empty lines of a packet.
///
/// A line ends at `\n`; one trailing `\r` is removed; empty lines are
/// skipped; the final segment without `\n` is a line too unless
/// `require_eol` is set.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a [u8],
    require_eol: bool,
}

impl<'a> Lines<'a> {
    /// Lines of `packet`; `require_eol` when the packet's transport is in
    /// `dogstatsd_eol_required`.
    pub fn new(packet: &'a [u8], require_eol: bool) -> Self {
        Self {
            rest: packet,
            require_eol,
        }
    }
}

/// The line without one trailing `\r`.
pub(super) fn trim_cr(s: &[u8]) -> &[u8] {
    s.strip_suffix(b"\r").unwrap_or(s)
}

/// The first segment of `rest` (up to and including its `\n`, or all of
/// it): the line it holds, `None` for an empty one, and its length.
pub(crate) fn first_line(rest: &[u8], require_eol: bool) -> (Option<Line<'_>>, usize) {
    match memchr(b'\n', rest) {
        Some(i) => {
            let line = trim_cr(&rest[..i]);
            ((!line.is_empty()).then_some(Line::Message(line)), i + 1)
        }
        None => {
            let line = trim_cr(rest);
            // As the Agent's `nextMessage`: termination is checked before
            // emptiness, so even a lone `\r` is counted.
            if require_eol {
                return (Some(Line::Unterminated(line)), rest.len());
            }
            (
                (!line.is_empty()).then_some(Line::Message(line)),
                rest.len(),
            )
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        while !self.rest.is_empty() {
            let (line, len) = first_line(self.rest, self.require_eol);
            self.rest = &self.rest[len..];
            if line.is_some() {
                return line;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &str, eol: bool) -> Vec<Line<'_>> {
        Lines::new(p.as_bytes(), eol).collect()
    }

    #[test]
    fn scan_lines_rules() {
        use Line::*;
        assert_eq!(lines("a\nb", false), [Message(b"a"), Message(b"b")]);
        assert_eq!(lines("a\r\nb\r", false), [Message(b"a"), Message(b"b")]);
        assert_eq!(lines("a\r\r\n", false), [Message(b"a\r")]);
        assert_eq!(lines("\n\n\r\n\r", false), []);
        assert_eq!(lines("", false), []);
        assert_eq!(lines("a\nb", true), [Message(b"a"), Unterminated(b"b")]);
        assert_eq!(lines("a\nb\n", true), [Message(b"a"), Message(b"b")]);
        assert_eq!(lines("a\n\r", true), [Message(b"a"), Unterminated(b"")]);
    }
}
