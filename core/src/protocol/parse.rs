//! Message parsing, field by field as the Agent's `parse*.go` do it.

use std::borrow::Cow;

use super::error::{ParseError, ParseErrorKind as K};
use super::lines::trim_cr;
use super::message::*;
use super::number::{parse_float, parse_int, parse_uint};

/// What changes how a message is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Read `|T` timestamps (`dogstatsd_no_aggregation_pipeline`, default
    /// true). When off, any field starting with `T` is ignored.
    pub read_timestamps: bool,
    /// Read `c:`, `e:`, `card:` (`dogstatsd_origin_detection_client`,
    /// default false). When off they are unknown fields.
    pub origin_fields: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            read_timestamps: true,
            origin_fields: false,
        }
    }
}

/// Splits at the first `|`: the field and what follows (`None` when there
/// is no further field, as Go's `nextField` returns nil).
#[inline]
fn next_field(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr(b'|', s) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

#[inline]
pub(crate) fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    memchr::memchr(needle, haystack)
}

fn offset(line: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize)
}

/// True for a line [`parse_message`] reads as an event or a service
/// check; every other line is a metric.
#[inline]
pub fn is_event_or_service_check(line: &[u8]) -> bool {
    line.starts_with(b"_e{") || line.starts_with(b"_sc")
}

/// Parses one message (a non-empty line without its newline).
pub fn parse_message<'a>(line: &'a [u8], opts: &ParseOptions) -> Result<Message<'a>, ParseError> {
    if line.starts_with(b"_e{") {
        parse_event(line, opts).map(Message::Event)
    } else if line.starts_with(b"_sc") {
        parse_service_check(line, opts).map(Message::ServiceCheck)
    } else {
        parse_metric(line, opts).map(Message::Metric)
    }
}

/// The first `needle` in `s`. Looks at the first bytes one by one
/// before calling `memchr`: values, types and sample rates are a few
/// bytes long, where the vectorised search's set-up costs more than the
/// search.
#[inline]
fn find_short(needle: u8, s: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = &s[..s.len().min(SHORT)];
    if let Some(i) = head.iter().position(|&b| b == needle) {
        return Some(i);
    }
    if s.len() > SHORT {
        return memchr(needle, &s[SHORT..]).map(|i| i + SHORT);
    }
    None
}

/// Parses a metric line (`name:value|type|fields...`).
///
/// Errors are those of splitting at the first `|` and then at the first
/// `:` of what precedes it (the Agent's order), but the line is scanned
/// once: the name up to the first `:` or `|`, then the short value and
/// type fields byte by byte.
pub fn parse_metric<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
) -> Result<MetricMessage<'a>, ParseError> {
    let mut msg = MetricMessage::default();
    parse_metric_into(line, opts, &mut msg).map(|()| msg)
}

/// [`parse_metric`] into `msg`, which the caller keeps: a message is 160
/// bytes, and returning it by value copies it on every metric.
pub fn parse_metric_into<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    msg: &mut MetricMessage<'a>,
) -> Result<(), ParseError> {
    parse_fields(line, opts, msg, false).map(|_| ())
}

/// Where a metric parsed from the rest of a packet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineEnd {
    /// The line's length, without its `\n` and one `\r` before it.
    pub(crate) len: usize,
    /// Bytes consumed, the `\n` included.
    pub(crate) next: usize,
    /// Whether a `\n` ended it (else the packet did).
    pub(crate) terminated: bool,
}

/// Parses the metric line at the start of `rest` (the rest of a packet),
/// finding its end on the way: the newline search is folded into the
/// field searches, so the line is scanned once. Only a valid metric is
/// reported; on `Err` (whatever it says) the caller splits the line off
/// and parses it with [`parse_metric_into`] for the exact error. A valid
/// line gives what [`Lines`](super::Lines) and [`parse_metric_into`]
/// give.
pub(crate) fn parse_metric_stream<'a>(
    rest: &'a [u8],
    opts: &ParseOptions,
    msg: &mut MetricMessage<'a>,
) -> Result<LineEnd, ParseError> {
    parse_fields(rest, opts, msg, true)
}

