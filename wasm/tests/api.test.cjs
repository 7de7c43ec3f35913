// The JavaScript API of the generated package: construction, push,
// flush, flushPayloads, parse, stats, error behaviour and the generated
// TypeScript declarations.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { PKG, loadPackage, prng } = require("./support.cjs");

const { DogStatsD } = loadPackage();

const T0 = 1_700_000_005_000; // ms, 5 s into the bucket starting at 1_700_000_000

test("constructs from nothing, an object or a JSON string", () => {
  for (const cfg of [undefined, null, {}, "{}", { hostname: "h" }, '{"hostname":"h"}']) {
    const s = new DogStatsD(cfg);
    s.push("a:1|g", T0);
    const [r] = s.flush(T0, { all: true });
    assert.equal(r.metric, "a");
    s.free();
  }
  const s = new DogStatsD('{"hostname":"from-json","dogstatsd_tags":"env:a team:b"}');
  s.push("a:1|g", T0);
  const [r] = s.flush(T0, { all: true });
  assert.equal(r.host, "from-json");
  assert.deepEqual(r.tags, ["env:a", "team:b"]);
});

test("invalid configuration throws an Error that names the problem", () => {
  const bad = [
    ['{"hostname": ', /invalid configuration/],
    [{ dogstatsd_mapper_cache_size: "many" }, /dogstatsd_mapper_cache_size|expected an integer/],
    [{ dogstatsd_no_aggregation_pipeline: "maybe" }, /expected a boolean/],
    [{ dogstatsd_eol_required: ["carrier-pigeon"] }, /dogstatsd_eol_required/],
    [{ serializer_max_payload_size: "big" }, /invalid configuration/],
  ];
  for (const [cfg, re] of bad) {
    assert.throws(() => new DogStatsD(cfg), (e) => e instanceof Error && re.test(e.message), JSON.stringify(cfg));
  }
  assert.throws(() => new DogStatsD(42), TypeError);
});

test("configuration keys reach core: namespace, tags, histogram settings", () => {
  const s = new DogStatsD({
    hostname: "h",
    statsd_metric_namespace: "app",
    dogstatsd_tags: ["dc:x"],
    histogram_aggregates: ["max"],
    histogram_percentiles: ["0.5"],
  });
  s.push("lat:1|h\nlat:3|h", T0);
  const names = s.flush(T0, { all: true }).map((r) => `${r.metric}=${r.value}|${r.tags}|${r.host}`).sort();
  assert.deepEqual(names, ["app.lat.50percentile=1|dc:x|h", "app.lat.max=3|dc:x|h"]);
});

test("push takes strings and bytes alike and counts messages", () => {
  const text = "a:1|c\nb:2|g|#x:y\nnot a metric\n_e{1,1}:t|x\n_sc|chk|0\n";
  const a = new DogStatsD({ hostname: "h" });
  const b = new DogStatsD({ hostname: "h" });
  assert.deepEqual(a.push(text, T0), { accepted: 4, rejected: 1 });
  assert.deepEqual(b.push(new TextEncoder().encode(text), T0), { accepted: 4, rejected: 1 });
  assert.deepEqual(a.flush(T0, { all: true }), b.flush(T0, { all: true }));
  // A Node Buffer is a Uint8Array.
  assert.deepEqual(a.push(Buffer.from("c:1|c"), T0), { accepted: 1, rejected: 0 });
  // Subarrays are read from their own offset.
  const big = new TextEncoder().encode("xxxxd:1|c");
  assert.deepEqual(a.push(big.subarray(4), T0), { accepted: 1, rejected: 0 });
  assert.deepEqual(a.push("", T0), { accepted: 0, rejected: 0 });
  // So is an ArrayBuffer (what Request.arrayBuffer() resolves to).
  assert.deepEqual(a.push(new TextEncoder().encode("e:1|c\nf:2|g").buffer, T0), { accepted: 2, rejected: 0 });
  assert.equal(a.parse(new TextEncoder().encode("e:1|c").buffer)[0].name, "e");
});

