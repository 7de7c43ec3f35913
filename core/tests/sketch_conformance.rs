//! Golden vectors for the Agent-compatible DDSketch
//! (`tests/data/conformance/sketch.json`, produced by the Agent's Go code).
//!
//! Every case runs twice: with 16-bit bins against `expect`, and with
//! 32-bit bins ([`AgentSketch`], the project's choice) against `expect`
//! overlaid by `expect_u32`. A batch model of the Agent's 512-key insert
//! buffer (spec §3.1/§3.4, written independently below) must produce the
//! same bins as the sketch's direct inserts.

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
        close(s.sum(), num(&expect["sum"]), 1e-12),
        "{id}: sum {} vs {}",
        s.sum(),
        expect["sum"]
    );
    assert!(
        close(s.avg(), num(&expect["avg"]), 1e-12),
        "{id}: avg {} vs {}",
        s.avg(),
        expect["avg"]
    );
    for (q, want) in expect["quantiles"].as_object().unwrap() {
        let q: f64 = q.parse().unwrap();
        let got = s.quantile(q);
        assert!(
            close(got, num(want), 1e-9),
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
