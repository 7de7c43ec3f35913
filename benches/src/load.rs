//! The load generator shared by the `loadgen` and `e2e` binaries: sends a
//! seeded DogStatsD message mix from [`generate`](crate::generate) over
//! UDP, a UDS datagram socket or a UDS stream socket, at a fixed rate or
//! as fast as possible, for a bounded time.
//!
//! The messages are generated once into a pool (four per context, at
//! least 20,000), grouped `per_datagram` at a time into datagrams or
//! stream frames of at most [`MAX_DATAGRAM`] bytes, and the pool is then
//! sent round and round.

use std::io::{self, Write as _};
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

use crate::{CorpusConfig, TypeWeights, generate};

/// Largest datagram or frame the generator builds: the daemon's default
/// `dogstatsd_buffer_size`, so nothing is truncated on UDS.
pub const MAX_DATAGRAM: usize = 8192;

/// How messages reach the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP datagrams to `host:port`.
    Udp,
    /// Unix datagrams to a socket path.
    Uds,
    /// A Unix stream to a socket path, each frame prefixed by its length
    /// (4 bytes, little-endian).
    UdsStream,
}

impl Transport {
    /// Parses `udp`, `uds` or `uds-stream`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "udp" => Some(Self::Udp),
            "uds" => Some(Self::Uds),
            "uds-stream" => Some(Self::UdsStream),
            _ => None,
        }
    }

    /// The name [`parse`](Self::parse) accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Uds => "uds",
            Self::UdsStream => "uds-stream",
        }
    }
}

/// Sending rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// This many messages per second.
    Fixed(u64),
    /// As fast as the socket takes them.
    Max,
}

impl Rate {
    /// Parses `max` or a positive number of messages per second (`_`
    /// separators and a `k`/`m` suffix allowed: `100k`, `1_000_000`).
    pub fn parse(s: &str) -> Option<Self> {
        if s == "max" {
            return Some(Self::Max);
        }
        let s = s.replace('_', "");
        let (digits, mul) = match s.strip_suffix(['k', 'K']) {
            Some(d) => (d, 1_000),
            None => match s.strip_suffix(['m', 'M']) {
                Some(d) => (d, 1_000_000),
                None => (s.as_str(), 1),
            },
        };
        let n: u64 = digits.parse().ok()?;
        (n > 0).then(|| Self::Fixed(n.saturating_mul(mul)))
    }
}

/// Messages due `elapsed` into a run at `rate` messages per second.
pub fn due(rate: u64, elapsed: Duration) -> u64 {
    let n = u128::from(rate).saturating_mul(elapsed.as_nanos()) / 1_000_000_000;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// What to send and how.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// Socket family.
    pub transport: Transport,
    /// `host:port` for UDP, a socket path for UDS.
    pub target: String,
    /// Messages per second.
    pub rate: Rate,
    /// How long to send.
    pub duration: Duration,
    /// Corpus seed.
    pub seed: u64,
    /// Distinct metric contexts.
    pub contexts: usize,
    /// Fewest tags per message.
    pub tags_min: usize,
    /// Most tags per message.
    pub tags_max: usize,
    /// Messages per datagram or frame (fewer if they would exceed
    /// [`MAX_DATAGRAM`] bytes).
    pub per_datagram: usize,
}

impl Default for LoadConfig {
    /// The shape of Datadog's published DogStatsD benchmark: 3,000
    /// contexts, counts 208 : gauges 66 : distributions 72 : sets 9 :
    /// histograms 1, 8 % multi-value; metrics only, one per datagram.
    fn default() -> Self {
        Self {
            transport: Transport::Udp,
            target: "127.0.0.1:8125".into(),
            rate: Rate::Fixed(100_000),
            duration: Duration::from_secs(5),
            seed: 1,
            contexts: 3_000,
            tags_min: 2,
            tags_max: 10,
            per_datagram: 1,
        }
    }
}

impl LoadConfig {
    /// The corpus configuration for this load: metrics only, the
    /// benchmark's type weights, one message per packet.
    pub fn corpus(&self) -> CorpusConfig {
        CorpusConfig {
            seed: self.seed,
            messages: self.contexts.saturating_mul(4).max(20_000),
            contexts: self.contexts.max(1),
            min_tags: self.tags_min,
            max_tags: self.tags_max.max(self.tags_min),
            type_weights: TypeWeights {
                timing: 0,
                ..TypeWeights::default()
            },
            multi_value_ratio: 0.08,
            event_ratio: 0.0,
            service_check_ratio: 0.0,
            // Every message gets a packet of its own; grouping is ours.
            max_packet: 0,
            ..CorpusConfig::default()
        }
    }

