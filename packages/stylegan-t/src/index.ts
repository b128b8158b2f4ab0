// @ganzoo/stylegan-t: StyleGAN-T (Sauer et al., 2023) text-to-image GAN on TensorFlow.js.
export * from './config';
export * from './generator';
export * from './discriminator';
export * from './convert';
export * from './loss';
export * from './model';
export type { ParamMap } from './params';
export * from './train';
export * from './cli';
