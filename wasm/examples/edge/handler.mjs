// A fetch handler (standard Request -> Response) that takes DogStatsD
// lines in POST bodies, aggregates them with the wasm DogStatsD class and
// forwards the resulting intake payloads with fetch.
//
// It does not import the wasm package itself, so it runs unchanged on any
// runtime: pass it the DogStatsD class from whichever wasm-bindgen output
// the runtime loads (`--target web` for Workers/Deno, `nodejs` for Node).
//
// Environment (the Workers `env` object, or any plain object):
//   DD_API_KEY        required: sent as DD-Api-Key
//   DD_URL            required: intake base URL, e.g. https://api.datadoghq.com
//   DOGSTATSD_CONFIG  optional: JSON config with datadog.yaml keys
//                     (hostname, dogstatsd_tags, mapper profiles, ...)
//
// Every request is aggregated and flushed on its own ({ all: true }): an
// edge isolate may be dropped between requests, so nothing is kept in
// open buckets. Bodies are sent uncompressed (no Content-Encoding).

/**
 * @param {typeof import("../../pkg/dogstatsd_wasm").DogStatsD} DogStatsD
 * @param {{ now?: () => number, fetch?: typeof fetch }} [options]
 *   clock and fetch to use (defaults: Date.now and the global fetch)
 */
export function createHandler(DogStatsD, options = {}) {
  const now = options.now ?? (() => Date.now());
  const doFetch = options.fetch ?? ((...args) => fetch(...args));

  return {
    async fetch(request, env = {}) {
      if (request.method !== "POST") {
        return json(405, { error: "POST DogStatsD lines to this endpoint" }, { Allow: "POST" });
      }
      if (!env.DD_API_KEY || !env.DD_URL) {
        return json(500, { error: "DD_API_KEY and DD_URL must be set" });
      }
      let server;
      try {
        server = new DogStatsD(env.DOGSTATSD_CONFIG || { hostname: "edge" });
      } catch (e) {
        return json(500, { error: String(e.message ?? e) });
      }
      try {
        const body = await request.arrayBuffer();
        const t = now();
        const { accepted, rejected } = server.push(body, t);
        const payloads = server.flushPayloads(t, { apiKey: env.DD_API_KEY, all: true });
        const base = String(env.DD_URL).replace(/\/+$/, "");
        const forwarded = await Promise.all(
          payloads.map(async (p) => {
            try {
              const res = await doFetch(base + p.path, { method: p.method, headers: p.headers, body: p.body });
              // Drain the body so the connection can be reused.
              await res.arrayBuffer();
              return { path: p.path, status: res.status };
            } catch (e) {
              return { path: p.path, status: 0, error: String(e.message ?? e) };
            }
          }),
        );
        const failed = forwarded.filter((f) => !(f.status >= 200 && f.status < 400));
        return json(failed.length ? 502 : 202, { accepted, rejected, forwarded });
      } finally {
        server.free();
      }
    },
  };
}

function json(status, value, headers = {}) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}