test("bad input never throws: it is counted", () => {
  const s = new DogStatsD({ hostname: "h" });
  const rnd = prng(7);
  let rejected = 0;
  let accepted = 0;
  const alphabet = "ab.:|#,@\n\r\t ce_{}-1234567890T\u00e9\u0000";
  for (let i = 0; i < 2000; i++) {
    let data;
    if (i % 2 === 0) {
      data = new Uint8Array(Math.floor(rnd() * 300));
      for (let j = 0; j < data.length; j++) data[j] = Math.floor(rnd() * 256);
    } else {
      data = "";
      const n = Math.floor(rnd() * 200);
      for (let j = 0; j < n; j++) data += alphabet[Math.floor(rnd() * alphabet.length)];
    }
    const r = s.push(data, T0 + i);
    accepted += r.accepted;
    rejected += r.rejected;
  }
  // Invalid UTF-8, NaN values, a huge line, lone separators.
  for (const d of [
    new Uint8Array([0x61, 0xff, 0xfe, 0x3a, 0x31, 0x7c, 0x63]),
    "nan:NaN|g",
    "inf:+Inf|g",
    "x".repeat(200_000) + ":1|c",
    "|||||",
    ":::",
    "_e{99999999999,1}:a|b",
    "_sc|||",
  ]) {
    const r = s.push(d, T0);
    accepted += r.accepted;
    rejected += r.rejected;
  }
  assert.ok(rejected > 1000, `rejected ${rejected}`);
  const st = s.stats();
  // Messages over a limit (the 200,000-byte name) are rejected and
  // counted apart from parse errors.
  assert.equal(st.nameTooLong, 1);
  assert.equal(st.unknownRouteDropped, 0);
  assert.equal(
    st.metricParseErrors + st.eventParseErrors + st.serviceCheckParseErrors +
      st.tooManyTags + st.tagTooLong + st.nameTooLong,
    rejected,
  );
  assert.equal(st.metricPackets + st.eventPackets + st.serviceCheckPackets, accepted);
  // Flushing and parsing the garbage does not throw either.
  assert.ok(Array.isArray(s.flush(T0 + 60_000, { all: true })));
  assert.ok(s.parse(new Uint8Array([0xff, 0x0a, 0x7c, 0x0a])).every((r) => r.kind === "error"));
  assert.ok(Array.isArray(s.flushPayloads(T0 + 70_000, { apiKey: "k", all: true })));
});

test("buckets close on the time the caller passes", () => {
  const s = new DogStatsD({ hostname: "h" });
  s.push("hits:1|c\nhits:2|c", T0); // bucket [1_700_000_000, 1_700_000_010)
  assert.deepEqual(s.flush(T0), []);
  assert.deepEqual(s.flush(1_700_000_009_999), [], "the bucket is still open at 9.999 s");
  const closed = s.flush(1_700_000_010_000);
  assert.equal(closed.length, 1);
  assert.equal(closed[0].timestamp, 1_700_000_000);
  assert.equal(closed[0].type, "rate");
  assert.ok(Math.abs(closed[0].value - 0.3) < 1e-12);
  // Much later: nothing left but zero-filled counters of the same context.
  s.push("g:5|g", 1_700_000_012_000);
  const later = s.flush(1_700_000_030_000);
  const g = later.filter((r) => r.metric === "g");
  assert.deepEqual(
    g.map((r) => [r.timestamp, r.value]),
    [[1_700_000_010, 5]],
  );
  assert.ok(later.filter((r) => r.metric === "hits").every((r) => r.value === 0));
  // { all: true } flushes the open bucket too.
  s.push("open:1|g", 1_700_000_031_000);
  assert.deepEqual(s.flush(1_700_000_031_000).filter((r) => r.metric === "open"), []);
  assert.equal(s.flush(1_700_000_031_000, { all: true }).filter((r) => r.metric === "open").length, 1);
});

test("timestamps are milliseconds, rounded down; a non-finite time throws", () => {
  const s = new DogStatsD({ hostname: "h" });
  s.push("a:1|g", 1_700_000_019_999.9);
  const [r] = s.flush(1_700_000_019_999.9, { all: true });
  assert.equal(r.timestamp, 1_700_000_010);
  for (const bad of [NaN, Infinity, undefined]) {
    assert.throws(() => s.push("a:1|g", bad), /nowMs must be a finite number/);
    assert.throws(() => s.flush(bad), /nowMs must be a finite number/);
  }
  assert.throws(() => s.push(42, T0), TypeError);
  assert.throws(() => s.push({}, T0), TypeError);
});

