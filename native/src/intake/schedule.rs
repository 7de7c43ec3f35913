//! The test intake's fault schedule: which status each request gets and
//! how long its answer is held back, as a small pure type (no clock, no
//! sockets, no global randomness), so it is tested without a server.
//!
//! Rules, first match wins, for a request whose (decompressed) body is
//! `body`:
//!
//! 1. **Scripted body** (the Agent trace writer's `expectResponses`
//!    convention): a body `"<id>|<c1>,<c2>,…"` answers the codes of that
//!    id in rotation, `codes[n mod len]` for its `n`-th request. A body
//!    with exactly one `|` whose code list does not parse answers the
//!    success status without being remembered. Such bodies are control
//!    messages, never data ([`Decision::control`]).
//! 2. **Global script**: statuses handed out in arrival order, one per
//!    request, until used up ("503, 503, then 200").
//! 3. **Per-payload script**: the `k`-th attempt of each distinct body
//!    (identified by a hash of its bytes) answers `per_payload[k]` while
//!    `k` is within the list ("every payload: 503, 408, then accepted").
//! 4. **Random failures**: a fraction `hang_rate` of requests is never
//!    answered ([`Fault::Hang`]), a fraction `reset_rate` has its
//!    connection closed abruptly ([`Fault::Reset`]), and a fraction
//!    `fail_rate` answers `fail_status`. One draw decides all three; it is
//!    a hash of the seed, the body and its attempt number, so a given seed
//!    fails the same attempts of the same payloads whatever order
//!    concurrent requests arrive in.
//! 5. Otherwise the success status (202, as the real intake answers).
//!
//! Every answer is delayed by the configured latency.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

/// Status the real intake answers on success.
pub const DEFAULT_SUCCESS_STATUS: u16 = 202;

/// Status of random failures unless configured (`--fail-status`).
pub const DEFAULT_FAIL_STATUS: u16 = 503;

/// A failure that is not an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Read the request and never answer (until the client gives up or
    /// the intake stops).
    Hang,
    /// Read the request and close the connection abruptly (a TCP reset)
    /// instead of answering.
    Reset,
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Decision {
    /// HTTP status to answer.
    pub status: u16,
    /// How long to hold the answer back.
    pub delay: Duration,
    /// True when the body was a scripted control message (rule 1), not
    /// intake data: it is not decoded nor recorded.
    pub control: bool,
    /// Instead of answering `status`: hang or reset (rule 4).
    pub fault: Option<Fault>,
}

/// Whether the Agent's senders retry a status (§11.1): 408 or any 5xx.
pub const fn is_retriable(status: u16) -> bool {
    status == 408 || status >= 500
}

/// Whether a status is a success (2xx).
pub const fn is_success(status: u16) -> bool {
    200 <= status && status < 300
}

/// Why a status list could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// A code is not an integer.
    #[error("{0:?} is not a status code")]
    NotANumber(String),
    /// A code outside 100..=599.
    #[error("{0} is not an HTTP status")]
    OutOfRange(u64),
    /// A fail rate outside 0..=1.
    #[error("fail rate {0} is not within 0..=1")]
    FailRate(f64),
}

/// Reads an HTTP status, 100..=599.
pub fn parse_status(s: &str) -> Result<u16, ScheduleError> {
    let s = s.trim();
    let n: u64 = s
        .parse()
        .map_err(|_| ScheduleError::NotANumber(s.to_string()))?;
    if (100..=599).contains(&n) {
        Ok(n as u16)
    } else {
        Err(ScheduleError::OutOfRange(n))
    }
}

/// Reads a comma-separated status list such as `"503,503,200"`; empty
/// input is an empty list.
pub fn parse_status_list(s: &str) -> Result<Vec<u16>, ScheduleError> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',').map(parse_status).collect()
}

/// Builds the body the trace writer's `expectResponses(codes…)` builds:
/// `"<id>|<c1>,<c2>,…"`.
pub fn scripted_body(id: u64, codes: &[u16]) -> Vec<u8> {
    let list: Vec<String> = codes.iter().map(u16::to_string).collect();
    format!("{id}|{}", list.join(",")).into_bytes()
}

