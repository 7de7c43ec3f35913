//! The fixed logarithmic key mapping of the Agent's sketch (spec §1, §2).

/// Relative accuracy ε of the mapping: 1/128.
pub const RELATIVE_ACCURACY: f64 = 1.0 / 128.0;

/// γ = 1 + 2ε = 65/64: each key covers a factor γ of magnitudes.
pub const GAMMA: f64 = 1.015625;

/// ln γ, computed as `ln_1p(2ε)` (not `ln(γ)`), exactly as the Agent does.
pub const LN_GAMMA: f64 = 0.015504186535965254;

/// Key offset: key 1 is the smallest positive magnitude, key 1338 is 1.0.
pub const BIAS: i32 = 1338;

/// The value of key 1 (γ^−1337). Magnitudes below it map to key 0.
pub const NORM_MIN: f64 = 9.941854089121368e-10;

/// Key of +∞ (and of every magnitude too large for a finite key); its
/// negation is the key of −∞.
pub const INF_KEY: i16 = 32767;

/// The largest finite key (value ≈ 4.14e211).
pub const MAX_FINITE_KEY: i16 = 32766;

/// Maps a value to its bin key.
///
/// `key(−v) = −key(v)`; zero and magnitudes below [`NORM_MIN`] give 0;
/// otherwise `round_half_even(ln|v| / ln γ) + 1338`, clamped to
/// `1..=32766`, with anything larger (including +∞) mapped to [`INF_KEY`].
/// NaN maps to 0 (the Agent's result for NaN is platform dependent; the
/// sketch never inserts non-finite values anyway).
pub fn key(v: f64) -> i16 {
    if v < 0.0 {
        return -key(-v);
    }
    if v.is_nan() || v < NORM_MIN {
        return 0;
    }
    let i = (v.ln() / LN_GAMMA).round_ties_even() + f64::from(BIAS);
    if i > f64::from(MAX_FINITE_KEY) {
        INF_KEY
    } else if i < 1.0 {
        1
    } else {
        // In 1..=32766 here, so the cast is exact.
        i as i16
    }
}

/// The representative value of a key (`γ^(k − 1338)`, the value the
/// quantile estimate starts from). Key 0 is 0, ±[`INF_KEY`] are ±∞.
pub fn value(k: i16) -> f64 {
    let k = i32::from(k);
    if k < 0 {
        return -value_pos(-k);
    }
    value_pos(k)
}

fn value_pos(k: i32) -> f64 {
    if k == 0 {
        0.0
    } else if k >= i32::from(INF_KEY) {
        f64::INFINITY
    } else {
        pow_int(GAMMA, k - BIAS)
    }
}

/// `x^n` for an integer `n`, computed the way Go's `math.Pow` does for an
/// integral exponent (square-and-multiply on the frexp mantissa, one
/// reciprocal at the end for negative `n`), so that bin values — and the
/// min of interpolated sketches — match the Agent bit for bit. Valid for
/// `x` in [1, 2) and results in the normal range, which is all the
/// mapping needs (|n| ≤ 31429).
fn pow_int(x: f64, n: i32) -> f64 {
    debug_assert!((1.0..2.0).contains(&x));
    // frexp(x) for x in [1, 2): mantissa x/2 in [0.5, 1), exponent 1.
    let mut x1 = x / 2.0;
    let mut xe: i32 = 1;
    let mut a1 = 1.0;
    let mut ae: i32 = 0;
    let mut i = n.unsigned_abs();
    while i != 0 {
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if n < 0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// `a × 2^e` for results in the normal range (exact: scaling by a power
/// of two), split in two steps so `2^e` itself never overflows.
fn ldexp(a: f64, e: i32) -> f64 {
    let half = e / 2;
    a * pow2(half) * pow2(e - half)
}

fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_their_definitions() {
        assert_eq!(GAMMA, 1.0 + 2.0 * RELATIVE_ACCURACY);
        assert_eq!(LN_GAMMA, (2.0 * RELATIVE_ACCURACY).ln_1p());
        let e_min = (1e-9f64.ln() / LN_GAMMA).floor() as i32;
        assert_eq!(e_min, -1337);
        assert_eq!(BIAS, 1 - e_min);
        let rel = (value(1) - NORM_MIN).abs() / NORM_MIN;
        assert!(rel < 1e-12, "{}", value(1));
    }

    #[test]
    fn spec_examples() {
        assert_eq!(key(1.0), 1338);
        assert_eq!(key(5.0), 1442);
        assert_eq!(key(10.0), 1487);
        assert_eq!(key(100.0), 1635);
        assert_eq!(key(1.1e-9), 8);
        assert_eq!(key(1e211), 32674);
        assert_eq!(key(4.2e211), 32767);
        assert_eq!(key(-1.0), -1338);
        assert_eq!(key(9.9e-10), 0);
        assert_eq!(key(1e-9), 1);
        assert_eq!(key(0.0), 0);
        assert_eq!(key(-0.0), 0);
        assert_eq!(key(0.012), 1053);
        assert_eq!(key(0.015), 1067);
        assert_eq!(key(0.25), 1249);
        assert_eq!(key(f64::INFINITY), INF_KEY);
        assert_eq!(key(f64::NEG_INFINITY), -INF_KEY);
        assert_eq!(key(f64::NAN), 0);
    }

    #[test]
    fn value_is_a_fixed_point_of_key() {
        for k in (-MAX_FINITE_KEY..=MAX_FINITE_KEY).step_by(7) {
            assert_eq!(key(value(k)), k, "key {k}");
        }
        assert_eq!(value(INF_KEY), f64::INFINITY);
        assert_eq!(value(-INF_KEY), f64::NEG_INFINITY);
        assert_eq!(value(0), 0.0);
    }
}
