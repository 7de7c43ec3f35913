//! A fast 64-bit hash for short byte strings (names, hosts, tags).
//!
//! Not cryptographic and not DoS-resistant on its own: contexts are always
//! verified byte for byte after a hash match, so a collision costs a probe,
//! never a wrong aggregate. The route cache alone trusts a hash, and that
//! one is xxh3-128 from `xxhash-rust` (`route_cache.rs` says why).

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// Folds the 128-bit product of `a` and `b` to 64 bits.
#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let (lo, hi) = mul128(a, b);
    lo ^ hi
}

/// The 128-bit product of `a` and `b` as (low, high).
#[inline]
fn mul128(a: u64, b: u64) -> (u64, u64) {
    if cfg!(target_arch = "wasm32") {
        mul_wide(a, b)
    } else {
        let r = u128::from(a) * u128::from(b);
        (r as u64, (r >> 64) as u64)
    }
}

/// The 128-bit product of `a` and `b` (low, high) from four 32×32→64
/// multiplies. wasm32 has no 64×64→128 multiply and makes `u128`'s a
/// libcall (~4 % of wasm push time); a cheaper one-multiply mix there had
/// structured collisions (inputs differing in two chosen bits hashed
/// equal under every seed), which the route cache's fingerprints cannot
/// afford. Same result as the `u128` product on every target.
#[inline]
fn mul_wide(a: u64, b: u64) -> (u64, u64) {
    const LOW: u64 = 0xFFFF_FFFF;
    let (a0, a1, b0, b1) = (a & LOW, a >> 32, b & LOW, b >> 32);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    // At most 3 × (2^32 - 1): no overflow.
    let mid = (p00 >> 32) + (p01 & LOW) + (p10 & LOW);
    let lo = (p00 & LOW) | (mid << 32);
    let hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    (lo, hi)
}

#[inline]
fn word(c: &[u8]) -> u64 {
    u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
}

/// Hashes a byte string, 16 bytes per multiply (as wyhash does), in two
/// independent lanes over 32-byte blocks: the multiplies of a lane form
/// one dependent chain, so two lanes halve the latency on longer strings
/// (names, tags, interned strings). Both factors of every multiply
/// depend on the state, so no chosen word zeroes it.
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let len = (bytes.len() as u64).wrapping_mul(K1);
    let mut h = seed ^ K0 ^ len;
    let mut rest = bytes;
    if rest.len() >= 32 {
        let mut g = h ^ K1;
        let mut blocks = rest.chunks_exact(32);
        for c in &mut blocks {
            h = mix(word(&c[..8]) ^ h, word(&c[8..16]) ^ K1 ^ h.rotate_left(32));
            g = mix(
                word(&c[16..24]) ^ g,
                word(&c[24..32]) ^ K0 ^ g.rotate_left(32),
            );
        }
        h = mix(h ^ K0, g ^ K1);
        rest = blocks.remainder();
    }
    let mut chunks = rest.chunks_exact(16);
    for c in &mut chunks {
        h = mix(word(&c[..8]) ^ h, word(&c[8..]) ^ K1 ^ h.rotate_left(32));
    }
    if let Some([w0, w1]) = tail(chunks.remainder()) {
        h = mix(w0 ^ h, w1 ^ K1 ^ h.rotate_left(32));
    }
    mix(h, K0)
}

/// The last 0-15 bytes as two words, every byte read (`None` when there
/// are none; the length is mixed in already, so overlapping reads are
/// fine).
#[inline]
fn tail(rest: &[u8]) -> Option<[u64; 2]> {
    let n = rest.len();
    if n >= 8 {
        // The first and the last eight bytes (overlapping when n < 16).
        Some([word(rest), word(&rest[n - 8..])])
    } else if n >= 4 {
        // The first and the last four (overlapping when n < 8).
        let w = |at: usize| {
            u64::from(u32::from_le_bytes([
                rest[at],
                rest[at + 1],
                rest[at + 2],
                rest[at + 3],
            ]))
        };
        Some([w(0) | (w(n - 4) << 32), 0])
    } else if n > 0 {
        // First, middle and last: every byte of one to three. Not a
        // `copy_from_slice` into a buffer, which is a memcpy call.
        let b = |at: usize| u64::from(rest[at]);
        Some([b(0) | (b(n / 2) << 8) | (b(n - 1) << 16), 0])
    } else {
        None
    }
}

