#!/usr/bin/env bash
# Builds the wasm package and runs its Node tests. Works on a fresh
# machine: adds the rustup target and installs wasm-bindgen-cli at the
# version pinned in Cargo.toml when missing. Exits non-zero on any failure.
#
#   wasm/run-tests.sh            build (wasm-release profile) + node --test
#   WASM_BENCH=1 wasm/run-tests.sh   also run the throughput benchmark
#
# Never runs wasm-opt: Debian's binaryen 108 silently breaks wasm-bindgen
# 0.2.130 output (shared/notes/toolchain.md §1.4); size comes from the
# `wasm-release` profile alone.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The version pinned as `wasm-bindgen = "=X"` in the workspace Cargo.toml.
WB_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"$/\1/p' Cargo.toml)
if [ -z "$WB_VERSION" ]; then
    echo "cannot find the pinned wasm-bindgen version in Cargo.toml" >&2
    exit 1
fi
TARGET=wasm32-unknown-unknown
PROFILE=wasm-release
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | node -e \
    'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
WASM="$TARGET_DIR/$TARGET/$PROFILE/dogstatsd_wasm.wasm"
PKG=wasm/pkg
PKG_WEB=wasm/pkg-web
# Size: the budget is 300 KiB; the module is over it today because of
# what core links (see wasm/README.md), so going over the budget warns
# loudly, and only a module over the hard ceiling (a debug build, a
# dependency gone wrong) fails. WASM_SIZE_STRICT=1 makes the budget fail.
BUDGET_WASM_BYTES=$((300 * 1024))
MAX_WASM_BYTES=${MAX_WASM_BYTES:-$((1024 * 1024))}

step "rustup target $TARGET"
rustup target add "$TARGET" >/dev/null

step "wasm-bindgen-cli $WB_VERSION"
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WB_VERSION" ]; then
    echo "installing wasm-bindgen-cli $WB_VERSION (takes several minutes)"
    # Not --locked: its lockfile pins crates the registry here lacks.
    cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi
wasm-bindgen --version

step "build dogstatsd-wasm ($PROFILE)"
cargo build -p dogstatsd-wasm --target "$TARGET" --profile "$PROFILE"

step "wasm-bindgen --target nodejs -> $PKG, --target web -> $PKG_WEB"
rm -rf "$PKG" "$PKG_WEB"
wasm-bindgen --target nodejs --remove-name-section --remove-producers-section --out-dir "$PKG" "$WASM"
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "$PKG_WEB" "$WASM"

step "module checks: no env imports, size"
node - "$PKG/dogstatsd_wasm_bg.wasm" "$MAX_WASM_BYTES" "$BUDGET_WASM_BYTES" "${WASM_SIZE_STRICT:-0}" <<'EOF'
const fs = require("fs");
const [file, max, budget, strict] = process.argv.slice(2);
const bytes = fs.readFileSync(file);
const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
const modules = [...new Set(imports.map((i) => i.module))];
console.log(`imports from: ${modules.join(", ") || "(none)"} (${imports.length} functions)`);
console.log(`size: ${bytes.length} bytes (budget ${budget}, hard limit ${max})`);
let ok = true;
if (bytes.length > Number(budget)) {
  console.log(`WARNING: OVER THE SIZE BUDGET by ${bytes.length - Number(budget)} bytes`);
  if (strict === "1") ok = false;
}
if (imports.some((i) => i.module === "env")) {
  console.error("FAIL: the module imports from env:", imports.filter((i) => i.module === "env"));
  ok = false;
}
if (bytes.length > Number(max)) {
  console.error(`FAIL: ${file} is ${bytes.length} bytes, over ${max}`);
  ok = false;
}
process.exit(ok ? 0 : 1);
EOF

step "native dogstatsd binary (for the parity tests)"
cargo build -p dogstatsd-native --bin dogstatsd
export DOGSTATSD_BIN="$TARGET_DIR/debug/dogstatsd"

step "node --test wasm/tests"
node --test wasm/tests/

if [ "${WASM_BENCH:-0}" = "1" ]; then
    step "throughput: native vs wasm"
    wasm/bench.sh
fi

step "wasm: all passed"
