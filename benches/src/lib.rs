//! Seeded corpus generation shared by the benchmarks and the load
//! generator.
//!
//! [`generate`] turns a [`CorpusConfig`] into DogStatsD packets: realistic
//! metric names and tags drawn from a fixed set of contexts, every metric
//! type in roughly the proportions real traffic shows, some multi-value
//! messages, events and service checks, packed into datagram-sized
//! packets. The same configuration always yields the same bytes (the
//! generator is a private SplitMix64, so no RNG crate or version can
//! change the corpus).
//!
//! ```
//! use dogstatsd_benches::{CorpusConfig, generate};
//!
//! let corpus = generate(&CorpusConfig { messages: 1_000, ..CorpusConfig::default() });
//! assert_eq!(corpus.messages, 1_000);
//! assert!(corpus.packets.iter().all(|p| p.len() <= 8192));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(unix)]
pub mod load;

/// SplitMix64: tiny, fast, good enough for test data, and stable forever.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A random element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Relative weights of the metric types. The defaults follow the mix of
/// a real Agent fleet: mostly counts, then distributions and gauges,
/// few sets, histograms and timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeWeights {
    /// `c`
    pub count: u32,
    /// `g`
    pub gauge: u32,
    /// `d`
    pub distribution: u32,
    /// `s`
    pub set: u32,
    /// `h`
    pub histogram: u32,
    /// `ms`
    pub timing: u32,
}

impl Default for TypeWeights {
    fn default() -> Self {
        Self {
            count: 208,
            gauge: 66,
            distribution: 72,
            set: 9,
            histogram: 1,
            timing: 4,
        }
    }
}

impl TypeWeights {
    fn choose(&self, rng: &mut Rng) -> &'static str {
        let table = [
            (self.count, "c"),
            (self.gauge, "g"),
            (self.distribution, "d"),
            (self.set, "s"),
            (self.histogram, "h"),
            (self.timing, "ms"),
        ];
        let total: u32 = table.iter().map(|(w, _)| w).sum();
        let mut x = rng.below(total.max(1) as usize) as u32;
        for (w, sym) in table {
            if x < w {
                return sym;
            }
            x -= w;
        }
        "c"
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusConfig {
    /// Seed; the same configuration always gives the same packets.
    pub seed: u64,
    /// Messages in total (metrics, events and service checks).
    pub messages: usize,
    /// Distinct metric contexts (name + type + tag set) messages are drawn from.
    pub contexts: usize,
    /// Fewest tags per metric.
    pub min_tags: usize,
    /// Most tags per metric.
    pub max_tags: usize,
    /// Shortest metric name in bytes.
    pub min_name_len: usize,
    /// Longest metric name in bytes.
    pub max_name_len: usize,
    /// Metric type mix.
    pub type_weights: TypeWeights,
    /// Share of metric messages (not sets) carrying 2–5 values.
    pub multi_value_ratio: f64,
    /// Share of metric messages carrying a sample rate.
    pub sample_rate_ratio: f64,
    /// Share of messages that are events.
    pub event_ratio: f64,
    /// Share of messages that are service checks.
    pub service_check_ratio: f64,
    /// Largest packet in bytes (messages joined by `\n`).
    pub max_packet: usize,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            seed: 0x00D0_6575_A75D,
            messages: 100_000,
            contexts: 10_000,
            min_tags: 2,
            max_tags: 20,
            min_name_len: 10,
            max_name_len: 60,
            type_weights: TypeWeights::default(),
            multi_value_ratio: 0.08,
            sample_rate_ratio: 0.05,
            event_ratio: 0.02,
            service_check_ratio: 0.02,
            max_packet: 8192,
        }
    }
}

/// Generated traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// Packets of `\n`-joined messages, each at most `max_packet` bytes.
    pub packets: Vec<Vec<u8>>,
    /// Messages in all packets.
    pub messages: usize,
    /// Metric messages among them.
    pub metrics: usize,
    /// Events among them.
    pub events: usize,
    /// Service checks among them.
    pub service_checks: usize,
}

impl Corpus {
    /// Total bytes of all packets.
    pub fn bytes(&self) -> usize {
        self.packets.iter().map(Vec::len).sum()
    }

    /// The packets as one UDS stream: each a 4-byte little-endian length
    /// and its bytes.
    pub fn length_prefixed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes() + 4 * self.packets.len());
        for p in &self.packets {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p);
        }
        out
    }
}

