//! Invariant checks shared by the fuzz targets, the stable corpus test
//! (`core/tests/fuzz_corpus.rs`) and the property tests
//! (`core/tests/proptest_parse.rs`). Those tests compile this very file
//! with `#[path]`, so there is one copy of every oracle.
//!
//! Every check panics (with the input in the message) when an invariant
//! fails; that is how libFuzzer and `cargo test` notice.
//!
//! Input layouts (so hand-written seeds can target a case):
//!
//! * `parse_packet`: the whole input is a packet processed with the
//!   default [`Config`]; then the input minus its first byte is processed
//!   with options taken from that byte (see [`packet_case`]).
//! * `stream_framer`: `[flags, max_lo, max_hi, chunk_seed, max_chunk,
//!   body...]`, missing header bytes read as 0 (see [`check_stream_input`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;

use dogstatsd_core::config::{Config, MapperProfileConfig, MappingConfig};
use dogstatsd_core::frontend::{ConfigError, Frontend, Processed};
use dogstatsd_core::protocol::{
    CheckStatus, EventMessage, FrameError, LengthPrefixedFramer, Line, Lines, Message,
    MetricMessage, MetricType, MetricValues, NewlineFramer, Origin, ParseError, ParseErrorKind,
    ParseOptions, RawTags, ServiceCheckMessage, Transport, parse_message, parse_packet,
};

// ---------------------------------------------------------------------------
// Packets
// ---------------------------------------------------------------------------

/// The fuzz entry point of the `parse_packet` target.
pub fn check_packet_input(data: &[u8]) {
    with_case(None, |case| check_packet_case(data, case));
    if let Some((&flags, rest)) = data.split_first() {
        with_case(Some(flags), |case| check_packet_case(rest, case));
    }
}

/// A configuration, its transport and a processor built from it.
pub struct Case {
    cfg: Config,
    transport: Transport,
    processor: Frontend,
}

impl Case {
    /// Builds the processor. The mapper may refuse the profile (it is
    /// still a placeholder that refuses every profile): the rest is then
    /// checked without it.
    pub fn new(mut cfg: Config, transport: Transport) -> Self {
        let processor = match Frontend::new(&cfg) {
            Ok(p) => p,
            Err(ConfigError::Mapper(_)) => {
                cfg.dogstatsd_mapper_profiles.clear();
                Frontend::new(&cfg).expect("valid without the mapper")
            }
            Err(e) => panic!("fuzz configuration refused: {e}"),
        };
        Self {
            cfg,
            transport,
            processor,
        }
    }
}

/// Runs `f` on the cached case for `flags` (`None`: default config, UDP),
/// so the fuzz loop does not rebuild configurations for every input.
fn with_case(flags: Option<u8>, f: impl FnOnce(&mut Case)) {
    thread_local! {
        static CASES: RefCell<Vec<Option<Case>>> = RefCell::new((0..257).map(|_| None).collect());
    }
    CASES.with(|cases| {
        let mut cases = cases.borrow_mut();
        let slot = flags.map_or(256, usize::from);
        let case = cases[slot].get_or_insert_with(|| match flags {
            None => Case::new(Config::default(), Transport::Udp),
            Some(b) => {
                let (cfg, transport) = packet_case(b);
                Case::new(cfg, transport)
            }
        });
        f(case);
    });
}

