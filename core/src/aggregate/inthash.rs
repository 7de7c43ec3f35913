//! A hasher for keys that are already well-mixed integers (context hashes,
//! context ids), so map lookups do not hash twice.

use std::hash::{BuildHasherDefault, Hasher};

use super::hash::hash_bytes;

/// Multiplicative hasher for integer keys.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u64(&mut self, n: u64) {
        // Context hashes are already mixed; spread low bits anyway.
        self.0 = n ^ (n >> 29);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

/// `HashMap`/`HashSet` builder for integer keys.
pub(crate) type IntBuild = BuildHasherDefault<IntHasher>;

/// A hasher for byte-string keys (the interner's strings): core's
/// [`hash_bytes`] instead of the default SipHash, which is several times
/// slower and needs no DoS resistance here (nothing depends on the
/// map's order, and a collision only costs a comparison).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BytesHasher(u64);

impl Hasher for BytesHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(bytes, self.0);
    }

    fn write_usize(&mut self, _len: usize) {
        // `[u8]` hashes its length first; `hash_bytes` mixes it in anyway.
    }
}

/// `HashMap` builder for byte-string keys.
pub(crate) type BytesBuild = BuildHasherDefault<BytesHasher>;
