// The wasm package against the native `dogstatsd` binary: for every
// aggregate.json case and for a generated corpus, `flushLines` must print
// byte for byte what `dogstatsd aggregate --now` prints, and `parse` the
// same records as `dogstatsd parse`. Runs when DOGSTATSD_BIN points at the
// binary (wasm/run-tests.sh builds it and sets it).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { loadPackage, conformance, caseConfig } = require("./support.cjs");
const { generate } = require("../bench/corpus.cjs");

const { DogStatsD } = loadPackage();
const BIN = process.env.DOGSTATSD_BIN;
const skip = !BIN || !fs.existsSync(BIN) ? "DOGSTATSD_BIN not set or missing" : false;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dsd-wasm-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));

function native(sub, config, args, input) {
  const file = path.join(tmp, `cfg-${process.hrtime.bigint()}.yaml`);
  fs.writeFileSync(file, JSON.stringify(config)); // JSON is YAML
  return execFileSync(BIN, [sub, "--config", file, ...args], { input, maxBuffer: 1 << 30 }).toString("utf8");
}

test("aggregate.json: flushLines equals `dogstatsd aggregate` byte for byte", { skip }, async (t) => {
  for (const c of conformance("aggregate.json")) {
    await t.test(c.id, (t) => {
      const config = caseConfig(c.config);
      let server;
      try {
        server = new DogStatsD(config);
      } catch (e) {
        if (/mapper profiles are not supported yet/.test(e.message)) return t.skip("NEEDS MAPPER");
        throw e;
      }
      server.push(c.payload, c.now * 1000);
      const wasm = server.flushLines(c.now * 1000, { all: true });
      assert.equal(wasm, native("aggregate", config, ["--now", String(c.now)], c.payload));
      server.free();
    });
  }
});

test("generated corpus: same aggregate and parse output as native", { skip }, () => {
  const config = { hostname: "parity", dogstatsd_tags: ["dc:one"], histogram_percentiles: ["0.5", "0.99"] };
  const corpus = generate(5000, 9) + "bad line\n_e{2,2}:ab|cd|#t:1\n_sc|svc|1|#x\nnan:NaN|g\n";
  const now = 1_700_000_123;
  const server = new DogStatsD(config);
  server.push(corpus, now * 1000);
  assert.equal(server.flushLines(now * 1000, { all: true }), native("aggregate", config, ["--now", String(now)], corpus));
  const wasmParse = server.parse(corpus);
  const nativeParse = native("parse", config, [], corpus)
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l));
  assert.deepEqual(wasmParse, nativeParse);
  server.free();
});
