/**
 * BigGAN-deep configuration: one typed config for both official layouts (Hugging Face / TF-Hub and ajbrock's
 * BigGAN-PyTorch), the published presets, a tiny preset for tests, and validation with clear errors.
 */

/** One generator residual block: [upsample, in channel multiplier, out channel multiplier] (HF `layers`). */
export type LayerSpec = [boolean, number, number];

export interface GeneratorConfig {
  /** Output side in pixels. */
  resolution: number;
  /** Latent width. */
  zDim: number;
  /** Class-embedding width (HF: = z_dim; ajbrock: shared_dim). */
  embedDim: number;
  numClasses: number;
  /** Channel width multiplier `ch`. */
  ch: number;
  /** Residual blocks in order. */
  layers: LayerSpec[];
  /** Self-attention modules are inserted before these block indices (HF attention_layer_position; may equal layers.length). */
  attention: number[];
  /** BatchNorm eps (HF 1e-4, ajbrock BN_eps 1e-5). */
  bnEps: number;
  /** Spectral-norm normalisation eps (HF 1e-4, ajbrock SN_eps). */
  snEps: number;
  /** Rows of BN statistics: 51 truncation-indexed rows (HF) or 1 (ajbrock stored_mean/var). */
  nStats: number;
  /** Conditioning vector order: HF cat(z, embed); ajbrock (hier) cat(embed, z). */
  condOrder: 'z-first' | 'class-first';
  /** Output channels of the final conv (HF: ch, of which the first 3 are kept; ajbrock: 3). */
  rgbConvChannels: number;
  /** Power iterations at inference: 0 = stored u and v (HF, torch spectral_norm eval); 1 = ajbrock layers.SN. */
  snEvalIterations: number;
  /**
   * Factor on the class embedding in the conditional BNs' input; gen_z always gets it whole. 1 (or absent) is
   * BigGAN-deep. Not an official option: lower values weaken the class path that overrides z (issue 8's per-class
   * collapse); official formats cannot hold it.
   */
  bnClassScale?: number;
}

export interface DiscriminatorConfig {
  resolution: number;
  ch: number;
  numClasses: number;
  /** Resolutions with self-attention at the end of the stage (ajbrock D_attn '64' -> [64]). */
  attentionResolutions: number[];
  snEps: number;
  /** Blocks per stage (ajbrock D_depth). */
  depth: number;
  outputDim: number;
}

export interface BigGANDeepConfig {
  /** Where the weights come from / which key table applies when saving back: 'hf' or 'ajbrock'. */
  layout: 'hf' | 'ajbrock';
  generator: GeneratorConfig;
  discriminator?: DiscriminatorConfig;
}

/** Hugging Face `BigGANConfig` JSON (pytorch_pretrained_biggan/config.py). */
export interface HfBigGANConfig {
  output_dim: number;
  z_dim: number;
  class_embed_dim?: number;
  channel_width: number;
  num_classes: number;
  layers: LayerSpec[];
  attention_layer_position: number;
  eps: number;
  n_stats: number;
  [extra: string]: unknown;
}

const HF_DEFAULTS: HfBigGANConfig = {
  output_dim: 128, z_dim: 128, class_embed_dim: 128, channel_width: 128, num_classes: 1000,
  layers: [[false, 16, 16], [true, 16, 16], [false, 16, 16], [true, 16, 8], [false, 8, 8], [true, 8, 4], [false, 4, 4], [true, 4, 2], [false, 2, 2], [true, 2, 1]],
  attention_layer_position: 8, eps: 1e-4, n_stats: 51,
};

