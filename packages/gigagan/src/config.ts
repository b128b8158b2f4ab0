/**
 * GigaGAN configuration: the constructor arguments of lucidrains/gigagan-pytorch's Generator, Discriminator,
 * UnetUpsampler (camelCase here; `fromLucidrainsKwargs` reads the snake_case config.json), plus named presets.
 */

export interface StyleNetworkConfig {
  dim: number;
  depth: number;
  lrMul: number;
  dimTextLatent: number;
}

export interface TextEncoderConfig {
  dim: number;
  depth: number;
  dimHead: number;
  heads: number;
}

export interface GeneratorConfig {
  imageSize: number;
  dimCapacity: number;
  dimMax: number;
  channels: number;
  styleNetwork: StyleNetworkConfig;
  textEncoder: TextEncoderConfig | null;
  dimLatent: number;
  selfAttnResolutions: number[];
  selfAttnDimHead: number;
  selfAttnHeads: number;
  selfAttnDotProduct: boolean;
  selfAttnFfMult: number;
  crossAttnResolutions: number[];
  crossAttnDimHead: number;
  crossAttnHeads: number;
  crossAttnFfMult: number;
  numConvKernels: number;
  numSkipLayersExcite: number;
  unconditional: boolean;
  pixelShuffleUpsample: boolean;
}

export interface DiscriminatorConfig {
  imageSize: number;
  dimCapacity: number;
  dimMax: number;
  channels: number;
  attnResolutions: number[];
  attnDimHead: number;
  attnHeads: number;
  selfAttnDotProduct: boolean;
  ffMult: number;
  textEncoder: TextEncoderConfig | null;
  /** Width of `text_embeds` when D has no TextEncoder of its own. */
  textDim: number | null;
  filterInputResolutions: boolean;
  multiscaleInputResolutions: number[];
  multiscaleOutputSkipStages: number;
  auxReconResolutions: number[];
  auxReconPatchDims: number[];
  auxReconFracPatches: number[];
  auxReconFmapDropout: number;
  resizeMode: 'bilinear';
  numConvKernels: number;
  numSkipLayersExcite: number;
  unconditional: boolean;
  predictorDepth: number;
}

export interface UpsamplerConfig {
  dim: number;
  imageSize: number;
  inputImageSize: number;
  initDim: number | null;
  outDim: number | null;
  textEncoder: TextEncoderConfig | null;
  styleNetwork: StyleNetworkConfig;
  dimMults: number[];
  channels: number;
  fullAttn: boolean[];
  crossAttn: boolean[];
  selfAttnDimHead: number;
  selfAttnHeads: number;
  selfAttnFfMult: number;
  attnDepths: number[];
  crossAttnDimHead: number;
  crossAttnHeads: number;
  crossFfMult: number;
  midAttnDepth: number;
  numConvKernels: number;
  unconditional: boolean;
  skipConnectScale: number | null;
}

export interface VisionAidedConfig {
  /** Hidden width of the CLIP vision tower (768 for ViT-B/32). */
  dimImage: number;
  convDim: number;
  textDim: number;
  layerIndices: number[];
  numConvKernels: number;
  unconditional: boolean;
}

export interface ClipConfig {
  /** Width of the CLIP per-token text encodings the TextEncoders read (512 for ViT-B/32). */
  dimLatent: number;
  /** Width of the CLIP vision hidden states (768 for ViT-B/32). */
  dimImageLatent: number;
}

export interface GigaGANConfig {
  G: GeneratorConfig;
  D: DiscriminatorConfig;
  upsampler: UpsamplerConfig | null;
  visionAided: VisionAidedConfig | null;
  clip: ClipConfig;
}

type Partialish<T> = { [K in keyof T]?: T[K] extends object | null ? any : T[K] };

export const DEFAULT_CLIP: ClipConfig = { dimLatent: 512, dimImageLatent: 768 };

export function styleNetworkConfig(c: Partialish<StyleNetworkConfig> & { dim: number; depth: number }): StyleNetworkConfig {
  return { lrMul: 0.1, dimTextLatent: 0, ...c } as StyleNetworkConfig;
}

export function textEncoderConfig(c: Partialish<TextEncoderConfig> & { dim: number; depth: number }): TextEncoderConfig {
  return { dimHead: 64, heads: 8, ...c } as TextEncoderConfig;
}