/// Options derived from the first input byte:
///
/// * bit 0: `dogstatsd_origin_detection_client` on;
/// * bit 1: `dogstatsd_eol_required: [udp, uds, named_pipe]`;
/// * bit 2: `dogstatsd_no_aggregation_pipeline` off (`T` ignored);
/// * bit 3: namespace `ns`, extra tags and a hostname;
/// * bit 4: a mapper profile for names starting with `app.`;
/// * bits 5–7: transport (udp, uds datagram, uds stream, named pipe, push).
pub fn packet_case(flags: u8) -> (Config, Transport) {
    let mut cfg = Config {
        dogstatsd_origin_detection_client: flags & 1 != 0,
        dogstatsd_no_aggregation_pipeline: flags & 4 == 0,
        ..Config::default()
    };
    if flags & 2 != 0 {
        cfg.dogstatsd_eol_required = vec!["udp".into(), "uds".into(), "named_pipe".into()];
    }
    if flags & 8 != 0 {
        cfg.statsd_metric_namespace = "ns".into();
        cfg.dogstatsd_tags = vec!["env:fuzz".into(), "host:extra".into(), "env:fuzz".into()];
        cfg.hostname = "default-host".into();
    }
    if flags & 16 != 0 {
        let mut tags = BTreeMap::new();
        tags.insert("part".to_string(), "$1".to_string());
        cfg.dogstatsd_mapper_profiles = vec![MapperProfileConfig {
            name: "fuzz".into(),
            prefix: "app.".into(),
            mappings: vec![MappingConfig {
                pattern: "app.*.hits".into(),
                match_type: String::new(),
                name: "app.hits".into(),
                tags,
            }],
        }];
    }
    let transport = match flags >> 5 {
        0 | 5 => Transport::Udp,
        1 | 6 => Transport::UnixDatagram,
        2 | 7 => Transport::UnixStream,
        3 => Transport::NamedPipe,
        _ => Transport::Push,
    };
    (cfg, transport)
}

/// The Agent's `scanLines` written out independently of [`Lines`]: each
/// line with whether it may be parsed (false: unterminated final segment
/// on a transport that requires `\n`).
///
/// A final non-empty segment without `\n` is unterminated when eol is
/// required even if it is only `\r` (the Agent's `nextMessage` checks
/// termination before emptiness).
pub fn reference_lines(packet: &[u8], require_eol: bool) -> Vec<(&[u8], bool)> {
    let mut out = Vec::new();
    let mut segments = packet.split(|&b| b == b'\n').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        let line = seg.strip_suffix(b"\r").unwrap_or(seg);
        if last && require_eol && !seg.is_empty() {
            out.push((line, false));
            continue;
        }
        if line.is_empty() {
            continue;
        }
        out.push((line, !(last && require_eol)));
    }
    out
}

/// What one line became, reduced to something comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Metric,
    Event,
    ServiceCheck,
    Error(ParseErrorKind),
}

fn outcome(r: &Result<Message<'_>, ParseError>) -> Outcome {
    match r {
        Ok(Message::Metric(_)) => Outcome::Metric,
        Ok(Message::Event(_)) => Outcome::Event,
        Ok(Message::ServiceCheck(_)) => Outcome::ServiceCheck,
        Err(e) => Outcome::Error(e.kind),
    }
}

/// Runs `packet` through [`parse_packet`] and [`Frontend::process_packet`]
/// and checks them against each other, against [`reference_lines`], and
/// every parsed message against its canonical re-serialization.
pub fn check_packet(packet: &[u8], cfg: &Config, transport: Transport) {
    check_packet_case(packet, &mut Case::new(cfg.clone(), transport));
}