    /// The datagrams to send in a loop, each with its message count.
    pub fn datagrams(&self) -> Vec<(Vec<u8>, u64)> {
        let per = self.per_datagram.max(1);
        let mut out = Vec::new();
        let mut cur: Vec<u8> = Vec::new();
        let mut n = 0u64;
        for msg in generate(&self.corpus()).packets {
            let full = n as usize >= per || cur.len() + 1 + msg.len() > MAX_DATAGRAM;
            if n > 0 && full {
                out.push((std::mem::take(&mut cur), n));
                n = 0;
            }
            if n > 0 {
                cur.push(b'\n');
            }
            cur.extend_from_slice(&msg);
            n += 1;
        }
        if n > 0 {
            out.push((cur, n));
        }
        out
    }
}

/// The `loadgen` usage text.
pub const USAGE: &str = "\
usage: loadgen [--transport udp|uds|uds-stream] [--target ADDR|PATH]
               [--rate MSGS_PER_S|max] [--seconds N] [--seed N]
               [--contexts N] [--tags-min N] [--tags-max N] [--per-datagram N]
defaults: udp 127.0.0.1:8125, 100k msg/s for 5 s, seed 1, 3000 contexts,
          2-10 tags, 1 message per datagram; --seconds is capped at 600";

/// Parses `loadgen` flags (without the program name) over the defaults.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<LoadConfig, String> {
    let mut cfg = LoadConfig::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || -> Result<u64, String> {
            value
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--transport" => {
                cfg.transport = Transport::parse(&value)
                    .ok_or_else(|| format!("--transport: udp, uds or uds-stream, not {value}"))?;
            }
            "--target" => cfg.target = value,
            "--rate" => {
                cfg.rate = Rate::parse(&value)
                    .ok_or_else(|| format!("--rate: a positive number or max, not {value}"))?;
            }
            "--seconds" => {
                let s: f64 = value
                    .parse()
                    .map_err(|_| format!("--seconds: not a number: {value}"))?;
                if !(s > 0.0 && s <= 600.0) {
                    return Err(format!("--seconds: between 0 and 600, not {value}"));
                }
                cfg.duration = Duration::from_secs_f64(s);
            }
            "--seed" => cfg.seed = num()?,
            "--contexts" => cfg.contexts = num()?.max(1) as usize,
            "--tags-min" => cfg.tags_min = num()? as usize,
            "--tags-max" => cfg.tags_max = num()? as usize,
            "--per-datagram" => cfg.per_datagram = num()?.max(1) as usize,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if cfg.tags_max < cfg.tags_min {
        return Err("--tags-max is below --tags-min".into());
    }
    Ok(cfg)
}

/// What a run sent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Messages in datagrams or frames handed to the socket.
    pub messages: u64,
    /// Datagrams or frames handed to the socket.
    pub datagrams: u64,
    /// Payload bytes (without stream length prefixes).
    pub bytes: u64,
    /// Sends the socket refused (UDP/UDS datagrams not counted as sent).
    pub send_errors: u64,
    /// Wall time spent sending.
    pub seconds: f64,
}

impl Summary {
    /// Messages per second achieved.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.messages as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"messages":{},"datagrams":{},"bytes":{},"send_errors":{},"seconds":{:.3},"rate":{:.0}}}"#,
            self.messages,
            self.datagrams,
            self.bytes,
            self.send_errors,
            self.seconds,
            self.rate()
        )
    }
}

const SEND_TIMEOUT: Duration = Duration::from_secs(1);

enum Sink {
    Udp(UdpSocket),
    Uds(UnixDatagram),
    Stream(UnixStream, Vec<u8>),
}

impl Sink {
    fn open(cfg: &LoadConfig) -> io::Result<Self> {
        Ok(match cfg.transport {
            Transport::Udp => {
                let s = UdpSocket::bind("127.0.0.1:0")?;
                s.connect(&cfg.target)?;
                Self::Udp(s)
            }
            // Blocking sends wait for the daemon, but never for long.
            Transport::Uds => {
                let s = UnixDatagram::unbound()?;
                s.connect(&cfg.target)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Self::Uds(s)
            }
            Transport::UdsStream => {
                let s = UnixStream::connect(&cfg.target)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Self::Stream(s, Vec::new())
            }
        })
    }