export function generatorConfig(c: Partialish<GeneratorConfig> & { imageSize: number }): GeneratorConfig {
  const g: GeneratorConfig = {
    dimCapacity: 16,
    dimMax: 2048,
    channels: 3,
    dimLatent: 512,
    selfAttnResolutions: [32, 16],
    selfAttnDimHead: 64,
    selfAttnHeads: 8,
    selfAttnDotProduct: true,
    selfAttnFfMult: 4,
    crossAttnResolutions: [32, 16],
    crossAttnDimHead: 64,
    crossAttnHeads: 8,
    crossAttnFfMult: 4,
    numConvKernels: 2,
    numSkipLayersExcite: 0,
    unconditional: false,
    pixelShuffleUpsample: false,
    textEncoder: null,
    ...(c as any),
    styleNetwork: styleNetworkConfig(c.styleNetwork ?? { dim: 512, depth: 4 }),
  };
  if (c.textEncoder) g.textEncoder = textEncoderConfig(c.textEncoder);
  return g;
}

export function discriminatorConfig(c: Partialish<DiscriminatorConfig> & { imageSize: number }): DiscriminatorConfig {
  const d: DiscriminatorConfig = {
    dimCapacity: 16,
    dimMax: 2048,
    channels: 3,
    attnResolutions: [32, 16],
    attnDimHead: 64,
    attnHeads: 8,
    selfAttnDotProduct: false,
    ffMult: 4,
    textEncoder: null,
    textDim: null,
    filterInputResolutions: true,
    multiscaleInputResolutions: [64, 32, 16, 8],
    multiscaleOutputSkipStages: 1,
    auxReconResolutions: [8],
    auxReconPatchDims: [2],
    auxReconFracPatches: [0.25],
    auxReconFmapDropout: 0.5,
    resizeMode: 'bilinear',
    numConvKernels: 2,
    numSkipLayersExcite: 0,
    unconditional: false,
    predictorDepth: 2,
    ...(c as any),
  };
  if (c.textEncoder) d.textEncoder = textEncoderConfig(c.textEncoder);
  return d;
}

export function upsamplerConfig(c: Partialish<UpsamplerConfig> & { dim: number; imageSize: number; inputImageSize: number }): UpsamplerConfig {
  const n = (c.dimMults ?? [1, 2, 4, 8, 16]).length;
  const u: UpsamplerConfig = {
    initDim: null,
    outDim: null,
    textEncoder: null,
    dimMults: [1, 2, 4, 8, 16],
    channels: 3,
    fullAttn: [false, false, false, true, true].slice(0, n),
    crossAttn: [false, false, false, true, true].slice(0, n),
    selfAttnDimHead: 64,
    selfAttnHeads: 8,
    selfAttnFfMult: 4,
    attnDepths: [1, 1, 1, 1, 1].slice(0, n),
    crossAttnDimHead: 64,
    crossAttnHeads: 8,
    crossFfMult: 4,
    midAttnDepth: 1,
    numConvKernels: 2,
    unconditional: true,
    skipConnectScale: null,
    ...(c as any),
    styleNetwork: styleNetworkConfig(c.styleNetwork ?? { dim: 64, depth: 4 }),
  };
  if (c.textEncoder) u.textEncoder = textEncoderConfig(c.textEncoder);
  return u;
}

export function visionAidedConfig(c: Partial<VisionAidedConfig> = {}): VisionAidedConfig {
  const dimImage = c.dimImage ?? 768;
  return {
    dimImage,
    convDim: c.convDim ?? dimImage,
    textDim: c.textDim ?? dimImage,
    layerIndices: c.layerIndices ?? [-1, -2, -3],
    numConvKernels: c.numConvKernels ?? 2,
    unconditional: c.unconditional ?? false,
  };
}

const isPow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;

function fail(what: string, expected: string, found: unknown): never {
  throw new Error(`GigaGAN config: ${what}: expected ${expected}, found ${JSON.stringify(found)}`);
}