/// [`check_packet`] with a prepared [`Case`] (its processor's counters
/// keep running; only their increase is checked).
pub fn check_packet_case(packet: &[u8], case: &mut Case) {
    let (cfg, transport, processor) = (&case.cfg, case.transport, &mut case.processor);
    let opts = ParseOptions {
        read_timestamps: cfg.dogstatsd_no_aggregation_pipeline,
        origin_fields: cfg.dogstatsd_origin_detection_client,
    };
    let require_eol = transport != Transport::Push
        && cfg
            .dogstatsd_eol_required
            .iter()
            .any(|t| t == transport.eol_name());

    // Lines agree with the reference splitter.
    let reference = reference_lines(packet, require_eol);
    let lines: Vec<Line<'_>> = Lines::new(packet, require_eol).collect();
    assert_eq!(
        lines.len(),
        reference.len(),
        "line count differs for {packet:?}"
    );
    for (line, &(want, terminated)) in lines.iter().zip(&reference) {
        let expected = if terminated {
            Line::Message(want)
        } else {
            Line::Unterminated(want)
        };
        assert_eq!(*line, expected, "line differs for packet {packet:?}");
    }

    // parse_packet = Lines + parse_message, and every message round-trips.
    let parsed: Vec<(&[u8], Result<Message<'_>, ParseError>)> =
        parse_packet(packet, require_eol, &opts).collect();
    assert_eq!(parsed.len(), reference.len());
    for ((line, result), &(want, terminated)) in parsed.iter().zip(&reference) {
        assert_eq!(*line, want);
        // Only an unterminated final segment may be empty (a lone `\r`).
        assert!(!line.contains(&b'\n') && (!line.is_empty() || !terminated));
        if terminated {
            let again = parse_message(line, &opts);
            assert_eq!(
                outcome(result),
                outcome(&again),
                "parse_packet != parse_message on {line:?}"
            );
            if let Ok(msg) = result {
                check_message(line, msg, &opts);
            }
        } else {
            assert_eq!(
                outcome(result),
                Outcome::Error(ParseErrorKind::Unterminated)
            );
        }
    }

    // The processor sees the same outcomes, in order, and counts them.
    let before = processor.stats();
    let mut seen = 0usize;
    processor.process_packet(packet, transport, |p: Processed<'_>| {
        let (line, expected) = &parsed[seen];
        seen += 1;
        check_processed(line, expected, &p, cfg);
    });
    assert_eq!(
        seen,
        parsed.len(),
        "processor handed over a different number of lines"
    );
    let after = processor.stats();
    let count =
        |o: fn(&Outcome) -> bool| parsed.iter().filter(|(_, r)| o(&outcome(r))).count() as u64;
    assert_eq!(
        after.metric_packets - before.metric_packets,
        count(|o| *o == Outcome::Metric)
    );
    assert_eq!(
        after.event_packets - before.event_packets,
        count(|o| *o == Outcome::Event)
    );
    assert_eq!(
        after.service_check_packets - before.service_check_packets,
        count(|o| *o == Outcome::ServiceCheck)
    );
    assert_eq!(
        after.unterminated_metric_errors - before.unterminated_metric_errors,
        count(|o| *o == Outcome::Error(ParseErrorKind::Unterminated))
    );
    let errors =
        after.metric_parse_errors + after.event_parse_errors + after.service_check_parse_errors
            - before.metric_parse_errors
            - before.event_parse_errors
            - before.service_check_parse_errors;
    assert_eq!(
        errors + after.unterminated_metric_errors - before.unterminated_metric_errors,
        count(|o| matches!(o, Outcome::Error(_)))
    );
}

/// Structural invariants of one parsed message, then the round trip:
/// canonical text parses back to the same fields.
pub fn check_message(line: &[u8], msg: &Message<'_>, opts: &ParseOptions) {
    match msg {
        Message::Metric(m) => {
            assert!(!m.name.is_empty(), "empty name from {line:?}");
            assert!(!m.name.contains(&b':') && !m.name.contains(&b'|'));
            assert!(!line.starts_with(b"_e{") && !line.starts_with(b"_sc"));
            let n = m.values.iter().count();
            match m.values {
                MetricValues::Set(member) => {
                    assert_eq!(m.metric_type, MetricType::Set);
                    assert!(!member.is_empty() && !member.contains(&b'|'));
                    assert_eq!(n, 0);
                }
                MetricValues::Single(_) => assert_eq!(n, 1),
                MetricValues::Multi(_) => assert!(n >= 2),
            }
            assert_eq!(m.values.len(), n.max(1), "value count of {line:?}");
            for v in m.values.iter() {
                assert!(
                    !v.is_infinite() || line.windows(3).any(|w| w.eq_ignore_ascii_case(b"inf"))
                );
            }
            if !opts.read_timestamps {
                assert_eq!(m.timestamp, None);
            }
            if let Some(ts) = m.timestamp {
                assert!(ts >= 1);
            }
            if !opts.origin_fields {
                assert_eq!(m.origin, Origin::default());
            }
        }
        Message::Event(e) => {
            assert!(line.starts_with(b"_e{"));
            assert!(!e.title.is_empty());
            if !opts.origin_fields {
                assert_eq!(e.origin, Origin::default());
            }
        }
        Message::ServiceCheck(s) => {
            assert!(line.starts_with(b"_sc"));
            assert!(!s.name.is_empty() && !s.name.contains(&b'|'));
            if !opts.origin_fields {
                assert_eq!(s.origin, Origin::default());
            }
        }
    }
    let text = serialize(msg, opts);
    let again = parse_message(&text, opts)
        .unwrap_or_else(|e| panic!("canonical form {text:?} of {line:?} does not parse: {e}"));
    assert!(
        same_message(msg, &again),
        "round trip changed {line:?}\n canonical {text:?}\n before {msg:?}\n after  {again:?}"
    );
}

