//! Property tests for the parser, the packet splitter and the framers.
//!
//! * Arbitrary bytes never panic and satisfy the fuzz oracles (the same
//!   checks as the fuzz targets, compiled from `fuzz/src/checks.rs`).
//! * Well-formed generated messages serialize to DogStatsD text, parse,
//!   and give back the fields they were built from; values compare as the
//!   f64 std parses from the same text.
//! * Parsing a packet equals splitting it into lines and parsing each.

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/checks.rs"]
mod checks;

use dogstatsd_core::protocol::{
    AlertType, CheckStatus, Message, MetricType, MetricValues, ParseOptions, Priority,
    parse_message, parse_packet,
};
use proptest::collection::vec;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Arbitrary bytes
// ---------------------------------------------------------------------------

/// Bytes drawn mostly from the protocol's own alphabet, so random input
/// reaches past the first checks more often than uniform bytes do.
fn protocolish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: &[u8] = b"abcTdeghmsc_0123456789.:|#@,{}-+\n\r eEnNp xX\\";
    vec(
        prop_oneof![
            4 => proptest::sample::select(alphabet),
            1 => any::<u8>(),
        ],
        0..400,
    )
}

proptest! {
    #[test]
    fn arbitrary_packets_never_panic(data in vec(any::<u8>(), 0..600)) {
        checks::check_packet_input(&data);
    }

    #[test]
    fn protocolish_packets_never_panic(data in protocolish_bytes()) {
        checks::check_packet_input(&data);
        for flags in [0b11u8, 0b1_0101, 0b1000_1010] {
            let (cfg, transport) = checks::packet_case(flags);
            checks::check_packet(&data, &cfg, transport);
        }
    }

    #[test]
    fn arbitrary_streams_never_panic(data in vec(any::<u8>(), 0..600)) {
        checks::check_stream_input(&data);
    }

    #[test]
    fn framed_payloads_come_back_exactly(
        payloads in vec(vec(any::<u8>(), 1..300), 0..20),
        seed in any::<u8>(),
        max_chunk in any::<u8>(),
    ) {
        let stream = checks::encode_frames(payloads.iter().map(Vec::as_slice));
        let got = checks::check_length_prefixed(&checks::chunks(&stream, seed, max_chunk), 8192);
        prop_assert_eq!(got.frames, payloads);
        prop_assert_eq!(got.error, None);
        prop_assert_eq!(got.pending, 0);
    }

    #[test]
    fn piped_lines_come_back_in_order(
        lines in vec("[a-z0-9:|#.,]{0,40}", 0..30),
        seed in any::<u8>(),
        max_chunk in any::<u8>(),
        capacity in 41usize..200,
    ) {
        let stream: Vec<u8> = lines.iter().flat_map(|l| [l.as_bytes(), b"\n"].concat()).collect();
        let got = checks::check_newline(&checks::chunks(&stream, seed, max_chunk), capacity);
        prop_assert_eq!(got.discarded, 0);
        prop_assert_eq!(got.packets.concat(), stream);
    }
}

// ---------------------------------------------------------------------------
// Well-formed messages
// ---------------------------------------------------------------------------

/// A number as a client might write it, with the value std reads from
/// the same text.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (any::<i32>(), 0u32..1_000_000).prop_map(|(a, b)| format!("{a}.{b}")),
        (0u32..100_000).prop_map(|b| format!(".{b}")),
        (0u32..100_000).prop_map(|a| format!("+{a}.")),
        (-99_999i32..99_999, 0u32..999, -300i32..290, any::<bool>())
            .prop_map(|(m, f, e, big)| format!("{m}.{f}{}{e}", if big { 'E' } else { 'e' })),
        (1u32..1000, 0i32..30).prop_map(|(m, e)| format!("-{m}e+{e}")),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| v.to_string()),
    ]
}

