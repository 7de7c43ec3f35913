//! Decimal text to `f64`, correctly rounded, without the standard
//! library's tables.
//!
//! [`parse`] accepts exactly what `str::parse::<f64>` accepts and returns
//! the same value (a test compares them on many inputs), without std's
//! Eisel-Lemire tables (~10 KB of powers of five, plus their code), which
//! were the second largest data in the wasm module. Up to 19 significant
//! digits and a decimal exponent within ±27 (full-precision doubles as
//! clients print them) take an allocation-free path in `u128` arithmetic,
//! about as fast as std; anything longer takes plain big-integer
//! arithmetic, which is slower. It only runs where the callers' own fast
//! paths give up (the protocol parser's: more than 15 significant digits
//! or an exponent), and for configuration.

/// Most significant digits kept; beyond them only "some non-zero digit
/// followed" matters (any tie needs fewer than 770 digits to express).
const MAX_DIGITS: usize = 800;

/// `str::parse::<f64>` on ASCII: `[+-]`, then `inf`, `infinity` or `nan`
/// (any case), or digits with an optional `.` (at least one digit) and an
/// optional exponent `e`/`E`, `[+-]`, digits. `None` where std errs.
pub(crate) fn parse(s: &[u8]) -> Option<f64> {
    let (neg, body) = match s.first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let v = if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        f64::INFINITY
    } else if body.eq_ignore_ascii_case(b"nan") {
        f64::NAN
    } else {
        decimal(body)?
    };
    Some(if neg { -v } else { v })
}

/// An unsigned decimal (syntax as in [`parse`]).
fn decimal(s: &[u8]) -> Option<f64> {
    short_decimal(s).or_else(|| long_decimal(s))
}

/// The common case, without allocating: at most 19 significant digits
/// (a u64 `w`) times `10^e` for `|e| <= 27`, where `w * 5^e`, or
/// `w * 2^k / 5^-e`, fits a u128 (`0.30000000000000004`, `6.02e23`,
/// `1.2345678901234567e-9`). `None` for anything else, valid or not.
fn short_decimal(s: &[u8]) -> Option<f64> {
    let mut w: u64 = 0;
    let mut digits = 0u32;
    let mut frac = 0i64;
    let mut dot = false;
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'0'..=b'9' if digits < 19 => {
                w = w * 10 + u64::from(b - b'0');
                digits += u32::from(w != 0);
                frac += i64::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => break,
        }
        i += 1;
    }
    let mut e10 = -frac;
    if i < s.len() {
        if s[i] | 0x20 != b'e' {
            return None;
        }
        let (neg, rest) = match s.get(i + 1) {
            Some(b'-') => (true, &s[i + 2..]),
            Some(b'+') => (false, &s[i + 2..]),
            _ => (false, &s[i + 1..]),
        };
        if rest.is_empty() || rest.len() > 4 || !rest.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let exp = rest.iter().fold(0i64, |e, &b| e * 10 + i64::from(b - b'0'));
        e10 += if neg { -exp } else { exp };
    }
    if w == 0 {
        // Zero (if there was a digit at all) or too many digits: the
        // general path decides.
        return None;
    }
    if w < 1 << 53 && (-22..=22).contains(&e10) {
        // Clinger's fast path: w and 10^|e10| are exact doubles, so one
        // IEEE multiplication or division rounds correctly.
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        let p = POW10[e10.unsigned_abs() as usize];
        return Some(if e10 < 0 { w as f64 / p } else { w as f64 * p });
    }
    // 10^j = 5^j * 2^j, and 5^j fits a u64 up to j = 27.
    let j = e10.unsigned_abs() as u32;
    if j > 27 {
        return None;
    }
    let five = u128::from(5u64.pow(j));
    if e10 >= 0 {
        return Some(round(u128::from(w) * five, e10, false));
    }
    // q = floor(w * 2^k / 5^j) with 62 or 63 bits (enough: rounding
    // needs 54 and the remainder says whether anything was cut); the
    // numerator stays under 2^127.
    let k = 62 + five.ilog2() - w.ilog2();
    let n = u128::from(w) << k;
    Some(round(
        n / five,
        -i64::from(k) - i64::from(j),
        !n.is_multiple_of(five),
    ))
}

