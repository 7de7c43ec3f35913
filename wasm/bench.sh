#!/usr/bin/env bash
# push + flush throughput, wasm in Node vs native, on the same generated
# corpus and schedule. Needs wasm/pkg (built by wasm/run-tests.sh).
#   wasm/bench.sh [MESSAGES=200000] [ROUNDS=7]
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-200000}
ROUNDS=${2:-7}
OUT=wasm/bench-out
mkdir -p "$OUT"
CORPUS="$OUT/corpus-$MESSAGES.txt"
node wasm/bench/corpus.cjs "$CORPUS" "$MESSAGES" 42
cargo build -q --release -p dogstatsd-wasm --example native_throughput
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | node -e \
    'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
"$TARGET_DIR/release/examples/native_throughput" "$CORPUS" "$ROUNDS" | tee "$OUT/native.txt"
node wasm/bench/throughput.cjs "$CORPUS" "$ROUNDS" | tee "$OUT/wasm.txt"
node -e '
const fs = require("fs");
const last = (f) => JSON.parse(fs.readFileSync(f, "utf8").trim().split("\n").pop());
const n = last(process.argv[1]), w = last(process.argv[2]);
if (n.messages !== w.messages || n.records !== w.records) {
  console.error(`FAIL: native and wasm disagree: ${JSON.stringify(n)} vs ${JSON.stringify(w)}`);
  process.exit(1);
}
const r = (x) => (100 * x).toFixed(1);
console.log(`wasm/native: best ${r(w.best_msgs_per_sec / n.best_msgs_per_sec)} %, median ${r(w.median_msgs_per_sec / n.median_msgs_per_sec)} %`);
' "$OUT/native.txt" "$OUT/wasm.txt"