/// Text of `min..=max` chars, none of them in `excluded`: mostly
/// readable ASCII, sometimes any Unicode scalar (controls, `\r`, `#`,
/// `@`, `,`, multi-byte).
fn text_without(
    excluded: &'static [char],
    min: usize,
    max: usize,
) -> impl Strategy<Value = String> {
    let readable: Vec<char> = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_.-/ "
        .chars()
        .collect();
    let c = prop_oneof![
        4 => proptest::sample::select(readable),
        1 => any::<char>(),
    ]
    .prop_filter("excluded char", move |c| !excluded.contains(c));
    vec(c, min..=max).prop_map(|cs| cs.into_iter().collect())
}

/// Any name the grammar allows: no `:`, `|` or newline, and not a
/// prefix that dispatches to the event or service check parser.
fn metric_name() -> impl Strategy<Value = String> {
    text_without(&[':', '|', '\n'], 1, 40).prop_filter("dispatch prefix", |n| {
        !n.starts_with("_e{") && !n.starts_with("_sc")
    })
}

/// Any tag: no `,`, `|` or newline.
fn tag() -> impl Strategy<Value = String> {
    text_without(&[',', '|', '\n'], 0, 15)
}

/// Fields that must be ignored: unknown first bytes, empty fields.
fn unknown_field() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-SU-Z][a-z0-9:=]{0,8}", Just(String::new())]
}

#[derive(Debug, Clone)]
struct MetricCase {
    name: String,
    metric_type: MetricType,
    values: Vec<String>,
    set_member: String,
    rate: Option<String>,
    tags: Vec<String>,
    timestamp: Option<i64>,
    fields: Vec<String>,
}

impl MetricCase {
    fn text(&self) -> String {
        let value = if self.metric_type == MetricType::Set {
            self.set_member.clone()
        } else {
            self.values.join(":")
        };
        let mut s = format!(
            "{}:{}|{}",
            self.name,
            value,
            checks::type_symbol(self.metric_type)
        );
        for f in &self.fields {
            s.push('|');
            s.push_str(f);
        }
        s
    }
}

fn metric_case() -> impl Strategy<Value = MetricCase> {
    let types = proptest::sample::select(vec![
        MetricType::Count,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::Timing,
        MetricType::Distribution,
        MetricType::Set,
    ]);
    (
        metric_name(),
        types,
        vec(number_text(), 1..=5),
        text_without(&['|', '\n'], 1, 30),
        proptest::option::of(prop_oneof![
            Just("0.5".to_string()),
            Just("1e-2".to_string()),
            (0.0f64..=1.0).prop_map(|r| r.to_string()),
        ]),
        vec(tag(), 0..=20),
        proptest::option::of(1i64..4_000_000_000),
        vec(unknown_field(), 0..3),
    )
        .prop_flat_map(
            |(name, metric_type, values, set_member, rate, tags, timestamp, unknown)| {
                let mut fields = unknown;
                if let Some(r) = &rate {
                    fields.push(format!("@{r}"));
                }
                if !tags.is_empty() {
                    fields.push(format!("#{}", tags.join(",")));
                }
                if let Some(ts) = timestamp {
                    fields.push(format!("T{ts}"));
                }
                Just(fields)
                    .prop_shuffle()
                    .prop_map(move |fields| MetricCase {
                        name: name.clone(),
                        metric_type,
                        values: values.clone(),
                        set_member: set_member.clone(),
                        rate: rate.clone(),
                        tags: tags.clone(),
                        timestamp,
                        fields,
                    })
            },
        )
}

/// Title and text bytes: `|`, `:`, braces, unicode and real newlines
/// (sent as the two-byte `\n` escape), never a backslash of their own.
const EVENT_CHARS: &str = "[a-zA-Z0-9 |:{},#@é日\n]";

#[derive(Debug, Clone)]
struct EventCase {
    title: String,
    text: String,
    timestamp: Option<i64>,
    hostname: Option<String>,
    key: Option<String>,
    priority: Option<Priority>,
    source: Option<String>,
    alert: Option<AlertType>,
    tags: Vec<String>,
    fields: Vec<String>,
}

impl EventCase {
    fn text(&self) -> String {
        let title = self.title.replace('\n', "\\n");
        let text = self.text.replace('\n', "\\n");
        let mut s = format!("_e{{{},{}}}:{title}|{text}", title.len(), text.len());
        for f in &self.fields {
            s.push('|');
            s.push_str(f);
        }
        s
    }
}

