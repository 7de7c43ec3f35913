#!/usr/bin/env bash
# Builds the wasm package and runs its Node tests. Works on a fresh
# machine: adds the rustup target and installs wasm-bindgen-cli at the
# version pinned in Cargo.toml when missing. Exits non-zero on any failure.
#
#   wasm/run-tests.sh            build (wasm-release profile) + node --test
#   WASM_BENCH=1 wasm/run-tests.sh   also run the throughput benchmark
#
# Size: the `wasm-release` profile (opt-level "s"), then `wasm-opt -Oz`
# (plus --low-memory-unused --converge, see below)
# from binaryen's npm package at the version pinned below (a current
# binaryen compiled to wasm, run by Node; installed into the target
# directory when missing). Never Debian's /usr/bin/wasm-opt: binaryen 108
# silently breaks wasm-bindgen 0.2.130 output (shared/notes/toolchain.md
# §1.4). wasm-opt can break a module silently too, so every test below
# runs on the optimised module.
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
BINARYEN_VERSION=132.0.0
BINARYEN_DIR="$TARGET_DIR/binaryen-$BINARYEN_VERSION"
WASM_OPT="$BINARYEN_DIR/node_modules/binaryen/bin/wasm-opt"
# Size budget: what costs an edge runtime cold-start time is the
# compressed transfer and the compile, so the limit is on the gzip -9 size
# of the optimised module: over 200 KB (200 000 bytes) the script fails.
# (Platforms accept far larger modules: Cloudflare Workers 3 MB compressed
# on the free plan.) Raw and brotli sizes are printed beside it.
MAX_GZIP_BYTES=200000

step "rustup target $TARGET"
rustup target add "$TARGET" >/dev/null

step "wasm-bindgen-cli $WB_VERSION"
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WB_VERSION" ]; then
    echo "installing wasm-bindgen-cli $WB_VERSION (takes several minutes)"
    # Not --locked: its lockfile pins crates the registry here lacks.
    cargo install wasm-bindgen-cli --version "$WB_VERSION"
fi
wasm-bindgen --version

step "binaryen $BINARYEN_VERSION (wasm-opt, npm package)"
if [ "$(node "$WASM_OPT" --version 2>/dev/null)" != "wasm-opt version ${BINARYEN_VERSION%%.*} (version_${BINARYEN_VERSION%%.*})" ]; then
    rm -rf "$BINARYEN_DIR"
    mkdir -p "$BINARYEN_DIR"
    npm install --prefix "$BINARYEN_DIR" --no-save --no-audit --no-fund --ignore-scripts \
        "binaryen@$BINARYEN_VERSION"
fi
node "$WASM_OPT" --version

step "build dogstatsd-wasm ($PROFILE)"
cargo build -p dogstatsd-wasm --target "$TARGET" --profile "$PROFILE"

step "wasm-bindgen --target nodejs -> $PKG, --target web -> $PKG_WEB"
rm -rf "$PKG" "$PKG_WEB"
wasm-bindgen --target nodejs --remove-name-section --remove-producers-section --out-dir "$PKG" "$WASM"
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir "$PKG_WEB" "$WASM"

step "wasm-opt -Oz (binaryen $BINARYEN_VERSION)"
for dir in "$PKG" "$PKG_WEB"; do
    bg="$dir/dogstatsd_wasm_bg.wasm"
    before=$(wc -c <"$bg")
    # Features come from the module's target_features section.
    # --low-memory-unused: Rust's wasm32 layout puts the 1 MiB stack first
    # (growing down towards 0) and data above it, so nothing lives in the
    # low 1 KiB; wasm-opt may then fold pointer offsets into loads and
    # stores (-2.4 KB). --converge repeats -Oz while it still shrinks.
    node "$WASM_OPT" -Oz --low-memory-unused --converge "$bg" -o "$bg.opt"
    mv "$bg.opt" "$bg"
    echo "$bg: $before -> $(wc -c <"$bg") bytes"
done