/// Any decimal, with big numbers.
fn long_decimal(s: &[u8]) -> Option<f64> {
    let mut digits: Vec<u8> = Vec::new();
    // Value = 0.digits * 10^point.
    let mut point: i64 = 0;
    let mut sticky = false;
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'0'..=b'9' => {
                seen_digit = true;
                let d = s[i] - b'0';
                if !seen_dot {
                    point += 1;
                }
                if digits.is_empty() && d == 0 {
                    // A leading zero: before the dot it undoes the
                    // increment above, after it moves the point.
                    point -= 1;
                } else if digits.len() < MAX_DIGITS {
                    digits.push(d);
                } else if d != 0 {
                    sticky = true;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    if i < s.len() {
        if s[i] | 0x20 != b'e' {
            return None;
        }
        i += 1;
        let neg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        if i == s.len() {
            return None;
        }
        let mut exp: i64 = 0;
        for &b in &s[i..] {
            if !b.is_ascii_digit() {
                return None;
            }
            exp = (exp * 10 + i64::from(b - b'0')).min(1 << 40);
        }
        point += if neg { -exp } else { exp };
    }
    // Trailing zeros carry no information (unless digits were dropped
    // after them).
    while !sticky && digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() && !sticky {
        return Some(0.0);
    }
    if point > 310 {
        return Some(f64::INFINITY);
    }
    if point < -330 {
        return Some(0.0);
    }
    if sticky {
        // Stands for the dropped digits: strictly between, never a tie.
        digits.push(1);
    }
    // Value = D * 10^e10, D the digits as an integer.
    let e10 = point - digits.len() as i64;
    let mut d = Big::from_digits(&digits);
    let (q, e2, sticky) = if e10 >= 0 {
        d.mul_pow10(e10 as u32);
        d.top_bits()
    } else {
        let mut m = Big::one();
        m.mul_pow10(e10.unsigned_abs() as u32);
        // q = floor(D * 2^k / M) with 66 or 67 bits (M shifted instead
        // for a negative k).
        let k = 66 + i64::from(m.bits()) - i64::from(d.bits());
        if k >= 0 {
            d.shl(k as u32);
        } else {
            m.shl(k.unsigned_abs() as u32);
        }
        let (q, rest) = d.div(&m);
        (q, -k, rest)
    };
    Some(round(q, e2, sticky))
}

/// `(q + f) * 2^e2` rounded to nearest even, `sticky` saying `0 < f < 1`.
fn round(q: u128, e2: i64, sticky: bool) -> f64 {
    if q == 0 {
        return 0.0;
    }
    // Normalise q to exactly 64 bits (only ever shifts right here, or
    // left for a short D * 10^e10).
    let lead = 128 - i64::from(q.leading_zeros());
    let (q, e2, sticky) = if lead > 64 {
        let drop = (lead - 64) as u32;
        (
            q >> drop,
            e2 + i64::from(drop),
            sticky || q & ((1 << drop) - 1) != 0,
        )
    } else {
        (q << (64 - lead), e2 - (64 - lead), sticky)
    };
    // Unbiased exponent of the leading bit.
    let exp = e2 + 63;
    let shift = 11 + (-1022 - exp).max(0);
    if shift >= 66 {
        return 0.0;
    }
    let shift = shift as u32;
    let mut m = q >> shift;
    let rem = q & ((1 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rem > half || (rem == half && (sticky || m & 1 == 1)) {
        m += 1;
    }
    let mut exp = exp;
    if exp >= -1022 {
        if m == 1 << 53 {
            m >>= 1;
            exp += 1;
        }
        if exp > 1023 {
            return f64::INFINITY;
        }
        f64::from_bits((((exp + 1023) as u64) << 52) | (m as u64 & ((1 << 52) - 1)))
    } else {
        // Subnormal (m == 2^52 is the smallest normal, same bits).
        f64::from_bits(m as u64)
    }
}

/// Unsigned big integer, little-endian base 2^32.
struct Big(Vec<u32>);

impl Big {
    fn one() -> Self {
        Self(vec![1])
    }

    fn from_digits(digits: &[u8]) -> Self {
        let mut b = Self(Vec::with_capacity(digits.len() / 9 + 1));
        for chunk in digits.chunks(9) {
            let mut v = 0u32;
            for &d in chunk {
                v = v * 10 + u32::from(d);
            }
            b.mul_add(10u32.pow(chunk.len() as u32), v);
        }
        b
    }

    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(mul) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: u32) {
        while n > 0 {
            let step = n.min(9);
            self.mul_add(10u32.pow(step), 0);
            n -= step;
        }
    }

    fn bits(&self) -> u32 {
        let top = self.0.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1);
        match top {
            0 => 0,
            n => (n as u32 - 1) * 32 + (32 - self.0[n - 1].leading_zeros()),
        }
    }

    fn shl(&mut self, n: u32) {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        if bits > 0 {
            let mut carry = 0;
            for limb in &mut self.0 {
                let v = *limb;
                *limb = (v << bits) | carry;
                carry = v >> (32 - bits);
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        self.0.splice(0..0, std::iter::repeat_n(0, limbs));
    }

    /// The top (at most 64) bits, their exponent, and whether any bit
    /// below them is set.
    fn top_bits(&self) -> (u128, i64, bool) {
        let bits = self.bits();
        let drop = bits.saturating_sub(64);
        let mut q = 0u128;
        for i in (drop..bits).rev() {
            q = (q << 1) | u128::from(self.bit(i));
        }
        let sticky = (0..drop).any(|i| self.bit(i));
        (q, i64::from(drop), sticky)
    }

    fn bit(&self, i: u32) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    /// `(self / m, self % m != 0)`, for a quotient below 2^127.
    fn div(&mut self, m: &Self) -> (u128, bool) {
        let mut q = 0u128;
        let top = self.bits().saturating_sub(m.bits());
        for i in (0..=top).rev() {
            if self.ge_shifted(m, i) {
                self.sub_shifted(m, i);
                q |= 1 << i;
            }
        }
        (q, self.bits() != 0)
    }

    /// Bit `i` of `m << s`.
    fn shifted_limb(m: &Self, s: u32, i: usize) -> u32 {
        let (limbs, bits) = ((s / 32) as usize, s % 32);
        let at = |j: usize| -> u32 {
            j.checked_sub(limbs)
                .and_then(|j| m.0.get(j))
                .copied()
                .unwrap_or(0)
        };
        if bits == 0 {
            at(i)
        } else {
            (at(i) << bits) | i.checked_sub(1).map_or(0, |j| at(j) >> (32 - bits))
        }
    }

    /// `self >= m << s`.
    fn ge_shifted(&self, m: &Self, s: u32) -> bool {
        let len = self.0.len().max(m.0.len() + (s / 32) as usize + 1);
        for i in (0..len).rev() {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = Self::shifted_limb(m, s, i);
            if a != b {
                return a > b;
            }
        }
        true
    }

    /// `self -= m << s` (which is at most `self`).
    fn sub_shifted(&mut self, m: &Self, s: u32) {
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let v = i64::from(self.0[i]) - i64::from(Self::shifted_limb(m, s, i)) - borrow;
            self.0[i] = v as u32;
            borrow = i64::from(v < 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) {
        let want = s.parse::<f64>().ok();
        let got = parse(s.as_bytes());
        assert_eq!(
            got.map(f64::to_bits),
            want.map(f64::to_bits),
            "{s:?}: got {got:?}, std {want:?}"
        );
    }

    #[test]
    fn agrees_with_std_on_edge_cases() {
        for s in [
            "0",
            "-0",
            "+0",
            "0.0",
            "00",
            ".5",
            "5.",
            ".",
            "",
            "+",
            "-",
            "e5",
            "1e",
            "1e+",
            "1e-",
            "1e5",
            "1E5",
            "1e+5",
            "1.5e-3",
            "inf",
            "-inf",
            "+Infinity",
            "INF",
            "nan",
            "NaN",
            "-nan",
            "+nan",
            "infinit",
            "nana",
            "1x",
            "1.2.3",
            "1e5.5",
            "1_0",
            " 1",
            "1 ",
            "0x10",
            "1e400",
            "-1e400",
            "1e-400",
            "1e309",
            "1e308",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "2.2250738585072014e-308",
            "2.2250738585072011e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "2.4703282292062327e-324",
            "5e-324",
            "3e-324",
            "1e23",
            "8.98846567431158e307",
            "9007199254740993",
            "9007199254740992.5",
            "9007199254740993.0000000000000000000000000000000000000000001",
            "0.30000000000000004",
            "0.1",
            "0.2",
            "123456789012345678901234567890",
            "1e-7",
            "0.000000000000000000000000000000000000001",
            "4.35",
            "2.5e-310",
            "1448997445238699",
            "7.038531e-26",
            "1e99999999999999999999",
            "1e-99999999999999999999",
            "0e99999999999",
            "0.0000e-5",
            "000000000000000000000000001.5",
        ] {
            check(s);
        }
        // Long mantissas, ties beyond 768 digits.
        let tie = format!("95{}", "0".repeat(900));
        check(&tie);
        let halfway = "2.4703282292062327208828439643411068618252990130716238221279284125033775363510437593264991818081799618989828234772285886546332835517796989819938739800539093906315035659515570226392290858392449105184435931802849936536152500319370457678249219365623669863658480757001585769269903706311928279558551332927834338409351978015531246597263579574622766465272827220056374006485499977096599470454020828166226237857393450736339007967761930577506740176324673600968951340535537458516661134223766678604162159680461914467291840300530057530849048765391711386591646239524912623653881879636239373280423891018672348497668235089863388587925628302755995657524455507255189313690836254779186948667994968324049705821028513185451396213837722826145437693412532098591327667236328125e-324";
        check(halfway);
        check(&halfway.replace("125e-324", "124e-324"));
        check(&halfway.replace("125e-324", "1250000000000000000000001e-324"));
    }

    #[test]
    fn agrees_with_std_on_random_inputs() {
        // xorshift, fixed seed: decimal strings of many shapes and lengths.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..200_000 {
            let mut s = String::new();
            let r = next();
            if r % 4 == 0 {
                s.push('-');
            }
            let int_len = (next() % 25) as usize;
            for _ in 0..int_len {
                s.push(char::from(b'0' + (next() % 10) as u8));
            }
            if next() % 2 == 0 {
                s.push('.');
                for _ in 0..(next() % 25) {
                    s.push(char::from(b'0' + (next() % 10) as u8));
                }
            }
            if next() % 2 == 0 {
                s.push(if next() % 2 == 0 { 'e' } else { 'E' });
                match next() % 3 {
                    0 => s.push('-'),
                    1 => s.push('+'),
                    _ => {}
                }
                let e = next() % 700;
                s.push_str(&e.to_string());
            }
            check(&s);
            // Exact midpoints between two doubles (ties), and their
            // neighbours: (2m + 1) * 2^k for k > 0 as an integer, and
            // (2m + 1) * 5^k * 10^-k for k <= 30.
            let odd = u128::from(next() >> 10) | 1;
            let k = (next() % 70) as u32;
            let mid = odd << k;
            for v in [mid - 1, mid, mid + 1] {
                check(&v.to_string());
            }
            let k = (next() % 31) as u32;
            let mid = odd * 5u128.pow(k);
            for v in [mid - 1, mid, mid + 1] {
                check(&format!("{v}e-{k}"));
            }
            // The allocation-free path: up to 19 digits, |exponent| <= 27.
            let w = next() % 10u64.pow(1 + (next() % 19) as u32);
            let e = (next() % 57) as i64 - 28;
            check(&format!("{w}e{e}"));
            // And the value std formats (shortest round trip), nudged.
            let f = f64::from_bits(next());
            if f.is_finite() {
                check(&format!("{f:e}"));
                check(&format!("{f:?}"));
            }
        }
    }
}
