// @ganzoo/encoders: CLIP and DINO as differentiable tfjs models, plus the transformers.js bridge.
export * from './vit';
export * from './config';
export * from './convert';
export * from './io';
export * from './resize';
export * from './preprocess';
export * from './tokenizer';
export * from './clip';
export * from './dino';
export * from './onnx';
export * from './text-encoder';
