//! Number syntax exactly as the Agent accepts it.
//!
//! The Agent parses values and sample rates with Go's `strconv.ParseFloat`
//! and integers with `strconv.ParseInt`/`Atoi`, so a client that works
//! against the Agent must work here: the same inputs are accepted (hex
//! floats, `_` digit separators, `Infinity`) and the same are refused
//! (overflow, whitespace, hex without an exponent).

/// Parses `s` as Go's `strconv.ParseFloat(s, 64)` does, `None` where Go
/// returns an error (syntax or overflow to ±Inf).
pub(crate) fn parse_float(s: &[u8]) -> Option<f64> {
    // Fast path: plain integers and decimals, nearly every statsd value.
    if let Some(v) = fast_decimal(s) {
        return Some(v);
    }
    if let Some(v) = special(s) {
        return Some(v);
    }
    let (neg, body) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let v = if body.len() >= 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
        if s.contains(&b'_') && !underscores_ok(s) {
            return None;
        }
        parse_hex(&body[2..])?
    } else {
        parse_decimal(body)?
    };
    Some(if neg { -v } else { v })
}

/// Plain `[-]digits[.digits]` with at most 15 significant digits: the
/// mantissa and the power of ten are both exact in an f64, so one IEEE
/// division gives the correctly rounded value (Clinger's fast path) —
/// the same bits the full parser would produce.
fn fast_decimal(s: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || body.len() > 16 {
        return None;
    }
    // Integer digits, then at most one `.` and fraction digits: two tight
    // loops instead of one with a branch per byte for the dot.
    let mut mantissa: u64 = 0;
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        mantissa = mantissa * 10 + u64::from(d);
        i += 1;
    }
    let int_digits = i;
    let mut frac = 0;
    if i < body.len() {
        if body[i] != b'.' {
            return None;
        }
        i += 1;
        let start = i;
        while let Some(&b) = body.get(i) {
            let d = b.wrapping_sub(b'0');
            if d >= 10 {
                return None;
            }
            mantissa = mantissa * 10 + u64::from(d);
            i += 1;
        }
        frac = i - start;
    }
    let digits = int_digits + frac;
    if digits == 0 || digits > 15 {
        return None;
    }
    // Integers (no division) are most values.
    let v = if frac == 0 {
        mantissa as f64
    } else {
        mantissa as f64 / POW10[frac]
    };
    Some(if neg { -v } else { v })
}

