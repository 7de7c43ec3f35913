// push + flush throughput of the wasm package on a corpus file (see
// corpus.cjs), the same schedule as examples/native_throughput.rs:
// packets of at most 8192 bytes (split at line breaks) spread evenly over
// 60 simulated seconds, flushing closed buckets at every 10 s boundary
// and everything at the end. Prints messages per second of the main
// thread's CPU time (Linux /proc/thread-self/schedstat; robust on a
// shared machine) and of wall time.
//   node wasm/bench/throughput.cjs CORPUS [ROUNDS=7] [records|lines]
// `records` flushes with flush() (JS objects, through JSON.parse);
// `lines` with flushLines() (the JSON Lines text, the same rendering the
// native baseline does).
"use strict";

const fs = require("node:fs");
const { loadPackage } = require("../tests/support.cjs");

const T0_MS = 1_700_000_000_000;
const SPAN_MS = 60_000;
const MAX_PACKET = 8192;

function packets(bytes) {
  const out = [];
  let start = 0; // start of the current packet
  let end = 0; // end of the last line taken into it
  let pos = 0;
  while (pos < bytes.length) {
    let nl = bytes.indexOf(10, pos);
    if (nl < 0) nl = bytes.length;
    if (end > start && nl - start > MAX_PACKET) {
      out.push(bytes.subarray(start, end));
      start = pos;
    }
    end = nl;
    pos = nl + 1;
  }
  if (end > start) out.push(bytes.subarray(start, end));
  return out;
}

/** Nanoseconds this thread has run on a CPU (Linux), else wall time. */
function cpuNs() {
  try {
    return BigInt(fs.readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]);
  } catch {
    return process.hrtime.bigint();
  }
}

function run(DogStatsD, pkts, mode) {
  const flush = mode === "lines" ? (s, now, o) => s.flushLines(now, o).split("\n").length - 1 : (s, now, o) => s.flush(now, o).length;
  const server = new DogStatsD({ hostname: "bench" });
  let accepted = 0;
  let records = 0;
  let lastBucket = Math.floor(T0_MS / 10_000);
  const c = cpuNs();
  const t = process.hrtime.bigint();
  for (let i = 0; i < pkts.length; i++) {
    const now = T0_MS + Math.floor((i * SPAN_MS) / pkts.length);
    const bucket = Math.floor(now / 10_000);
    if (bucket !== lastBucket) {
      records += flush(server, now);
      lastBucket = bucket;
    }
    accepted += server.push(pkts[i], now).accepted;
  }
  records += flush(server, T0_MS + SPAN_MS, { all: true });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  const secs = Number(cpuNs() - c) / 1e9;
  server.free();
  return { secs, wall, accepted, records };
}

const [file, roundsArg = "7", mode = "records"] = process.argv.slice(2);
const { DogStatsD } = loadPackage();
const bytes = new Uint8Array(fs.readFileSync(file));
const pkts = packets(bytes);
const results = [];
for (let r = 0; r < Number(roundsArg); r++) results.push(run(DogStatsD, pkts, mode));
const secs = results.map((x) => x.secs).sort((a, b) => a - b);
const walls = results.map((x) => x.wall).sort((a, b) => a - b);
const { accepted, records } = results[0];
const median = secs[Math.floor(secs.length / 2)];
console.log(
  `wasm ${mode} (node ${process.version}): ${accepted} messages in ${pkts.length} packets, ${records} records; ` +
    `CPU time: best ${(accepted / secs[0] / 1e6).toFixed(3)} M msg/s, median ${(accepted / median / 1e6).toFixed(3)} M msg/s; ` +
    `wall: best ${(accepted / walls[0] / 1e6).toFixed(3)} M msg/s`,
);
console.log(JSON.stringify({ impl: `wasm-${mode}`, messages: accepted, records, best_msgs_per_sec: accepted / secs[0], median_msgs_per_sec: accepted / median }));