/** Our config from an HF BigGANConfig JSON (missing keys take the official defaults, as BigGANConfig.from_dict). */
export function fromHfConfig(json: Partial<HfBigGANConfig>): BigGANDeepConfig {
  const c = { ...HF_DEFAULTS, ...json } as HfBigGANConfig;
  const layers = (c.layers as unknown[]).map((l, i) => {
    if (!Array.isArray(l) || l.length !== 3) throw new Error(`BigGAN-deep config: layers[${i}] must be [upsample, in, out], found ${JSON.stringify(l)}`);
    return [Boolean(l[0]), Number(l[1]), Number(l[2])] as LayerSpec;
  });
  const cfg: BigGANDeepConfig = {
    layout: 'hf',
    generator: {
      resolution: c.output_dim, zDim: c.z_dim, embedDim: c.z_dim, numClasses: c.num_classes, ch: c.channel_width,
      layers, attention: c.attention_layer_position < layers.length ? [c.attention_layer_position] : [],
      bnEps: c.eps, snEps: c.eps, nStats: c.n_stats, condOrder: 'z-first', rgbConvChannels: c.channel_width,
      snEvalIterations: 0,
    },
  };
  validateConfig(cfg);
  return cfg;
}

/** HF BigGANConfig JSON for a config in the HF layout (throws for configs the HF format cannot express). */
export function toHfConfig(cfg: BigGANDeepConfig): HfBigGANConfig {
  const g = cfg.generator;
  const problems: string[] = [];
  if (g.embedDim !== g.zDim) problems.push(`embedDim ${g.embedDim} != zDim ${g.zDim}`);
  if (g.condOrder !== 'z-first') problems.push(`condOrder ${g.condOrder}`);
  if (g.rgbConvChannels !== g.ch) problems.push(`rgbConvChannels ${g.rgbConvChannels} != ch ${g.ch}`);
  if (g.attention.length > 1) problems.push(`${g.attention.length} attention layers`);
  if ((g.bnClassScale ?? 1) !== 1) problems.push(`bnClassScale ${g.bnClassScale} (HF's conditional BNs take the class embedding whole)`);
  if (problems.length) throw new Error(`BigGAN-deep config cannot be written as an HF BigGANConfig: ${problems.join(', ')}`);
  return {
    attention_layer_position: g.attention.length ? g.attention[0] : g.layers.length,
    channel_width: g.ch, class_embed_dim: g.zDim, eps: g.bnEps, layers: g.layers.map((l) => [...l] as LayerSpec),
    n_stats: g.nStats, num_classes: g.numClasses, output_dim: g.resolution, z_dim: g.zDim,
  };
}

/** ajbrock BigGANdeep.py G_arch (in/out multipliers per stage for a resolution). */
export function ajbrockGArch(resolution: number): { inMult: number[]; outMult: number[]; resolutions: number[] } {
  const t: Record<number, [number[], number[]]> = {
    256: [[16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1]],
    128: [[16, 16, 8, 4, 2], [16, 8, 4, 2, 1]],
    64: [[16, 16, 8, 4], [16, 8, 4, 2]],
    32: [[4, 4, 4], [4, 4, 4]],
  };
  const a = t[resolution];
  if (!a) throw new Error(`BigGAN-deep (ajbrock) G: resolution must be one of 32, 64, 128, 256, found ${resolution}`);
  return { inMult: a[0], outMult: a[1], resolutions: a[0].map((_, i) => 8 * 2 ** i) };
}

/** ajbrock BigGANdeep.py D_arch. */
export function ajbrockDArch(resolution: number): { inMult: number[]; outMult: number[]; downsample: boolean[]; resolutions: number[] } {
  const t: Record<number, [number[], number[], boolean[], number[]]> = {
    256: [[1, 2, 4, 8, 8, 16], [2, 4, 8, 8, 16, 16], [true, true, true, true, true, true], [128, 64, 32, 16, 8, 4]],
    128: [[1, 2, 4, 8, 16], [2, 4, 8, 16, 16], [true, true, true, true, true], [64, 32, 16, 8, 4]],
    64: [[1, 2, 4, 8], [2, 4, 8, 16], [true, true, true, true], [32, 16, 8, 4]],
    32: [[4, 4, 4], [4, 4, 4], [true, true, false], [16, 16, 16]],
  };
  const a = t[resolution];
  if (!a) throw new Error(`BigGAN-deep (ajbrock) D: resolution must be one of 32, 64, 128, 256, found ${resolution}`);
  return { inMult: a[0], outMult: a[1], downsample: a[2], resolutions: a[3] };
}

