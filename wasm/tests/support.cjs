// Shared by the Node tests: loading the generated package, the
// conformance data and base configuration, and the record comparison
// rules of tests/data/conformance/README (the same rules as the Rust
// tests' `compare_record`).
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..", "..");
const PKG = process.env.DOGSTATSD_WASM_PKG || path.join(ROOT, "wasm", "pkg");

function loadPackage() {
  return require(path.join(PKG, "dogstatsd_wasm.js"));
}

function conformance(name) {
  return JSON.parse(
    fs.readFileSync(path.join(ROOT, "tests", "data", "conformance", name), "utf8"),
  );
}

const BASE_CONFIG = Object.freeze({
  hostname: "default-hostname",
  dogstatsd_no_aggregation_pipeline: true,
  dogstatsd_origin_detection_client: false,
  statsd_metric_namespace: "",
  dogstatsd_tags: [],
  histogram_aggregates: ["max", "median", "avg", "count"],
  histogram_percentiles: ["0.95"],
  dogstatsd_mapper_cache_size: 1000,
});

function caseConfig(overlay) {
  return { ...BASE_CONFIG, ...(overlay || {}) };
}

function asNumber(v) {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "+Inf" || v === "Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  return undefined;
}

function numbersEqual(a, b) {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  const diff = Math.abs(a - b);
  return diff <= 1e-12 || diff <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

function valuesEqual(e, a) {
  const x = asNumber(e);
  const y = asNumber(a);
  if (x !== undefined && y !== undefined && (typeof e === "number" || typeof a === "number" || e === a)) {
    return numbersEqual(x, y);
  }
  if (Array.isArray(e) && Array.isArray(a)) {
    return e.length === a.length && e.every((v, i) => valuesEqual(v, a[i]));
  }
  if (e !== null && a !== null && typeof e === "object" && typeof a === "object") {
    return JSON.stringify(e) === JSON.stringify(a);
  }
  return e === a;
}

// An absent timestamp is 0 or null; an absent aggregation key, source
// type or message is "" or null (hostname is never absent).
function absentEquivalent(key, expected, actual) {
  if (!["timestamp", "aggregation_key", "source_type", "message"].includes(key)) return false;
  const isAbsent = (v) =>
    v === null || v === undefined || (v === "" && key !== "hostname") || (key === "timestamp" && v === 0);
  return isAbsent(expected) && isAbsent(actual);
}

/**
 * Compares one record with its expectation; returns null when equal, else
 * what differs. Extra fields in `actual` are allowed. `tagRule` is
 * "multiset" (parse) or "sortedSet" (aggregate).
 */
function compareRecord(expected, actual, tagRule) {
  if (!actual || typeof actual !== "object") return `not an object: ${JSON.stringify(actual)}`;
  for (const [key, ev] of Object.entries(expected)) {
    const av = actual[key];
    if (absentEquivalent(key, ev, av)) continue;
    if (av === undefined) return `missing field ${key} (expected ${JSON.stringify(ev)})`;
    if (key === "tags") {
      if (!Array.isArray(ev) || !Array.isArray(av)) return `tags not lists: ${JSON.stringify(av)}`;
      let e = [...ev].sort();
      const a = [...av].sort();
      if (tagRule === "sortedSet") {
        e = [...new Set(e)];
        if (new Set(a).size !== a.length) return `tags not de-duplicated: ${JSON.stringify(av)}`;
      }
      if (JSON.stringify(e) !== JSON.stringify(a)) {
        return `tags differ: expected ${JSON.stringify(ev)}, got ${JSON.stringify(av)}`;
      }
      continue;
    }
    if (!valuesEqual(ev, av)) return `field ${key}: expected ${JSON.stringify(ev)}, got ${JSON.stringify(av)}`;
  }
  return null;
}

/** Sketch quantiles are approximate: 2 % relative, as the Rust test allows. */
function quantilesClose(expected, actual) {
  for (const q of ["p50", "p95", "p99"]) {
    const e = expected[q];
    const a = actual[q];
    if (typeof e === "number" && typeof a === "number" && Math.abs(e - a) > 0.02 * Math.max(Math.abs(e), 1e-9)) {
      return `${q}: expected ~${e}, got ${a}`;
    }
  }
  return null;
}

/**
 * Matches `actual` aggregate records against `expected` as a set; returns
 * the list of problems (empty when they match).
 */
function matchAggregate(expected, actual) {
  const left = [...actual];
  const problems = [];
  for (const e of expected) {
    const exact = { ...e };
    delete exact.p50;
    delete exact.p95;
    delete exact.p99;
    const i = left.findIndex(
      (a) => a.kind === e.kind && compareRecord(exact, a, "sortedSet") === null && quantilesClose(e, a) === null,
    );
    if (i < 0) problems.push(`no record matches ${JSON.stringify(e)}`);
    else left.splice(i, 1);
  }
  for (const extra of left) problems.push(`unexpected record ${JSON.stringify(extra)}`);
  return problems;
}

/** A small seeded PRNG (mulberry32), for reproducible random input. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = {
  ROOT,
  PKG,
  loadPackage,
  conformance,
  BASE_CONFIG,
  caseConfig,
  compareRecord,
  matchAggregate,
  prng,
};
