//! Unit tests: one or more inputs per error class of the spec, and the
//! field rules that decide accepted vs rejected.

use super::*;

fn opts() -> ParseOptions {
    ParseOptions::default()
}

fn err(line: &str) -> ParseErrorKind {
    match parse_message(line.as_bytes(), &opts()) {
        Err(e) => e.kind,
        Ok(m) => panic!("{line:?} parsed as {m:?}"),
    }
}

fn metric(line: &str) -> MetricMessage<'_> {
    metric_with(line, &opts())
}

fn metric_with<'a>(line: &'a str, o: &ParseOptions) -> MetricMessage<'a> {
    match parse_message(line.as_bytes(), o) {
        Ok(Message::Metric(m)) => m,
        other => panic!("{line:?}: {other:?}"),
    }
}

#[test]
fn every_metric_error_class() {
    use ParseErrorKind::*;
    assert_eq!(err("daemon:666"), MissingPipe);
    assert_eq!(err("garbage"), MissingPipe);
    assert_eq!(err("daemon|c"), MissingColon);
    assert_eq!(err(":1|c"), EmptyName);
    assert_eq!(err("x:|c"), EmptyValue);
    assert_eq!(err("x:|s"), EmptyValue);
    assert_eq!(err("x:1|"), InvalidType);
    assert_eq!(err("x:1|G"), InvalidType);
    assert_eq!(err("x:1|c |#a"), InvalidType);
    assert_eq!(err("x:1|#tag|c"), InvalidType);
    assert_eq!(err("x:1a|c"), InvalidValue);
    assert_eq!(err("x:1:x|c"), InvalidValue);
    assert_eq!(err("x:1e400|g"), InvalidValue);
    assert_eq!(err("x:::|c"), NoValue);
    assert_eq!(err("x:1|c|@"), InvalidSampleRate);
    assert_eq!(err("x:1|c|@abc"), InvalidSampleRate);
    assert_eq!(err("x:1|c|Tfoo"), InvalidTimestamp);
    assert_eq!(err("x:1|c|T0"), InvalidTimestamp);
    assert_eq!(err("x:1|c|T-5"), InvalidTimestamp);
    assert_eq!(err("x:1|c|T"), InvalidTimestamp);
}

#[test]
fn every_event_error_class() {
    use ParseErrorKind::*;
    assert_eq!(err("_e{5,4}title|text"), EventMissingColon);
    assert_eq!(err("_e{1,}:a|"), EventInvalidHeader);
    assert_eq!(err("_e{11}x:title|text"), EventInvalidHeader);
    assert_eq!(err("_e{a,1}:title|text"), EventInvalidTitleLength);
    assert_eq!(err("_e{,4}:title|text"), EventInvalidHeader); // header shorter than 7 bytes
    assert_eq!(err("_e{,42}:title|text"), EventInvalidTitleLength);
    assert_eq!(err("_e{-5,2}:abc"), EventInvalidTitleLength);
    assert_eq!(
        err("_e{99999999999999999999,1}:a|b"),
        EventInvalidTitleLength
    );
    assert_eq!(err("_e{1,a}:title|text"), EventInvalidTextLength);
    assert_eq!(err("_e{0,4}:text"), EventEmptyTitle);
    assert_eq!(err("_e{10,10}:title|text"), EventTooShort);
    assert_eq!(err("_e{5,0}:title"), EventTooShort);
    assert_eq!(err("_e{5,9223372036854775807}:title|x"), EventTooShort);
}

#[test]
fn every_service_check_error_class() {
    use ParseErrorKind::*;
    assert_eq!(err("_sc|agent.up"), ServiceCheckFormat);
    assert_eq!(err("_scale:1|c"), ServiceCheckFormat);
    assert_eq!(err("_sc||"), ServiceCheckEmptyName);
    assert_eq!(err("_sc|x|OK"), ServiceCheckInvalidStatus);
    assert_eq!(err("_sc|x|4"), ServiceCheckInvalidStatus);
    assert_eq!(err("_sc|x|00"), ServiceCheckInvalidStatus);
    assert_eq!(err("_sc|x||"), ServiceCheckInvalidStatus);
}

#[test]
fn error_kinds_belong_to_their_message_kind() {
    assert_eq!(err("x:1|c|@").message_kind(), MessageKind::Metric);
    assert_eq!(err("_e{0,4}:text").message_kind(), MessageKind::Event);
    assert_eq!(err("_sc|x|9").message_kind(), MessageKind::ServiceCheck);
    let e = parse_message(b"x:1|c|@z", &opts()).unwrap_err();
    assert_eq!(e.at, 6, "offset points at the sample-rate field");
}

