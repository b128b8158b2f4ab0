// @ganzoo/core: backends, tensor utils, seeded RNG, shared layers, losses, training, weight I/O, images, progress.
// Each module adds one `export *` line here.
export * from './io/safetensors';
export * from './testing';
export * from './layers/attention';
export * from './layers/norm';
export * from './trainer';
export * from './layers/spectral-norm';
export * from './layers/conditional-batchnorm';
export * from './layers/sagan-attention';
export * from './losses';
export * from './ema';
export * from './ops/upfirdn2d';
export * from './ops/bias-act';
export * from './layers/modulated-conv';
export * from './diffaugment';
export * from './layers/gigagan-layers';
export * from './io/torch';
export { unpickle, UnpicklingError } from './io/pickle';
export * from './checkpoint';
export * from './data/seed';
export * from './data/shapes';
export * from './data/dataset';
export * from './progress';
export * from './clip-loss';
export * from './io/manifest';
export * from './io/resolve';
export * from './io/download';
export { weightsCacheDir, sha256File } from './io/cache';