/// `inf`, `infinity` (any case, optional sign) and `nan` (any case, no sign).
fn special(s: &[u8]) -> Option<f64> {
    let (sign, rest) = match s.first()? {
        b'+' => (1.0, &s[1..]),
        b'-' => (-1.0, &s[1..]),
        b'n' | b'N' => return s.eq_ignore_ascii_case(b"nan").then_some(f64::NAN),
        _ => (1.0, s),
    };
    (rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity"))
        .then_some(sign * f64::INFINITY)
}

/// Go's `underscoreOK`: `_` only between digits (or after a base prefix).
fn underscores_ok(s: &[u8]) -> bool {
    let s = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    // 'd' digit or base prefix, '_' underscore, '!' other, '^' start.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'd';
        hex = s[1] | 0x20 == b'x';
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'd';
        } else if c == b'_' {
            if saw != b'd' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Decimal mantissa with optional fraction and exponent, no sign.
fn parse_decimal(body: &[u8]) -> Option<f64> {
    let mut digits = 0usize;
    let mut i = 0;
    let mut underscores = false;
    while i < body.len() && (body[i].is_ascii_digit() || body[i] == b'_') {
        underscores |= body[i] == b'_';
        digits += usize::from(body[i] != b'_');
        i += 1;
    }
    if i < body.len() && body[i] == b'.' {
        i += 1;
        while i < body.len() && (body[i].is_ascii_digit() || body[i] == b'_') {
            underscores |= body[i] == b'_';
            digits += usize::from(body[i] != b'_');
            i += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < body.len() && (body[i] | 0x20) == b'e' {
        i += 1;
        if i < body.len() && matches!(body[i], b'+' | b'-') {
            i += 1;
        }
        let start = i;
        while i < body.len() && (body[i].is_ascii_digit() || body[i] == b'_') {
            underscores |= body[i] == b'_';
            i += 1;
        }
        if !body[start..i].iter().any(u8::is_ascii_digit) {
            return None;
        }
    }
    if i != body.len() {
        return None;
    }
    let v = if underscores {
        if !underscores_ok(body) {
            return None;
        }
        let cleaned: Vec<u8> = body.iter().copied().filter(|&b| b != b'_').collect();
        std_parse(&cleaned)?
    } else {
        std_parse(body)?
    };
    // Go reports a range error where the magnitude overflows.
    v.is_finite().then_some(v)
}

/// The syntax was checked above, so std's correctly rounded parser agrees
/// with Go's on the value. (The input is ASCII, so the UTF-8 check always
/// passes.)
fn std_parse(ascii: &[u8]) -> Option<f64> {
    std::str::from_utf8(ascii).ok()?.parse().ok()
}

/// Hexadecimal float after `0x`: hex mantissa with optional fraction and a
/// mandatory binary exponent `p[+-]N`, rounded to nearest even.
fn parse_hex(body: &[u8]) -> Option<f64> {
    let mut mant: u64 = 0;
    let mut exp: i64 = 0; // binary exponent adjustment
    let mut sticky = false;
    let mut digits = 0usize;
    let mut seen_dot = false;
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'_' {
            i += 1;
            continue;
        }
        if c == b'.' && !seen_dot {
            seen_dot = true;
            i += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        digits += 1;
        if mant >> 60 == 0 {
            mant = (mant << 4) | u64::from(d);
            if seen_dot {
                exp -= 4;
            }
        } else {
            sticky |= d != 0;
            if !seen_dot {
                exp += 4;
            }
        }
        i += 1;
    }
    if digits == 0 || i >= body.len() || (body[i] | 0x20) != b'p' {
        return None;
    }
    i += 1;
    let mut eneg = false;
    if i < body.len() && matches!(body[i], b'+' | b'-') {
        eneg = body[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut e: i64 = 0;
    while i < body.len() && (body[i].is_ascii_digit() || body[i] == b'_') {
        if body[i] != b'_' && e < 1_000_000 {
            e = e * 10 + i64::from(body[i] - b'0');
        }
        i += 1;
    }
    if i != body.len() || !body[start..i].iter().any(u8::is_ascii_digit) {
        return None;
    }
    exp += if eneg { -e } else { e };
    if mant == 0 {
        return Some(0.0);
    }
    let v = scale_binary(mant, sticky, exp)?;
    v.is_finite().then_some(v)
}

/// `mant * 2^exp` rounded to the nearest f64 (ties to even), with `sticky`
/// standing for non-zero bits below `mant`.
fn scale_binary(mant: u64, sticky: bool, exp: i64) -> Option<f64> {
    let lz = mant.leading_zeros() as i64;
    let m = mant << lz; // top bit at 63
    // value = m * 2^(exp - lz); as 1.xxx * 2^e2:
    let e2 = exp - lz + 63;
    if e2 > 1023 {
        return None;
    }
    // Number of mantissa bits kept: 53 for normals, fewer for subnormals.
    let keep: i64 = if e2 >= -1022 { 53 } else { 53 - (-1022 - e2) };
    if keep <= 0 {
        // Below half the smallest subnormal rounds to zero; exactly half
        // with nothing below also rounds to even (zero).
        let half = keep == 0 && (m << 1 != 0 || sticky);
        return Some(if half { f64::from_bits(1) } else { 0.0 });
    }
    let drop = 64 - keep as u32;
    let mut q = m >> drop;
    let rem = m & ((1u64 << drop) - 1);
    let halfway = 1u64 << (drop - 1);
    if rem > halfway || (rem == halfway && (sticky || q & 1 == 1)) {
        q += 1;
    } else if rem == halfway && !sticky && q & 1 == 0 {
        // tie, even: keep
    }
    // q has `keep` bits (or keep+1 after a carry). value = q * 2^(e2 - keep + 1).
    let e = e2 - keep + 1;
    let v = (q as f64) * pow2(e);
    Some(v)
}

fn pow2(e: i64) -> f64 {
    // Split so intermediate powers stay representable.
    let mut v = 1.0f64;
    let mut e = e;
    while e > 1000 {
        v *= f64::from_bits(((1023 + 1000) as u64) << 52);
        e -= 1000;
    }
    while e < -1000 {
        v *= f64::from_bits(((1023 - 1000) as u64) << 52);
        e += 1000;
    }
    v * f64::from_bits(((1023 + e) as u64) << 52)
}

/// Go's `strconv.ParseInt(s, 10, 64)` / `Atoi`: optional sign, decimal
/// digits only, no overflow.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i64::from(b - b'0');
        n = if neg {
            n.checked_mul(10)?.checked_sub(d)?
        } else {
            n.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(n)
}

/// Go's `strconv.ParseUint(s, 10, 64)`: digits only.
pub(crate) fn parse_uint(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Option<f64> {
        parse_float(s.as_bytes())
    }

    #[test]
    fn accepts_go_syntax() {
        assert_eq!(f("1"), Some(1.0));
        assert_eq!(f("+5"), Some(5.0));
        assert_eq!(f("-5"), Some(-5.0));
        assert_eq!(f(".5"), Some(0.5));
        assert_eq!(f("5."), Some(5.0));
        assert_eq!(f("1e3"), Some(1000.0));
        assert_eq!(f("1E-2"), Some(0.01));
        assert_eq!(f("1_000"), Some(1000.0));
        assert_eq!(f("1_000.5"), Some(1000.5));
        assert_eq!(f("0x1p4"), Some(16.0));
        assert_eq!(f("0x_1p4"), Some(16.0));
        assert_eq!(f("0x1P-2"), Some(0.25));
        assert_eq!(f("0x1.8p1"), Some(3.0));
        assert_eq!(f("-0x10p0"), Some(-16.0));
        assert_eq!(f("1e-400"), Some(0.0));
        assert_eq!(f("777.5"), Some(777.5));
        assert_eq!(f("1234567890123456789"), Some(1234567890123456789.0));
        assert_eq!(f("Inf"), Some(f64::INFINITY));
        assert_eq!(f("+Inf"), Some(f64::INFINITY));
        assert_eq!(f("-infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(f("INFINITY"), Some(f64::INFINITY));
        assert!(f("NaN").unwrap().is_nan());
        assert!(f("nan").unwrap().is_nan());
    }

    #[test]
    fn rejects_what_go_rejects() {
        for s in [
            "", " 1", "1 ", "1,000", "666a", "0x10", "1e400", "-1e400", "1__0", "_1", "1_", "1._5",
            ".", "e5", "1e", "1e+", "+", "-", "+nan", "infin", "0x", "0xp1", "0x1p", "1.2.3",
            "--1", "0x1p1e", "1e5_",
        ] {
            assert_eq!(f(s), None, "{s:?} must be rejected");
        }
    }

    #[test]
    fn hex_rounding_and_range() {
        assert_eq!(f("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(f("0x1p-1075"), Some(0.0)); // tie to even: zero
        assert_eq!(f("0x3p-1076"), Some(f64::from_bits(1))); // 0.75 ulp rounds up
        assert_eq!(f("0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(f("0x1p1024"), None);
        assert_eq!(f("0x1.00000000000008p0"), Some(1.0)); // tie to even
        assert_eq!(f("0x1.00000000000018p0"), Some(1.0 + 2.0 * f64::EPSILON));
        assert_eq!(
            f("0x123456789abcdef01p0"),
            Some(0x123456789abcdef01u128 as f64)
        );
    }

    #[test]
    fn decimal_fast_path_matches_correct_rounding() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 15 + 1) as usize;
            let mantissa = (x >> 8) % 10u64.pow(digits as u32);
            let text = format!("{mantissa:0digits$}");
            let cut = (x >> 3) as usize % (digits + 1);
            let s = format!(
                "{}{}.{}",
                if x & 1 == 1 { "-" } else { "" },
                &text[..cut],
                &text[cut..]
            );
            let want: f64 = s.parse().unwrap();
            assert_eq!(f(&s).map(f64::to_bits), Some(want.to_bits()), "{s}");
        }
        assert_eq!(f("-0").map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert_eq!(
            f("1234567890.123456"),
            Some(1234567890.123456),
            "16 digits: slow path"
        );
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int(b"+5"), Some(5));
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        for s in ["", "+", "1_0", " 1", "1a", "0x1"] {
            assert_eq!(parse_int(s.as_bytes()), None, "{s:?}");
        }
        assert_eq!(parse_uint(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_uint(b"+1"), None);
    }
}
