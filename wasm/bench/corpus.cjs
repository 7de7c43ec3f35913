// Writes a reproducible DogStatsD corpus, one message per line.
//   node wasm/bench/corpus.cjs OUT_FILE [MESSAGES=200000] [SEED=42]
// Messages draw from a pool of contexts (names of 10-60 bytes, 2-20
// tags) with a skewed popularity, mostly counts, gauges and
// distributions, some histograms, timings and sets, a few sample rates.
"use strict";

const fs = require("node:fs");
const { prng } = require("../tests/support.cjs");

function generate(messages, seed) {
  const rnd = prng(seed);
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const words = [
    "api", "http", "request", "latency", "db", "query", "cache", "hit", "miss", "queue", "depth",
    "worker", "jobs", "errors", "bytes", "sent", "received", "checkout", "cart", "payment", "user",
    "login", "session", "kafka", "consumer", "lag", "redis", "pool", "active", "idle", "gc", "heap",
  ];
  const tagKeys = ["env", "service", "version", "region", "az", "host_group", "endpoint", "status", "method", "team", "shard", "pod", "cluster", "customer_tier"];
  const alnum = "abcdefghijklmnopqrstuvwxyz0123456789";
  const word = (n) => Array.from({ length: n }, () => alnum[int(0, alnum.length - 1)]).join("");

  function name() {
    const target = int(10, 60);
    let s = pick(words);
    while (s.length < target) s += "." + pick(words);
    s = s.slice(0, target);
    return s.endsWith(".") ? s.slice(0, -1) + "x" : s;
  }

  const contexts = [];
  for (let i = 0; i < 10_000; i++) {
    const r = rnd();
    const type = r < 0.38 ? "c" : r < 0.68 ? "g" : r < 0.88 ? "d" : r < 0.93 ? "h" : r < 0.97 ? "ms" : "s";
    const tags = Array.from({ length: int(2, 20) }, () => `${pick(tagKeys)}:${word(int(2, 14))}`);
    contexts.push({ name: name(), type, tags: tags.join(","), rate: rnd() < 0.05 ? "|@0.5" : "" });
  }
  const lines = [];
  for (let i = 0; i < messages; i++) {
    // Skewed popularity: low indices are hot.
    const c = contexts[Math.floor(contexts.length * rnd() ** 2)];
    let value;
    if (c.type === "s") value = "user" + int(0, 500);
    else if (c.type === "g") value = (rnd() * 1000).toFixed(2);
    else if (c.type === "c") value = String(int(1, 5));
    else value = (rnd() * 250).toFixed(3);
    lines.push(`${c.name}:${value}|${c.type}${c.rate}|#${c.tags}`);
  }
  return lines.join("\n") + "\n";
}

if (require.main === module) {
  const [out, n = "200000", seed = "42"] = process.argv.slice(2);
  if (!out) {
    console.error("usage: corpus.cjs OUT_FILE [MESSAGES] [SEED]");
    process.exit(2);
  }
  const text = generate(Number(n), Number(seed));
  fs.writeFileSync(out, text);
  console.log(`${out}: ${n} messages, ${text.length} bytes, seed ${seed}`);
}

module.exports = { generate };
