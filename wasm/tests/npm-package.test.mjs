// The npm package as a user gets it: `npm pack`, installed into a fresh
// project by run-tests.sh (DSD_NPM_PROJECT), then imported from ESM and
// required from CommonJS, with each runtime's `exports` condition
// resolving to its build.
import test from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const project = process.env.DSD_NPM_PROJECT;
const skip = project ? false : "SKIPPED: DSD_NPM_PROJECT not set (run wasm/run-tests.sh)";
if (skip) console.log(skip);

const T0 = 1_700_000_005_000;
const USE = `
  const s = new DogStatsD({ hostname: "npm" });
  s.push("npm.hits:3|c|#via:pkg\\nnpm.hits:4|c|#via:pkg", ${T0});
  const [r] = s.flush(${T0}, { all: true });
  console.log(JSON.stringify({ metric: r.metric, value: r.value, host: r.host }));
`;

function run(file, body, extra = []) {
  const p = path.join(project, file);
  fs.writeFileSync(p, body);
  return execFileSync(process.execPath, [...extra, p], { cwd: project }).toString().trim();
}

test("imports from ESM", { skip }, () => {
  const out = JSON.parse(run("use.mjs", `import { DogStatsD } from "dogstatsd-wasm";\n${USE}`));
  assert.deepEqual(out, { metric: "npm.hits", value: 0.7, host: "npm" });
});

test("requires from CommonJS", { skip }, () => {
  const out = JSON.parse(run("use.cjs", `const { DogStatsD } = require("dogstatsd-wasm");\n${USE}`));
  assert.deepEqual(out, { metric: "npm.hits", value: 0.7, host: "npm" });
});

test("each runtime's condition resolves to its build", { skip }, () => {
  const resolve = (cond) =>
    run(
      `resolve-${cond}.mjs`,
      `console.log(import.meta.resolve("dogstatsd-wasm"));`,
      cond ? [`--conditions=${cond}`] : [],
    );
  assert.match(resolve(""), /node\/index\.mjs$/);
  assert.match(resolve("workerd"), /web\/workerd\.js$/);
  assert.match(resolve("browser"), /web\/index\.js$/);
  assert.match(resolve("deno"), /web\/index\.js$/);
  const pkg = JSON.parse(
    fs.readFileSync(path.join(project, "node_modules/dogstatsd-wasm/package.json"), "utf8"),
  );
  for (const f of [pkg.types, "node/dogstatsd_wasm_bg.wasm", "web/dogstatsd_wasm_bg.wasm", "LICENSE"]) {
    assert.ok(fs.existsSync(path.join(project, "node_modules/dogstatsd-wasm", f)), f);
  }
  assert.equal(pkg.license, "Apache-2.0");
});