test("flush returns the aggregate record formats", () => {
  const s = new DogStatsD({ hostname: "h" });
  s.push(
    [
      "c:1|c|#b:2,a:1,a:1",
      "g:2.5|g|#host:other",
      "d:1|d\nd:2|d\nd:3|d",
      "set:x|s\nset:y|s\nset:x|s",
      "_e{5,4}:title|text|p:low|t:error|#t1",
      "_sc|check|2|m:broken",
      "ts:7|g|T1600000000",
    ].join("\n"),
    T0,
  );
  const recs = s.flush(T0, { all: true });
  const by = (m) => recs.find((r) => r.metric === m || r.name === m || r.title === m);
  assert.deepEqual(by("c"), {
    kind: "series", metric: "c", type: "rate", interval: 10, timestamp: 1_700_000_000,
    value: 0.1, tags: ["a:1", "b:2"], host: "h",
  });
  assert.equal(by("g").host, "other");
  assert.equal(by("set").value, 2);
  const d = by("d");
  assert.equal(d.kind, "sketch");
  assert.deepEqual([d.count, d.sum, d.min, d.max], [3, 6, 1, 3]);
  for (const q of ["p50", "p95", "p99", "avg"]) assert.equal(typeof d[q], "number");
  assert.equal(by("ts").timestamp, 1_600_000_000);
  const e = by("title");
  assert.equal(e.kind, "event");
  assert.equal(e.priority, "low");
  assert.equal(e.alert_type, "error");
  const sc = by("check");
  assert.equal(sc.kind, "service_check");
  assert.equal(sc.status, 2);
  assert.equal(sc.message, "broken");
  assert.equal(sc.hostname, "h");
});

test("non-finite values are written as strings in parse records", () => {
  const s = new DogStatsD({ hostname: "h" });
  const recs = s.parse("a:1:2|h|@0.5|#k:v\nb:x|s\nbroken");
  assert.equal(recs.length, 3);
  assert.deepEqual(recs[0].values, [1, 2]);
  assert.equal(recs[0].sample_rate, 0.5);
  assert.deepEqual(recs[1].set_values, ["x"]);
  assert.equal(recs[2].kind, "error");
  assert.equal(recs[2].input, "broken");
  // parse does not aggregate
  assert.deepEqual(s.flush(T0, { all: true }), []);
});

test("flushPayloads builds intake requests for an API key", () => {
  const s = new DogStatsD({ hostname: "edge-1" });
  s.push("c:1|c\nd:1|d\n_e{1,1}:t|x\n_sc|chk|1|m:warn", T0);
  const payloads = s.flushPayloads(T0, { apiKey: "secret", all: true, agentVersion: "7.99.0" });
  const paths = payloads.map((p) => p.path);
  assert.deepEqual(paths, ["/api/v2/series", "/api/beta/sketches", "/api/v1/check_run", "/intake/"]);
  for (const p of payloads) {
    assert.equal(p.method, "POST");
    assert.ok(p.body instanceof Uint8Array && p.body.length > 0);
    assert.equal(p.headers["DD-Api-Key"], "secret");
    assert.equal(p.headers["DD-Agent-Version"], "7.99.0");
    assert.equal(p.headers["User-Agent"], "datadog-agent/7.99.0");
    assert.ok(!Object.keys(p.headers).some((k) => k.toLowerCase() === "content-encoding"));
    assert.equal(p.items, 1);
  }
  assert.equal(payloads[0].headers["Content-Type"], "application/x-protobuf");
  assert.ok(payloads[0].headers["DD-Agent-Payload"]);
  assert.equal(payloads[2].headers["Content-Type"], "application/json");
  const checks = JSON.parse(new TextDecoder().decode(payloads[2].body));
  assert.equal(checks[0].check, "chk");
  assert.equal(checks[0].status, 1);
  assert.equal(checks[0].host_name, "edge-1");
  const events = JSON.parse(new TextDecoder().decode(payloads[3].body));
  assert.equal(events.internalHostname, "edge-1");
  assert.equal(s.flushPayloads(T0 + 100_000, { apiKey: "secret", all: true }).every((p) => p.path === "/api/v2/series"), true);
  assert.equal(s.flushPayloads(T0, { apiKey: "k" }).length, 0);
  assert.throws(() => s.flushPayloads(T0, {}), TypeError);
  assert.throws(() => s.flushPayloads(T0), TypeError);
  const st = s.stats();
  assert.ok(st.payloads >= 4);
  assert.ok(st.payloadBytes > 0);
  assert.equal(st.payloadItemsDropped, 0);
});

