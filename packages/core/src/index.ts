// @ganzoo/core: backends, tensor utils, seeded RNG, shared layers, losses, training, weight I/O, images, progress.
// Each module adds one `export *` line here.
export * from './io/safetensors';
export * from './testing';
export * from './layers/attention';
export * from './layers/norm';
export * from './trainer';