const NAME_WORDS: &[&str] = &[
    "api",
    "app",
    "aws",
    "backend",
    "bytes",
    "cache",
    "checkout",
    "client",
    "connections",
    "consumer",
    "count",
    "cpu",
    "db",
    "disk",
    "dropped",
    "duration",
    "elb",
    "errors",
    "events",
    "frontend",
    "gc",
    "heap",
    "hits",
    "http",
    "io",
    "jvm",
    "kafka",
    "latency",
    "lag",
    "load",
    "memory",
    "messages",
    "misses",
    "net",
    "nginx",
    "payments",
    "pool",
    "postgres",
    "processed",
    "producer",
    "queue",
    "rate",
    "read",
    "redis",
    "request",
    "requests",
    "response",
    "retries",
    "search",
    "server",
    "service",
    "sessions",
    "size",
    "sql",
    "time",
    "timeouts",
    "total",
    "trace",
    "used",
    "users",
    "wait",
    "web",
    "worker",
    "write",
];

const TAG_KEYS: &[&str] = &[
    "env",
    "service",
    "version",
    "host",
    "region",
    "availability-zone",
    "pod_name",
    "kube_namespace",
    "kube_deployment",
    "container_name",
    "image_tag",
    "team",
    "endpoint",
    "method",
    "status_code",
    "db",
    "queue",
    "shard",
    "cluster_name",
    "customer_tier",
    "runtime",
    "language",
];

const TAG_VALUES: &[&str] = &[
    "prod",
    "staging",
    "dev",
    "web-store",
    "checkout-api",
    "payments",
    "us-east-1",
    "eu-west-1",
    "us-east-1a",
    "1.2.3",
    "2.0.0-rc1",
    "get",
    "post",
    "200",
    "404",
    "500",
    "/api/v1/users",
    "/api/v2/orders/{id}",
    "ip-10-0-12-34",
    "i-0abcdef1234567890",
    "orders",
    "billing",
    "default",
    "kube-system",
    "gold",
    "free",
    "jvm",
    "go",
    "python",
    "postgres-primary",
    "redis-cache-7f9c",
    "web-7d9f8c6b5-x2k4z",
];

struct Context {
    name: String,
    metric_type: &'static str,
    tags: String,
}

fn gen_name(rng: &mut Rng, cfg: &CorpusConfig) -> String {
    let target = rng.range(cfg.min_name_len, cfg.max_name_len.max(cfg.min_name_len));
    let mut name = String::new();
    while name.len() < target {
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(rng.pick(NAME_WORDS));
    }
    name.truncate(target);
    while name.ends_with('.') {
        name.pop();
    }
    if name.starts_with("_sc") || name.starts_with("_e{") {
        name.insert(0, 'x');
    }
    name
}

fn gen_tags(rng: &mut Rng, cfg: &CorpusConfig) -> String {
    let n = rng.range(cfg.min_tags, cfg.max_tags.max(cfg.min_tags));
    let mut tags = String::new();
    for i in 0..n {
        if i > 0 {
            tags.push(',');
        }
        tags.push_str(rng.pick(TAG_KEYS));
        tags.push(':');
        tags.push_str(rng.pick(TAG_VALUES));
    }
    tags
}

fn push_value(rng: &mut Rng, metric_type: &str, out: &mut String) {
    use std::fmt::Write as _;
    let _ = match metric_type {
        "c" => write!(out, "{}", rng.range(1, 10)),
        "g" => write!(out, "{:.2}", rng.unit() * 1000.0),
        "s" => write!(out, "user-{}", rng.below(100_000)),
        _ => write!(out, "{:.3}", rng.unit() * 250.0),
    };
}

fn metric_message(rng: &mut Rng, cfg: &CorpusConfig, ctx: &Context, out: &mut String) {
    out.push_str(&ctx.name);
    out.push(':');
    push_value(rng, ctx.metric_type, out);
    if ctx.metric_type != "s" && rng.chance(cfg.multi_value_ratio) {
        for _ in 0..rng.range(1, 4) {
            out.push(':');
            push_value(rng, ctx.metric_type, out);
        }
    }
    out.push('|');
    out.push_str(ctx.metric_type);
    if rng.chance(cfg.sample_rate_ratio) {
        out.push_str(rng.pick(&["|@0.5", "|@0.1", "|@0.25"]));
    }
    if !ctx.tags.is_empty() {
        out.push_str("|#");
        out.push_str(&ctx.tags);
    }
}

fn event_message(rng: &mut Rng, cfg: &CorpusConfig, out: &mut String) {
    let title = format!("Deployment of {} finished", rng.pick(TAG_VALUES));
    let text = format!(
        "Release {} rolled out to {} hosts\\nduration {} s",
        rng.pick(TAG_VALUES),
        rng.range(1, 500),
        rng.range(1, 900)
    );
    let tags = gen_tags(rng, cfg);
    out.push_str(&format!(
        "_e{{{},{}}}:{title}|{text}|t:{}|p:normal|s:deploy|#{tags}",
        title.len(),
        text.len(),
        rng.pick(&["info", "success", "warning", "error"]),
    ));
}