/** Throw an Error naming the offending field for configs lucidrains' constructors would reject (or silently mishandle). */
export function validateConfig(cfg: GigaGANConfig): void {
  const g = cfg.G;
  if (!isPow2(g.imageSize) || g.imageSize < 4) fail('G.imageSize', 'a power of two >= 4', g.imageSize);
  const gRes = pyramidResolutions(g.imageSize);
  for (const r of g.selfAttnResolutions) if (!gRes.includes(r)) fail('G.selfAttnResolutions', `resolutions of the pyramid ${JSON.stringify(gRes)}`, g.selfAttnResolutions);
  for (const r of g.crossAttnResolutions) if (!gRes.includes(r)) fail('G.crossAttnResolutions', `resolutions of the pyramid ${JSON.stringify(gRes)}`, g.crossAttnResolutions);
  if (g.unconditional && g.textEncoder) fail('G.textEncoder', 'null for an unconditional generator', g.textEncoder);
  if (!g.unconditional) {
    if (!g.textEncoder) fail('G.textEncoder', 'a TextEncoder config for a conditional generator', null);
    if (g.textEncoder.dim !== g.styleNetwork.dimTextLatent) fail('G.styleNetwork.dimTextLatent', `G.textEncoder.dim (${g.textEncoder.dim})`, g.styleNetwork.dimTextLatent);
  } else if (g.styleNetwork.dimTextLatent > 0) fail('G.styleNetwork.dimTextLatent', '0 for an unconditional generator', g.styleNetwork.dimTextLatent);
  if (!(g.numConvKernels >= 1)) fail('G.numConvKernels', 'an integer >= 1', g.numConvKernels);
  for (const te of [g.textEncoder, cfg.D.textEncoder, cfg.upsampler?.textEncoder]) {
    if (te && (te.dimHead <= 0 || te.heads <= 0)) fail('textEncoder heads/dimHead', 'positive integers', te);
  }
  const d = cfg.D;
  if (!isPow2(d.imageSize) || d.imageSize < 4) fail('D.imageSize', 'a power of two >= 4', d.imageSize);
  const dRes = pyramidResolutions(d.imageSize);
  for (const r of d.attnResolutions) if (!dRes.includes(r)) fail('D.attnResolutions', `resolutions of the pyramid ${JSON.stringify(dRes)}`, d.attnResolutions);
  const ins = discriminatorInputResolutions(d);
  for (const r of ins) if (!isPow2(r) || r >= d.imageSize) fail('D.multiscaleInputResolutions', `powers of two below ${d.imageSize}`, d.multiscaleInputResolutions);
  if (new Set(ins).size !== ins.length) fail('D.multiscaleInputResolutions', 'unique values', ins);
  const outs = ins.map((r) => r >> d.multiscaleOutputSkipStages);
  if (d.multiscaleOutputSkipStages < 1) fail('D.multiscaleOutputSkipStages', '>= 1', d.multiscaleOutputSkipStages);
  if (outs.some((r) => r < 4)) fail('D multiscale output resolutions (input >> skip stages)', 'all >= 4', outs);
  if (d.unconditional && d.textEncoder) fail('D.textEncoder', 'null for an unconditional discriminator', d.textEncoder);
  if (!d.unconditional && !d.textEncoder && !d.textDim) fail('D.textEncoder / D.textDim', 'one of them for a conditional discriminator', null);
  if (d.auxReconResolutions.length !== d.auxReconPatchDims.length || d.auxReconResolutions.length !== d.auxReconFracPatches.length) {
    fail('D.auxRecon*', 'lists of equal length', [d.auxReconResolutions, d.auxReconPatchDims, d.auxReconFracPatches]);
  }
  if (g.unconditional !== d.unconditional) fail('G.unconditional / D.unconditional', 'equal', [g.unconditional, d.unconditional]);
  const u = cfg.upsampler;
  if (u) {
    if (!isPow2(u.imageSize) || !isPow2(u.inputImageSize)) fail('upsampler.imageSize / inputImageSize', 'powers of two', [u.imageSize, u.inputImageSize]);
    if (u.inputImageSize >= u.imageSize) fail('upsampler.inputImageSize', `< imageSize ${u.imageSize}`, u.inputImageSize);
    const noDown = Math.log2(u.imageSize) - Math.log2(u.inputImageSize);
    if (noDown > u.dimMults.length) fail('upsampler.dimMults', `at least ${noDown} stages for this upsampling factor`, u.dimMults);
    for (const [k, v] of [['fullAttn', u.fullAttn], ['crossAttn', u.crossAttn], ['attnDepths', u.attnDepths]] as const) {
      if (v.length !== u.dimMults.length) fail(`upsampler.${k}`, `${u.dimMults.length} entries (one per dimMults stage)`, v);
    }
    if (u.unconditional === !!u.textEncoder) fail('upsampler.textEncoder', u.unconditional ? 'null when unconditional' : 'a TextEncoder config when conditional', u.textEncoder);
    if (u.textEncoder && u.textEncoder.dim !== u.styleNetwork.dimTextLatent) fail('upsampler.styleNetwork.dimTextLatent', `upsampler.textEncoder.dim (${u.textEncoder.dim})`, u.styleNetwork.dimTextLatent);
  }
}

