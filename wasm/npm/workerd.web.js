// Cloudflare Workers (workerd): the module is imported as a compiled
// WebAssembly.Module (wrangler bundles .wasm imports that way) and
// instantiated synchronously, so nothing is fetched at run time.
import { initSync } from "./dogstatsd_wasm.js";
import module from "./dogstatsd_wasm_bg.wasm";

initSync({ module });

export * from "./dogstatsd_wasm.js";