/// f64 equality for round trips: same bits, or both NaN.
pub fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_values(a: &MetricValues<'_>, b: &MetricValues<'_>) -> bool {
    match (a, b) {
        (MetricValues::Set(x), MetricValues::Set(y)) => x == y,
        (MetricValues::Set(_), _) | (_, MetricValues::Set(_)) => false,
        _ => {
            matches!(a, MetricValues::Multi(_)) == matches!(b, MetricValues::Multi(_))
                && a.iter().count() == b.iter().count()
                && a.iter().zip(b.iter()).all(|(x, y)| same_f64(x, y))
        }
    }
}

/// Field-by-field equality with NaN-tolerant floats.
pub fn same_message(a: &Message<'_>, b: &Message<'_>) -> bool {
    match (a, b) {
        (Message::Metric(x), Message::Metric(y)) => {
            x.name == y.name
                && x.metric_type == y.metric_type
                && same_values(&x.values, &y.values)
                && same_f64(x.sample_rate, y.sample_rate)
                && x.tags == y.tags
                && x.timestamp == y.timestamp
                && x.origin == y.origin
        }
        (Message::Event(x), Message::Event(y)) => x == y,
        (Message::ServiceCheck(x), Message::ServiceCheck(y)) => x == y,
        _ => false,
    }
}

/// Canonical DogStatsD text of a message (fields in a fixed order).
pub fn serialize(msg: &Message<'_>, opts: &ParseOptions) -> Vec<u8> {
    let mut out = Vec::new();
    match msg {
        Message::Metric(m) => serialize_metric(m, opts, &mut out),
        Message::Event(e) => serialize_event(e, opts, &mut out),
        Message::ServiceCheck(s) => serialize_service_check(s, opts, &mut out),
    }
    out
}

/// The type symbol of a metric type.
pub fn type_symbol(t: MetricType) -> &'static str {
    match t {
        MetricType::Count => "c",
        MetricType::Gauge => "g",
        MetricType::Histogram => "h",
        MetricType::Timing => "ms",
        MetricType::Distribution => "d",
        MetricType::Set => "s",
    }
}

fn serialize_metric(m: &MetricMessage<'_>, opts: &ParseOptions, out: &mut Vec<u8>) {
    out.extend_from_slice(m.name);
    out.push(b':');
    match m.values {
        MetricValues::Set(member) => out.extend_from_slice(member),
        _ => {
            for (i, v) in m.values.iter().enumerate() {
                if i > 0 {
                    out.push(b':');
                }
                out.extend_from_slice(format!("{v}").as_bytes());
            }
        }
    }
    out.push(b'|');
    out.extend_from_slice(type_symbol(m.metric_type).as_bytes());
    out.extend_from_slice(format!("|@{}", m.sample_rate).as_bytes());
    if !m.tags.is_empty() {
        out.extend_from_slice(b"|#");
        out.extend_from_slice(m.tags.as_bytes());
    }
    if let Some(ts) = m.timestamp {
        out.extend_from_slice(format!("|T{ts}").as_bytes());
    }
    serialize_origin(&m.origin, opts, out);
}