/// `a == b` for byte strings. `==` on slices calls `memcmp`, which on
/// wasm32 is compiler-builtins' byte-by-byte loop, so there it compares a
/// word at a time; elsewhere the platform's vectorised `memcmp` is faster
/// on the context store's name, host and tag bytes.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if cfg!(target_arch = "wasm32") {
        words_eq(a, b)
    } else {
        a == b
    }
}

/// `a == b` a word at a time (what wasm32 uses).
#[inline]
fn words_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut ca, mut cb) = (a.chunks_exact(8), b.chunks_exact(8));
    if !(&mut ca).zip(&mut cb).all(|(x, y)| word(x) == word(y)) {
        return false;
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

/// Hashes the concatenation of `parts` exactly as [`hash_bytes`] hashes
/// the joined string, without joining (names are namespace + name).
pub(crate) fn hash_parts(parts: &[&[u8]], seed: u64) -> u64 {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    match parts.iter().filter(|p| !p.is_empty()).count() {
        0 => hash_bytes(&[], seed),
        1 => hash_bytes(
            parts
                .iter()
                .find(|p| !p.is_empty())
                .copied()
                .unwrap_or_default(),
            seed,
        ),
        _ => {
            // Rare (namespaces, histogram copies): join on the stack.
            let mut buf = [0u8; 256];
            if total <= buf.len() {
                let mut at = 0;
                for p in parts {
                    buf[at..at + p.len()].copy_from_slice(p);
                    at += p.len();
                }
                hash_bytes(&buf[..total], seed)
            } else {
                hash_bytes(&parts.concat(), seed)
            }
        }
    }
}

/// Combines the name hash, host hash and the sorted, de-duplicated tag
/// hashes into one context hash. Order-dependent on purpose: name and host
/// cannot trade places (unlike the Agent's XOR, spec §14.12).
pub(crate) fn combine(name: u64, host: u64, sorted_tags: &[u64]) -> u64 {
    let mut h = mix(name ^ K0, K1);
    h = mix(h ^ host, K0);
    for &t in sorted_tags {
        h = mix(h ^ t, K1);
    }
    mix(h ^ sorted_tags.len() as u64, K0)
}

/// Seeds so that a name, a host and a tag with equal bytes hash apart.
pub(crate) const NAME_SEED: u64 = 1;
/// See [`NAME_SEED`].
pub(crate) const HOST_SEED: u64 = 2;
/// See [`NAME_SEED`].
pub(crate) const TAG_SEED: u64 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_eq_is_slice_equality() {
        let base: Vec<u8> = (0..40u8).collect();
        for eq in [bytes_eq, words_eq] {
            for len in 0..base.len() {
                let a = &base[..len];
                assert!(eq(a, a));
                assert!(!eq(a, &base[..len + 1]));
                for i in 0..len {
                    let mut b = a.to_vec();
                    b[i] ^= 0x80;
                    assert!(!eq(a, &b), "len {len}, byte {i}");
                }
            }
        }
    }

    #[test]
    fn the_wide_multiply_is_the_u128_product() {
        let mut x = 0x1234_5678_9ABC_DEF0u64;
        let edges = [0, 1, u64::MAX, 1 << 32, (1 << 32) - 1, 1 << 63];
        for i in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (a, b) = if i < 36 {
                (edges[i / 6], edges[i % 6])
            } else {
                (x, x.rotate_left(23) ^ K0)
            };
            let r = u128::from(a) * u128::from(b);
            assert_eq!(mul_wide(a, b), (r as u64, (r >> 64) as u64), "{a} * {b}");
        }
    }

    #[test]
    fn parts_hash_like_the_joined_string() {
        let joined = b"namespace.metric.name.longer.than.eight";
        for cut in 0..joined.len() {
            let (a, b) = joined.split_at(cut);
            assert_eq!(hash_parts(&[a, b], 7), hash_bytes(joined, 7));
            assert_eq!(hash_parts(&[b"", a, b], 7), hash_bytes(joined, 7));
        }
        let long = vec![b'x'; 300];
        assert_eq!(
            hash_parts(&[&long[..100], &long[100..]], 1),
            hash_bytes(&long, 1)
        );
    }

    #[test]
    fn distinct_inputs_differ() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            assert!(seen.insert(hash_bytes(format!("tag:{i}").as_bytes(), TAG_SEED)));
        }
        assert_ne!(hash_bytes(b"", 0), hash_bytes(b"\0", 0));
        assert_ne!(combine(1, 2, &[]), combine(2, 1, &[]));
    }
}
