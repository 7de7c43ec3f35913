//! Pure conversions between what JavaScript hands over and what core
//! takes or returns. No JS types here, so everything is unit-tested on the
//! host.

use dogstatsd_core::config::PayloadSettings;
use dogstatsd_core::flush::Flush;
use dogstatsd_core::output;
use dogstatsd_core::payload::{EncodeStats, Endpoint};
use dogstatsd_core::server::ServerStats;

/// `DD-Agent-Version` (and `User-Agent: datadog-agent/<version>`) sent
/// when the caller does not choose one. Core does not define an agent
/// version yet; this is the example value of `spec/intake.md` §1.
pub const DEFAULT_AGENT_VERSION: &str = "7.60.0";

/// Why a call cannot go ahead (turned into a JS `Error` by the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub String);

/// Milliseconds since the Unix epoch (JavaScript's `Date.now()`) to the
/// whole Unix seconds core works in (rounded down, so 1.9 s is second 1
/// and -0.5 s is second -1).
pub fn now_secs(now_ms: f64) -> Result<i64, ApiError> {
    if !now_ms.is_finite() {
        // (No `{now_ms}` here: f64 Display alone costs ~15 KB of wasm.)
        return Err(ApiError(
            "nowMs must be a finite number of milliseconds since the Unix epoch".to_string(),
        ));
    }
    // `as` saturates for values beyond i64, which are centuries away.
    Ok((now_ms / 1000.0).floor() as i64)
}

/// Parses configuration JSON text (any JSON value; what it must hold is
/// checked by the readers).
pub fn parse_config(json: &str) -> Result<serde_json::Value, ApiError> {
    serde_json::from_str(json).map_err(|e| ApiError(format!("invalid configuration: {e}")))
}

/// The payload settings (limits, series API, arbitrary tags), read by
/// core's one reader, as the daemon's forwarder reads them.
pub fn payload_settings(settings: &serde_json::Value) -> Result<PayloadSettings, ApiError> {
    PayloadSettings::from_value(settings)
        .map_err(|e| ApiError(format!("invalid configuration: {e}")))
}

/// Renders a flush as one JSON array of `aggregate` records, by way of
/// [`output::write_flush`] (JSON Lines): the line breaks become commas.
/// Records never contain a raw line break (strings escape it), so this
/// is exact. `out` is cleared first.
pub fn flush_array(out: &mut Vec<u8>, flush: &Flush) {
    out.clear();
    out.push(b'[');
    output::write_flush(out, flush);
    lines_to_array(out);
}

/// Turns `[` + JSON Lines (each line ending in `\n`) into a JSON array.
/// Eight bytes at a time: line breaks are one byte in ~200, and this pass
/// showed up in profiles when done byte by byte.
pub fn lines_to_array(out: &mut Vec<u8>) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = out.get_mut(1..).unwrap_or_default().chunks_exact_mut(8);
    for chunk in &mut chunks {
        let Ok(word) = <[u8; 8]>::try_from(&*chunk) else {
            continue;
        };
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'\n'));
        // Non-zero when some byte of x is zero, i.e. some byte was '\n'.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            newlines_to_commas(chunk);
        }
    }
    newlines_to_commas(chunks.into_remainder());
    if out.last() == Some(&b',') {
        out.pop();
    }
    out.push(b']');
}

fn newlines_to_commas(bytes: &mut [u8]) {
    for b in bytes {
        if *b == b'\n' {
            *b = b',';
        }
    }
}

/// The HTTP headers of one payload request: `Content-Type`, the API key,
/// agent version and user agent, and the endpoint's own headers. No
/// `Content-Encoding`: bodies are not compressed.
pub fn request_headers(
    endpoint: Endpoint,
    api_key: &str,
    agent_version: &str,
    allow_arbitrary_tags: bool,
) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("Content-Type", endpoint.content_type().to_string()),
        ("DD-Api-Key", api_key.to_string()),
        ("DD-Agent-Version", agent_version.to_string()),
        ("User-Agent", format!("datadog-agent/{agent_version}")),
    ];
    for (k, v) in endpoint.extra_headers() {
        h.push((k, (*v).to_string()));
    }
    if allow_arbitrary_tags {
        h.push(("Allow-Arbitrary-Tag-Value", "true".to_string()));
    }
    h
}

/// Totals of every payload the shell built, for `stats()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayloadTotals {
    /// Payloads built.
    pub payloads: u64,
    /// Body bytes built.
    pub bytes: u64,
    /// Items dropped because they did not fit an empty payload.
    pub dropped_items: u64,
    /// Points inside the dropped items.
    pub dropped_points: u64,
}

impl PayloadTotals {
    /// Adds one encoding's totals.
    pub fn add(&mut self, s: &EncodeStats) {
        self.payloads += s.payloads as u64;
        self.bytes += s.bytes as u64;
        self.dropped_items += s.dropped_items as u64;
        self.dropped_points += s.dropped_points as u64;
    }
}