fn serialize_origin(o: &Origin<'_>, opts: &ParseOptions, out: &mut Vec<u8>) {
    if !opts.origin_fields {
        return;
    }
    match (o.container_id, o.inode) {
        (Some(id), Some(inode)) => {
            out.extend_from_slice(b"|c:ci-");
            out.extend_from_slice(id);
            out.extend_from_slice(format!(",in-{inode}").as_bytes());
        }
        (Some(id), None) => {
            out.extend_from_slice(b"|c:ci-");
            out.extend_from_slice(id);
        }
        (None, Some(inode)) => out.extend_from_slice(format!("|c:in-{inode}").as_bytes()),
        (None, None) => {}
    }
    if let Some(e) = o.external_data {
        out.extend_from_slice(b"|e:");
        out.extend_from_slice(e);
    }
    if let Some(c) = o.cardinality {
        out.extend_from_slice(b"|card:");
        out.extend_from_slice(c);
    }
}

/// Undoes the event `\n` unescaping (a parsed title or text never holds a
/// literal backslash-`n` pair, so this is exact).
pub fn escape_newlines(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b == b'\n' {
            out.extend_from_slice(b"\\n");
        } else {
            out.push(b);
        }
    }
    out
}

fn field(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    out.push(b'|');
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
}

fn serialize_event(e: &EventMessage<'_>, opts: &ParseOptions, out: &mut Vec<u8>) {
    let title = escape_newlines(&e.title);
    let text = escape_newlines(&e.text);
    out.extend_from_slice(format!("_e{{{},{}}}:", title.len(), text.len()).as_bytes());
    out.extend_from_slice(&title);
    out.push(b'|');
    out.extend_from_slice(&text);
    field(out, b"d:", e.timestamp.to_string().as_bytes());
    field(out, b"h:", e.hostname);
    field(out, b"k:", e.aggregation_key);
    field(out, b"p:", e.priority.name().as_bytes());
    field(out, b"s:", e.source_type);
    field(out, b"t:", e.alert_type.name().as_bytes());
    field(out, b"#", e.tags.as_bytes());
    serialize_origin(&e.origin, opts, out);
}

fn serialize_service_check(s: &ServiceCheckMessage<'_>, opts: &ParseOptions, out: &mut Vec<u8>) {
    out.extend_from_slice(b"_sc|");
    out.extend_from_slice(s.name);
    let status = match s.status {
        CheckStatus::Ok => b"0",
        CheckStatus::Warning => b"1",
        CheckStatus::Critical => b"2",
        CheckStatus::Unknown => b"3",
    };
    field(out, b"", status);
    field(out, b"d:", s.timestamp.to_string().as_bytes());
    field(out, b"h:", s.hostname);
    field(out, b"m:", s.message);
    field(out, b"#", s.tags.as_bytes());
    serialize_origin(&s.origin, opts, out);
}

/// `host:` and `dd.internal.*` tags are consumed by enrichment.
fn is_special_tag(tag: &[u8], keep_card: bool) -> bool {
    tag.starts_with(b"host:")
        || tag.starts_with(b"dd.internal.entity_id:")
        || tag.starts_with(b"dd.internal.jmx_check_name:")
        || (!keep_card && tag.starts_with(b"dd.internal.card:"))
}

/// Tags after enrichment, computed from the spec (§7.2, §7.1 step 8).
fn expected_tags<'a>(raw: RawTags<'a>, keep_card: bool, cfg: &'a Config) -> Vec<Cow<'a, [u8]>> {
    let mut out: Vec<Cow<'a, [u8]>> = raw
        .iter()
        .filter(|t| !is_special_tag(t, keep_card))
        .map(Cow::Borrowed)
        .collect();
    let mut extra = cfg.dogstatsd_tags.clone();
    extra.sort();
    extra.dedup();
    out.extend(extra.into_iter().map(|t| Cow::Owned(t.into_bytes())));
    out
}

fn last_host_tag(raw: RawTags<'_>) -> Option<&[u8]> {
    raw.iter().filter_map(|t| t.strip_prefix(b"host:")).last()
}

