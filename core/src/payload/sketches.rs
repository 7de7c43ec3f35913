//! Sketch items: `SketchPayload.sketches` entries.

use super::proto;
use super::schema::{dogsketch, sketch, sketch_payload};
use super::series::origin_metadata;
use crate::flush::SketchSeries;

/// The fixed footer of every sketch payload: an empty `metadata`.
pub(super) const FOOTER: &[u8] = &[proto::key_byte(sketch_payload::METADATA, proto::LEN), 0];

/// Appends one `0x0a <len> <Sketch>` entry holding one `Dogsketch` per
/// element of `points` (one context; the first gives metric, host, tags).
pub(super) fn write(out: &mut Vec<u8>, all: &[SketchSeries], points: &[u32]) {
    let first = &all[points[0] as usize];
    proto::nested(out, sketch_payload::SKETCHES, |o| {
        proto::string(o, sketch::METRIC, &first.metric);
        proto::string(o, sketch::HOST, &first.host);
        for tag in first.tags.iter() {
            proto::bytes(o, sketch::TAGS, tag.as_bytes());
        }
        for &i in points {
            let p = &all[i as usize];
            let s = &p.sketch;
            proto::nested(o, sketch::DOGSKETCHES, |d| {
                proto::int(d, dogsketch::TS, p.timestamp);
                proto::int(d, dogsketch::CNT, s.count() as i64);
                proto::double(d, dogsketch::MIN, s.min());
                proto::double(d, dogsketch::MAX, s.max());
                proto::double(d, dogsketch::AVG, s.avg());
                proto::double(d, dogsketch::SUM, s.sum());
                if !s.bins().is_empty() {
                    proto::nested(d, dogsketch::K, |k| {
                        for key in s.keys() {
                            proto::varint(k, proto::zigzag32(i32::from(key)));
                        }
                    });
                    proto::nested(d, dogsketch::N, |n| {
                        for c in s.counts() {
                            proto::varint(n, u64::from(c));
                        }
                    });
                }
            });
        }
        proto::nested(o, sketch::METADATA, origin_metadata);
    });
}