/// `(field, rest after its '|')`, or `(field, None)` when the line ends
/// with the field; when `stream`, a `\n` ends the line too (and one `\r`
/// before it, or before the end, is dropped from the field).
#[inline]
fn split_field(s: &[u8], long: bool, stream: bool) -> (&[u8], Option<&[u8]>) {
    if !stream {
        let found = if long {
            memchr(b'|', s)
        } else {
            find_short(b'|', s)
        };
        return match found {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
    }
    let found = if long {
        memchr::memchr2(b'|', b'\n', s)
    } else {
        find_short2(b'|', b'\n', s)
    };
    match found {
        Some(i) if s[i] == b'|' => (&s[..i], Some(&s[i + 1..])),
        Some(i) => (trim_cr(&s[..i]), None),
        None => (trim_cr(s), None),
    }
}

/// [`find_short`] for either of two bytes.
#[inline]
fn find_short2(a: u8, b: u8, s: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = &s[..s.len().min(SHORT)];
    if let Some(i) = head.iter().position(|&c| c == a || c == b) {
        return Some(i);
    }
    if s.len() > SHORT {
        return memchr::memchr2(a, b, &s[SHORT..]).map(|i| i + SHORT);
    }
    None
}

/// The metric parser, over a line (`stream` false) or over the rest of a
/// packet whose first line it finds the end of (`stream` true; errors
/// then only mean "not a valid metric", see [`parse_metric_stream`]).
/// One function with a flag: on wasm one copy (the module counts every
/// byte); natively inlined into both callers, so each is specialised on
/// its constant flag (the streamed path is the hot one).
#[cfg_attr(not(target_arch = "wasm32"), inline(always))]
fn parse_fields<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
    msg: &mut MetricMessage<'a>,
    stream: bool,
) -> Result<LineEnd, ParseError> {
    let err = |k, part: &[u8]| ParseError::new(k, offset(line, part));
    let name_end = if stream {
        memchr::memchr3(b':', b'|', b'\n', line)
    } else {
        memchr::memchr2(b':', b'|', line)
    };
    let colon = match name_end {
        Some(i) if line[i] == b':' => i,
        // A `|` before any `:`: the name-and-value field has no colon.
        Some(i) if line[i] == b'|' => return Err(ParseError::new(K::MissingColon, 0)),
        _ => return Err(ParseError::new(K::MissingPipe, line.len())),
    };
    let after_colon = &line[colon + 1..];
    let pipe = match split_field(after_colon, false, stream) {
        (value, Some(_)) => value.len(),
        (_, None) => return Err(ParseError::new(K::MissingPipe, line.len())),
    };
    let name = &line[..colon];
    let raw_value = &after_colon[..pipe];
    let rest = &after_colon[pipe + 1..];
    if name.is_empty() {
        return Err(ParseError::new(K::EmptyName, 0));
    }
    if raw_value.is_empty() {
        return Err(ParseError::new(K::EmptyValue, colon + 1));
    }
    let (type_field, mut rest) = split_field(rest, false, stream);
    // The end of the last field seen: the end of the line once `rest` is
    // `None`.
    let mut last = type_field;
    let metric_type =
        MetricType::from_symbol(type_field).ok_or_else(|| err(K::InvalidType, type_field))?;
    let values = if metric_type == MetricType::Set {
        MetricValues::Set(raw_value)
    } else if !raw_value.contains(&b':') {
        MetricValues::Single(parse_float(raw_value).ok_or_else(|| err(K::InvalidValue, raw_value))?)
    } else {
        let mut count = 0u32;
        for item in raw_value.split(|&b| b == b':').filter(|i| !i.is_empty()) {
            parse_float(item).ok_or_else(|| err(K::InvalidValue, item))?;
            count += 1;
        }
        if count == 0 {
            return Err(err(K::NoValue, raw_value));
        }
        if count == 1 {
            let item = raw_value
                .split(|&b| b == b':')
                .find(|i| !i.is_empty())
                .unwrap_or_default();
            MetricValues::Single(parse_float(item).unwrap_or_default())
        } else {
            MetricValues::Multi(MultiValues {
                raw: raw_value,
                count,
            })
        }
    };
    *msg = MetricMessage {
        name,
        metric_type,
        values,
        sample_rate: 1.0,
        tags: RawTags::default(),
        timestamp: None,
        origin: Origin::default(),
    };
    while let Some(r) = rest {
        // Tags are long; the other fields a few bytes.
        let (field, next) = split_field(r, r.first() == Some(&b'#'), stream);
        rest = next;
        last = field;
        match field.first() {
            Some(b'#') => msg.tags = RawTags(&field[1..]),
            Some(b'@') => {
                msg.sample_rate =
                    parse_float(&field[1..]).ok_or_else(|| err(K::InvalidSampleRate, field))?;
            }
            Some(b'T') if opts.read_timestamps => match parse_int(&field[1..]) {
                Some(ts) if ts >= 1 => msg.timestamp = Some(ts),
                _ => return Err(err(K::InvalidTimestamp, field)),
            },
            // With the no-aggregation pipeline off, `T` fields are ignored.
            Some(b'T') => {}
            _ if opts.origin_fields => origin_field(field, &mut msg.origin),
            _ => {}
        }
    }
    let len = offset(line, last) + last.len();
    if !stream {
        return Ok(LineEnd {
            len,
            next: len,
            terminated: true,
        });
    }
    // `last` ended at a `\n` (perhaps after a `\r`) or at the packet's end.
    let newline = line[len..].iter().position(|&b| b == b'\n');
    Ok(match newline {
        Some(i) => LineEnd {
            len,
            next: len + i + 1,
            terminated: true,
        },
        None => LineEnd {
            len,
            next: line.len(),
            terminated: false,
        },
    })
}