fn check_processed(
    line: &[u8],
    expected: &Result<Message<'_>, ParseError>,
    got: &Processed<'_>,
    cfg: &Config,
) {
    let mapper = !cfg.dogstatsd_mapper_profiles.is_empty();
    match (expected, got) {
        (Ok(Message::Metric(m)), Processed::Metric(e)) => {
            assert_eq!(e.metric_type, m.metric_type);
            assert!(same_values(&e.values, &m.values));
            assert!(same_f64(e.sample_rate, m.sample_rate));
            assert_eq!(e.timestamp, m.timestamp);
            assert_eq!(e.origin, m.origin);
            let mapped = mapper && m.name.starts_with(b"app.");
            if !mapped {
                let blocked = cfg
                    .statsd_metric_namespace_blacklist
                    .iter()
                    .any(|b| m.name.starts_with(b.as_bytes()));
                let mut want = Vec::new();
                if !cfg.statsd_metric_namespace.is_empty() && !blocked {
                    want.extend_from_slice(cfg.statsd_metric_namespace.as_bytes());
                    if !want.ends_with(b".") {
                        want.push(b'.');
                    }
                }
                want.extend_from_slice(m.name);
                assert!(e.name.eq_bytes(&want), "name of {line:?}: {:?}", e.name);
                let host = last_host_tag(m.tags).unwrap_or(cfg.hostname.as_bytes());
                assert_eq!(e.host, host, "host of {line:?}");
                let got: Vec<&[u8]> = e.tags.iter().collect();
                let want = expected_tags(m.tags, m.origin.cardinality.is_some(), cfg);
                assert!(
                    got.iter().copied().eq(want.iter().map(|t| &**t)),
                    "tags of {line:?}: {got:?}"
                );
            }
        }
        (Ok(Message::Event(m)), Processed::Event(e)) => {
            assert_eq!(&e.msg, m);
            let host = if m.hostname.is_empty() {
                last_host_tag(m.tags).unwrap_or(cfg.hostname.as_bytes())
            } else {
                m.hostname
            };
            assert_eq!(e.hostname, host, "event host of {line:?}");
            let got: Vec<&[u8]> = e.tags.iter().collect();
            let want = expected_tags(m.tags, m.origin.cardinality.is_some(), cfg);
            assert!(
                got.iter().copied().eq(want.iter().map(|t| &**t)),
                "event tags of {line:?}: {got:?}"
            );
        }
        (Ok(Message::ServiceCheck(m)), Processed::ServiceCheck(e)) => {
            assert_eq!(&e.msg, m);
            let host = if m.hostname.is_empty() {
                last_host_tag(m.tags).unwrap_or(cfg.hostname.as_bytes())
            } else {
                m.hostname
            };
            assert_eq!(e.hostname, host, "check host of {line:?}");
            let got: Vec<&[u8]> = e.tags.iter().collect();
            let want = expected_tags(m.tags, m.origin.cardinality.is_some(), cfg);
            assert!(
                got.iter().copied().eq(want.iter().map(|t| &**t)),
                "check tags of {line:?}: {got:?}"
            );
        }
        (Err(want), Processed::Error { line: l, error }) => {
            assert_eq!(*l, line);
            assert_eq!(error.kind, want.kind, "error kind of {line:?}");
        }
        _ => panic!("processor and parser disagree on {line:?}: {expected:?} vs {got:?}"),
    }
}

// ---------------------------------------------------------------------------
// Stream framing
// ---------------------------------------------------------------------------

/// Small deterministic generator for chunk sizes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Splits `stream` into read-sized chunks: one chunk when `max_chunk` is
/// 0, else sizes in `0..=max_chunk` (an empty read now and then).
pub fn chunks(stream: &[u8], seed: u8, max_chunk: u8) -> Vec<&[u8]> {
    if max_chunk == 0 {
        return vec![stream];
    }
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ u64::from(seed));
    let mut out = Vec::new();
    let mut rest = stream;
    let mut last_empty = false;
    while !rest.is_empty() {
        let mut n = (rng.next() % (u64::from(max_chunk) + 1)) as usize;
        if n == 0 && last_empty {
            n = 1;
        }
        last_empty = n == 0;
        let n = n.min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// Encodes payloads as the UDS stream protocol does (4-byte LE length).
pub fn encode_frames<'a>(payloads: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// What a length-prefixed stream must decode to: frames, then either a
/// fatal error or the number of bytes left pending.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Complete frames in order.
    pub frames: Vec<Vec<u8>>,
    /// The error that closes the connection, if any.
    pub error: Option<FrameError>,
    /// Bytes of an unfinished frame (when no error).
    pub pending: usize,
}

