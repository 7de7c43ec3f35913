//! Buffering an event or a service check allocates once per non-empty
//! text field and once for all its tags (a `TagList`), not once per tag.
//! Allocation counts are exact: a change here should be deliberate.
//!
//! One scenario per file: the counting allocator is process-wide (see
//! mapper_alloc.rs), so the quietest of three rounds is taken.

use std::alloc::System;

use dogstatsd_core::config::Config;
use dogstatsd_core::enrich::Enricher;
use dogstatsd_core::flush::{Event, ServiceCheck};
use dogstatsd_core::protocol::{ParseOptions, parse_event, parse_service_check};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Fewest (allocations, reallocations) over three rounds of `f`.
fn quietest(mut f: impl FnMut()) -> (usize, usize) {
    (0..3)
        .map(|_| {
            let region = Region::new(GLOBAL);
            f();
            let c = region.change();
            (c.allocations, c.reallocations)
        })
        .min()
        .unwrap()
}

#[test]
fn events_and_checks_allocate_per_field_not_per_tag() {
    let cfg = Config {
        hostname: "h".into(),
        dogstatsd_tags: vec!["region:eu".into(), "team:core".into()],
        ..Config::default()
    };
    let enricher = Enricher::new(&cfg);
    let opts = ParseOptions::default();
    let tags: Vec<String> = (0..20).map(|i| format!("tag{i}:value{i}")).collect();
    let tags = tags.join(",");

    // Title, text, hostname; no aggregation key or source type.
    let line = format!("_e{{6,4}}:deploy|done|#{tags},,\u{e9}:x");
    let e = enricher.event(parse_event(line.as_bytes(), &opts).unwrap());
    let mut ev = None;
    let n = quietest(|| ev = Some(Event::from(&e)));
    let ev = ev.unwrap();
    assert_eq!(ev.tags.len(), 24);
    assert_eq!(
        (ev.tags.get(20), ev.tags.get(21)),
        (Some(""), Some("\u{e9}:x"))
    );
    assert_eq!(n, (3 + 1, 0), "event");

    // Name and hostname (`h:`); no message.
    let line = format!("_sc|db.up|2|h:web-1|#{tags}");
    let s = enricher.service_check(parse_service_check(line.as_bytes(), &opts).unwrap());
    let mut sc = None;
    let n = quietest(|| sc = Some(ServiceCheck::from(&s)));
    assert_eq!(sc.unwrap().tags.len(), 22);
    assert_eq!(n, (2 + 1, 0), "service check");

    // A tag that is not UTF-8 costs one more allocation, for the text
    // with replacements (which may outgrow it: a reallocation).
    let mut line = format!("_sc|db.up|2|h:web-1|#{tags},bad\u{e9}").into_bytes();
    line.pop(); // a truncated `é`
    let s = enricher.service_check(parse_service_check(&line, &opts).unwrap());
    let mut sc = None;
    let n = quietest(|| sc = Some(ServiceCheck::from(&s)));
    assert_eq!(sc.unwrap().tags.get(20), Some("bad\u{fffd}"));
    assert_eq!(n.0, 2 + 2, "service check, invalid UTF-8");

    // No tags, no extra tags, no hostname: the title only.
    let bare = Enricher::new(&Config::default());
    let e = bare.event(parse_event(b"_e{1,0}:t|", &opts).unwrap());
    let mut ev = None;
    assert_eq!(
        quietest(|| ev = Some(Event::from(&e))),
        (1, 0),
        "bare event"
    );
    assert!(ev.unwrap().tags.is_empty());
}