/** Resolutions 4, 8, ..., size. */
export function pyramidResolutions(size: number): number[] {
  const out: number[] = [];
  for (let r = 4; r <= size; r *= 2) out.push(r);
  return out;
}

export function discriminatorInputResolutions(d: DiscriminatorConfig): number[] {
  return d.filterInputResolutions ? d.multiscaleInputResolutions.filter((r) => r < d.imageSize) : d.multiscaleInputResolutions.slice();
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function camelize(x: any): any {
  if (Array.isArray(x)) return x.map(camelize);
  if (x && typeof x === 'object') {
    const o: any = {};
    for (const [k, v] of Object.entries(x)) o[camel(k)] = camelize(v);
    return o;
  }
  return x;
}

/**
 * Read lucidrains' constructor kwargs as the parity fixture's model/config.json stores them:
 * `{G: Generator kwargs, D: Discriminator kwargs, upsampler?: UnetUpsampler kwargs, clip?: {dim_latent, dim_image_latent}}`.
 */
export function fromLucidrainsKwargs(json: any): GigaGANConfig {
  if (!json || typeof json !== 'object' || !json.G || !json.D) {
    throw new Error(`GigaGAN config.json: expected an object with "G" and "D" constructor kwargs, found keys ${JSON.stringify(Object.keys(json ?? {}))}`);
  }
  const c = camelize(json);
  const known = new Set(['G', 'D', 'upsampler', 'visionAided', 'clip', 'tupleKwargs', 'Note', 'note', 'format', 'imageRange']);
  const unknownTop = Object.keys(c).filter((k) => !known.has(k) && !k.startsWith('_'));
  if (unknownTop.length) throw new Error(`GigaGAN config.json: unexpected top-level keys ${JSON.stringify(unknownTop)}`);
  if (c.G.styleNetworkDim != null || c.upsampler?.styleNetworkDim != null) {
    throw new Error('GigaGAN config: style_network_dim (an externally given StyleNetwork) is not supported; pass style_network');
  }
  if (c.G.styleNetwork == null) throw new Error('GigaGAN config: G.style_network is required (a dict of StyleNetwork kwargs)');
  const clip: ClipConfig = {
    dimLatent: c.clip?.dimLatent ?? DEFAULT_CLIP.dimLatent,
    dimImageLatent: c.clip?.dimImageLatent ?? DEFAULT_CLIP.dimImageLatent,
  };
  const cfg: GigaGANConfig = {
    G: generatorConfig(c.G),
    D: discriminatorConfig(c.D),
    upsampler: c.upsampler ? upsamplerConfig(c.upsampler) : null,
    visionAided: c.visionAided ? visionAidedConfig(c.visionAided) : null,
    clip,
  };
  validateConfig(cfg);
  return cfg;
}

const TINY_TEXT = { dim: 32, depth: 1, heads: 2, dimHead: 16 };

/** Named presets: `tiny` for tests, the lucidrains README sizes, and the 4x upsamplers. */
export const PRESETS: Record<string, () => GigaGANConfig> = {
  /** About 160 k / 250 k parameters: unit tests and notebooks. */
  tiny: () => ({
    G: generatorConfig({
      imageSize: 32,
      dimCapacity: 4,
      dimMax: 32,
      dimLatent: 32,
      styleNetwork: { dim: 32, depth: 2, dimTextLatent: 32 },
      textEncoder: TINY_TEXT,
      selfAttnResolutions: [8],
      crossAttnResolutions: [8],
      selfAttnHeads: 2,
      selfAttnDimHead: 16,
      crossAttnHeads: 2,
      crossAttnDimHead: 16,
      selfAttnFfMult: 2,
      crossAttnFfMult: 2,
    }),
    D: discriminatorConfig({
      imageSize: 32,
      dimCapacity: 4,
      dimMax: 32,
      attnResolutions: [8],
      attnHeads: 2,
      attnDimHead: 16,
      ffMult: 2,
      textEncoder: TINY_TEXT,
      multiscaleInputResolutions: [16, 8],
    }),
    upsampler: upsamplerConfig({
      dim: 8,
      imageSize: 32,
      inputImageSize: 8,
      dimMults: [1, 2, 4],
      fullAttn: [false, false, true],
      crossAttn: [false, false, true],
      attnDepths: [1, 1, 1],
      selfAttnHeads: 2,
      selfAttnDimHead: 8,
      crossAttnHeads: 2,
      crossAttnDimHead: 8,
      selfAttnFfMult: 2,
      crossFfMult: 2,
      unconditional: false,
      textEncoder: TINY_TEXT,
      styleNetwork: { dim: 32, depth: 2, dimTextLatent: 32 },
    }),
    visionAided: null,
    clip: { dimLatent: 32, dimImageLatent: 32 },
  }),
  /** lucidrains' Generator/Discriminator defaults, text-conditional 64 px (TextEncoder dim 512, depth 4). */
  'text-64': () => ({
    G: generatorConfig({
      imageSize: 64,
      styleNetwork: { dim: 512, depth: 4, dimTextLatent: 512 },
      textEncoder: { dim: 512, depth: 4 },
    }),
    D: discriminatorConfig({ imageSize: 64, textEncoder: { dim: 512, depth: 4 } }),
    upsampler: null,
    visionAided: null,
    clip: { ...DEFAULT_CLIP },
  }),
  /** The README's unconditional 256 px GAN. */
  'unconditional-256': () => ({
    G: generatorConfig({
      imageSize: 256,
      dimCapacity: 8,
      dimMax: 512,
      numSkipLayersExcite: 4,
      unconditional: true,
      styleNetwork: { dim: 64, depth: 4 },
    }),
    D: discriminatorConfig({ imageSize: 256, dimCapacity: 16, dimMax: 512, numSkipLayersExcite: 4, unconditional: true }),
    upsampler: null,
    visionAided: null,
    clip: { ...DEFAULT_CLIP },
  }),
  /** The README's unconditional UnetUpsampler 64 -> 256 (D sees rgbs at 128). */
  'upsampler-64-256': () => ({
    G: generatorConfig({ imageSize: 64, unconditional: true, styleNetwork: { dim: 64, depth: 4 } }),
    D: discriminatorConfig({ imageSize: 256, dimCapacity: 16, dimMax: 512, numSkipLayersExcite: 4, unconditional: true, multiscaleInputResolutions: [128] }),
    upsampler: upsamplerConfig({ dim: 32, imageSize: 256, inputImageSize: 64, styleNetwork: { dim: 64, depth: 4 } }),
    visionAided: null,
    clip: { ...DEFAULT_CLIP },
  }),
  /** A 128 -> 512 (4x) UnetUpsampler of the same width. */
  'upsampler-128-512': () => ({
    G: generatorConfig({ imageSize: 128, unconditional: true, styleNetwork: { dim: 64, depth: 4 } }),
    D: discriminatorConfig({ imageSize: 512, dimCapacity: 16, dimMax: 512, numSkipLayersExcite: 4, unconditional: true, multiscaleInputResolutions: [256] }),
    upsampler: upsamplerConfig({ dim: 32, imageSize: 512, inputImageSize: 128, styleNetwork: { dim: 64, depth: 4 } }),
    visionAided: null,
    clip: { ...DEFAULT_CLIP },
  }),
};

export function presetConfig(name: string): GigaGANConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`GigaGAN: unknown preset '${name}'; expected one of ${Object.keys(PRESETS).join(', ')}`);
  const cfg = p();
  validateConfig(cfg);
  return cfg;
}
