//! JSON items: check runs (`/api/v1/check_run`) and events (`/intake/`).

use crate::flush::{Event, ServiceCheck, TagList};
use crate::output::{json_i64, json_str, json_u64};

/// Appends one check-run object; a timestamp of 0 becomes `now`.
pub(super) fn write_check(out: &mut Vec<u8>, c: &ServiceCheck, now: i64) {
    out.extend_from_slice(b"{\"check\":");
    json_str(out, c.name.as_bytes());
    out.extend_from_slice(b",\"host_name\":");
    json_str(out, c.hostname.as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    let ts = if c.timestamp == 0 { now } else { c.timestamp };
    json_i64(out, ts);
    out.extend_from_slice(b",\"status\":");
    json_u64(out, c.status.into());
    out.extend_from_slice(b",\"message\":");
    json_str(out, c.message.as_bytes());
    out.extend_from_slice(b",\"tags\":");
    string_array_or_null(out, &c.tags);
    out.push(b'}');
}

fn string_array_or_null(out: &mut Vec<u8>, items: &TagList) {
    if items.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'[');
    for (i, t) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, t.as_bytes());
    }
    out.push(b']');
}

/// The group an event is listed under: its source type, or `api`.
pub(super) fn group(e: &Event) -> &str {
    if e.source_type.is_empty() {
        "api"
    } else {
        &e.source_type
    }
}

/// Appends one event object (optional keys omitted when empty).
pub(super) fn write_event(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(b"{\"msg_title\":");
    json_str(out, e.title.as_bytes());
    out.extend_from_slice(b",\"msg_text\":");
    json_str(out, e.text.as_bytes());
    out.extend_from_slice(b",\"timestamp\":");
    json_i64(out, e.timestamp);
    optional(out, "priority", e.priority);
    out.extend_from_slice(b",\"host\":");
    json_str(out, e.hostname.as_bytes());
    if !e.tags.is_empty() {
        out.extend_from_slice(b",\"tags\":");
        string_array_or_null(out, &e.tags);
    }
    optional(out, "alert_type", e.alert_type);
    optional(out, "aggregation_key", &e.aggregation_key);
    optional(out, "source_type_name", &e.source_type);
    out.push(b'}');
}

fn optional(out: &mut Vec<u8>, key: &str, value: &str) {
    if !value.is_empty() {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        json_str(out, value.as_bytes());
    }
}

/// Start of every events payload.
pub(super) const EVENTS_HEADER: &[u8] = b"{\"apiKey\":\"\",\"events\":{";

/// End of every events payload (closes the open group).
pub(super) fn events_footer(out: &mut Vec<u8>, hostname: &str) {
    out.extend_from_slice(b"]},\"internalHostname\":");
    json_str(out, hostname.as_bytes());
    out.push(b'}');
}
