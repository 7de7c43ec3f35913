//! Sketch items: `SketchPayload.sketches` entries.

use super::proto;
use super::series::origin_metadata;
use crate::flush::SketchSeries;

/// The fixed footer of every sketch payload: an empty `metadata` (field 2).
pub(super) const FOOTER: &[u8] = &[0x12, 0x00];

/// Appends one `0x0a <len> <Sketch>` entry holding one `Dogsketch` per
/// element of `points` (one context; the first gives metric, host, tags).
pub(super) fn write(out: &mut Vec<u8>, all: &[SketchSeries], points: &[u32]) {
    let first = &all[points[0] as usize];
    proto::nested(out, 1, |o| {
        proto::string(o, 1, &first.metric);
        proto::string(o, 2, &first.host);
        for tag in first.tags.iter() {
            proto::bytes(o, 4, tag.as_bytes());
        }
        for &i in points {
            let p = &all[i as usize];
            let s = &p.sketch;
            proto::nested(o, 7, |d| {
                proto::int(d, 1, p.timestamp);
                proto::int(d, 2, s.count() as i64);
                proto::double(d, 3, s.min());
                proto::double(d, 4, s.max());
                proto::double(d, 5, s.avg());
                proto::double(d, 6, s.sum());
                if !s.bins().is_empty() {
                    proto::nested(d, 7, |k| {
                        for key in s.keys() {
                            proto::varint(k, proto::zigzag32(i32::from(key)));
                        }
                    });
                    proto::nested(d, 8, |n| {
                        for c in s.counts() {
                            proto::varint(n, u64::from(c));
                        }
                    });
                }
            });
        }
        proto::nested(o, 8, origin_metadata);
    });
}