test("use_v2_api.series: false sends v1 JSON series; payload limits and allow_arbitrary_tags apply", () => {
  const s = new DogStatsD({
    hostname: "h",
    use_v2_api: { series: false },
    serializer_max_series_points_per_payload: 2,
    allow_arbitrary_tags: true,
  });
  s.push("a:1|g\nb:1|g\nc:1|g", T0);
  const payloads = s.flushPayloads(T0, { apiKey: "k", all: true });
  assert.deepEqual(payloads.map((p) => [p.path, p.points]), [["/api/v1/series", 2], ["/api/v1/series", 1]]);
  const body = JSON.parse(new TextDecoder().decode(payloads[0].body));
  assert.equal(body.series.length, 2);
  assert.equal(payloads[0].headers["Content-Type"], "application/json");
  assert.equal(payloads[0].headers["Allow-Arbitrary-Tag-Value"], "true");
  // The flat spelling the DD_USE_V2_API_SERIES variable gives.
  const flat = new DogStatsD({ use_v2_api_series: "false" });
  flat.push("a:1|g", T0);
  assert.equal(flat.flushPayloads(T0, { apiKey: "k", all: true })[0].path, "/api/v1/series");
  // Both spellings: the flat one (the environment's) wins, as in the
  // daemon (tests/data/series-api-precedence.json has every case).
  for (const [cfg, path] of [
    [{ use_v2_api_series: false, use_v2_api: { series: true } }, "/api/v1/series"],
    [{ use_v2_api_series: true, use_v2_api: { series: false } }, "/api/v2/series"],
  ]) {
    const both = new DogStatsD(cfg);
    both.push("a:1|g", T0);
    assert.equal(both.flushPayloads(T0, { apiKey: "k", all: true })[0].path, path, JSON.stringify(cfg));
  }
  assert.throws(() => new DogStatsD({ serializer_max_payload_size: 0 }), /must be positive/);
});

test("stats counts what came in", () => {
  const s = new DogStatsD({ hostname: "h" });
  s.push("a:1|c\na:2|c\nb:1|g|T1600000000\nbad\n_e{1,1}:a|b\n_sc|x|0", T0);
  const st = s.stats();
  assert.equal(st.metricPackets, 3);
  assert.equal(st.metricParseErrors, 1);
  assert.equal(st.eventPackets, 1);
  assert.equal(st.serviceCheckPackets, 1);
  assert.equal(st.noAggSamples, 1);
  assert.equal(st.contexts, 1);
  for (const v of Object.values(st)) assert.equal(typeof v, "number");
});

test("the context limit drops new contexts, counted, and keeps known ones", () => {
  const s = new DogStatsD({ hostname: "h", dogstatsd_context_limit: 2 });
  s.push("a:1|c\nb:1|c\nc:1|c\na:1|c", T0);
  const st = s.stats();
  assert.equal(st.contexts, 2);
  assert.equal(st.contextLimitDropped, 1);
  const names = s.flush(T0 + 10_000).map((r) => r.metric).sort();
  assert.deepEqual(names, ["a", "b"]);
});

test("generated TypeScript declarations are precise", () => {
  const dts = fs.readFileSync(path.join(PKG, "dogstatsd_wasm.d.ts"), "utf8");
  const want = [
    /constructor\(config\?: DogStatsDConfig \| string \| null\)/,
    /push\(data: Uint8Array \| ArrayBuffer \| string, nowMs: number\): PushResult;/,
    /flush\(nowMs: number, options\?: FlushOptions \| null\): AggregateRecord\[\];/,
    /flushPayloads\(nowMs: number, options: PayloadOptions\): IntakePayload\[\];/,
    /flushLines\(nowMs: number, options\?: FlushOptions \| null\): string;/,
    /parse\(data: Uint8Array \| ArrayBuffer \| string\): ParseRecord\[\];/,
    /stats\(\): Stats;/,
    /export type AggregateRecord = SeriesRecord \| SketchRecord \| EventRecord \| ServiceCheckRecord;/,
    /export interface IntakePayload \{/,
  ];
  for (const re of want) assert.match(dts, re);
  assert.doesNotMatch(dts, /: any\b/, "no untyped values in the declarations");
});

test("flushLines returns the aggregate JSON Lines", () => {
  const s = new DogStatsD({ hostname: "h" });
  assert.equal(s.flushLines(T0, { all: true }), "");
  s.push("a:1|g\nb:2|c", T0);
  const text = s.flushLines(T0, { all: true });
  assert.ok(text.endsWith("\n"));
  const lines = text.trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((r) => r.metric), ["a", "b"]);
  assert.throws(() => s.flushLines(NaN), /nowMs/);
});
