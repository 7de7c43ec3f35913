//! Golden vectors for the Agent-compatible DDSketch
//! (`tests/data/conformance/sketch.json`, produced by the Agent's Go code).
//!
//! Every case runs twice: with 16-bit bins against `expect`, and with
//! 32-bit bins ([`AgentSketch`], the project's choice) against `expect`
//! overlaid by `expect_u32`. A batch model of the Agent's 512-key insert
//! buffer (spec §3.1/§3.4, written independently below) must produce the
//! same bins as the sketch's direct inserts.
//!
//! The file allows 1e-12 (sum, avg) and 1e-9 (quantiles) relative error;
//! the sketch matches every number bit for bit, so these tests demand
//! exact equality (`close(.., 0.0)`) to catch any drift.

use dogstatsd_core::sketch::{AgentSketch, Bin, LegacyAgentSketch, Sketch, key};
use serde_json::{Map, Value};

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/conformance/sketch.json"
));

/// serde_json's default float parser can be one ulp off, and min/max must
/// match exactly: every number token is turned into a JSON string first and
/// parsed with Rust's correctly rounded `str::parse`.
fn quote_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut in_str = false;
    let mut escaped = false;
    let mut num = String::new();
    for c in text.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
            num.push(c);
            continue;
        }
        if !num.is_empty() {
            out.push('"');
            out.push_str(&num);
            out.push('"');
            num.clear();
        }
        if c == '"' {
            in_str = true;
        }
        out.push(c);
    }
    out
}

fn num(v: &Value) -> f64 {
    match v.as_str().unwrap() {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_str().unwrap().parse().unwrap()
}

fn cases() -> Vec<Value> {
    let doc: Value = serde_json::from_str(&quote_numbers(VECTORS)).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// One entry of an `inserts` list, decoded.
enum Op {
    Insert(f64),
    Sampled(f64, f64),
    Repeat(f64, u64),
    Interpolate(f64, f64, u32),
}

fn ops(list: &Value) -> Vec<Op> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| match e {
            Value::Object(o) if o.contains_key("interpolate") => {
                let i = &o["interpolate"];
                Op::Interpolate(num(&i["lower"]), num(&i["upper"]), int(&i["count"]) as u32)
            }
            Value::Object(o) if o.contains_key("repeat") => {
                Op::Repeat(num(&o["value"]), int(&o["repeat"]) as u64)
            }
            Value::Object(o) => Op::Sampled(num(&o["value"]), num(&o["sample_rate"])),
            v => Op::Insert(num(v)),
        })
        .collect()
}

fn build<const W: u32>(list: &Value) -> Sketch<W> {
    let mut s = Sketch::<W>::new();
    for op in ops(list) {
        match op {
            Op::Insert(v) => s.insert(v),
            Op::Sampled(v, r) => s.insert_sampled(v, r),
            Op::Repeat(v, n) => (0..n).for_each(|_| s.insert(v)),
            Op::Interpolate(lo, hi, n) => s.insert_interpolate(lo, hi, n).unwrap(),
        }
    }
    s
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if want.is_infinite() || want == 0.0 {
        return got == want || (want == 0.0 && got.abs() < 1e-300);
    }
    ((got - want) / want).abs() <= rel
}