fn field_value() -> impl Strategy<Value = String> {
    text_without(&['|', '\n'], 0, 20)
}

fn event_case() -> impl Strategy<Value = EventCase> {
    let priority = proptest::sample::select(vec![Priority::Normal, Priority::Low]);
    let alert = proptest::sample::select(vec![
        AlertType::Info,
        AlertType::Warning,
        AlertType::Error,
        AlertType::Success,
    ]);
    (
        proptest::string::string_regex(&format!("{EVENT_CHARS}{{1,30}}")).unwrap(),
        proptest::string::string_regex(&format!("{EVENT_CHARS}{{0,60}}")).unwrap(),
        proptest::option::of(any::<i64>()),
        proptest::option::of(field_value()),
        proptest::option::of(field_value()),
        proptest::option::of(priority),
        proptest::option::of(field_value()),
        proptest::option::of(alert),
        vec(tag(), 0..=20),
    )
        .prop_flat_map(
            |(title, text, timestamp, hostname, key, priority, source, alert, tags)| {
                let mut fields = Vec::new();
                if let Some(d) = timestamp {
                    fields.push(format!("d:{d}"));
                }
                if let Some(h) = &hostname {
                    fields.push(format!("h:{h}"));
                }
                if let Some(k) = &key {
                    fields.push(format!("k:{k}"));
                }
                if let Some(p) = priority {
                    fields.push(format!("p:{}", p.name()));
                }
                if let Some(s) = &source {
                    fields.push(format!("s:{s}"));
                }
                if let Some(t) = alert {
                    fields.push(format!("t:{}", t.name()));
                }
                if !tags.is_empty() {
                    fields.push(format!("#{}", tags.join(",")));
                }
                let case = EventCase {
                    title,
                    text,
                    timestamp,
                    hostname,
                    key,
                    priority,
                    source,
                    alert,
                    tags,
                    fields: Vec::new(),
                };
                Just(fields)
                    .prop_shuffle()
                    .prop_map(move |fields| EventCase {
                        fields,
                        ..case.clone()
                    })
            },
        )
}

#[derive(Debug, Clone)]
struct CheckCase {
    name: String,
    status: u8,
    timestamp: Option<i64>,
    hostname: Option<String>,
    message: Option<String>,
    tags: Vec<String>,
    fields: Vec<String>,
}

impl CheckCase {
    fn text(&self) -> String {
        let mut s = format!("_sc|{}|{}", self.name, self.status);
        for f in &self.fields {
            s.push('|');
            s.push_str(f);
        }
        s
    }
}

fn check_case() -> impl Strategy<Value = CheckCase> {
    (
        text_without(&['|', '\n'], 1, 30),
        0u8..4,
        proptest::option::of(any::<i64>()),
        proptest::option::of(field_value()),
        proptest::option::of(text_without(&['|', '\n'], 0, 40)),
        vec(tag(), 0..=20),
    )
        .prop_flat_map(|(name, status, timestamp, hostname, message, tags)| {
            let mut fields = Vec::new();
            if let Some(d) = timestamp {
                fields.push(format!("d:{d}"));
            }
            if let Some(h) = &hostname {
                fields.push(format!("h:{h}"));
            }
            if let Some(m) = &message {
                fields.push(format!("m:{m}"));
            }
            if !tags.is_empty() {
                fields.push(format!("#{}", tags.join(",")));
            }
            let case = CheckCase {
                name,
                status,
                timestamp,
                hostname,
                message,
                tags,
                fields: Vec::new(),
            };
            Just(fields)
                .prop_shuffle()
                .prop_map(move |fields| CheckCase {
                    fields,
                    ..case.clone()
                })
        })
}

/// The tags a message must come back with: `#` plus an empty field is
/// no tags, anything else splits on `,`.
fn expected_tags(tags: &[String]) -> Vec<Vec<u8>> {
    let joined = tags.join(",");
    if joined.is_empty() {
        Vec::new()
    } else {
        tags.iter().map(|t| t.clone().into_bytes()).collect()
    }
}

fn opts() -> ParseOptions {
    ParseOptions::default()
}