function parseAttn(s: unknown): number[] {
  if (typeof s === 'number') return [s];
  return String(s ?? '64').split('_').map((x) => parseInt(x, 10)).filter((x) => Number.isFinite(x) && x > 0);
}

/** ajbrock's Generator/Discriminator constructor kwargs (model/config.json {"G": {...}, "D": {...}}). */
export interface AjbrockConfig {
  G: Record<string, unknown>;
  D?: Record<string, unknown>;
}

/** Our config from ajbrock constructor kwargs (BigGANdeep.Generator / Discriminator, with their defaults). */
export function fromAjbrockConfig(json: AjbrockConfig): BigGANDeepConfig {
  if (!json || typeof json !== 'object' || !json.G) throw new Error('BigGAN-deep (ajbrock) config: expected {"G": {...}, "D": {...}}');
  const G = json.G;
  const num = (o: Record<string, unknown>, k: string, d: number) => (o[k] === undefined ? d : Number(o[k]));
  const ch = num(G, 'G_ch', 64);
  const depth = num(G, 'G_depth', 2);
  const resolution = num(G, 'resolution', 128);
  const dimZ = num(G, 'dim_z', 128);
  const shared = num(G, 'shared_dim', 0) > 0 ? num(G, 'shared_dim', 0) : dimZ;
  const unsupported: string[] = [];
  if (G.G_shared === false) unsupported.push('G_shared=false');
  if (G.hier === false) unsupported.push('hier=false');
  if (G.G_param !== undefined && G.G_param !== 'SN') unsupported.push(`G_param=${G.G_param}`);
  if (G.norm_style !== undefined && G.norm_style !== 'bn') unsupported.push(`norm_style=${G.norm_style}`);
  if (num(G, 'bottom_width', 4) !== 4) unsupported.push(`bottom_width=${G.bottom_width}`);
  if (num(G, 'G_kernel_size', 3) !== 3) unsupported.push(`G_kernel_size=${G.G_kernel_size}`);
  if (num(G, 'num_G_SVs', 1) !== 1) unsupported.push(`num_G_SVs=${G.num_G_SVs}`);
  if (G.mybn || G.cross_replica) unsupported.push('mybn/cross_replica');
  if (depth !== 2) unsupported.push(`G_depth=${depth} (BigGANdeep.py builds consistent stages only for 2)`);
  if (G.G_activation !== undefined && !/relu/i.test(String(G.G_activation))) unsupported.push(`G_activation=${G.G_activation}`);
  if (unsupported.length) throw new Error(`BigGAN-deep (ajbrock) config: unsupported generator settings: ${unsupported.join(', ')}`);
  const arch = ajbrockGArch(resolution);
  const attnRes = parseAttn(G.G_attn);
  const layers: LayerSpec[] = [];
  const attention: number[] = [];
  arch.inMult.forEach((inM, s) => {
    for (let k = 0; k < depth; k++) layers.push([k === depth - 1, inM, k === 0 ? inM : arch.outMult[s]]);
    if (attnRes.includes(arch.resolutions[s])) attention.push(layers.length);
  });
  const cfg: BigGANDeepConfig = {
    layout: 'ajbrock',
    generator: {
      resolution, zDim: dimZ, embedDim: shared, numClasses: num(G, 'n_classes', 1000), ch, layers, attention,
      bnEps: num(G, 'BN_eps', 1e-5), snEps: num(G, 'SN_eps', 1e-12), nStats: 1, condOrder: 'class-first',
      rgbConvChannels: 3, snEvalIterations: num(G, 'num_G_SV_itrs', 1),
    },
  };
  if (json.D) {
    const D = json.D;
    const dUnsupported: string[] = [];
    if (D.D_param !== undefined && D.D_param !== 'SN') dUnsupported.push(`D_param=${D.D_param}`);
    if (num(D, 'num_D_SVs', 1) !== 1) dUnsupported.push(`num_D_SVs=${D.num_D_SVs}`);
    if (num(D, 'num_D_SV_itrs', 1) !== 1) dUnsupported.push(`num_D_SV_itrs=${D.num_D_SV_itrs}`);
    if (num(D, 'D_kernel_size', 3) !== 3) dUnsupported.push(`D_kernel_size=${D.D_kernel_size}`);
    if (dUnsupported.length) throw new Error(`BigGAN-deep (ajbrock) config: unsupported discriminator settings: ${dUnsupported.join(', ')}`);
    cfg.discriminator = {
      resolution: num(D, 'resolution', 128), ch: num(D, 'D_ch', 64), numClasses: num(D, 'n_classes', 1000),
      attentionResolutions: parseAttn(D.D_attn), snEps: num(D, 'SN_eps', 1e-12), depth: num(D, 'D_depth', 2),
      outputDim: num(D, 'output_dim', 1),
    };
  }
  validateConfig(cfg);
  return cfg;
}

