//! Samples on their way from a worker to the time sampler that owns their
//! context: packed into a reusable arena, so handing thousands of samples
//! to another shard (or thread) allocates nothing once warmed up.

use std::ops::Range;

use super::route_cache::RouteRef;

/// What a sample adds to its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleKind {
    Count,
    Gauge,
    Set,
    /// `h` and `ms` aggregate identically.
    Histogram,
    Distribution,
}

#[derive(Debug, Clone)]
pub(crate) struct PackedSample {
    /// Context hash (name, host, tag set).
    pub(crate) key: u64,
    pub(crate) name: Range<u32>,
    pub(crate) host: Range<u32>,
    /// `[u32 len][bytes]` per tag, in canonical order: sorted by hash,
    /// de-duplicated, so the i-th tag has the i-th hash.
    pub(crate) tags: Range<u32>,
    pub(crate) kind: SampleKind,
    pub(crate) value: f64,
    /// Set member bytes in the arena (sets only).
    pub(crate) member: Range<u32>,
    pub(crate) sample_rate: f64,
    /// Unix seconds deciding the bucket.
    pub(crate) timestamp: i64,
    /// The worker's cached route this sample came from, if any: lets the
    /// pipeline skip verifying bytes it has verified before.
    pub(crate) route: Option<RouteRef>,
    /// Sent without name, host and tag bytes: `route` was sent with them
    /// before, so the pipeline knows it.
    pub(crate) bare: bool,
}

/// A batch of samples for one shard.
#[derive(Debug, Default, Clone)]
pub struct SampleBatch {
    pub(crate) arena: Vec<u8>,
    pub(crate) samples: Vec<PackedSample>,
}

fn range(start: usize, end: usize) -> Range<u32> {
    // Packets are bounded by the buffer size, far below 4 GiB per batch;
    // saturate rather than wrap if a caller ever feeds more.
    let s = u32::try_from(start).unwrap_or(u32::MAX);
    let e = u32::try_from(end).unwrap_or(u32::MAX);
    s..e
}

impl SampleBatch {
    /// Number of samples waiting.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.samples.clear();
    }

    pub(crate) fn push_bytes(&mut self, parts: &[&[u8]]) -> Range<u32> {
        let start = self.arena.len();
        for p in parts {
            self.arena.extend_from_slice(p);
        }
        range(start, self.arena.len())
    }

    /// Appends one tag in the packed form [`PackedTags`] reads.
    pub(crate) fn pack_tag(out: &mut Vec<u8>, tag: &[u8]) {
        out.extend_from_slice(&(tag.len() as u32).to_le_bytes());
        out.extend_from_slice(tag);
    }

    /// The arena bytes written since `start`.
    pub(crate) fn range_since(&self, start: usize) -> Range<u32> {
        range(start, self.arena.len())
    }

    pub(crate) fn bytes(&self, r: &Range<u32>) -> &[u8] {
        &self.arena[r.start as usize..r.end as usize]
    }

    /// The bytes of each tag of a sample, in canonical order.
    pub(crate) fn tags(&self, r: &Range<u32>) -> PackedTags<'_> {
        PackedTags {
            rest: self.bytes(r),
        }
    }
}

/// Iterator over packed tags.
#[derive(Debug, Clone)]
pub(crate) struct PackedTags<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for PackedTags<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<Self::Item> {
        let (len, rest) = self.rest.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let tag = rest.get(..len)?;
        self.rest = &rest[len..];
        Some(tag)
    }
}