proptest! {
    #[test]
    fn metrics_round_trip(case in metric_case()) {
        let text = case.text();
        let msg = parse_message(text.as_bytes(), &opts());
        let Ok(Message::Metric(m)) = &msg else {
            return Err(TestCaseError::fail(format!("{text:?} gave {msg:?}")));
        };
        prop_assert_eq!(m.name, case.name.as_bytes());
        prop_assert_eq!(m.metric_type, case.metric_type);
        if case.metric_type == MetricType::Set {
            prop_assert_eq!(m.values, MetricValues::Set(case.set_member.as_bytes()));
        } else {
            let want: Vec<f64> = case.values.iter().map(|v| v.parse::<f64>().unwrap()).collect();
            let got: Vec<f64> = m.values.iter().collect();
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert!(checks::same_f64(*g, *w), "{} vs {} in {:?}", g, w, text);
            }
            prop_assert_eq!(matches!(m.values, MetricValues::Multi(_)), want.len() > 1);
        }
        let rate = case.rate.as_deref().map_or(1.0, |r| r.parse::<f64>().unwrap());
        prop_assert!(checks::same_f64(m.sample_rate, rate));
        let tags: Vec<Vec<u8>> = m.tags.iter().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(tags, expected_tags(&case.tags));
        prop_assert_eq!(m.timestamp, case.timestamp);
        checks::check_message(text.as_bytes(), msg.as_ref().unwrap(), &opts());
    }

    #[test]
    fn events_round_trip(case in event_case()) {
        let text = case.text();
        let msg = parse_message(text.as_bytes(), &opts());
        let Ok(Message::Event(e)) = &msg else {
            return Err(TestCaseError::fail(format!("{text:?} gave {msg:?}")));
        };
        prop_assert_eq!(&*e.title, case.title.as_bytes());
        prop_assert_eq!(&*e.text, case.text.as_bytes());
        prop_assert_eq!(e.timestamp, case.timestamp.unwrap_or(0));
        prop_assert_eq!(e.hostname, case.hostname.as_deref().unwrap_or("").as_bytes());
        prop_assert_eq!(e.aggregation_key, case.key.as_deref().unwrap_or("").as_bytes());
        prop_assert_eq!(e.priority, case.priority.unwrap_or_default());
        prop_assert_eq!(e.source_type, case.source.as_deref().unwrap_or("").as_bytes());
        prop_assert_eq!(e.alert_type, case.alert.unwrap_or_default());
        let tags: Vec<Vec<u8>> = e.tags.iter().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(tags, expected_tags(&case.tags));
        checks::check_message(text.as_bytes(), msg.as_ref().unwrap(), &opts());
    }

    #[test]
    fn service_checks_round_trip(case in check_case()) {
        let text = case.text();
        let msg = parse_message(text.as_bytes(), &opts());
        let Ok(Message::ServiceCheck(s)) = &msg else {
            return Err(TestCaseError::fail(format!("{text:?} gave {msg:?}")));
        };
        prop_assert_eq!(s.name, case.name.as_bytes());
        let status = [CheckStatus::Ok, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Unknown];
        prop_assert_eq!(s.status, status[usize::from(case.status)]);
        prop_assert_eq!(s.timestamp, case.timestamp.unwrap_or(0));
        prop_assert_eq!(s.hostname, case.hostname.as_deref().unwrap_or("").as_bytes());
        prop_assert_eq!(s.message, case.message.as_deref().unwrap_or("").as_bytes());
        let tags: Vec<Vec<u8>> = s.tags.iter().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(tags, expected_tags(&case.tags));
        checks::check_message(text.as_bytes(), msg.as_ref().unwrap(), &opts());
    }
}

// ---------------------------------------------------------------------------
// Packets = lines
// ---------------------------------------------------------------------------

/// One line of a packet: a valid message of any kind or junk (no `\n`).
fn any_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => metric_case().prop_map(|c| c.text().into_bytes()),
        1 => event_case().prop_map(|c| c.text().into_bytes()),
        1 => check_case().prop_map(|c| c.text().into_bytes()),
        1 => protocolish_bytes().prop_map(|b| b.into_iter().filter(|&c| c != b'\n').collect()),
        1 => Just(Vec::new()),
    ]
}

