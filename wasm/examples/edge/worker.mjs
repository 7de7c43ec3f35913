// Cloudflare Workers entry point (module syntax), wiring the handler to
// the `--target web` build of the package:
//
//   wasm-bindgen --target web --out-dir wasm/pkg-web \
//       target/wasm32-unknown-unknown/wasm-release/dogstatsd_wasm.wasm
//
// Workers import a `.wasm` file as a compiled WebAssembly.Module. Not run
// by the tests (they drive handler.mjs with the same package in Node).
import { initSync, DogStatsD } from "../../pkg-web/dogstatsd_wasm.js";
import wasmModule from "../../pkg-web/dogstatsd_wasm_bg.wasm";
import { createHandler } from "./handler.mjs";

initSync({ module: wasmModule });

export default createHandler(DogStatsD);
