// Drives examples/edge/handler.mjs with real Request objects against a
// local recording intake (a Node http server on 127.0.0.1:0). Uses the
// `--target web` package, the one edge runtimes load.
import test from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { createHandler } from "../examples/edge/handler.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const webPkg = process.env.DOGSTATSD_WASM_WEB_PKG || path.join(here, "..", "pkg-web");
const { initSync, DogStatsD } = await import(path.join(webPkg, "dogstatsd_wasm.js"));
initSync({ module: fs.readFileSync(path.join(webPkg, "dogstatsd_wasm_bg.wasm")) });

/** A test intake that records every request and answers `status`. */
async function startIntake(status = 202) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end('{"errors":[]}');
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(r)) };
}

const NOW = 1_700_000_005_000;
const handler = createHandler(DogStatsD, { now: () => NOW });

test("POSTed lines are aggregated and forwarded to the intake", async () => {
  const intake = await startIntake();
  try {
    const env = { DD_API_KEY: "test-key", DD_URL: intake.url + "/", DOGSTATSD_CONFIG: '{"hostname":"edge-7"}' };
    const body = [
      "page.views:1|c|#env:prod",
      "page.views:2|c|#env:prod",
      "latency:12|d\nlatency:30|d",
      "not a metric",
      "_sc|edge.up|0|m:fine",
      "_e{6,5}:deploy|v1.2.3",
    ].join("\n");
    const res = await handler.fetch(new Request("https://edge.example/ingest", { method: "POST", body }), env);
    assert.equal(res.status, 202);
    const out = await res.json();
    assert.equal(out.accepted, 6);
    assert.equal(out.rejected, 1);
    assert.deepEqual(out.forwarded.map((f) => f.status), [202, 202, 202, 202]);

    const byPath = Object.fromEntries(intake.requests.map((r) => [r.url, r]));
    assert.deepEqual(Object.keys(byPath).sort(), ["/api/beta/sketches", "/api/v1/check_run", "/api/v2/series", "/intake/"]);
    for (const r of intake.requests) {
      assert.equal(r.method, "POST");
      assert.equal(r.headers["dd-api-key"], "test-key");
      assert.equal(r.headers["content-encoding"], undefined);
      assert.match(r.headers["user-agent"], /^datadog-agent\//);
      assert.ok(r.body.length > 0);
    }
    const series = byPath["/api/v2/series"];
    assert.equal(series.headers["content-type"], "application/x-protobuf");
    assert.ok(series.headers["dd-agent-payload"]);
    assert.ok(series.body.includes(Buffer.from("page.views")));
    assert.ok(series.body.includes(Buffer.from("env:prod")));
    assert.ok(byPath["/api/beta/sketches"].body.includes(Buffer.from("latency")));
    const checks = JSON.parse(byPath["/api/v1/check_run"].body);
    assert.deepEqual(
      checks.map((c) => [c.check, c.status, c.host_name, c.message]),
      [["edge.up", 0, "edge-7", "fine"]],
    );
    const events = JSON.parse(byPath["/intake/"].body);
    assert.equal(events.internalHostname, "edge-7");
    assert.equal(JSON.stringify(events.events).includes("deploy"), true);
  } finally {
    await intake.close();
  }
});

test("a body with nothing valid forwards nothing", async () => {
  const intake = await startIntake();
  try {
    const env = { DD_API_KEY: "k", DD_URL: intake.url };
    const res = await handler.fetch(new Request("https://edge.example/", { method: "POST", body: "\xff\xfe garbage ||| \n:::" }), env);
    assert.equal(res.status, 202);
    const out = await res.json();
    assert.equal(out.accepted, 0);
    assert.equal(out.rejected, 2);
    assert.deepEqual(out.forwarded, []);
    assert.equal(intake.requests.length, 0);
  } finally {
    await intake.close();
  }
});

test("intake failures and bad setup are reported, not thrown", async () => {
  const intake = await startIntake(503);
  try {
    const env = { DD_API_KEY: "k", DD_URL: intake.url };
    const res = await handler.fetch(new Request("https://edge.example/", { method: "POST", body: "a:1|g" }), env);
    assert.equal(res.status, 502);
    assert.deepEqual((await res.json()).forwarded, [{ path: "/api/v2/series", status: 503 }]);
  } finally {
    await intake.close();
  }
  const get = await handler.fetch(new Request("https://edge.example/"), { DD_API_KEY: "k", DD_URL: "http://x" });
  assert.equal(get.status, 405);
  const noEnv = await handler.fetch(new Request("https://edge.example/", { method: "POST", body: "a:1|g" }), {});
  assert.equal(noEnv.status, 500);
  const badCfg = await handler.fetch(new Request("https://edge.example/", { method: "POST", body: "a:1|g" }), {
    DD_API_KEY: "k",
    DD_URL: "http://x",
    DOGSTATSD_CONFIG: '{"dogstatsd_tags": 5}',
  });
  assert.equal(badCfg.status, 500);
  assert.match((await badCfg.json()).error, /invalid configuration/);
  // Unreachable intake: a network error becomes status 0 and a 502.
  const down = await handler.fetch(new Request("https://edge.example/", { method: "POST", body: "a:1|g" }), {
    DD_API_KEY: "k",
    DD_URL: "http://127.0.0.1:1",
  });
  assert.equal(down.status, 502);
  assert.equal((await down.json()).forwarded[0].status, 0);
});
