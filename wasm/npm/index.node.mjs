// Node ESM entry: the nodejs build (CommonJS, instantiated synchronously
// on load) re-exported as ES module names.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const wasm = require("./dogstatsd_wasm.js");

export const { DogStatsD } = wasm;
export default wasm;
