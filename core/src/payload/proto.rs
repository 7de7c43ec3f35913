//! A minimal hand-written protobuf writer: varints, fixed64 doubles and
//! length-delimited fields, with the proto3 rule that default values
//! (0, 0.0, "") are not written.

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
pub(crate) const LEN: u32 = 2;

/// The one-byte key of a field numbered below 16.
pub(crate) const fn key_byte(field: u32, wire: u32) -> u8 {
    assert!(field < 16);
    ((field << 3) | wire) as u8
}

/// Appends `v` as a base-128 varint (minimal length).
pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

/// A length-delimited field holding `bytes`, written even when empty
/// (used for repeated strings, whose empty elements are significant).
pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A singular string field; omitted when empty.
pub(crate) fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        bytes(out, field, s.as_bytes());
    }
}

/// A singular unsigned varint field; omitted when 0.
pub(crate) fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(out, field, VARINT);
        varint(out, v);
    }
}

/// A singular int64/int32 field (two's complement varint, 10 bytes when
/// negative); omitted when 0.
pub(crate) fn int(out: &mut Vec<u8>, field: u32, v: i64) {
    uint(out, field, v as u64);
}

/// A singular double field (little-endian fixed64); omitted when it
/// compares equal to 0.0 (so −0.0 is omitted too).
pub(crate) fn double(out: &mut Vec<u8>, field: u32, v: f64) {
    if v != 0.0 {
        key(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// ZigZag encoding of a sint32.
pub(crate) fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// An embedded message (or packed repeated field) whose content `write`
/// appends; always written, even when empty. The length is patched in
/// afterwards: one byte is reserved, and the content is shifted only in
/// the rare case the length needs more.
pub(crate) fn nested(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    key(out, field, LEN);
    let at = out.len();
    out.push(0);
    write(out);
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = [0u8; 10];
        let mut v = len as u64;
        let mut n = 0;
        while v >= 0x80 {
            prefix[n] = (v as u8) | 0x80;
            v >>= 7;
            n += 1;
        }
        prefix[n] = v as u8;
        n += 1;
        out.splice(at..=at, prefix[..n].iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for (v, want) in [
            (0u64, &[0u8][..]),
            (1, &[1]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (1_700_000_000, &[0x80, 0xe2, 0xcf, 0xaa, 0x06]),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, want, "{v}");
        }
        let mut out = Vec::new();
        int(&mut out, 1, -1);
        assert_eq!(out.len(), 11);
    }

    #[test]
    fn zigzag() {
        assert_eq!(zigzag32(0), 0);
        assert_eq!(zigzag32(-1), 1);
        assert_eq!(zigzag32(1), 2);
        assert_eq!(zigzag32(1053), 2106);
        assert_eq!(zigzag32(-32767), 65533);
        assert_eq!(zigzag32(i32::MIN), u64::from(u32::MAX));
    }

    #[test]
    fn nested_long_content_gets_a_multibyte_length() {
        let mut out = vec![0xaa];
        nested(&mut out, 1, |o| o.extend(std::iter::repeat_n(7u8, 300)));
        assert_eq!(out[..4], [0xaa, 0x0a, 0xac, 0x02]);
        assert_eq!(out.len(), 4 + 300);
        let mut out = Vec::new();
        nested(&mut out, 2, |_| {});
        assert_eq!(out, [0x12, 0x00]);
    }

    #[test]
    fn defaults_are_omitted() {
        let mut out = Vec::new();
        string(&mut out, 1, "");
        uint(&mut out, 2, 0);
        int(&mut out, 3, 0);
        double(&mut out, 4, 0.0);
        double(&mut out, 4, -0.0);
        assert!(out.is_empty());
        double(&mut out, 1, 42.0);
        assert_eq!(out, [0x09, 0, 0, 0, 0, 0, 0, 0x45, 0x40]);
    }
}
