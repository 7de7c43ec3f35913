//! Decoding intake bodies back into flush records, for a test intake that
//! records what it accepted (uncompressed bodies; decompression is the
//! shell's). Protobuf readers accept any field order, unknown fields and
//! non-minimal varints; the JSON readers accept the bodies the encoders
//! write (and the Agent's).

use std::sync::Arc;

use serde_json::Value;

use super::schema::{
    dogsketch, metric_payload, metric_point, metric_series, metric_type, resource, sketch,
    sketch_payload,
};

use crate::flush::{Event, Series, SeriesType, ServiceCheck, SketchSeries, TagList};
use crate::sketch::{AgentSketch, Bin};

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The protobuf ended inside a field.
    #[error("truncated protobuf")]
    Truncated,
    /// A varint longer than 10 bytes.
    #[error("malformed varint")]
    BadVarint,
    /// A wire type this format never uses (groups, or unknown).
    #[error("unsupported wire type {0}")]
    WireType(u8),
    /// A field had the wrong wire type for its number.
    #[error("field {0} has the wrong wire type")]
    FieldType(u32),
    /// A string field was not UTF-8.
    #[error("string field is not UTF-8")]
    Utf8,
    /// A sketch's `k` and `n` columns differ in length, or its bins are
    /// out of order or have zero counts.
    #[error("invalid sketch bins")]
    Bins,
    /// A JSON body did not have the expected shape.
    #[error("invalid JSON body: {0}")]
    Json(String),
}

enum Val<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

impl<'a> Val<'a> {
    fn varint(&self, field: u32) -> Result<u64, DecodeError> {
        match self {
            Val::Varint(v) => Ok(*v),
            _ => Err(DecodeError::FieldType(field)),
        }
    }
    fn double(&self, field: u32) -> Result<f64, DecodeError> {
        match self {
            Val::Fixed64(v) => Ok(f64::from_bits(*v)),
            _ => Err(DecodeError::FieldType(field)),
        }
    }
    fn bytes(&self, field: u32) -> Result<&'a [u8], DecodeError> {
        match self {
            Val::Bytes(b) => Ok(b),
            _ => Err(DecodeError::FieldType(field)),
        }
    }
    fn str(&self, field: u32) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| DecodeError::Utf8)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.b.get(self.at).ok_or(DecodeError::Truncated)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
            if byte < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(DecodeError::Truncated)?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn field(&mut self) -> Option<Result<(u32, Val<'a>), DecodeError>> {
        if self.at >= self.b.len() {
            return None;
        }
        Some(self.read_field())
    }

    fn read_field(&mut self) -> Result<(u32, Val<'a>), DecodeError> {
        let key = self.varint()?;
        let field = (key >> 3) as u32;
        let val = match (key & 7) as u8 {
            0 => Val::Varint(self.varint()?),
            1 => Val::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().unwrap_or([0; 8]),
            )),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                Val::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Val::Fixed32
            }
            w => return Err(DecodeError::WireType(w)),
        };
        Ok((field, val))
    }
}

fn each<'a>(
    b: &'a [u8],
    mut f: impl FnMut(u32, Val<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(b);
    while let Some(x) = r.field() {
        let (field, val) = x?;
        f(field, val)?;
    }
    Ok(())
}

fn packed(b: &[u8], mut f: impl FnMut(u64)) -> Result<(), DecodeError> {
    let mut r = Reader::new(b);
    while r.at < b.len() {
        f(r.varint()?);
    }
    Ok(())
}

/// Tags as the flush types hold them: sorted and de-duplicated.
fn tag_set(mut tags: Vec<Arc<str>>) -> Arc<[Arc<str>]> {
    crate::order::sort(&mut tags);
    tags.dedup();
    tags.into()
}