step "module checks: no env imports, size (raw, gzip -9, brotli), instantiation time"
node - "$PKG/dogstatsd_wasm_bg.wasm" "$MAX_GZIP_BYTES" <<'EOF'
const fs = require("fs");
const zlib = require("zlib");
const [file, max] = process.argv.slice(2);
const bytes = fs.readFileSync(file);
const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
const modules = [...new Set(imports.map((i) => i.module))];
console.log(`imports from: ${modules.join(", ") || "(none)"} (${imports.length} functions)`);
const gzip = zlib.gzipSync(bytes, { level: 9 }).length;
const brotli = zlib.brotliCompressSync(bytes, {
  params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 },
}).length;
console.log(`size: ${bytes.length} bytes raw, ${gzip} gzip -9 (limit ${max}), ${brotli} brotli`);
let ok = true;
if (imports.some((i) => i.module === "env")) {
  console.error("FAIL: the module imports from env:", imports.filter((i) => i.module === "env"));
  ok = false;
}
if (gzip > Number(max)) {
  console.error(`FAIL: ${file} is ${gzip} bytes gzipped, over ${max}`);
  ok = false;
}
process.exit(ok ? 0 : 1);
EOF
# Cold start in Node: compile alone, then require + compile + instantiate
# (the nodejs package, with its imports) + a first server; median of 5
# fresh processes.
node - "$PKG" <<'EOF'
const { execFileSync } = require("child_process");
const path = require("path");
const pkg = path.resolve(process.argv[2]);
const probe = `
const fs = require("fs");
const bytes = fs.readFileSync(${JSON.stringify(pkg + "/dogstatsd_wasm_bg.wasm")});
let t = process.hrtime.bigint();
new WebAssembly.Module(bytes);
const compile = Number(process.hrtime.bigint() - t) / 1e6;
t = process.hrtime.bigint();
const m = require(${JSON.stringify(pkg + "/dogstatsd_wasm.js")});
new m.DogStatsD({});
const load = Number(process.hrtime.bigint() - t) / 1e6;
console.log(JSON.stringify({ compile, load }));`;
const runs = Array.from({ length: 5 }, () =>
  JSON.parse(execFileSync(process.execPath, ["-e", probe]).toString()));
const median = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[2].toFixed(2);
console.log(`instantiation (node ${process.version}, median of 5): compile ${median("compile")} ms; require + compile + instantiate + new DogStatsD ${median("load")} ms`);
EOF

step "npm package: assemble, npm pack, install into a fresh project"
# wasm/npm holds the package's own files; the builds come from $PKG (Node,
# CommonJS, instantiated on load) and $PKG_WEB (web: browsers, Deno,
# workerd). tests/npm-package.test.mjs imports the installed package.
NPM_DIR="$TARGET_DIR/npm-package"
NPM_PKG="$NPM_DIR/dogstatsd-wasm"
rm -rf "$NPM_DIR"
mkdir -p "$NPM_PKG/node" "$NPM_PKG/web" "$NPM_DIR/project"
cp wasm/npm/package.json wasm/npm/README.md LICENSE "$NPM_PKG/"
cp "$PKG/dogstatsd_wasm.js" "$PKG/dogstatsd_wasm.d.ts" "$PKG/dogstatsd_wasm_bg.wasm" "$NPM_PKG/node/"
cp wasm/npm/index.node.mjs "$NPM_PKG/node/index.mjs"
cp wasm/npm/node.package.json "$NPM_PKG/node/package.json"
cp "$PKG_WEB/dogstatsd_wasm.js" "$PKG_WEB/dogstatsd_wasm.d.ts" "$PKG_WEB/dogstatsd_wasm_bg.wasm" "$NPM_PKG/web/"
cp wasm/npm/index.web.js "$NPM_PKG/web/index.js"
cp wasm/npm/workerd.web.js "$NPM_PKG/web/workerd.js"
(cd "$NPM_PKG" && npm pack --silent --pack-destination "$NPM_DIR" >/dev/null)
TARBALL=$(ls "$NPM_DIR"/dogstatsd-wasm-*.tgz)
echo "packed $(basename "$TARBALL"): $(wc -c <"$TARBALL") bytes"
(cd "$NPM_DIR/project" && printf '{"name":"npm-check","private":true}\n' >package.json \
    && npm install --silent --no-audit --no-fund --prefer-offline "$TARBALL")
export DSD_NPM_PROJECT="$NPM_DIR/project"

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
