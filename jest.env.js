// Jest gives each test file its own realm; native addons (onnxruntime-node, sharp) hand back typed arrays of the
// main realm. Share the typed-array constructors so `instanceof Float32Array` holds across both.
// Do not share ArrayBuffer / SharedArrayBuffer: that breaks Emscripten's memory checks in threaded tfjs wasm.
const { TestEnvironment } = require('jest-environment-node');

const TYPED = ['Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array',
  'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'];

module.exports = class GanzooEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const k of TYPED) this.global[k] = globalThis[k];
  }
};
