#!/usr/bin/env bash
# push + flush throughput, wasm in Node vs native, on the same generated
# corpus and schedule (see bench/throughput.cjs). The three runs take
# turns TIMES times (the machine is shared, so load changes) and the
# best round of each is compared. Needs wasm/pkg (wasm/run-tests.sh).
#   wasm/bench.sh [MESSAGES=200000] [TIMES=3] [ROUNDS_PER_RUN=3]
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-200000}
TIMES=${2:-3}
ROUNDS=${3:-3}
OUT=wasm/bench-out
mkdir -p "$OUT"
CORPUS="$OUT/corpus-$MESSAGES.txt"
node wasm/bench/corpus.cjs "$CORPUS" "$MESSAGES" 42
cargo build -q --release -p dogstatsd-wasm --example native_throughput
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | node -e \
    'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
: >"$OUT/results.jsonl"
for _ in $(seq "$TIMES"); do
    "$TARGET_DIR/release/examples/native_throughput" "$CORPUS" "$ROUNDS" 2>/dev/null | tee -a "$OUT/results.jsonl"
    node wasm/bench/throughput.cjs "$CORPUS" "$ROUNDS" records | tee -a "$OUT/results.jsonl"
    node wasm/bench/throughput.cjs "$CORPUS" "$ROUNDS" lines | tee -a "$OUT/results.jsonl"
done
node -e '
const fs = require("fs");
const rows = fs.readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l.startsWith("{")).map(JSON.parse);
const best = {};
for (const r of rows) {
  const b = best[r.impl];
  if (b && (b.messages !== r.messages || b.records !== r.records)) throw new Error("runs disagree");
  if (!b || r.best_msgs_per_sec > b.best_msgs_per_sec) best[r.impl] = r;
}
const n = best.native;
for (const impl of ["wasm-records", "wasm-lines"]) {
  const w = best[impl];
  if (w.messages !== n.messages || w.records !== n.records) {
    console.error(`FAIL: native and ${impl} disagree: ${JSON.stringify(n)} vs ${JSON.stringify(w)}`);
    process.exit(1);
  }
}
const m = (x) => (x / 1e6).toFixed(3) + " M msg/s";
console.log(`\nbest of all rounds: native ${m(n.best_msgs_per_sec)}`);
for (const impl of ["wasm-records", "wasm-lines"]) {
  const w = best[impl];
  console.log(`  ${impl}: ${m(w.best_msgs_per_sec)} = ${(100 * w.best_msgs_per_sec / n.best_msgs_per_sec).toFixed(1)} % of native`);
}
' "$OUT/results.jsonl"