fn service_check_message(rng: &mut Rng, cfg: &CorpusConfig, out: &mut String) {
    let name = gen_name(rng, cfg);
    let tags = gen_tags(rng, cfg);
    out.push_str(&format!(
        "_sc|{name}.can_connect|{}|#{tags}|m:checked {} endpoints",
        rng.below(4),
        rng.range(1, 64)
    ));
}

/// Generates the corpus described by `cfg`.
pub fn generate(cfg: &CorpusConfig) -> Corpus {
    let mut rng = Rng::new(cfg.seed);
    let contexts: Vec<Context> = (0..cfg.contexts.max(1))
        .map(|_| Context {
            name: gen_name(&mut rng, cfg),
            metric_type: cfg.type_weights.choose(&mut rng),
            tags: gen_tags(&mut rng, cfg),
        })
        .collect();
    let mut corpus = Corpus {
        packets: Vec::new(),
        messages: 0,
        metrics: 0,
        events: 0,
        service_checks: 0,
    };
    let mut packet: Vec<u8> = Vec::with_capacity(cfg.max_packet);
    let mut msg = String::new();
    for _ in 0..cfg.messages {
        msg.clear();
        let x = rng.unit();
        if x < cfg.event_ratio {
            event_message(&mut rng, cfg, &mut msg);
            corpus.events += 1;
        } else if x < cfg.event_ratio + cfg.service_check_ratio {
            service_check_message(&mut rng, cfg, &mut msg);
            corpus.service_checks += 1;
        } else {
            // Skewed towards low indices: some contexts are much hotter.
            let i = rng.below(contexts.len()).min(rng.below(contexts.len()));
            metric_message(&mut rng, cfg, &contexts[i], &mut msg);
            corpus.metrics += 1;
        }
        // A message longer than a packet still gets a packet of its own.
        if !packet.is_empty() && packet.len() + 1 + msg.len() > cfg.max_packet {
            corpus.packets.push(std::mem::replace(
                &mut packet,
                Vec::with_capacity(cfg.max_packet),
            ));
        }
        if !packet.is_empty() {
            packet.push(b'\n');
        }
        packet.extend_from_slice(msg.as_bytes());
        corpus.messages += 1;
    }
    if !packet.is_empty() {
        corpus.packets.push(packet);
    }
    corpus
}

/// Just the packets of [`generate`].
pub fn packets(cfg: &CorpusConfig) -> Vec<Vec<u8>> {
    generate(cfg).packets
}

#[cfg(test)]
mod tests {
    use super::*;
    use dogstatsd_core::protocol::{Message, ParseOptions, parse_packet};

    #[test]
    fn deterministic_and_all_valid() {
        let cfg = CorpusConfig {
            messages: 20_000,
            ..CorpusConfig::default()
        };
        let a = generate(&cfg);
        assert_eq!(a, generate(&cfg));
        assert_ne!(
            a.packets,
            generate(&CorpusConfig {
                seed: 1,
                ..cfg.clone()
            })
            .packets
        );
        let opts = ParseOptions::default();
        let (mut metrics, mut events, mut checks, mut multi) = (0, 0, 0, 0);
        let mut types = std::collections::HashMap::new();
        for p in &a.packets {
            assert!(p.len() <= cfg.max_packet);
            for (line, r) in parse_packet(p, false, &opts) {
                match r.unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line))) {
                    Message::Metric(m) => {
                        metrics += 1;
                        multi += usize::from(m.values.len() > 1);
                        *types.entry(m.metric_type.name()).or_insert(0usize) += 1;
                        let n = m.tags.iter().count();
                        assert!((2..=20).contains(&n));
                        assert!(
                            (cfg.min_name_len - 1..=cfg.max_name_len + 1).contains(&m.name.len())
                        );
                    }
                    Message::Event(_) => events += 1,
                    Message::ServiceCheck(_) => checks += 1,
                }
            }
        }
        assert_eq!(metrics + events + checks, a.messages);
        assert_eq!(
            (metrics, events, checks),
            (a.metrics, a.events, a.service_checks)
        );
        assert!(events > 200 && checks > 200, "{events} {checks}");
        assert!(multi > metrics / 20, "{multi} of {metrics}");
        assert!(types["count"] > types["gauge"] && types["gauge"] > types["set"]);
        assert_eq!(types.len(), 6, "{types:?}");
    }
}