/// The fault schedule. Build with [`FaultSchedule::new`] and the `with_*`
/// methods, then ask [`decide`](Self::decide) once per request.
#[derive(Debug, Clone)]
pub struct FaultSchedule {
    latency: Duration,
    success_status: u16,
    script: VecDeque<u16>,
    per_payload: Vec<u16>,
    fail_rate: f64,
    fail_status: u16,
    hang_rate: f64,
    reset_rate: f64,
    seed: u64,
    /// Attempts seen per body hash.
    attempts: HashMap<u64, u32>,
    /// Scripted ids: codes and requests answered so far.
    scripted: HashMap<String, (Vec<u16>, usize)>,
}

impl Default for FaultSchedule {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultSchedule {
    /// Answers success to everything, at once.
    pub fn new() -> Self {
        Self {
            latency: Duration::ZERO,
            success_status: DEFAULT_SUCCESS_STATUS,
            script: VecDeque::new(),
            per_payload: Vec::new(),
            fail_rate: 0.0,
            fail_status: DEFAULT_FAIL_STATUS,
            hang_rate: 0.0,
            reset_rate: 0.0,
            seed: 0,
            attempts: HashMap::new(),
            scripted: HashMap::new(),
        }
    }

    /// Delays every answer by `latency`.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Answers `status` on success instead of 202.
    pub fn with_success_status(mut self, status: u16) -> Self {
        self.success_status = status;
        self
    }

    /// Hands out `statuses` to the next requests, one each, in arrival
    /// order (rule 2).
    pub fn with_script(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.script.extend(statuses);
        self
    }

    /// Answers the `k`-th attempt of every distinct body with
    /// `statuses[k]` (rule 3).
    pub fn with_per_payload(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.per_payload = statuses.into_iter().collect();
        self
    }

    /// Fails a fraction `rate` (0..=1) of requests with `status`, drawn
    /// from `seed` (rule 4).
    pub fn with_random_failures(
        mut self,
        rate: f64,
        status: u16,
        seed: u64,
    ) -> Result<Self, ScheduleError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(ScheduleError::FailRate(rate));
        }
        self.fail_rate = rate;
        self.fail_status = status;
        self.seed = seed;
        Ok(self)
    }

    /// Hangs (never answers) a fraction `rate` (0..=1) of requests, or
    /// resets their connection, drawn from `seed` like random failures
    /// (rule 4; the seed is shared with them).
    pub fn with_random_fault(
        mut self,
        fault: Fault,
        rate: f64,
        seed: u64,
    ) -> Result<Self, ScheduleError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(ScheduleError::FailRate(rate));
        }
        match fault {
            Fault::Hang => self.hang_rate = rate,
            Fault::Reset => self.reset_rate = rate,
        }
        self.seed = seed;
        Ok(self)
    }

    /// The configured latency.
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// True when some requests may get [`Fault::Reset`] (the intake then
    /// makes new connections close with a reset).
    pub fn resets(&self) -> bool {
        self.reset_rate > 0.0
    }

    /// Decides the answer to the next request with this (decompressed)
    /// body.
    pub fn decide(&mut self, body: &[u8]) -> Decision {
        let latency = self.latency;
        let answer = |status, control| Decision {
            status,
            delay: latency,
            control,
            fault: None,
        };
        if let Some((id, codes)) = split_scripted(body) {
            return match parse_status_list(codes) {
                Ok(list) if !list.is_empty() => {
                    let entry = self.scripted.entry(id.to_string()).or_insert((list, 0));
                    let status = entry.0[entry.1 % entry.0.len()];
                    entry.1 += 1;
                    answer(status, true)
                }
                _ => answer(self.success_status, true),
            };
        }
        if let Some(status) = self.script.pop_front() {
            self.bump(body);
            return answer(status, false);
        }
        let random = self.fail_rate + self.hang_rate + self.reset_rate;
        if self.per_payload.is_empty() && random == 0.0 {
            // Nothing depends on attempt numbers: keep no per-body state.
            return answer(self.success_status, false);
        }
        let (hash, attempt) = self.bump(body);
        if let Some(&status) = self.per_payload.get(attempt as usize) {
            return answer(status, false);
        }
        if random > 0.0 {
            // One draw: [0, hang) hangs, [hang, hang + reset) resets,
            // then [.., + fail) fails (with no hang or reset configured,
            // exactly the failures an older schedule drew).
            let u = unit(mix(self.seed ^ mix(hash ^ u64::from(attempt))));
            if u < self.hang_rate {
                return Decision {
                    fault: Some(Fault::Hang),
                    ..answer(self.fail_status, false)
                };
            }
            if u < self.hang_rate + self.reset_rate {
                return Decision {
                    fault: Some(Fault::Reset),
                    ..answer(self.fail_status, false)
                };
            }
            if u < random {
                return answer(self.fail_status, false);
            }
        }
        answer(self.success_status, false)
    }

    /// Counts an attempt of `body`; returns its hash and the attempt
    /// number (0 for the first).
    fn bump(&mut self, body: &[u8]) -> (u64, u32) {
        let mut h = DefaultHasher::new();
        body.hash(&mut h);
        let hash = h.finish();
        let n = self.attempts.entry(hash).or_insert(0);
        let attempt = *n;
        *n += 1;
        (hash, attempt)
    }
}

