// @ganzoo/gigagan: GigaGAN (Kang et al., CVPR 2023) as lucidrains/gigagan-pytorch builds it, on TensorFlow.js.
export * from './config';
export { GigaGAN, ImageRange, CreateOptions, TextInput, GenerateOptions, GenerateResult, UpsampleOptions } from './model';
export { GigaGANClip, GigaGANClipOptions } from './clip';
export {
  TextTokens,
  Recorder,
  GeneratorForwardInputs,
  GeneratorOutput,
  generatorForward,
  generatorSpec,
  generatorLayers,
  generatorStyleSplits,
  fTextEncoder,
  fStyleNetwork,
} from './generator';
export {
  DiscriminatorInputs,
  DiscriminatorOutput,
  discriminatorForward,
  discriminatorSpec,
  discriminatorLayers,
  discriminatorTextEmbeds,
  discriminatorConvertOptions,
  realImagesToRgbs,
  visionAidedForward,
  visionAidedSpec,
} from './discriminator';
export { UpsamplerForwardInputs, UpsamplerOutput, upsamplerForward, upsamplerSpec, upsamplerStyleSplits } from './upsampler';
export { fromLucidrains, toLucidrains, ConvertOptions } from './convert';
export { Params, Spec, ParamEntry, createParams, getter } from './params';
export * from './loss';
export * from './cli';