fn check<const W: u32>(id: &str, s: &Sketch<W>, expect: &Map<String, Value>) {
    let keys: Vec<i64> = expect["keys"].as_array().unwrap().iter().map(int).collect();
    let counts: Vec<u64> = expect["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| int(k) as u64)
        .collect();
    let got_keys: Vec<i64> = s.keys().map(i64::from).collect();
    let got_counts: Vec<u64> = s.counts().map(u64::from).collect();
    assert_eq!(got_keys, keys, "{id} (W={W}): keys");
    assert_eq!(got_counts, counts, "{id} (W={W}): counts");
    assert_eq!(
        s.bins().len() as u64,
        int(&expect["bin_count"]) as u64,
        "{id}: bin_count"
    );
    assert_eq!(
        got_counts.iter().sum::<u64>(),
        int(&expect["store_count"]) as u64,
        "{id}: store_count"
    );
    assert_eq!(s.count(), int(&expect["count"]) as u64, "{id}: count");
    assert_eq!(
        s.min().to_bits(),
        num(&expect["min"]).to_bits(),
        "{id}: min {}",
        s.min()
    );
    assert_eq!(
        s.max().to_bits(),
        num(&expect["max"]).to_bits(),
        "{id}: max {}",
        s.max()
    );
    assert!(
        close(s.sum(), num(&expect["sum"]), 0.0),
        "{id}: sum {} vs {}",
        s.sum(),
        expect["sum"]
    );
    assert!(
        close(s.avg(), num(&expect["avg"]), 0.0),
        "{id}: avg {} vs {}",
        s.avg(),
        expect["avg"]
    );
    for (q, want) in expect["quantiles"].as_object().unwrap() {
        let q: f64 = q.parse().unwrap();
        let got = s.quantile(q);
        assert!(
            close(got, num(want), 0.0),
            "{id} (W={W}): quantile({q}) = {got}, want {want}"
        );
    }
}

fn expect_for(case: &Value, field: &str, wide: bool) -> Map<String, Value> {
    let mut e = case[field].as_object().unwrap().clone();
    if wide
        && field == "expect"
        && let Some(over) = case.get("expect_u32").and_then(Value::as_object)
    {
        e.extend(over.clone());
    }
    e
}

fn run<const W: u32>(wide: bool) -> usize {
    let mut n = 0;
    for case in cases() {
        let id = case["id"].as_str().unwrap();
        let mut a = build::<W>(&case["inserts"]);
        if let Some(mi) = case.get("merge_inserts") {
            let b = build::<W>(mi);
            check(id, &a, &expect_for(&case, "expect_a", wide));
            check(id, &b, &expect_for(&case, "expect_b", wide));
            let b_before = b.clone();
            a.merge(&b);
            assert_eq!(b, b_before, "{id}: merge must not modify the other sketch");
        }
        check(id, &a, &expect_for(&case, "expect", wide));
        n += 1;
    }
    n
}

#[test]
fn golden_vectors_32_bit_bins() {
    assert_eq!(run::<{ u32::MAX }>(true), 19);
}

#[test]
fn golden_vectors_16_bit_bins() {
    assert_eq!(run::<65535>(false), 19);
}

#[test]
fn agent_sketch_is_the_32_bit_variant() {
    let mut s = AgentSketch::new();
    s.insert_sampled(5.0, 1e-5);
    assert_eq!(
        s.bins(),
        [Bin {
            key: 1442,
            n: 99999
        }]
    );
    let mut l = LegacyAgentSketch::new();
    l.insert_sampled(5.0, 1e-5);
    assert_eq!(
        l.bins(),
        [
            Bin {
                key: 1442,
                n: 34464
            },
            Bin {
                key: 1442,
                n: 65535
            }
        ]
    );
}

// ---------------------------------------------------------------------------
// Batch model of the Agent's insert buffer (spec §3.1, §3.2, §3.4), used to
// show that inserting each key directly gives the same bins.

struct BatchModel {
    max: u64,
    bins: Vec<(i16, u64)>,
    keys: Vec<i16>,
    pairs: Vec<(i16, u64)>,
}

impl BatchModel {
    fn new(max: u64) -> Self {
        Self {
            max,
            bins: Vec::new(),
            keys: Vec::new(),
            pairs: Vec::new(),
        }
    }

    fn push_safe(&self, out: &mut Vec<(i16, u64)>, k: i16, n: u64) {
        if !n.is_multiple_of(self.max) {
            out.push((k, n % self.max));
        }
        for _ in 0..n / self.max {
            out.push((k, self.max));
        }
    }

    fn insert(&mut self, k: i16) {
        self.keys.push(k);
        if self.keys.len() >= 512 {
            self.flush();
        }
    }

    fn insert_pair(&mut self, k: i16, n: u64) {
        self.pairs.push((k, n));
        self.flush();
    }

    fn flush(&mut self) {
        if !self.keys.is_empty() {
            let mut keys = std::mem::take(&mut self.keys);
            keys.sort_unstable();
            let mut runs = Vec::new();
            for k in keys {
                match runs.last_mut() {
                    Some((rk, c)) if *rk == k => *c += 1,
                    _ => runs.push((k, 1)),
                }
            }
            self.merge_runs(&runs);
        }
        if !self.pairs.is_empty() {
            let mut pairs = std::mem::take(&mut self.pairs);
            pairs.sort_by_key(|p| p.0);
            self.merge_runs(&pairs);
        }
    }

    fn merge_runs(&mut self, runs: &[(i16, u64)]) {
        let old = std::mem::take(&mut self.bins);
        let mut out = Vec::new();
        let mut i = 0;
        for &(k, c) in runs {
            while i < old.len() && old[i].0 < k {
                out.push(old[i]);
                i += 1;
            }
            if i < old.len() && old[i].0 == k {
                self.push_safe(&mut out, k, old[i].1 + c);
                i += 1;
            } else {
                self.push_safe(&mut out, k, c);
            }
        }
        out.extend_from_slice(&old[i..]);
        self.bins = out;
        self.trim();
    }

    fn trim(&mut self) {
        if self.bins.len() <= 4096 {
            return;
        }
        let r = self.bins.len() - 4096;
        let mut missing = 0;
        let mut overflow = Vec::new();
        for &(k, n) in &self.bins[..r] {
            missing += n;
            if missing > self.max {
                overflow.push((k, self.max));
                missing -= self.max;
            }
        }
        let (k, n) = self.bins[r];
        let total = n + missing;
        if total > self.max {
            self.bins[r].1 = self.max;
            self.push_safe(&mut overflow, k, total - self.max);
        } else {
            self.bins[r].1 = total;
        }
        overflow.extend_from_slice(&self.bins[r..]);
        self.bins = overflow;
    }
}

fn batch_bins(list: &Value, max: u64) -> Option<Vec<(i16, u64)>> {
    let mut m = BatchModel::new(max);
    for op in ops(list) {
        match op {
            Op::Insert(v) => m.insert(key(v)),
            Op::Repeat(v, n) => (0..n).for_each(|_| m.insert(key(v))),
            Op::Sampled(v, r) if r > 0.0 && r < 1.0 => m.insert_pair(key(v), (1.0 / r) as u64),
            Op::Sampled(v, _) => m.insert(key(v)),
            Op::Interpolate(..) => return None,
        }
    }
    m.flush();
    Some(m.bins)
}

#[test]
fn batch_model_gives_the_same_bins() {
    for case in cases() {
        let Some(want) = batch_bins(&case["inserts"], 65535) else {
            continue;
        };
        let got: Vec<(i16, u64)> = build::<65535>(&case["inserts"])
            .bins()
            .iter()
            .map(|b| (b.key, u64::from(b.n)))
            .collect();
        assert_eq!(got, want, "{}", case["id"]);
        let want = batch_bins(&case["inserts"], u64::from(u32::MAX)).unwrap();
        let got: Vec<(i16, u64)> = build::<{ u32::MAX }>(&case["inserts"])
            .bins()
            .iter()
            .map(|b| (b.key, u64::from(b.n)))
            .collect();
        assert_eq!(got, want, "{}", case["id"]);
    }
}

// ---------------------------------------------------------------------------
// Properties.

use dogstatsd_core::sketch::{BIN_LIMIT, QUANTILE_RELATIVE_ERROR};
use proptest::prelude::*;

fn of(values: &[f64]) -> AgentSketch {
    let mut s = AgentSketch::new();
    values.iter().for_each(|&v| s.insert(v));
    s
}

fn rel_close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn same_summary(a: &AgentSketch, b: &AgentSketch) -> bool {
    a.count() == b.count()
        && a.min() == b.min()
        && a.max() == b.max()
        && rel_close(a.sum(), b.sum())
        && rel_close(a.avg(), b.avg())
}

fn store_count(s: &AgentSketch) -> u64 {
    s.counts().map(u64::from).sum()
}

/// Values over many magnitudes and both signs, plus zeros.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6f64..1e6,
        2 => (-9i32..9, 1.0f64..10.0, any::<bool>()).prop_map(|(e, m, neg)| {
            let v = m * 10f64.powi(e);
            if neg { -v } else { v }
        }),
        1 => Just(0.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn merge_is_commutative(a in prop::collection::vec(value(), 0..200), b in prop::collection::vec(value(), 0..200)) {
        let mut ab = of(&a);
        ab.merge(&of(&b));
        let mut ba = of(&b);
        ba.merge(&of(&a));
        prop_assert_eq!(ab.bins(), ba.bins());
        prop_assert!(same_summary(&ab, &ba), "{:?} vs {:?}", ab, ba);
    }

    #[test]
    fn merge_is_associative_and_preserves_count_and_sum(
        a in prop::collection::vec(value(), 0..150),
        b in prop::collection::vec(value(), 0..150),
        c in prop::collection::vec(value(), 0..150),
    ) {
        let (sa, sb, sc) = (of(&a), of(&b), of(&c));
        let mut left = sa.clone();
        left.merge(&sb);
        left.merge(&sc);
        let mut bc = sb.clone();
        bc.merge(&sc);
        let mut right = sa.clone();
        right.merge(&bc);
        prop_assert_eq!(left.bins(), right.bins());
        prop_assert!(same_summary(&left, &right));

        let all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        let direct = of(&all);
        prop_assert_eq!(left.bins(), direct.bins());
        prop_assert_eq!(left.count(), all.len() as u64);
        prop_assert_eq!(store_count(&left), left.count());
        let exact: f64 = all.iter().sum();
        let scale: f64 = all.iter().map(|v| v.abs()).sum();
        prop_assert!((left.sum() - exact).abs() <= 1e-12 * scale.max(1.0));
    }

    #[test]
    fn quantiles_within_documented_accuracy(mut values in prop::collection::vec(value(), 1..400), q in 0.0f64..=1.0) {
        let s = of(&values);
        values.sort_by(f64::total_cmp);
        let rank = (q * (values.len() - 1) as f64).round_ties_even() as usize;
        let exact = values[rank];
        let est = s.quantile(q);
        prop_assert!(
            (est - exact).abs() <= QUANTILE_RELATIVE_ERROR * exact.abs() + 1e-9,
            "q {} est {} exact {}", q, est, exact
        );
    }

    #[test]
    fn sampled_inserts_keep_count_and_sum(samples in prop::collection::vec((value(), 0.001f64..1.5), 1..100)) {
        let mut s = AgentSketch::new();
        let mut count = 0u64;
        let mut sum = 0.0;
        for &(v, r) in &samples {
            s.insert_sampled(v, r);
            if r < 1.0 {
                count += (1.0 / r) as u64;
                sum += (1.0 / r) * v;
            } else {
                count += 1;
                sum += v;
            }
        }
        prop_assert_eq!(s.count(), count);
        prop_assert_eq!(store_count(&s), count);
        let scale: f64 = samples.iter().map(|(v, r)| v.abs() / r).sum();
        prop_assert!((s.sum() - sum).abs() <= 1e-12 * scale.max(1.0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Past the bin limit, direct inserts (with the fold fast path) still
    /// give the batch model's bins, and merging collapses the same way.
    #[test]
    fn bin_limit_matches_batch_model(
        spread in prop::collection::vec((-1300i32..4000, any::<bool>(), 0.99f64..1.01), 7000..10000),
        extreme in prop::collection::vec(prop::num::f64::NORMAL | prop::num::f64::ZERO, 0..200),
        rates in prop::collection::vec(0.01f64..1.0, 0..20),
    ) {
        let values: Vec<f64> = spread
            .iter()
            .map(|&(k, neg, jitter)| {
                let v = 1.015625f64.powi(k) * jitter;
                if neg { -v } else { v }
            })
            .chain(extreme)
            .collect();
        let mut s = AgentSketch::new();
        let mut model = BatchModel::new(u64::from(u32::MAX));
        for (i, &v) in values.iter().enumerate() {
            if let Some(&r) = rates.get(i % 400) {
                s.insert_sampled(v, r);
                model.insert_pair(key(v), (1.0 / r) as u64);
            } else {
                s.insert(v);
                model.insert(key(v));
            }
        }
        model.flush();
        let got: Vec<(i16, u64)> = s.bins().iter().map(|b| (b.key, u64::from(b.n))).collect();
        prop_assert_eq!(got.len(), BIN_LIMIT);
        prop_assert_eq!(&got, &model.bins);
        prop_assert_eq!(store_count(&s), s.count());

        let (a, b) = values.split_at(values.len() / 2);
        let mut merged = of(a);
        merged.merge(&of(b));
        let whole = of(&values);
        prop_assert_eq!(merged.bins(), whole.bins());
    }
}
