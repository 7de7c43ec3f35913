//! The JSON Lines records of the command-line contract
//! (`../spec/interface.md`), written into caller-owned buffers. The `parse`
//! and `aggregate` commands and the wasm shell all print through here.

use crate::enrich::EnrichedMetric;
use crate::flush::{Event, Flush, Series, ServiceCheck, SketchSeries};
use crate::protocol::{MetricValues, ParseError};

/// Appends `s` as a JSON string; invalid UTF-8 becomes U+FFFD, as Go's
/// JSON encoder writes it.
pub fn json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    if s.is_ascii() {
        // Valid UTF-8 as it is (names, tags and hosts nearly always are):
        // a word-at-a-time check instead of the chunked UTF-8 validation.
        escape(out, s);
    } else {
        for chunk in s.utf8_chunks() {
            escape(out, chunk.valid().as_bytes());
            if !chunk.invalid().is_empty() {
                out.extend_from_slice("\u{FFFD}".as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `bytes` is valid UTF-8.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                // `\u00XX`, lowercase hex (b < 0x20).
                let hex = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(hex[usize::from(b >> 4)]);
                out.push(hex[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `n` in decimal, as `write!(out, "{n}")` would (without the
/// formatting machinery or, for `to_string`, an allocation).
pub(crate) fn json_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `n` in decimal, as `write!(out, "{n}")` would.
pub(crate) fn json_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    json_u64(out, n.unsigned_abs());
}

/// Appends a number; non-finite values as the strings `"NaN"`, `"+Inf"`,
/// `"-Inf"` (JSON has no literal for them).
pub fn json_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"\"+Inf\"" } else { b"\"-Inf\"" });
    } else {
        // serde_json formats with the shortest round-trip representation.
        let _ = serde_json::to_writer(&mut *out, &v);
    }
}

fn json_opt_str(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn json_tags<'a>(out: &mut Vec<u8>, tags: impl Iterator<Item = &'a [u8]>) {
    out.push(b'[');
    for (i, t) in tags.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, t);
    }
    out.push(b']');
}

/// A `parse` metric record, without the trailing newline.
pub fn write_metric(out: &mut Vec<u8>, m: &EnrichedMetric<'_>) {
    out.extend_from_slice(b"{\"kind\":\"metric\",\"name\":");
    json_str(out, &m.name.to_vec());
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(m.metric_type.name().as_bytes());
    out.push(b'"');
    match m.values {
        MetricValues::Set(member) => {
            out.extend_from_slice(b",\"set_values\":[");
            json_str(out, member);
            out.push(b']');
        }
        _ => {
            out.extend_from_slice(b",\"values\":[");
            for (i, v) in m.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_f64(out, v);
            }
            out.push(b']');
        }
    }
    out.extend_from_slice(b",\"sample_rate\":");
    json_f64(out, m.sample_rate);
    out.extend_from_slice(b",\"tags\":");
    json_tags(out, m.tags.iter());
    out.extend_from_slice(b",\"host\":");
    json_str(out, m.host);
    out.extend_from_slice(b",\"container_id\":");
    json_opt_str(out, m.origin.container_id);
    out.extend_from_slice(b",\"timestamp\":");
    match m.timestamp {
        Some(t) => json_i64(out, t),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(card) = m.cardinality {
        out.extend_from_slice(b",\"cardinality\":");
        json_str(out, card);
    }
    if let Some(id) = m.entity_id {
        out.extend_from_slice(b",\"entity_id\":");
        json_str(out, id);
    }
    out.push(b'}');
}

