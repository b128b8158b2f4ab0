// @ganzoo/galip: GALIP (Tao et al., CVPR 2023) text-to-image GAN with a frozen CLIP inside G and D.
export * from './config';
export * from './ops';
export * from './params';
export * from './clip';
export * from './generator';
export * from './discriminator';
export * from './loss';
export * from './convert';
export * from './model';
export * from './train';
export * from './cli';