/** ajbrock constructor kwargs for a config in the ajbrock layout. */
export function toAjbrockConfig(cfg: BigGANDeepConfig): AjbrockConfig {
  const g = cfg.generator;
  if ((g.bnClassScale ?? 1) !== 1) {
    throw new Error(`BigGAN-deep config cannot be written as an ajbrock config: bnClassScale ${g.bnClassScale} (its conditional BNs take the class embedding whole)`);
  }
  const arch = ajbrockGArch(g.resolution);
  const attnRes = arch.resolutions.filter((_, s) => g.attention.includes((s + 1) * 2));
  const out: AjbrockConfig = {
    G: {
      G_ch: g.ch, G_depth: 2, dim_z: g.zDim, bottom_width: 4, resolution: g.resolution, G_kernel_size: 3,
      G_attn: attnRes.length ? attnRes.join('_') : '0', n_classes: g.numClasses, num_G_SVs: 1, num_G_SV_itrs: g.snEvalIterations,
      G_shared: true, shared_dim: g.embedDim, hier: true, cross_replica: false, mybn: false, BN_eps: g.bnEps,
      SN_eps: g.snEps, G_init: 'ortho', skip_init: false, no_optim: true, G_param: 'SN', norm_style: 'bn', G_activation: 'inplace_relu',
    },
  };
  const d = cfg.discriminator;
  if (d) {
    out.D = {
      D_ch: d.ch, D_wide: true, D_depth: d.depth, resolution: d.resolution, D_kernel_size: 3,
      D_attn: d.attentionResolutions.length ? d.attentionResolutions.join('_') : '0', n_classes: d.numClasses,
      num_D_SVs: 1, num_D_SV_itrs: 1, SN_eps: d.snEps, output_dim: d.outputDim, D_init: 'ortho', skip_init: false,
      D_param: 'SN', D_activation: 'inplace_relu',
    };
  }
  return out;
}