/// An event record (same in `parse` and `aggregate`).
pub fn write_event(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(b"{\"kind\":\"event\",\"title\":");
    json_str(out, e.title.as_bytes());
    out.extend_from_slice(b",\"text\":");
    json_str(out, e.text.as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    json_i64(out, e.timestamp);
    out.extend_from_slice(b",\"hostname\":");
    json_str(out, e.hostname.as_bytes());
    out.extend_from_slice(b",\"aggregation_key\":");
    json_str(out, e.aggregation_key.as_bytes());
    out.extend_from_slice(b",\"priority\":\"");
    out.extend_from_slice(e.priority.as_bytes());
    out.push(b'"');
    out.extend_from_slice(b",\"source_type\":");
    json_str(out, e.source_type.as_bytes());
    out.extend_from_slice(b",\"alert_type\":\"");
    out.extend_from_slice(e.alert_type.as_bytes());
    out.push(b'"');
    out.extend_from_slice(b",\"tags\":");
    json_tags(out, e.tags.iter().map(|t| t.as_bytes()));
    if let Some(id) = &e.container_id {
        out.extend_from_slice(b",\"container_id\":");
        json_str(out, id.as_bytes());
    }
    out.push(b'}');
}

/// A service check record (same in `parse` and `aggregate`).
pub fn write_service_check(out: &mut Vec<u8>, s: &ServiceCheck) {
    out.extend_from_slice(b"{\"kind\":\"service_check\",\"name\":");
    json_str(out, s.name.as_bytes());
    out.extend_from_slice(b",\"status\":");
    json_u64(out, s.status.into());
    out.extend_from_slice(b",\"timestamp\":");
    json_i64(out, s.timestamp);
    out.extend_from_slice(b",\"hostname\":");
    json_str(out, s.hostname.as_bytes());
    out.extend_from_slice(b",\"message\":");
    json_str(out, s.message.as_bytes());
    out.extend_from_slice(b",\"tags\":");
    json_tags(out, s.tags.iter().map(|t| t.as_bytes()));
    if let Some(id) = &s.container_id {
        out.extend_from_slice(b",\"container_id\":");
        json_str(out, id.as_bytes());
    }
    out.push(b'}');
}

/// An `aggregate` series record.
pub fn write_series(out: &mut Vec<u8>, s: &Series) {
    out.extend_from_slice(b"{\"kind\":\"series\",\"metric\":");
    json_str(out, s.metric.as_bytes());
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(s.series_type.name().as_bytes());
    out.extend_from_slice(b"\",\"interval\":");
    json_u64(out, s.interval.into());
    out.extend_from_slice(b",\"timestamp\":");
    json_i64(out, s.timestamp);
    out.extend_from_slice(b",\"value\":");
    json_f64(out, s.value);
    out.extend_from_slice(b",\"tags\":");
    json_tags(out, s.tags.iter().map(|t| t.as_bytes()));
    out.extend_from_slice(b",\"host\":");
    json_str(out, s.host.as_bytes());
    out.push(b'}');
}

/// An `aggregate` sketch record: exact count, sum, min, max and the
/// sketch's p50, p95, p99.
pub fn write_sketch(out: &mut Vec<u8>, s: &SketchSeries) {
    out.extend_from_slice(b"{\"kind\":\"sketch\",\"metric\":");
    json_str(out, s.metric.as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    json_i64(out, s.timestamp);
    out.extend_from_slice(b",\"tags\":");
    json_tags(out, s.tags.iter().map(|t| t.as_bytes()));
    out.extend_from_slice(b",\"host\":");
    json_str(out, s.host.as_bytes());
    let k = &s.sketch;
    out.extend_from_slice(b",\"count\":");
    json_u64(out, k.count());
    for (name, v) in [
        ("sum", k.sum()),
        ("min", k.min()),
        ("max", k.max()),
        ("avg", k.avg()),
        ("p50", k.quantile(0.5)),
        ("p95", k.quantile(0.95)),
        ("p99", k.quantile(0.99)),
    ] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        json_f64(out, v);
    }
    out.push(b'}');
}

/// Every record of a flush, one JSON line each: series, sketches, events,
/// service checks.
pub fn write_flush(out: &mut Vec<u8>, f: &Flush) {
    for s in &f.series {
        write_series(out, s);
        out.push(b'\n');
    }
    for s in &f.sketches {
        write_sketch(out, s);
        out.push(b'\n');
    }
    for e in &f.events {
        write_event(out, e);
        out.push(b'\n');
    }
    for s in &f.service_checks {
        write_service_check(out, s);
        out.push(b'\n');
    }
}

/// A `parse` error record.
pub fn write_error(out: &mut Vec<u8>, line: &[u8], error: &ParseError) {
    out.extend_from_slice(b"{\"kind\":\"error\",\"error\":");
    json_str(out, error.to_string().as_bytes());
    out.extend_from_slice(b",\"input\":");
    json_str(out, line);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_and_replace_invalid_utf8() {
        let mut out = Vec::new();
        json_str(&mut out, b"a\"b\\c\nd\x01\xffz");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001\u{FFFD}z\""
        );
        // The all-ASCII fast path escapes the same way.
        let mut out = Vec::new();
        json_str(&mut out, b"a\"b\\c\nd\x01\tz\r");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001\\tz\\r\""
        );
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        for v in [1.0, 0.25, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            json_f64(&mut out, v);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1.0 0.25 \"NaN\" \"+Inf\" \"-Inf\" "
        );
    }

    #[test]
    fn integers_as_display_writes_them() {
        for n in [0, 1, -1, 9, 10, -10, 1_700_000_000, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            json_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
        for n in [0, 7, 100, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            json_u64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn control_characters_as_lowercase_unicode_escapes() {
        let mut out = Vec::new();
        json_str(&mut out, b"a\x00\x1f\x0b\x1b\n");
        assert_eq!(out, br#""a\u0000\u001f\u000b\u001b\n""#);
    }
}
