//! Series items: `MetricSeries` protobuf (v2) and the v1 JSON object.

use super::proto;
use super::schema::{
    metadata, metric_payload, metric_point, metric_series, metric_type, origin, resource,
};
use crate::flush::{Series, SeriesType};
use crate::output::{json_f64, json_i64, json_str, json_u64};

/// `Origin.origin_product` for the Agent.
const ORIGIN_PRODUCT_AGENT: u64 = 10;
/// `Origin.origin_category` for DogStatsD.
const ORIGIN_CATEGORY_DOGSTATSD: u64 = 10;

const DEVICE_PREFIX: &str = "device:";
const RESOURCE_PREFIX: &str = "dd.internal.resource:";

fn type_code(t: SeriesType) -> u64 {
    match t {
        SeriesType::Count => metric_type::COUNT,
        SeriesType::Rate => metric_type::RATE,
        SeriesType::Gauge => metric_type::GAUGE,
    }
}

/// The origin metadata every DogStatsD series and sketch carries:
/// `{origin: {origin_product: 10, origin_category: 10}}`.
pub(super) fn origin_metadata(out: &mut Vec<u8>) {
    proto::nested(out, metadata::ORIGIN, |o| {
        proto::uint(o, origin::PRODUCT, ORIGIN_PRODUCT_AGENT);
        proto::uint(o, origin::CATEGORY, ORIGIN_CATEGORY_DOGSTATSD);
    });
}

/// How a tag travels: as a tag, as the device resource, or as another
/// resource (`dd.internal.resource:<type>:<name>`).
enum TagRole<'a> {
    Tag,
    Device,
    Resource(&'a str, &'a str),
}

fn role(tag: &str, device_taken: bool) -> TagRole<'_> {
    if !device_taken && tag.starts_with(DEVICE_PREFIX) {
        return TagRole::Device;
    }
    if let Some(rest) = tag.strip_prefix(RESOURCE_PREFIX)
        && let Some((t, n)) = rest.split_once(':')
    {
        return TagRole::Resource(t, n);
    }
    TagRole::Tag
}

/// The device resource name: the first `device:` tag, if any.
fn device(tags: &[std::sync::Arc<str>]) -> Option<&str> {
    tags.iter().find_map(|t| t.strip_prefix(DEVICE_PREFIX))
}

/// Appends one `MetricPayload.series` entry (`0x0a <len> <MetricSeries>`)
/// holding every point of `points` (one context; the first gives the
/// metric, type, interval, tags and host).
pub(super) fn write_v2(out: &mut Vec<u8>, all: &[Series], points: &[u32]) {
    let first = &all[points[0] as usize];
    proto::nested(out, metric_payload::SERIES, |o| {
        proto::nested(o, metric_series::RESOURCES, |r| {
            proto::string(r, resource::TYPE, "host");
            proto::string(r, resource::NAME, &first.host);
        });
        let device = device(&first.tags);
        if let Some(d) = device {
            proto::nested(o, metric_series::RESOURCES, |r| {
                proto::string(r, resource::TYPE, "device");
                proto::string(r, resource::NAME, d);
            });
        }
        for tag in first.tags.iter() {
            if let TagRole::Resource(t, n) = role(tag, true) {
                proto::nested(o, metric_series::RESOURCES, |r| {
                    proto::string(r, resource::TYPE, t);
                    proto::string(r, resource::NAME, n);
                });
            }
        }
        proto::string(o, metric_series::METRIC, &first.metric);
        let mut device_taken = false;
        for tag in first.tags.iter() {
            match role(tag, device_taken) {
                TagRole::Tag => proto::bytes(o, metric_series::TAGS, tag.as_bytes()),
                TagRole::Device => device_taken = true,
                TagRole::Resource(..) => {}
            }
        }
        proto::uint(o, metric_series::TYPE, type_code(first.series_type));
        proto::int(o, metric_series::INTERVAL, i64::from(first.interval));
        for &i in points {
            let p = &all[i as usize];
            proto::nested(o, metric_series::POINTS, |pt| {
                proto::int(pt, metric_point::TIMESTAMP, p.timestamp);
                proto::double(pt, metric_point::VALUE, p.value);
            });
        }
        proto::nested(o, metric_series::METADATA, origin_metadata);
    });
}

/// Appends one v1 series object:
/// `{"metric":…,"points":[[ts,value],…],"tags":[…],"host":…,["device":…,]"type":…,"interval":…}`.
pub(super) fn write_v1(out: &mut Vec<u8>, all: &[Series], points: &[u32]) {
    let first = &all[points[0] as usize];
    out.extend_from_slice(b"{\"metric\":");
    json_str(out, first.metric.as_bytes());
    out.extend_from_slice(b",\"points\":[");
    for (n, &i) in points.iter().enumerate() {
        let p = &all[i as usize];
        if n > 0 {
            out.push(b',');
        }
        out.push(b'[');
        json_i64(out, p.timestamp);
        out.push(b',');
        json_f64(out, p.value);
        out.push(b']');
    }
    out.extend_from_slice(b"],\"tags\":[");
    let mut device_taken = false;
    let mut n = 0;
    for tag in first.tags.iter() {
        match role(tag, device_taken) {
            TagRole::Device => device_taken = true,
            // v1 has no resources: those tags stay tags.
            TagRole::Tag | TagRole::Resource(..) => {
                if n > 0 {
                    out.push(b',');
                }
                json_str(out, tag.as_bytes());
                n += 1;
            }
        }
    }
    out.extend_from_slice(b"],\"host\":");
    json_str(out, first.host.as_bytes());
    if let Some(d) = device(&first.tags) {
        out.extend_from_slice(b",\"device\":");
        json_str(out, d.as_bytes());
    }
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(first.series_type.name().as_bytes());
    out.extend_from_slice(b"\",\"interval\":");
    json_u64(out, first.interval.into());
    out.push(b'}');
}