/// Applies a `c:`, `e:` or `card:` field; anything else is ignored.
/// Bad contents never reject the message (the Agent only logs them).
fn origin_field<'a>(field: &'a [u8], origin: &mut Origin<'a>) {
    if let Some(local) = field.strip_prefix(b"c:") {
        parse_local_data(local, origin);
    } else if let Some(ext) = field.strip_prefix(b"e:") {
        origin.external_data = Some(ext);
    } else if let Some(card) = field.strip_prefix(b"card:") {
        origin.cardinality = Some(card);
    }
}

/// `c:` local data: `ci-<id>`, `in-<inode>`, a comma list of those, the
/// legacy `cid-<id>`, or a bare container id.
fn parse_local_data<'a>(raw: &'a [u8], origin: &mut Origin<'a>) {
    if raw.is_empty() {
        return;
    }
    if memchr(b',', raw).is_some() {
        for item in raw.split(|&b| b == b',') {
            if let Some(id) = item.strip_prefix(b"ci-") {
                origin.container_id = Some(id);
            } else if let Some(inode) = item.strip_prefix(b"in-") {
                origin.inode = parse_uint(inode);
            }
        }
    } else if let Some(id) = raw.strip_prefix(b"ci-") {
        origin.container_id = Some(id);
    } else if let Some(inode) = raw.strip_prefix(b"in-") {
        origin.inode = parse_uint(inode);
    } else if let Some(id) = raw.strip_prefix(b"cid-") {
        origin.container_id = Some(id);
    } else {
        origin.container_id = Some(raw);
    }
}

/// Replaces every two-byte `\n` escape with a newline; borrows when there
/// is none. (Escapes cannot overlap, so left-to-right matches are all of
/// them.)
fn unescape_newlines(s: &[u8]) -> Cow<'_, [u8]> {
    let mut escapes = memchr::memchr_iter(b'\\', s)
        .filter(|&i| s.get(i + 1) == Some(&b'n'))
        .peekable();
    if escapes.peek().is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len() - 1);
    let mut start = 0;
    for at in escapes {
        out.extend_from_slice(&s[start..at]);
        out.push(b'\n');
        start = at + 2;
    }
    out.extend_from_slice(&s[start..]);
    Cow::Owned(out)
}

/// A length from the event header: Go `Atoi`, negative refused.
fn header_len(s: &[u8]) -> Option<usize> {
    usize::try_from(parse_int(s)?).ok()
}