/// The `stats()` object's fields (the `Stats` type of the declarations).
pub fn stats_fields(s: &ServerStats, p: &PayloadTotals) -> [(&'static str, u64); 23] {
    let w = &s.router;
    let pr = &w.process;
    let pl = &s.shards;
    [
        ("metricPackets", pr.metric_packets),
        ("metricParseErrors", pr.metric_parse_errors),
        ("eventPackets", pr.event_packets),
        ("eventParseErrors", pr.event_parse_errors),
        ("serviceCheckPackets", pr.service_check_packets),
        ("serviceCheckParseErrors", pr.service_check_parse_errors),
        ("unterminatedMetricErrors", pr.unterminated_metric_errors),
        ("tooManyTags", pr.too_many_tags),
        ("tagTooLong", pr.tag_too_long),
        ("nameTooLong", pr.name_too_long),
        ("samples", w.samples),
        ("noAggSamples", w.no_agg_samples),
        ("noAggUnsupported", w.no_agg_unsupported),
        ("aggregatedSamples", pl.samples),
        ("nonFiniteDropped", pl.non_finite_dropped),
        ("contexts", pl.contexts),
        ("contextsExpired", pl.contexts_expired),
        ("contextLimitDropped", pl.context_limit_dropped),
        ("unknownRouteDropped", pl.unknown_route_dropped),
        ("payloads", p.payloads),
        ("payloadBytes", p.bytes),
        ("payloadItemsDropped", p.dropped_items),
        ("payloadPointsDropped", p.dropped_points),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use dogstatsd_core::config::Config;
    use dogstatsd_core::payload::PayloadLimits;
    use dogstatsd_core::protocol::Transport;
    use dogstatsd_core::server::Server;

    #[test]
    fn milliseconds_round_down_to_seconds() {
        assert_eq!(now_secs(1_700_000_005_999.0), Ok(1_700_000_005));
        assert_eq!(now_secs(0.0), Ok(0));
        assert_eq!(now_secs(-500.0), Ok(-1));
        assert!(now_secs(f64::NAN).is_err());
        assert!(now_secs(f64::INFINITY).is_err());
    }

    #[test]
    fn flush_becomes_one_json_array() {
        let cfg = Config::from_json(r#"{"hostname":"h"}"#).unwrap();
        let mut server = Server::new(&cfg).unwrap();
        let t = dogstatsd_core::Timestamp::from_secs(100);
        let _ = server.handle_packet(
            t,
            Transport::Push.into(),
            b"a:1|c\nb:2|g|#x:y\n_sc|chk|0|m:line\\nbreak",
        );
        let all = dogstatsd_core::aggregate::FlushMode::All;
        let mut out = Vec::new();
        flush_array(&mut out, &server.flush(t, all));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let kinds: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["series", "series", "service_check"]);

        let mut empty = Server::new(&cfg).unwrap();
        flush_array(
            &mut out,
            &empty.flush(dogstatsd_core::Timestamp::from_secs(200), all),
        );
        assert_eq!(out, b"[]");
    }

    #[test]
    fn lines_become_array_elements_at_any_offset() {
        for n in 0..20 {
            let line = format!("{{\"k\":\"{}\"}}\n", "x".repeat(n));
            let mut buf = b"[".to_vec();
            for _ in 0..5 {
                buf.extend_from_slice(line.as_bytes());
            }
            lines_to_array(&mut buf);
            let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
            assert_eq!(v.as_array().unwrap().len(), 5);
            assert!(!buf.contains(&b'\n'));
        }
        let mut empty = b"[".to_vec();
        lines_to_array(&mut empty);
        assert_eq!(empty, b"[]");
    }

    #[test]
    fn headers_name_the_key_and_no_encoding() {
        let h = request_headers(Endpoint::SeriesV2, "k", "7.1.0", false);
        assert!(h.contains(&("Content-Type", "application/x-protobuf".into())));
        assert!(h.contains(&("DD-Api-Key", "k".into())));
        assert!(h.contains(&("User-Agent", "datadog-agent/7.1.0".into())));
        assert!(h.iter().any(|(k, _)| *k == "DD-Agent-Payload"));
        assert!(
            !h.iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-encoding"))
        );
        assert!(!h.iter().any(|(k, _)| *k == "Allow-Arbitrary-Tag-Value"));
        let j = request_headers(Endpoint::CheckRuns, "k", "7.1.0", true);
        assert!(j.contains(&("Content-Type", "application/json".into())));
        assert!(!j.iter().any(|(k, _)| *k == "DD-Agent-Payload"));
        assert!(j.contains(&("Allow-Arbitrary-Tag-Value", "true".into())));
    }

    fn shell_config(json: &str) -> Result<PayloadSettings, ApiError> {
        payload_settings(&parse_config(json)?)
    }

    #[test]
    fn shell_config_reads_agent_keys_and_ignores_the_rest() {
        let c = shell_config(
            r#"{"hostname":"h","serializer_max_series_points_per_payload":7,
                "use_v2_api":{"series":false}}"#,
        )
        .unwrap();
        assert_eq!(c.limits.max_series_points_per_payload, 7);
        assert!(!c.series_v2);
        let d = shell_config("{}").unwrap();
        assert!(d.series_v2);
        assert_eq!(d.limits, PayloadLimits::default());
        assert!(!d.allow_arbitrary_tags);
        let s = shell_config(
            r#"{"serializer_max_payload_size":"12","use_v2_api_series":"false",
                "allow_arbitrary_tags":"true"}"#,
        )
        .unwrap();
        assert_eq!(s.limits.max_payload_size, 12);
        assert!(!s.series_v2);
        assert!(s.allow_arbitrary_tags);
        for bad in [
            r#"{"serializer_max_payload_size":-1}"#,
            r#"{"serializer_max_payload_size":0}"#,
            r#"{"serializer_max_payload_size":"big"}"#,
            r#"{"use_v2_api":{"series":"maybe"}}"#,
            r#"{"serializer_compressor_kind":"lz4"}"#,
        ] {
            assert!(shell_config(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn series_api_follows_the_agents_precedence() {
        // The cases the daemon's forwarder test reads too
        // (native/src/forwarder/config.rs): the flat key wins.
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/data/series-api-precedence.json"))
                .unwrap();
        for case in cases {
            let c = payload_settings(&case["settings"]).unwrap();
            assert_eq!(
                serde_json::Value::Bool(c.series_v2),
                case["series_v2"],
                "{case}"
            );
        }
    }
}