#[test]
fn metric_fields() {
    let m = metric("page.views:1:2::3|c|@0.5|#a,b:c|T1700000000|x:y");
    assert_eq!(m.name, b"page.views");
    assert_eq!(m.metric_type, MetricType::Count);
    assert_eq!(m.values.iter().collect::<Vec<_>>(), [1.0, 2.0, 3.0]);
    assert_eq!(m.values.len(), 3);
    assert_eq!(m.sample_rate, 0.5);
    assert_eq!(m.tags.iter().collect::<Vec<_>>(), [&b"a"[..], b"b:c"]);
    assert_eq!(m.timestamp, Some(1_700_000_000));
    // Last duplicate wins; tags replaced, not merged.
    let m = metric("x:1|c|#a|@0.1|#b|@0.2");
    assert_eq!(m.tags.iter().collect::<Vec<_>>(), [&b"b"[..]]);
    assert_eq!(m.sample_rate, 0.2);
    // `T` ignored entirely when timestamps are off.
    let off = ParseOptions {
        read_timestamps: false,
        ..opts()
    };
    assert_eq!(metric_with("x:1|c|Tjunk", &off).timestamp, None);
    // A single value written with colons is still one sample.
    assert_eq!(metric("x::5:|g").values, MetricValues::Single(5.0));
    assert_eq!(metric("s:a:b|s").values, MetricValues::Set(b"a:b"));
}

#[test]
fn origin_fields_only_when_enabled() {
    let on = ParseOptions {
        origin_fields: true,
        ..opts()
    };
    let m = metric("x:1|g|c:abc|e:it-true,cn-x|card:high");
    assert_eq!(m.origin, Origin::default());
    let m = metric_with("x:1|g|c:abc|e:it-true,cn-x|card:high", &on);
    assert_eq!(m.origin.container_id, Some(&b"abc"[..]));
    assert_eq!(m.origin.external_data, Some(&b"it-true,cn-x"[..]));
    assert_eq!(m.origin.cardinality, Some(&b"high"[..]));
    let m = metric_with("x:1|g|c:ci-abc,in-42", &on);
    assert_eq!(
        (m.origin.container_id, m.origin.inode),
        (Some(&b"abc"[..]), Some(42))
    );
    let m = metric_with("x:1|g|c:in-12", &on);
    assert_eq!((m.origin.container_id, m.origin.inode), (None, Some(12)));
    let m = metric_with("x:1|g|c:in-zz", &on);
    assert_eq!(m.origin.inode, None, "a bad inode is ignored, not an error");
    let m = metric_with("x:1|g|c:", &on);
    assert_eq!(m.origin.container_id, None);
}

#[test]
fn event_fields() {
    let Ok(Message::Event(e)) = parse_message(b"_e{5,1}:title|th:x", &opts()) else {
        panic!()
    };
    assert_eq!(
        (&*e.title, &*e.text, e.hostname),
        (&b"title"[..], &b"t"[..], &b"x"[..])
    );
    let Ok(Message::Event(e)) = parse_message(b"_e{10,10}:event title|test\\ntext|c:x", &opts())
    else {
        panic!()
    };
    assert_eq!(&*e.title, b"event titl");
    assert_eq!(&*e.text, b"|test\ntex");
    let Ok(Message::Event(e)) =
        parse_message(b"_e{5,4}:title|text|d:10|d:abc|p:urgent|t:x|p:low", &opts())
    else {
        panic!()
    };
    assert_eq!(
        (e.timestamp, e.priority, e.alert_type),
        (10, Priority::Low, AlertType::Info)
    );
}

#[test]
fn service_check_fields() {
    let Ok(Message::ServiceCheck(s)) = parse_message(b"_sc_x|0|0", &opts()) else {
        panic!()
    };
    assert_eq!((s.name, s.status), (&b"x"[..], CheckStatus::Ok));
    let Ok(Message::ServiceCheck(s)) = parse_message(b"_sc|n|3|m:msg|d:7|h:host|#a", &opts())
    else {
        panic!()
    };
    assert_eq!(
        (s.status, s.message, s.timestamp, s.hostname),
        (CheckStatus::Unknown, &b"msg"[..], 7, &b"host"[..])
    );
}

#[test]
fn packets_split_and_parse_independently() {
    let packet = b"a:1|c\nbad\r\n\n_sc|x|0\n_e{1,1}:t|x";
    let results: Vec<_> = parse_packet(packet, false, &opts()).collect();
    assert_eq!(results.len(), 4);
    assert!(results[0].1.is_ok());
    assert_eq!(results[1].0, b"bad");
    assert!(results[1].1.is_err());
    assert!(matches!(results[2].1, Ok(Message::ServiceCheck(_))));
    assert!(matches!(results[3].1, Ok(Message::Event(_))));
    let strict: Vec<_> = parse_packet(packet, true, &opts()).collect();
    assert_eq!(
        strict[3].1.as_ref().unwrap_err().kind,
        ParseErrorKind::Unterminated
    );
}

#[test]
fn invalid_utf8_is_carried_not_rejected() {
    let m = metric_with("n\u{0}:1|c|#\u{7f}", &opts());
    assert_eq!(m.name, b"n\0");
    let raw = b"na\xffme:1|c|#t\xfe";
    let Ok(Message::Metric(m)) = parse_message(raw, &opts()) else {
        panic!()
    };
    assert_eq!(m.name, b"na\xffme");
}