/// Parses an event line (`_e{<title len>,<text len>}:<title>|<text>|fields...`).
pub fn parse_event<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
) -> Result<EventMessage<'a>, ParseError> {
    let Some(colon) = memchr(b':', line) else {
        return Err(ParseError::new(K::EventMissingColon, line.len()));
    };
    let header = &line[..colon];
    let body = &line[colon + 1..];
    if header.len() < 7 {
        return Err(ParseError::new(K::EventInvalidHeader, 0));
    }
    // The closing `}` is not checked, as in the Agent.
    let lengths = &header[3..header.len() - 1];
    let Some(comma) = memchr(b',', lengths) else {
        return Err(ParseError::new(K::EventInvalidHeader, 3));
    };
    let title_len =
        header_len(&lengths[..comma]).ok_or(ParseError::new(K::EventInvalidTitleLength, 3))?;
    let text_len = header_len(&lengths[comma + 1..])
        .ok_or(ParseError::new(K::EventInvalidTextLength, 4 + comma))?;
    if title_len == 0 {
        return Err(ParseError::new(K::EventEmptyTitle, 3));
    }
    let end = title_len
        .checked_add(1)
        .and_then(|n| n.checked_add(text_len))
        .filter(|&n| n <= body.len())
        .ok_or(ParseError::new(K::EventTooShort, line.len()))?;
    // Lengths are raw bytes; the byte after the title is skipped unchecked.
    let mut ev = EventMessage {
        title: unescape_newlines(&body[..title_len]),
        text: unescape_newlines(&body[title_len + 1..end]),
        timestamp: 0,
        hostname: b"",
        aggregation_key: b"",
        priority: Priority::Normal,
        source_type: b"",
        alert_type: AlertType::Info,
        tags: RawTags::default(),
        origin: Origin::default(),
    };
    let remainder = &body[end..];
    if remainder.is_empty() {
        return Ok(ev);
    }
    // Everything after the text is fields; a failing field keeps the
    // previous value and never rejects the event.
    // Split with one vectorised search, not byte by byte (tags are long).
    let mut start = 0;
    for end in memchr::memchr_iter(b'|', remainder).chain(std::iter::once(remainder.len())) {
        let field = &remainder[start..end];
        start = end + 1;
        if let Some(v) = field.strip_prefix(b"d:") {
            if let Some(ts) = parse_int(v) {
                ev.timestamp = ts;
            }
        } else if let Some(v) = field.strip_prefix(b"p:") {
            match v {
                b"normal" => ev.priority = Priority::Normal,
                b"low" => ev.priority = Priority::Low,
                _ => {}
            }
        } else if let Some(v) = field.strip_prefix(b"h:") {
            ev.hostname = v;
        } else if let Some(v) = field.strip_prefix(b"k:") {
            ev.aggregation_key = v;
        } else if let Some(v) = field.strip_prefix(b"s:") {
            ev.source_type = v;
        } else if let Some(v) = field.strip_prefix(b"t:") {
            match v {
                b"info" => ev.alert_type = AlertType::Info,
                b"warning" => ev.alert_type = AlertType::Warning,
                b"error" => ev.alert_type = AlertType::Error,
                b"success" => ev.alert_type = AlertType::Success,
                _ => {}
            }
        } else if let Some(v) = field.strip_prefix(b"#") {
            ev.tags = RawTags(v);
        } else if opts.origin_fields {
            origin_field(field, &mut ev.origin);
        }
    }
    Ok(ev)
}

/// Parses a service check line (`_sc|<name>|<status>|fields...`).
pub fn parse_service_check<'a>(
    line: &'a [u8],
    opts: &ParseOptions,
) -> Result<ServiceCheckMessage<'a>, ParseError> {
    let two_pipes = memchr::memchr_iter(b'|', line).nth(1).is_some();
    if !two_pipes || line.len() < 4 {
        return Err(ParseError::new(K::ServiceCheckFormat, 0));
    }
    // The 4th byte is dropped unchecked, as in the Agent.
    let (name, rest) = next_field(&line[4..]);
    let (status, mut rest) = match rest {
        Some(r) => next_field(r),
        None => (&b""[..], None),
    };
    if name.is_empty() {
        return Err(ParseError::new(K::ServiceCheckEmptyName, 4));
    }
    let status = match status {
        b"0" => CheckStatus::Ok,
        b"1" => CheckStatus::Warning,
        b"2" => CheckStatus::Critical,
        b"3" => CheckStatus::Unknown,
        _ => {
            return Err(ParseError::new(
                K::ServiceCheckInvalidStatus,
                offset(line, status),
            ));
        }
    };
    let mut sc = ServiceCheckMessage {
        name,
        status,
        timestamp: 0,
        hostname: b"",
        message: b"",
        tags: RawTags::default(),
        origin: Origin::default(),
    };
    while let Some(r) = rest {
        let (field, next) = split_field(r, r.first() == Some(&b'#'), false);
        rest = next;
        if let Some(v) = field.strip_prefix(b"d:") {
            if let Some(ts) = parse_int(v) {
                sc.timestamp = ts;
            }
        } else if let Some(v) = field.strip_prefix(b"h:") {
            sc.hostname = v;
        } else if let Some(v) = field.strip_prefix(b"#") {
            sc.tags = RawTags(v);
        } else if let Some(v) = field.strip_prefix(b"m:") {
            sc.message = v;
        } else if opts.origin_fields {
            origin_field(field, &mut sc.origin);
        }
    }
    Ok(sc)
}