/** Throws an Error listing every problem with a config. */
export function validateConfig(cfg: BigGANDeepConfig): void {
  const p: string[] = [];
  if (cfg.layout !== 'hf' && cfg.layout !== 'ajbrock') p.push(`layout must be 'hf' or 'ajbrock', found ${JSON.stringify(cfg.layout)}`);
  const g = cfg.generator;
  if (!g) throw new Error('BigGAN-deep config: missing generator');
  const posInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) p.push(`${name} must be a positive integer, found ${v}`);
  };
  posInt('resolution', g.resolution);
  posInt('zDim', g.zDim);
  posInt('embedDim', g.embedDim);
  posInt('numClasses', g.numClasses);
  posInt('ch', g.ch);
  posInt('nStats', g.nStats);
  if (!Array.isArray(g.layers) || g.layers.length === 0) p.push('layers must be a non-empty list of [upsample, in, out]');
  else {
    if (cfg.layout === 'hf') {
      // the HF code hard-wires gen_z to 16·ch channels and the final BN / conv_to_rgb to ch
      if (g.layers[0][1] !== 16) p.push(`layers[0] must take 16·ch channels (HF gen_z gives 16·ch), found in=${g.layers[0][1]}`);
      if (g.layers[g.layers.length - 1][2] !== 1) p.push(`the last layer must output 1·ch channels (HF final BN has ch), found out=${g.layers[g.layers.length - 1][2]}`);
      if (g.rgbConvChannels !== g.ch) p.push(`rgbConvChannels must equal ch in the HF layout, found ${g.rgbConvChannels}`);
    }
    let side = 4;
    g.layers.forEach((l, i) => {
      const [up, inM, outM] = l;
      if (i > 0 && inM !== g.layers[i - 1][2]) p.push(`layers[${i}] in=${inM} does not match layers[${i - 1}] out=${g.layers[i - 1][2]}`);
      // skip path keeps the first channels: HF keeps in/2 (so a change must halve), ajbrock keeps `out` (out <= in)
      if (cfg.layout === 'hf' && inM !== outM && Math.floor((g.ch * inM) / 2) !== g.ch * outM) p.push(`layers[${i}]: a channel change must halve (HF skip keeps the first in/2 channels), found ${inM}->${outM}`);
      if (outM > inM) p.push(`layers[${i}]: out channels (${outM}) must not exceed in (${inM}): the skip path drops channels`);
      if (Math.floor((g.ch * inM) / 4) < 1) p.push(`layers[${i}]: in/4 channels must be >= 1 (ch=${g.ch}, in=${inM})`);
      if (up) side *= 2;
    });
    if (side !== g.resolution) p.push(`layers upsample 4 -> ${side}, but resolution is ${g.resolution}`);
    for (const a of g.attention ?? []) {
      if (!Number.isInteger(a) || a < 0 || a > g.layers.length) p.push(`attention position ${a} must be in [0, ${g.layers.length}]`);
      else {
        const c = g.ch * (a < g.layers.length ? g.layers[a][1] : g.layers[g.layers.length - 1][2]);
        if (Math.floor(c / 8) < 1) p.push(`attention before layer ${a}: channels/8 must be >= 1 (found ${c} channels)`);
      }
    }
  }
  if (!(g.bnEps > 0)) p.push(`bnEps must be > 0, found ${g.bnEps}`);
  if (!(g.snEps > 0)) p.push(`snEps must be > 0, found ${g.snEps}`);
  if (g.condOrder !== 'z-first' && g.condOrder !== 'class-first') p.push(`condOrder must be 'z-first' or 'class-first', found ${g.condOrder}`);
  if (!Number.isInteger(g.rgbConvChannels) || g.rgbConvChannels < 3) p.push(`rgbConvChannels must be an integer >= 3 (the first 3 are kept), found ${g.rgbConvChannels}`);
  if (!(g.snEvalIterations === 0 || g.snEvalIterations === 1)) p.push(`snEvalIterations must be 0 or 1, found ${g.snEvalIterations}`);
  if (g.bnClassScale !== undefined && !(Number.isFinite(g.bnClassScale) && g.bnClassScale >= 0)) {
    p.push(`bnClassScale must be a finite number >= 0, found ${g.bnClassScale}`);
  }
  const d = cfg.discriminator;
  if (d) {
    try {
      const arch = ajbrockDArch(d.resolution);
      if (Math.floor((arch.outMult[0] * d.ch) / 4) < 1) p.push(`discriminator ch=${d.ch} too small (hidden = out/4 must be >= 1)`);
      for (const r of d.attentionResolutions) {
        const s = arch.resolutions.indexOf(r);
        if (s >= 0 && Math.floor((arch.outMult[s] * d.ch) / 8) < 1) p.push(`discriminator attention at ${r}: channels/8 must be >= 1`);
      }
    } catch (e) {
      p.push((e as Error).message);
    }
    posInt('discriminator.ch', d.ch);
    posInt('discriminator.numClasses', d.numClasses);
    if (d.depth < 1) p.push(`discriminator.depth must be >= 1, found ${d.depth}`);
    if (d.outputDim !== 1) p.push(`discriminator.outputDim must be 1, found ${d.outputDim}`);
    if (d.resolution !== g.resolution) p.push(`discriminator resolution ${d.resolution} != generator resolution ${g.resolution}`);
    if (d.numClasses !== g.numClasses) p.push(`discriminator numClasses ${d.numClasses} != generator numClasses ${g.numClasses}`);
  }
  if (p.length) throw new Error(`Invalid BigGAN-deep config:\n  - ${p.join('\n  - ')}`);
}