/// Reference decoder for the UDS stream framing (spec §1.4).
pub fn reference_decode(stream: &[u8], max: usize) -> Decoded {
    let max = u32::try_from(max).unwrap_or(u32::MAX);
    let mut frames = Vec::new();
    let mut rest = stream;
    loop {
        if rest.len() < 4 {
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if len == 0 {
            return Decoded {
                frames,
                error: Some(FrameError::ZeroLength),
                pending: 0,
            };
        }
        if len > max {
            return Decoded {
                frames,
                error: Some(FrameError::TooLarge { len, max }),
                pending: 0,
            };
        }
        let total = 4 + len as usize;
        if rest.len() < total {
            break;
        }
        frames.push(rest[4..total].to_vec());
        rest = &rest[total..];
    }
    Decoded {
        frames,
        error: None,
        pending: rest.len(),
    }
}

/// Pushes `stream` in the given chunks through a [`LengthPrefixedFramer`]
/// and checks it against [`reference_decode`].
pub fn check_length_prefixed(stream_chunks: &[&[u8]], max: usize) -> Decoded {
    let stream: Vec<u8> = stream_chunks.concat();
    let want = reference_decode(&stream, max);
    let mut framer = LengthPrefixedFramer::new(max);
    let mut frames = Vec::new();
    let mut error = None;
    'outer: for chunk in stream_chunks {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(f)) => {
                    assert!(
                        !f.is_empty() && f.len() <= max,
                        "frame of {} bytes, max {max}",
                        f.len()
                    );
                    frames.push(f.to_vec());
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'outer;
                }
            }
        }
    }
    if let Some(e) = error {
        // Sticky: the connection stays failed whatever comes next.
        framer.push(b"\x05\0\0\0a:1|c");
        assert_eq!(framer.next_frame(), Err(e));
    }
    let pending = if error.is_none() { framer.pending() } else { 0 };
    let got = Decoded {
        frames,
        error,
        pending,
    };
    assert_eq!(
        got, want,
        "length-prefixed framer differs from the reference on {stream:?}"
    );
    if error.is_none() {
        match framer.finish() {
            Ok(()) => assert_eq!(pending, 0),
            Err(FrameError::Truncated { pending: p }) => assert_eq!(p, pending),
            Err(e) => panic!("finish returned {e:?}"),
        }
    }
    got
}

/// What the named-pipe reader must produce: packets and discards.
#[derive(Debug, PartialEq, Eq)]
pub struct Piped {
    /// Packets handed over, in order.
    pub packets: Vec<Vec<u8>>,
    /// Partial messages discarded because they filled the buffer.
    pub discarded: u64,
}

