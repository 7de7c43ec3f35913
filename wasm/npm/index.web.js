// Browsers and Deno: the web build, instantiated at import (top-level
// await), so `new DogStatsD()` works as soon as the import resolves.
import init from "./dogstatsd_wasm.js";

await init({ module_or_path: new URL("./dogstatsd_wasm_bg.wasm", import.meta.url) });

export * from "./dogstatsd_wasm.js";