const L128: LayerSpec[] = HF_DEFAULTS.layers;
const L256: LayerSpec[] = [[false, 16, 16], [true, 16, 16], [false, 16, 16], [true, 16, 8], [false, 8, 8], [true, 8, 8], [false, 8, 8], [true, 8, 4], [false, 4, 4], [true, 4, 2], [false, 2, 2], [true, 2, 1]];
const L512: LayerSpec[] = [[false, 16, 16], [true, 16, 16], [false, 16, 16], [true, 16, 8], [false, 8, 8], [true, 8, 8], [false, 8, 8], [true, 8, 4], [false, 4, 4], [true, 4, 2], [false, 2, 2], [true, 2, 1], [false, 1, 1], [true, 1, 1]];

/** Named presets: the three published TF-Hub / HF generators and a tiny one for tests and notebooks. */
export const PRESETS = {
  'biggan-deep-128': () => fromHfConfig({ output_dim: 128, layers: L128, attention_layer_position: 8 }),
  'biggan-deep-256': () => fromHfConfig({ output_dim: 256, layers: L256, attention_layer_position: 8 }),
  'biggan-deep-512': () => fromHfConfig({ output_dim: 512, layers: L512, attention_layer_position: 8 }),
  /** 32 px, 10 classes, G ≈ 130 k parameters (official TINY layout) plus a small D: for tests. */
  tiny: (): BigGANDeepConfig => {
    const cfg = fromHfConfig({
      output_dim: 32, z_dim: 16, class_embed_dim: 16, channel_width: 8, num_classes: 10,
      layers: [[true, 16, 8], [true, 8, 4], [false, 4, 2], [true, 2, 1]], attention_layer_position: 2,
    });
    cfg.discriminator = { resolution: 32, ch: 4, numClasses: 10, attentionResolutions: [16], snEps: 1e-6, depth: 1, outputDim: 1 };
    validateConfig(cfg);
    return cfg;
  },
  /**
   * 32 px, 4 classes (`ganzoo make-shapes --classing shape`): the shipped offline default's architecture. The tiny
   * layout at channel_width 16 (G ≈ 0.5 M parameters) without attention (at 32 px it buys little and its per-sample
   * attention loop dominated a training step's kernel count), and a D of the same width.
   */
  'shapes-32': (): BigGANDeepConfig => {
    const cfg = fromHfConfig({
      output_dim: 32, z_dim: 32, class_embed_dim: 32, channel_width: 16, num_classes: 4,
      layers: [[true, 16, 8], [true, 8, 4], [false, 4, 2], [true, 2, 1]], attention_layer_position: 4,
    });
    cfg.discriminator = { resolution: 32, ch: 32, numClasses: 4, attentionResolutions: [], snEps: 1e-6, depth: 1, outputDim: 1 };
    validateConfig(cfg);
    return cfg;
  },
} as const;

export type PresetName = keyof typeof PRESETS;

/** A preset by name (a fresh copy), or an Error listing the names. */
export function presetConfig(name: string): BigGANDeepConfig {
  const f = (PRESETS as Record<string, () => BigGANDeepConfig>)[name];
  if (!f) throw new Error(`unknown BigGAN-deep preset '${name}'; expected one of ${Object.keys(PRESETS).join(', ')}`);
  return f();
}

/** The default ajbrock-style discriminator for a generator config (launch_BigGAN_deep.sh settings). */
export function defaultDiscriminator(g: GeneratorConfig, ch = g.ch): DiscriminatorConfig {
  return { resolution: g.resolution, ch, numClasses: g.numClasses, attentionResolutions: [64], snEps: 1e-6, depth: 2, outputDim: 1 };
}