/// Decodes a `/api/v2/series` body (`MetricPayload`), appending one
/// [`Series`] per point to `out`; returns how many were appended.
///
/// The host comes from the `host` resource; a `device` resource becomes a
/// `device:<name>` tag again and any other resource a
/// `dd.internal.resource:<type>:<name>` tag, so the tags read back are the
/// ones the server flushed. A type of 0 (unspecified) reads as gauge.
pub fn decode_series_v2(body: &[u8], out: &mut Vec<Series>) -> Result<usize, DecodeError> {
    let before = out.len();
    each(body, |field, val| {
        if field != metric_payload::SERIES {
            return Ok(());
        }
        let mut metric = "";
        let mut host = "";
        let mut tags: Vec<Arc<str>> = Vec::new();
        let mut kind = 0;
        let mut interval = 0;
        let mut points = Vec::new();
        each(val.bytes(field)?, |f, v| {
            match f {
                metric_series::RESOURCES => {
                    let (mut rtype, mut name) = ("", "");
                    each(v.bytes(f)?, |rf, rv| {
                        match rf {
                            resource::TYPE => rtype = rv.str(rf)?,
                            resource::NAME => name = rv.str(rf)?,
                            _ => {}
                        }
                        Ok(())
                    })?;
                    match rtype {
                        "host" => host = name,
                        "device" => tags.push(format!("device:{name}").into()),
                        t => tags.push(format!("dd.internal.resource:{t}:{name}").into()),
                    }
                }
                metric_series::METRIC => metric = v.str(f)?,
                metric_series::TAGS => tags.push(v.str(f)?.into()),
                metric_series::POINTS => {
                    let (mut ts, mut value) = (0i64, 0.0);
                    each(v.bytes(f)?, |pf, pv| {
                        match pf {
                            metric_point::VALUE => value = pv.double(pf)?,
                            metric_point::TIMESTAMP => ts = pv.varint(pf)? as i64,
                            _ => {}
                        }
                        Ok(())
                    })?;
                    points.push((ts, value));
                }
                metric_series::TYPE => kind = v.varint(f)?,
                metric_series::INTERVAL => interval = v.varint(f)?,
                _ => {}
            }
            Ok(())
        })?;
        let series_type = match kind {
            metric_type::COUNT => SeriesType::Count,
            metric_type::RATE => SeriesType::Rate,
            _ => SeriesType::Gauge,
        };
        let tags = tag_set(tags);
        let host: Arc<str> = Arc::from(host);
        for (timestamp, value) in points {
            out.push(Series {
                metric: metric.to_string(),
                series_type,
                interval: interval as u32,
                timestamp,
                value,
                tags: tags.clone(),
                host: host.clone(),
            });
        }
        Ok(())
    })?;
    Ok(out.len() - before)
}

/// Decodes a `/api/beta/sketches` body (`SketchPayload`), appending one
/// [`SketchSeries`] per `Dogsketch` to `out`; returns how many were
/// appended. The sketches are rebuilt with [`AgentSketch::from_parts`], so
/// their quantiles are the ones the server computed.
pub fn decode_sketches(body: &[u8], out: &mut Vec<SketchSeries>) -> Result<usize, DecodeError> {
    let before = out.len();
    each(body, |field, val| {
        if field != sketch_payload::SKETCHES {
            return Ok(());
        }
        let mut metric = "";
        let mut host = "";
        let mut tags: Vec<Arc<str>> = Vec::new();
        let mut points = Vec::new();
        each(val.bytes(field)?, |f, v| {
            match f {
                sketch::METRIC => metric = v.str(f)?,
                sketch::HOST => host = v.str(f)?,
                sketch::TAGS => tags.push(v.str(f)?.into()),
                sketch::DOGSKETCHES => points.push(dogsketch(v.bytes(f)?)?),
                _ => {}
            }
            Ok(())
        })?;
        let tags = tag_set(tags);
        let host: Arc<str> = Arc::from(host);
        for (timestamp, sketch) in points {
            out.push(SketchSeries {
                metric: metric.to_string(),
                timestamp,
                tags: tags.clone(),
                host: host.clone(),
                sketch,
            });
        }
        Ok(())
    })?;
    Ok(out.len() - before)
}

fn dogsketch(b: &[u8]) -> Result<(i64, AgentSketch), DecodeError> {
    let (mut ts, mut cnt) = (0i64, 0u64);
    let (mut min, mut max, mut avg, mut sum) = (0.0, 0.0, 0.0, 0.0);
    let mut keys = Vec::new();
    let mut counts = Vec::new();
    each(b, |f, v| {
        match f {
            dogsketch::TS => ts = v.varint(f)? as i64,
            dogsketch::CNT => cnt = v.varint(f)?,
            dogsketch::MIN => min = v.double(f)?,
            dogsketch::MAX => max = v.double(f)?,
            dogsketch::AVG => avg = v.double(f)?,
            dogsketch::SUM => sum = v.double(f)?,
            dogsketch::K => match v {
                Val::Bytes(p) => packed(p, |z| keys.push(unzigzag(z)))?,
                Val::Varint(z) => keys.push(unzigzag(z)),
                _ => return Err(DecodeError::FieldType(f)),
            },
            dogsketch::N => match v {
                Val::Bytes(p) => packed(p, |n| counts.push(n as u32))?,
                Val::Varint(n) => counts.push(n as u32),
                _ => return Err(DecodeError::FieldType(f)),
            },
            _ => {}
        }
        Ok(())
    })?;
    if keys.len() != counts.len() {
        return Err(DecodeError::Bins);
    }
    let bins = keys.into_iter().zip(counts).map(|(key, n)| Bin { key, n });
    let sketch =
        AgentSketch::from_parts(cnt, sum, min, max, avg, bins).map_err(|_| DecodeError::Bins)?;
    Ok((ts, sketch))
}

