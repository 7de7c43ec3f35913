//! Turning accepted bodies back into flush records (core's decoders, plus
//! a reader for the v1 JSON series body that core does not decode).

use std::sync::Arc;

use dogstatsd_core::flush::{Flush, Series, SeriesType};
use dogstatsd_core::payload::{
    DecodeError, Endpoint, decode_check_runs, decode_events, decode_series_v2, decode_sketches,
};
use serde_json::Value;

/// The endpoint a request path names, if any (a trailing `/` is
/// optional, as is a query string).
pub fn endpoint_of(path: &str) -> Option<Endpoint> {
    let path = path.split('?').next().unwrap_or(path);
    let trimmed = path.trim_end_matches('/');
    [
        Endpoint::SeriesV2,
        Endpoint::SeriesV1,
        Endpoint::Sketches,
        Endpoint::CheckRuns,
        Endpoint::Events,
    ]
    .into_iter()
    .find(|e| e.path().trim_end_matches('/') == trimmed)
}

/// Decodes an uncompressed body for `endpoint`, appending its records to
/// `out`; returns how many were appended.
pub fn decode(endpoint: Endpoint, body: &[u8], out: &mut Flush) -> Result<usize, DecodeError> {
    match endpoint {
        Endpoint::SeriesV2 => decode_series_v2(body, &mut out.series),
        Endpoint::SeriesV1 => decode_series_v1(body, &mut out.series),
        Endpoint::Sketches => decode_sketches(body, &mut out.sketches),
        Endpoint::CheckRuns => decode_check_runs(body, &mut out.service_checks),
        Endpoint::Events => decode_events(body, &mut out.events),
        _ => Err(DecodeError::Json("unknown endpoint".to_string())),
    }
}

fn bad(what: &str) -> DecodeError {
    DecodeError::Json(what.to_string())
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "+Inf" | "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        },
        _ => None,
    }
}

/// Decodes a `/api/v1/series` body (`{"series":[…]}`), one [`Series`] per
/// point; a `device` field becomes a `device:<name>` tag again.
pub fn decode_series_v1(body: &[u8], out: &mut Vec<Series>) -> Result<usize, DecodeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    let list = v
        .get("series")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("expected a series list"))?;
    let before = out.len();
    for s in list {
        let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let mut tags: Vec<Arc<str>> = s
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(Arc::from).collect())
            .unwrap_or_default();
        let device = text("device");
        if !device.is_empty() {
            tags.push(Arc::from(format!("device:{device}")));
        }
        tags.sort();
        tags.dedup();
        let tags: Arc<[Arc<str>]> = tags.into();
        let host: Arc<str> = Arc::from(text("host"));
        let series_type = match text("type").as_str() {
            "rate" => SeriesType::Rate,
            "count" => SeriesType::Count,
            _ => SeriesType::Gauge,
        };
        let interval = s.get("interval").and_then(Value::as_u64).unwrap_or(0) as u32;
        let metric = text("metric");
        let points = s
            .get("points")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("expected a points list"))?;
        for p in points {
            let pair = p
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| bad("bad point"))?;
            let timestamp = number(&pair[0]).ok_or_else(|| bad("bad timestamp"))? as i64;
            let value = number(&pair[1]).ok_or_else(|| bad("bad value"))?;
            out.push(Series {
                metric: metric.clone(),
                series_type,
                interval,
                timestamp,
                value,
                tags: tags.clone(),
                host: host.clone(),
            });
        }
    }
    Ok(out.len() - before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dogstatsd_core::payload::{PayloadLimits, encode_series_v1};

    fn series(metric: &str, ts: i64, value: f64, tags: &[&str]) -> Series {
        Series {
            metric: metric.to_string(),
            series_type: SeriesType::Rate,
            interval: 10,
            timestamp: ts,
            value,
            tags: tags
                .iter()
                .map(|t| Arc::from(*t))
                .collect::<Vec<_>>()
                .into(),
            host: Arc::from("h"),
        }
    }

    #[test]
    fn paths_name_endpoints() {
        assert_eq!(endpoint_of("/api/v2/series"), Some(Endpoint::SeriesV2));
        assert_eq!(endpoint_of("/api/v2/series/"), Some(Endpoint::SeriesV2));
        assert_eq!(endpoint_of("/intake/"), Some(Endpoint::Events));
        assert_eq!(endpoint_of("/intake?x=1"), Some(Endpoint::Events));
        assert_eq!(endpoint_of("/api/v1/check_run"), Some(Endpoint::CheckRuns));
        assert_eq!(endpoint_of("/nope"), None);
    }

    #[test]
    fn v1_series_round_trip() {
        let input = vec![
            series("a", 10, 1.5, &["device:sda", "x:y"]),
            series("a", 20, f64::INFINITY, &["device:sda", "x:y"]),
            series("b", 10, 0.0, &[]),
        ];
        let mut payloads = Vec::new();
        encode_series_v1(&input, &PayloadLimits::default(), &mut payloads);
        let mut back = Vec::new();
        for p in &payloads {
            decode_series_v1(&p.body, &mut back).unwrap();
        }
        assert_eq!(back, input);
    }

    #[test]
    fn v1_garbage_is_an_error() {
        assert!(decode_series_v1(b"[]", &mut Vec::new()).is_err());
        assert!(decode_series_v1(b"{\"series\":[{\"points\":[[1]]}]}", &mut Vec::new()).is_err());
    }
}