    /// Sends (or, for a stream, queues) one datagram; false if refused.
    fn send(&mut self, d: &[u8]) -> io::Result<bool> {
        let r = match self {
            Self::Udp(s) => s.send(d),
            Self::Uds(s) => s.send(d),
            Self::Stream(_, buf) => {
                buf.extend_from_slice(&(d.len() as u32).to_le_bytes());
                buf.extend_from_slice(d);
                return Ok(true);
            }
        };
        match r {
            Ok(_) => Ok(true),
            // A full socket buffer or a daemon not reading: counted, not fatal.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(105) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes out what a stream has queued.
    fn flush(&mut self) -> io::Result<()> {
        if let Self::Stream(s, buf) = self {
            s.write_all(buf)?;
            buf.clear();
        }
        Ok(())
    }
}

/// Sends `cfg`'s load and returns what was sent. The pool of datagrams is
/// built before the clock starts.
pub fn run(cfg: &LoadConfig) -> io::Result<Summary> {
    let pool = cfg.datagrams();
    run_pool(cfg, &pool)
}

/// [`run`] with a pool built by [`LoadConfig::datagrams`].
pub fn run_pool(cfg: &LoadConfig, pool: &[(Vec<u8>, u64)]) -> io::Result<Summary> {
    if pool.is_empty() {
        return Ok(Summary::default());
    }
    let mut sink = Sink::open(cfg)?;
    let mut sum = Summary::default();
    let mut next = 0usize;
    let start = Instant::now();
    // A fixed rate sends exactly what is due over the duration, with a
    // little grace for the last tick; a sender that fell further behind
    // stops at the deadline anyway.
    let (total, deadline) = match cfg.rate {
        Rate::Fixed(r) => (
            due(r, cfg.duration),
            cfg.duration + Duration::from_millis(20),
        ),
        Rate::Max => (u64::MAX, cfg.duration),
    };
    'outer: loop {
        let elapsed = start.elapsed();
        if elapsed >= deadline || sum.messages >= total {
            break;
        }
        // Fixed rate: catch up to what is due now, then sleep a tick. Max:
        // a batch between clock reads.
        let target = match cfg.rate {
            Rate::Fixed(r) => due(r, elapsed).min(total),
            Rate::Max => sum.messages + 256 * pool[0].1,
        };
        while sum.messages < target {
            let (d, n) = &pool[next];
            next = (next + 1) % pool.len();
            if sink.send(d)? {
                sum.messages += n;
                sum.datagrams += 1;
                sum.bytes += d.len() as u64;
            } else {
                sum.send_errors += 1;
            }
            // A tight loop that overran the deadline stops here.
            if sum.datagrams % 1024 == 0 && start.elapsed() >= deadline {
                sink.flush()?;
                break 'outer;
            }
        }
        sink.flush()?;
        if let Rate::Fixed(_) = cfg.rate {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    sink.flush()?;
    sum.seconds = start.elapsed().as_secs_f64();
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates_and_transports() {
        assert_eq!(Rate::parse("max"), Some(Rate::Max));
        assert_eq!(Rate::parse("100k"), Some(Rate::Fixed(100_000)));
        assert_eq!(Rate::parse("1_000_000"), Some(Rate::Fixed(1_000_000)));
        assert_eq!(Rate::parse("2M"), Some(Rate::Fixed(2_000_000)));
        assert_eq!(Rate::parse("0"), None);
        assert_eq!(Rate::parse("fast"), None);
        for t in [Transport::Udp, Transport::Uds, Transport::UdsStream] {
            assert_eq!(Transport::parse(t.name()), Some(t));
        }
        assert_eq!(Transport::parse("tcp"), None);
    }

    #[test]
    fn parses_args() {
        let a = |s: &str| parse_args(s.split_whitespace().map(String::from));
        assert_eq!(a("").unwrap(), LoadConfig::default());
        let c = a(
            "--transport uds-stream --target /tmp/s --rate max --seconds 2.5 \
                   --seed 7 --contexts 10_000 --tags-min 0 --tags-max 3 --per-datagram 10",
        )
        .unwrap();
        assert_eq!(
            c,
            LoadConfig {
                transport: Transport::UdsStream,
                target: "/tmp/s".into(),
                rate: Rate::Max,
                duration: Duration::from_millis(2500),
                seed: 7,
                contexts: 10_000,
                tags_min: 0,
                tags_max: 3,
                per_datagram: 10,
            }
        );
        assert!(a("--rate").is_err());
        assert!(a("--seconds 0").is_err());
        assert!(a("--seconds 9999").is_err());
        assert!(a("--tags-min 5 --tags-max 2").is_err());
        assert!(a("--bogus 1").is_err());
    }

    #[test]
    fn pacing_math() {
        assert_eq!(due(100_000, Duration::from_millis(1)), 100);
        assert_eq!(due(100_000, Duration::from_secs(5)), 500_000);
        assert_eq!(due(3, Duration::from_millis(500)), 1);
        assert_eq!(due(u64::MAX, Duration::from_secs(u64::MAX)), u64::MAX);
    }

    #[test]
    fn datagrams_group_and_fit() {
        let cfg = LoadConfig {
            contexts: 100,
            per_datagram: 10,
            ..LoadConfig::default()
        };
        let pool = cfg.datagrams();
        let messages: u64 = pool.iter().map(|(_, n)| n).sum();
        assert_eq!(messages, 20_000);
        assert!(
            pool.iter()
                .all(|(d, n)| d.len() <= MAX_DATAGRAM && *n <= 10)
        );
        assert!(
            pool.iter()
                .all(|(d, n)| { d.iter().filter(|&&b| b == b'\n').count() as u64 == n - 1 })
        );
    }
}
