//! Histogram and timing maths, as the Agent's `pkg/metrics/histogram.go`
//! computes them (spec §9.3, §14.1–§14.3).

/// One configured histogram output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    Max,
    Min,
    Median,
    Avg,
    Sum,
    Count,
}

impl Aggregate {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "max" => Self::Max,
            "min" => Self::Min,
            "median" => Self::Median,
            "avg" => Self::Avg,
            "sum" => Self::Sum,
            "count" => Self::Count,
            _ => return None,
        })
    }

    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Self::Max => ".max",
            Self::Min => ".min",
            Self::Median => ".median",
            Self::Avg => ".avg",
            Self::Sum => ".sum",
            Self::Count => ".count",
        }
    }
}

/// `histogram_aggregates` and `histogram_percentiles`, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistogramConfig {
    pub(crate) aggregates: Vec<Aggregate>,
    /// Integer percentiles 0–100, ascending, unique.
    pub(crate) percentiles: Vec<u32>,
}

impl HistogramConfig {
    /// Unknown aggregates and percentiles outside [0, 1] or unparsable
    /// are skipped, as the Agent does.
    pub(crate) fn new(aggregates: &[String], percentiles: &[String]) -> Self {
        let aggregates = aggregates
            .iter()
            .filter_map(|a| Aggregate::parse(a))
            .collect();
        let mut ps: Vec<u32> = percentiles
            .iter()
            .filter_map(|p| p.trim().parse::<f64>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
            .map(|q| (q * 100.0 + 0.5) as u32)
            .collect();
        crate::order::sort(&mut ps);
        ps.dedup();
        Self {
            aggregates,
            percentiles: ps,
        }
    }
}

/// The samples of one histogram context in one bucket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    /// `(value, weight)`; weight = trunc(1 / rate).
    samples: Vec<(f64, u32)>,
    /// Σ v·w with Neumaier compensation.
    sum: f64,
    compensation: f64,
    count: u64,
}

/// Weight of a histogram sample: trunc(1/rate); rate 0 counts as 1;
/// rate > 1 gives 0 (spec §9.4, §14.3).
pub(crate) fn weight(rate: f64) -> u32 {
    if rate == 0.0 {
        return 1;
    }
    let w = (1.0 / rate).trunc();
    if w.is_nan() || w < 0.0 {
        0
    } else if w > f64::from(u32::MAX) {
        u32::MAX
    } else {
        w as u32
    }
}

impl Histogram {
    pub(crate) fn add(&mut self, value: f64, rate: f64) {
        let w = weight(rate);
        self.samples.push((value, w));
        self.count += u64::from(w);
        let term = value * f64::from(w);
        let t = self.sum + term;
        if self.sum.abs() >= term.abs() {
            self.compensation += (self.sum - t) + term;
        } else {
            self.compensation += (term - t) + self.sum;
        }
        self.sum = t;
    }

    /// The series values, in configured order: each aggregate then each
    /// percentile. `emit(suffix, value, is_rate)`.
    pub(crate) fn flush(
        &mut self,
        cfg: &HistogramConfig,
        interval: f64,
        mut emit: impl FnMut(&str, f64, bool),
    ) {
        if self.samples.is_empty() {
            return;
        }
        crate::order::sort_by(&mut self.samples, |a, b| a.0.total_cmp(&b.0));
        let n = self.count;
        let sum = self.sum + self.compensation;
        for &agg in &cfg.aggregates {
            let value = match agg {
                Aggregate::Max => self.samples[self.samples.len() - 1].0,
                Aggregate::Min => self.samples[0].0,
                Aggregate::Sum => sum,
                Aggregate::Avg => sum / n as f64,
                Aggregate::Count => n as f64 / interval,
                // Lower median: first value whose cumulative weight
                // exceeds (N-1) div 2 (Go integer division truncates).
                Aggregate::Median => self.rank(((n as i64 - 1) / 2).max(0) as u64),
            };
            emit(agg.suffix(), value, agg == Aggregate::Count);
        }
        if n == 0 {
            return;
        }
        for &p in &cfg.percentiles {
            let threshold = ((u64::from(p) * n) as i64 - 1) / 100;
            let value = self.rank(threshold.max(0) as u64);
            emit(&format!(".{p}percentile"), value, false);
        }
    }

    /// First value whose cumulative weight is > `threshold` (0 if none).
    fn rank(&self, threshold: u64) -> f64 {
        let mut cumulative = 0u64;
        for &(v, w) in &self.samples {
            cumulative += u64::from(w);
            if cumulative > threshold {
                return v;
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[(f64, f64)], aggs: &[&str], ps: &[&str]) -> Vec<(String, f64, bool)> {
        let cfg = HistogramConfig::new(
            &aggs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &ps.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        let mut h = Histogram::default();
        for &(v, r) in values {
            h.add(v, r);
        }
        let mut out = Vec::new();
        h.flush(&cfg, 10.0, |s, v, r| out.push((s.to_string(), v, r)));
        out
    }

    #[test]
    fn lower_median_and_percentiles() {
        let out = run(
            &[(10.0, 1.0), (20.0, 1.0)],
            &["median"],
            &["0.5", "0.95", "0"],
        );
        assert_eq!(out[0], (".median".into(), 10.0, false));
        assert_eq!(out[1], (".0percentile".into(), 10.0, false));
        assert_eq!(out[2], (".50percentile".into(), 10.0, false));
        assert_eq!(out[3], (".95percentile".into(), 20.0, false));
    }

    #[test]
    fn weights_truncate_and_sum_is_weighted() {
        // 10|h|@0.3 → weight 3, avg 10 (current Agent, spec §14.1).
        let out = run(&[(10.0, 0.3)], &["avg", "count", "sum"], &[]);
        assert_eq!(
            out,
            [
                (".avg".into(), 10.0, false),
                (".count".into(), 0.3, true),
                (".sum".into(), 30.0, false)
            ]
        );
    }

    #[test]
    fn rate_above_one_gives_zero_weights() {
        let out = run(
            &[(5.0, 2.0)],
            &["max", "min", "median", "avg", "count"],
            &["0.95"],
        );
        assert_eq!(out.len(), 5, "no percentile when the count is 0: {out:?}");
        assert_eq!(out[0].1, 5.0);
        assert_eq!(out[1].1, 5.0);
        assert_eq!(out[2].1, 0.0);
        assert!(out[3].1.is_nan());
        assert_eq!(out[4].1, 0.0);
    }

    #[test]
    fn config_parsing() {
        let c = HistogramConfig::new(
            &["max".into(), "bogus".into(), "count".into()],
            &[
                "0.999".into(),
                "1.5".into(),
                "x".into(),
                "0.5".into(),
                "0.50".into(),
            ],
        );
        assert_eq!(c.aggregates, [Aggregate::Max, Aggregate::Count]);
        assert_eq!(c.percentiles, [50, 100]);
    }
}