fn unzigzag(z: u64) -> i16 {
    let z = z as u32;
    (((z >> 1) as i32) ^ -((z & 1) as i32)) as i16
}

fn json_err(what: &str) -> DecodeError {
    DecodeError::Json(what.to_string())
}

fn str_field(o: &Value, key: &str) -> String {
    o.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn string_list(v: Option<&Value>) -> TagList {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Decodes a `/api/v1/check_run` body, appending the checks to `out`;
/// returns how many were appended.
pub fn decode_check_runs(body: &[u8], out: &mut Vec<ServiceCheck>) -> Result<usize, DecodeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    let list = v.as_array().ok_or_else(|| json_err("expected an array"))?;
    for c in list {
        out.push(ServiceCheck {
            name: str_field(c, "check"),
            status: c.get("status").and_then(Value::as_u64).unwrap_or(3).min(3) as u8,
            timestamp: c.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
            hostname: str_field(c, "host_name"),
            message: str_field(c, "message"),
            tags: string_list(c.get("tags")),
            container_id: None,
        });
    }
    Ok(list.len())
}

fn intern(s: &str, known: &[&'static str], default: &'static str) -> &'static str {
    known.iter().copied().find(|k| *k == s).unwrap_or(default)
}

/// Decodes an `/intake/` events body, appending the events to `out` in
/// body order; returns how many were appended. The group name is not
/// kept (it is the source type, or `api` for none). Unknown priorities
/// and alert types read as `normal` and `info`.
pub fn decode_events(body: &[u8], out: &mut Vec<Event>) -> Result<usize, DecodeError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))?;
    let groups = v
        .get("events")
        .and_then(Value::as_object)
        .ok_or_else(|| json_err("expected an events object"))?;
    let before = out.len();
    for list in groups.values() {
        for e in list
            .as_array()
            .ok_or_else(|| json_err("expected an array of events"))?
        {
            out.push(Event {
                title: str_field(e, "msg_title"),
                text: str_field(e, "msg_text"),
                timestamp: e.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
                hostname: str_field(e, "host"),
                aggregation_key: str_field(e, "aggregation_key"),
                priority: intern(&str_field(e, "priority"), &["normal", "low"], "normal"),
                source_type: str_field(e, "source_type_name"),
                alert_type: intern(
                    &str_field(e, "alert_type"),
                    &["info", "warning", "error", "success"],
                    "info",
                ),
                tags: string_list(e.get("tags")),
                container_id: None,
            });
        }
    }
    Ok(out.len() - before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_malformed_input() {
        let mut out = Vec::new();
        assert_eq!(
            decode_series_v2(&[0x0a, 0x05, 0x01], &mut out),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_series_v2(&[0x0a; 1], &mut out),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_series_v2(&[0xff; 12], &mut out),
            Err(DecodeError::BadVarint)
        );
        assert_eq!(
            decode_series_v2(&[0x0b], &mut out),
            Err(DecodeError::WireType(3))
        );
        assert_eq!(
            decode_series_v2(&[0x08, 0x01], &mut out),
            Err(DecodeError::FieldType(1))
        );
        // Unknown fields are skipped.
        assert_eq!(
            decode_series_v2(&[0x18, 0x01, 0x15, 0, 0, 0, 0], &mut out),
            Ok(0)
        );
        let mut sk = Vec::new();
        // k has one key, n none.
        let body = [0x0a, 0x06, 0x3a, 0x04, 0x3a, 0x02, 0x02, 0x00];
        assert_eq!(decode_sketches(&body, &mut sk), Err(DecodeError::Bins));
        assert!(decode_check_runs(b"{}", &mut Vec::new()).is_err());
        assert!(decode_events(b"[]", &mut Vec::new()).is_err());
    }

    #[test]
    fn zigzag_back() {
        for k in [0i16, 1, -1, 1053, -32767, 32767] {
            let z = crate::payload::proto::zigzag32(i32::from(k));
            assert_eq!(unzigzag(z), k);
        }
    }
}