/// Reference model of the named-pipe reader (spec §1.5): reads fill a
/// `capacity`-byte buffer; after each read everything up to the last
/// `\n` is a packet; a buffer full without `\n` is thrown away.
pub fn reference_pipe(stream_chunks: &[&[u8]], capacity: usize) -> Piped {
    let capacity = capacity.max(1);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Piped {
        packets: Vec::new(),
        discarded: 0,
    };
    for chunk in stream_chunks {
        let mut rest: &[u8] = chunk;
        while !rest.is_empty() {
            let n = (capacity - buf.len()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if let Some(last) = buf.iter().rposition(|&b| b == b'\n') {
                out.packets.push(buf[..=last].to_vec());
                buf.drain(..=last);
            } else if buf.len() == capacity {
                buf.clear();
                out.discarded += 1;
            }
        }
    }
    out
}

/// Pushes the chunks through a [`NewlineFramer`] and checks it against
/// [`reference_pipe`] and the framing invariants.
pub fn check_newline(stream_chunks: &[&[u8]], capacity: usize) -> Piped {
    let capacity = capacity.max(1);
    let mut framer = NewlineFramer::new(capacity);
    let mut packets = Vec::new();
    for chunk in stream_chunks {
        framer.push(chunk, |p| packets.push(p.to_vec()));
    }
    let got = Piped {
        packets,
        discarded: framer.discarded(),
    };
    let want = reference_pipe(stream_chunks, capacity);
    let stream: Vec<u8> = stream_chunks.concat();
    assert_eq!(
        got, want,
        "newline framer differs from the reference on {stream:?} (capacity {capacity})"
    );
    for p in &got.packets {
        assert!(!p.is_empty() && p.len() <= capacity && p.ends_with(b"\n"));
    }
    // A line that fits with its `\n` never fills the buffer; an
    // unterminated tail that fills it exactly is (rightly) discarded.
    let fits = stream.split_inclusive(|&b| b == b'\n').all(|l| {
        if l.ends_with(b"\n") {
            l.len() <= capacity
        } else {
            l.len() < capacity
        }
    });
    if fits {
        assert_eq!(
            got.discarded, 0,
            "nothing may be discarded when every line fits"
        );
    }
    if got.discarded == 0 {
        let complete = stream
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        assert_eq!(
            got.packets.concat(),
            &stream[..complete],
            "packets must be the stream, in order"
        );
    }
    got
}

/// The fuzz entry point of the `stream_framer` target. Layout:
/// `[flags, max_lo, max_hi, chunk_seed, max_chunk, body...]`.
///
/// * flags bit 0 clear: the body is split on `0xFF` into payloads, which
///   are length-prefixed (and `\n`-joined for the newline framer), so the
///   frames returned must be exactly those payloads; set: the body is fed
///   raw.
/// * flags bits 4–7: that many bytes are cut from the end of the stream.
/// * max: the frame limit and the newline buffer capacity.
pub fn check_stream_input(data: &[u8]) {
    let header = |i: usize| data.get(i).copied().unwrap_or(0);
    let (flags, seed, max_chunk) = (header(0), header(3), header(4));
    let max = usize::from(u16::from_le_bytes([header(1), header(2)]));
    let body = data.get(5..).unwrap_or_default();
    let cut = usize::from(flags >> 4);
    let raw = flags & 1 != 0;

    // Length-prefixed.
    let payloads: Vec<&[u8]> = body.split(|&b| b == 0xFF).collect();
    let mut stream = if raw {
        body.to_vec()
    } else {
        encode_frames(payloads.iter().copied())
    };
    stream.truncate(stream.len().saturating_sub(cut));
    let decoded = check_length_prefixed(&chunks(&stream, seed, max_chunk), max);
    if !raw {
        // The frames are exactly the payloads encoded, up to the first
        // one the framer must refuse or the cut.
        let n = decoded.frames.len();
        assert!(decoded.frames.iter().zip(&payloads).all(|(f, p)| f == p));
        if let Some(e) = decoded.error {
            let bad = payloads[n];
            match e {
                FrameError::ZeroLength => assert!(bad.is_empty()),
                FrameError::TooLarge { len, .. } => {
                    assert!(len as usize == bad.len() && bad.len() > max)
                }
                other => panic!("unexpected {other:?}"),
            }
        } else if cut == 0 {
            assert_eq!(n, payloads.len());
        }
    }

    // Newline (named pipe).
    let mut stream = if raw {
        body.to_vec()
    } else {
        let mut s = Vec::new();
        for p in &payloads {
            s.extend_from_slice(p);
            s.push(b'\n');
        }
        s
    };
    stream.truncate(stream.len().saturating_sub(cut));
    let capacity = max.clamp(1, 16 * 1024);
    check_newline(&chunks(&stream, seed, max_chunk), capacity);
}