proptest! {
    #[test]
    fn packet_parses_as_its_lines(
        lines in vec((any_line(), proptest::sample::select(vec!["\n", "\r\n", "\n\n"])), 0..12),
        terminated in any::<bool>(),
        require_eol in any::<bool>(),
    ) {
        let mut packet = Vec::new();
        for (i, (line, sep)) in lines.iter().enumerate() {
            packet.extend_from_slice(line);
            if terminated || i + 1 < lines.len() {
                packet.extend_from_slice(sep.as_bytes());
            }
        }
        let opts = opts();
        let whole: Vec<_> = parse_packet(&packet, require_eol, &opts).collect();

        // Split by hand: on `\n`, one `\r` trimmed, empty lines skipped.
        let mut expected = Vec::new();
        let segments: Vec<&[u8]> = packet.split(|&b| b == b'\n').collect();
        for (i, seg) in segments.iter().enumerate() {
            let line = seg.strip_suffix(b"\r").unwrap_or(seg);
            if !line.is_empty() {
                let last = i + 1 == segments.len();
                expected.push((line, last && require_eol));
            }
        }
        prop_assert_eq!(whole.len(), expected.len());
        for ((line, got), (want_line, unterminated)) in whole.iter().zip(&expected) {
            prop_assert_eq!(line, want_line);
            if *unterminated {
                prop_assert!(got.is_err());
                continue;
            }
            match (got, parse_message(want_line, &opts)) {
                (Ok(a), Ok(b)) => prop_assert!(checks::same_message(a, &b), "{:?} vs {:?}", a, b),
                (Err(a), Err(b)) => prop_assert_eq!(*a, b),
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Spec rules on generated messages (§3.1, §3.3, §3.6, §4.2, §5)
// ---------------------------------------------------------------------------

proptest! {
    /// A field that appears twice: the last one wins (tags replaced, not
    /// merged).
    #[test]
    fn later_fields_win(case in metric_case(), tags in vec(tag(), 1..5), rate in 0.0f64..1.0) {
        let text = format!("{}|#{}|@{rate}", case.text(), tags.join(","));
        let Ok(Message::Metric(m)) = parse_message(text.as_bytes(), &opts()) else {
            return Err(TestCaseError::fail(text));
        };
        let got: Vec<Vec<u8>> = m.tags.iter().map(<[u8]>::to_vec).collect();
        prop_assert_eq!(got, expected_tags(&tags));
        prop_assert!(checks::same_f64(m.sample_rate, rate));
    }

    /// One bad item rejects a whole multi-value message.
    #[test]
    fn one_bad_value_rejects_the_message(
        case in metric_case().prop_filter("not a set", |c| c.metric_type != MetricType::Set),
        junk in "[a-zA-Z ,]{1,3}",
        at in any::<proptest::sample::Index>(),
    ) {
        let mut case = case;
        let i = at.index(case.values.len());
        case.values[i].push_str(&junk);
        let text = case.text();
        let r = parse_message(text.as_bytes(), &opts());
        prop_assert_eq!(
            r.map(|_| ()).map_err(|e| e.kind),
            Err(dogstatsd_core::protocol::ParseErrorKind::InvalidValue),
            "{:?}", text
        );
    }

    /// `T` is ignored, even malformed, when timestamps are not read.
    #[test]
    fn timestamps_ignored_when_disabled(case in metric_case(), junk in "[a-z0-9-]{0,5}") {
        let text = format!("{}|T{junk}", case.text());
        let no_ts = ParseOptions { read_timestamps: false, origin_fields: false };
        let Ok(Message::Metric(m)) = parse_message(text.as_bytes(), &no_ts) else {
            return Err(TestCaseError::fail(text));
        };
        prop_assert_eq!(m.timestamp, None);
    }

    /// Origin fields are read when enabled and ignored otherwise.
    #[test]
    fn origin_fields(
        case in metric_case(),
        id in "[a-z0-9]{0,20}",
        inode in proptest::option::of(any::<u64>()),
        external in "[a-z0-9,-]{0,20}",
        card in "[a-z]{0,12}",
    ) {
        let local = match inode {
            Some(n) => format!("ci-{id},in-{n}"),
            None => format!("ci-{id}"),
        };
        let text = format!("{}|c:{local}|e:{external}|card:{card}", case.text());
        let on = ParseOptions { read_timestamps: true, origin_fields: true };
        let Ok(Message::Metric(m)) = parse_message(text.as_bytes(), &on) else {
            return Err(TestCaseError::fail(text));
        };
        prop_assert_eq!(m.origin.container_id, Some(id.as_bytes()));
        prop_assert_eq!(m.origin.inode, inode);
        prop_assert_eq!(m.origin.external_data, Some(external.as_bytes()));
        prop_assert_eq!(m.origin.cardinality, Some(card.as_bytes()));
        let Ok(Message::Metric(m)) = parse_message(text.as_bytes(), &opts()) else {
            return Err(TestCaseError::fail(text));
        };
        prop_assert_eq!(m.origin, dogstatsd_core::protocol::Origin::default());
    }

    /// An event shorter than its header declares is rejected; the byte
    /// after the title is skipped whatever it is.
    #[test]
    fn event_lengths_are_bytes(case in event_case(), sep in any::<u8>().prop_filter("no newline", |b| *b != b'\n')) {
        let title = case.title.replace('\n', "\\n");
        let text = case.text.replace('\n', "\\n");
        let mut line = format!("_e{{{},{}}}:{title}", title.len(), text.len()).into_bytes();
        line.push(sep);
        line.extend_from_slice(text.as_bytes());
        let Ok(Message::Event(e)) = parse_message(&line, &opts()) else {
            return Err(TestCaseError::fail(format!("{line:?}")));
        };
        prop_assert_eq!(&*e.title, case.title.as_bytes());
        prop_assert_eq!(&*e.text, case.text.as_bytes());
        line.pop();
        let r = parse_message(&line, &opts());
        prop_assert_eq!(
            r.map(|_| ()).map_err(|e| e.kind),
            Err(dogstatsd_core::protocol::ParseErrorKind::EventTooShort)
        );
    }

    /// A service check status is exactly one of `0 1 2 3`.
    #[test]
    fn check_status_is_exact(case in check_case(), status in "[0-9a-zA-Z ]{0,3}") {
        let mut case = case;
        case.fields.clear();
        let text = format!("_sc|{}|{status}", case.name);
        let r = parse_message(text.as_bytes(), &opts());
        if ["0", "1", "2", "3"].contains(&status.as_str()) {
            prop_assert!(r.is_ok());
        } else {
            prop_assert_eq!(
                r.map(|_| ()).map_err(|e| e.kind),
                Err(dogstatsd_core::protocol::ParseErrorKind::ServiceCheckInvalidStatus)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Known discrepancies (failing, ignored until core is fixed)
// ---------------------------------------------------------------------------

/// Spec §1.6: with `dogstatsd_eol_required`, a final segment without `\n`
/// is dropped **and counted**. The Agent's `nextMessage` counts it before
/// looking at its length, so a final lone `\r` counts too; core skips it
/// as an empty line and counts nothing. (The oracle in
/// `fuzz/src/checks.rs` follows core here, so the fuzzer stays quiet.)
#[test]
fn eol_required_counts_a_final_lone_cr() {
    use dogstatsd_core::config::Config;
    use dogstatsd_core::frontend::Frontend;
    use dogstatsd_core::protocol::Transport;

    let cfg = Config {
        dogstatsd_eol_required: vec!["udp".into()],
        ..Config::default()
    };
    let mut p = Frontend::new(&cfg).unwrap();
    let mut metrics = 0;
    p.process_packet(
        b"a:1|c\n\r",
        Transport::Udp,
        |m: dogstatsd_core::frontend::Processed<'_>| {
            metrics += usize::from(matches!(m, dogstatsd_core::frontend::Processed::Metric(_)));
        },
    );
    assert_eq!(metrics, 1);
    assert_eq!(p.stats().unterminated_metric_errors, 1);
}