/// Splits a scripted body into id and code list: valid UTF-8 with
/// exactly one `|`, and an id made of digits.
fn split_scripted(body: &[u8]) -> Option<(&str, &str)> {
    if body.len() > 4096 {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let (id, codes) = text.split_once('|')?;
    if codes.contains('|') || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((id, codes))
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x`.
pub(crate) const fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Maps 64 random bits to [0, 1).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_accepts_everything_without_delay() {
        let mut s = FaultSchedule::new();
        for body in [&b"a"[..], b"", b"x|y|z"] {
            let d = s.decide(body);
            assert_eq!(d.status, 202);
            assert_eq!(d.delay, Duration::ZERO);
            assert!(!d.control);
        }
    }

    #[test]
    fn latency_applies_to_every_answer() {
        let mut s = FaultSchedule::new()
            .with_latency(Duration::from_millis(200))
            .with_script([503]);
        assert_eq!(s.decide(b"a").delay, Duration::from_millis(200));
        assert_eq!(s.decide(b"a").delay, Duration::from_millis(200));
    }

    #[test]
    fn scripted_bodies_rotate_per_id() {
        let mut s = FaultSchedule::new();
        let body = scripted_body(1, &[503, 503, 200]);
        assert_eq!(body, b"1|503,503,200");
        let got: Vec<u16> = (0..5).map(|_| s.decide(&body).status).collect();
        assert_eq!(got, [503, 503, 200, 503, 503]);
        assert!(s.decide(&body).control);
        // Another id has its own rotation.
        assert_eq!(s.decide(b"2|403").status, 403);
        assert_eq!(s.decide(b"2|403").status, 403);
        // The first code list of an id is the one remembered.
        assert_eq!(s.decide(b"2|200").status, 403);
    }

    #[test]
    fn unparsable_scripts_answer_success_and_are_not_remembered() {
        let mut s = FaultSchedule::new();
        let d = s.decide(b"7|abc");
        assert_eq!((d.status, d.control), (202, true));
        assert_eq!(s.decide(b"7|404").status, 404);
        // Not the convention: two bars, or a non-numeric id.
        assert!(!s.decide(b"1|2|3").control);
        assert!(!s.decide(b"x|503").control);
    }

    #[test]
    fn global_script_then_success() {
        let mut s = FaultSchedule::new().with_script([503, 503, 200]);
        let got: Vec<u16> = (0..5).map(|i| s.decide(&[i]).status).collect();
        assert_eq!(got, [503, 503, 200, 202, 202]);
    }

    #[test]
    fn per_payload_script_counts_attempts_of_each_body() {
        let mut s = FaultSchedule::new().with_per_payload([503, 408]);
        assert_eq!(s.decide(b"a").status, 503);
        assert_eq!(s.decide(b"b").status, 503);
        assert_eq!(s.decide(b"a").status, 408);
        assert_eq!(s.decide(b"a").status, 202);
        assert_eq!(s.decide(b"b").status, 408);
        assert_eq!(s.decide(b"b").status, 202);
    }

    #[test]
    fn random_failures_follow_the_rate_and_the_seed() {
        let run = |seed| {
            let mut s = FaultSchedule::new()
                .with_random_failures(0.3, 503, seed)
                .unwrap();
            (0u32..2000)
                .map(|i| s.decide(&i.to_le_bytes()).status)
                .collect::<Vec<_>>()
        };
        let a = run(42);
        assert_eq!(a, run(42), "same seed, same pattern");
        assert_ne!(a, run(43), "another seed, another pattern");
        let failed = a.iter().filter(|&&c| c == 503).count();
        assert!((500..700).contains(&failed), "{failed} of 2000 failed");
        assert!(a.iter().all(|&c| c == 503 || c == 202));
    }

    #[test]
    fn random_failures_do_not_depend_on_arrival_order() {
        let make = || {
            FaultSchedule::new()
                .with_random_failures(0.5, 500, 9)
                .unwrap()
        };
        let bodies: Vec<[u8; 4]> = (0u32..50).map(u32::to_le_bytes).collect();
        let mut s1 = make();
        let forward: Vec<u16> = bodies.iter().map(|b| s1.decide(b).status).collect();
        let mut s2 = make();
        let mut backward: Vec<u16> = bodies.iter().rev().map(|b| s2.decide(b).status).collect();
        backward.reverse();
        assert_eq!(forward, backward);
    }

    #[test]
    fn retries_of_one_body_are_drawn_independently() {
        let mut s = FaultSchedule::new()
            .with_random_failures(0.5, 503, 1)
            .unwrap();
        let got: Vec<u16> = (0..64).map(|_| s.decide(b"same").status).collect();
        assert!(got.contains(&503) && got.contains(&202));
    }

    #[test]
    fn hangs_and_resets_share_the_draw_with_failures() {
        let run = |hang: f64, reset: f64, fail: f64| {
            let mut s = FaultSchedule::new()
                .with_random_failures(fail, 503, 5)
                .unwrap()
                .with_random_fault(Fault::Hang, hang, 5)
                .unwrap()
                .with_random_fault(Fault::Reset, reset, 5)
                .unwrap();
            assert_eq!(s.resets(), reset > 0.0);
            (0u32..2000)
                .map(|i| s.decide(&i.to_le_bytes()))
                .collect::<Vec<_>>()
        };
        let all_hang = run(1.0, 0.0, 0.0);
        assert!(all_hang.iter().all(|d| d.fault == Some(Fault::Hang)));
        let all_reset = run(0.0, 1.0, 0.0);
        assert!(all_reset.iter().all(|d| d.fault == Some(Fault::Reset)));
        let mixed = run(0.2, 0.2, 0.2);
        let count = |f: &dyn Fn(&Decision) -> bool| mixed.iter().filter(|d| f(d)).count();
        let hung = count(&|d| d.fault == Some(Fault::Hang));
        let reset = count(&|d| d.fault == Some(Fault::Reset));
        let failed = count(&|d| d.fault.is_none() && d.status == 503);
        for n in [hung, reset, failed] {
            assert!((300..500).contains(&n), "{hung} {reset} {failed}");
        }
        // Without hangs or resets the failures are those of before.
        let plain: Vec<u16> = run(0.0, 0.0, 0.3).iter().map(|d| d.status).collect();
        let mut old = FaultSchedule::new()
            .with_random_failures(0.3, 503, 5)
            .unwrap();
        let before: Vec<u16> = (0u32..2000)
            .map(|i| old.decide(&i.to_le_bytes()).status)
            .collect();
        assert_eq!(plain, before);
    }

    #[test]
    fn rates_and_statuses_are_checked() {
        assert!(
            FaultSchedule::new()
                .with_random_failures(1.5, 503, 0)
                .is_err()
        );
        assert_eq!(parse_status_list("503, 408,200").unwrap(), [503, 408, 200]);
        assert_eq!(parse_status_list("").unwrap(), Vec::<u16>::new());
        assert_eq!(parse_status("99"), Err(ScheduleError::OutOfRange(99)));
        assert!(matches!(
            parse_status("x"),
            Err(ScheduleError::NotANumber(_))
        ));
    }

    #[test]
    fn retriable_statuses_are_408_and_5xx() {
        assert!(is_retriable(408) && is_retriable(500) && is_retriable(503));
        assert!(!is_retriable(403) && !is_retriable(404) && !is_retriable(202));
        assert!(is_success(200) && is_success(202) && !is_success(301));
    }
}
