/**
 * StyleGAN-T configuration: the official constructor arguments of networks.generator.Generator (`G`) and
 * networks.discriminator.ProjectedDiscriminator (`D`), plus the two frozen encoders' widths that the official code
 * reads from CLIP / DINO at construction (`text_dim` = G.c_dim, `dino`). This is the `config.json` of a model dir.
 */

export interface SynthesisKwargs {
  channel_base?: number;
  channel_max?: number;
  num_res_blocks?: number;
  architecture?: 'skip' | 'orig';
  /** Start resolution log2 (SG-T: 3, i.e. 8x8). */
  base_mult?: number;
  /** fp16 blocks on CUDA only; kept for round trips, unused (the port is fp32). */
  num_fp16_res?: number;
  conv_clamp?: number | null;
  resample_filter?: number[];
  gn_groups?: number;
  layer_scale_init?: number;
  kernel_size?: number;
  activation?: 'lrelu';
}

export interface GeneratorKwargs {
  z_dim: number;
  conditional: boolean;
  img_resolution: number;
  img_channels?: number;
  train_mode?: 'all' | 'text_encoder' | 'freeze64';
  synthesis_kwargs: SynthesisKwargs;
}

export interface DiscriminatorKwargs {
  c_dim: number;
  diffaug?: boolean;
  p_crop?: number;
}

export interface DinoInfo {
  /** DINO ViT width (ViT-S/16: 384). */
  embed_dim: number;
  /** hooks + patch stage (official: blocks 2,5,8,11 + pos_drop = 5). */
  n_hooks: number;
  /** DINO input size (224). */
  img_resolution: number;
  /** DiscHead cmap_dim (official 64). */
  cmap_dim?: number;
  /** Attention heads of the DINO ViT (ViT-S/16: 6); only needed to rebuild a DINO stored in model_D whose width is not a multiple of 64. */
  heads?: number;
}

export interface StyleGANTConfig {
  G: GeneratorKwargs;
  D: DiscriminatorKwargs;
  /** Width of the CLIP text embedding (G.c_dim; ViT-L/14: 768). 0 when unconditional. */
  text_dim: number;
  dino: DinoInfo;
}

/** The synthesis settings with the official defaults filled in. */
export interface ResolvedSynthesis {
  channelBase: number;
  channelMax: number;
  numResBlocks: number;
  architecture: 'skip' | 'orig';
  baseMult: number;
  convClamp: number | null;
  resampleFilter: number[];
  gnGroups: number;
  layerScaleInit: number;
  kernelSize: number;
}

export interface BlockSpec {
  res: number;
  name: string;
  inChannels: number;
  outChannels: number;
  numConv: number;
  numTorgb: number;
  isLast: boolean;
}

export interface ResolvedConfig {
  zDim: number;
  cDim: number;
  wDim: number;
  imgResolution: number;
  imgChannels: number;
  trainMode: 'all' | 'text_encoder' | 'freeze64';
  synthesis: ResolvedSynthesis;
  blocks: BlockSpec[];
  numWs: number;
  mappingLayers: number;
  dino: Required<DinoInfo>;
  dCDim: number;
  diffaug: boolean;
  pCrop: number;
}

function lite(): StyleGANTConfig {
  return {
    G: { z_dim: 64, conditional: true, img_resolution: 64, img_channels: 3, train_mode: 'all', synthesis_kwargs: { channel_base: 32768, channel_max: 512, num_res_blocks: 2, architecture: 'skip' } },
    D: { c_dim: 768, diffaug: true, p_crop: 0.5 },
    text_dim: 768,
    dino: { embed_dim: 384, n_hooks: 5, img_resolution: 224 },
  };
}

/** Named presets: `lite` / `full` are train.py's `--cfg` sizes (z_dim 64, CLIP ViT-L/14, DINO ViT-S/16); `tiny` for tests. */
export const PRESETS: Record<'tiny' | 'lite' | 'full', () => StyleGANTConfig> = {
  tiny: () => ({
    G: { z_dim: 16, conditional: true, img_resolution: 32, img_channels: 3, train_mode: 'all', synthesis_kwargs: { channel_base: 512, channel_max: 32, num_res_blocks: 1, architecture: 'skip', gn_groups: 8 } },
    D: { c_dim: 32, diffaug: true, p_crop: 0.5 },
    text_dim: 32,
    dino: { embed_dim: 16, n_hooks: 5, img_resolution: 224, cmap_dim: 8 },
  }),
  lite,
  full: () => {
    const c = lite();
    c.G.synthesis_kwargs = { channel_base: 65536, channel_max: 2048, num_res_blocks: 3, architecture: 'skip' };
    return c;
  },
};

export type PresetName = keyof typeof PRESETS;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 4 && (n & (n - 1)) === 0;
}

function need(cond: boolean, msg: string): void {
  if (!cond) throw new Error(`StyleGAN-T config: ${msg}`);
}

/** Validate a config and derive the network layout (block channels, num_ws, w_dim). Throws on any bad field. */
export function resolveConfig(cfg: StyleGANTConfig): ResolvedConfig {
  need(!!cfg && typeof cfg === 'object', `expected an object with G, D, text_dim, dino; found ${JSON.stringify(cfg)}`);
  need(!!cfg.G && typeof cfg.G === 'object', 'missing "G" (the Generator constructor kwargs)');
  need(!!cfg.D && typeof cfg.D === 'object', 'missing "D" (the ProjectedDiscriminator constructor kwargs)');
  const G = cfg.G;
  need(Number.isInteger(G.z_dim) && G.z_dim > 0, `G.z_dim must be a positive integer, found ${G.z_dim}`);
  need(typeof G.conditional === 'boolean', `G.conditional must be true or false, found ${G.conditional}`);
  need(isPow2(G.img_resolution) && G.img_resolution >= 8, `G.img_resolution must be a power of two >= 8, found ${G.img_resolution}`);
  const imgChannels = G.img_channels ?? 3;
  need(Number.isInteger(imgChannels) && imgChannels > 0, `G.img_channels must be a positive integer, found ${imgChannels}`);
  const trainMode = G.train_mode ?? 'all';
  need(['all', 'text_encoder', 'freeze64'].includes(trainMode), `G.train_mode must be 'all', 'text_encoder' or 'freeze64', found '${trainMode}'`);
  const cDim = G.conditional ? cfg.text_dim : 0;
  need(!G.conditional || (Number.isInteger(cfg.text_dim) && cfg.text_dim > 0), `text_dim (the CLIP text width, G.c_dim) must be a positive integer for a conditional G, found ${cfg.text_dim}`);
  const sk = G.synthesis_kwargs ?? {};
  const s: ResolvedSynthesis = {
    channelBase: sk.channel_base ?? 32768,
    channelMax: sk.channel_max ?? 512,
    numResBlocks: sk.num_res_blocks ?? 3,
    architecture: sk.architecture ?? 'orig',
    baseMult: sk.base_mult ?? 3,
    convClamp: sk.conv_clamp === undefined ? 256 : sk.conv_clamp,
    resampleFilter: sk.resample_filter ?? [1, 3, 3, 1],
    gnGroups: sk.gn_groups ?? 32,
    layerScaleInit: sk.layer_scale_init ?? 1e-5,
    kernelSize: sk.kernel_size ?? 3,
  };
  need(Number.isInteger(s.channelBase) && s.channelBase > 0, `synthesis_kwargs.channel_base must be a positive integer, found ${s.channelBase}`);
  need(Number.isInteger(s.channelMax) && s.channelMax > 0, `synthesis_kwargs.channel_max must be a positive integer, found ${s.channelMax}`);
  need(Number.isInteger(s.numResBlocks) && s.numResBlocks >= 0, `synthesis_kwargs.num_res_blocks must be an integer >= 0, found ${s.numResBlocks}`);
  need(s.architecture === 'skip' || s.architecture === 'orig', `synthesis_kwargs.architecture must be 'skip' or 'orig', found '${s.architecture}'`);
  need(Number.isInteger(s.baseMult) && s.baseMult >= 2 && 2 ** s.baseMult <= G.img_resolution, `synthesis_kwargs.base_mult must be >= 2 with 2^base_mult <= img_resolution, found ${s.baseMult}`);
  need(Number.isInteger(s.gnGroups) && s.gnGroups > 0, `synthesis_kwargs.gn_groups must be a positive integer, found ${s.gnGroups}`);
  need(s.kernelSize % 2 === 1, `synthesis_kwargs.kernel_size must be odd, found ${s.kernelSize}`);
  const log2 = Math.log2(G.img_resolution);
  const resolutions: number[] = [];
  for (let i = s.baseMult; i <= log2; i++) resolutions.push(2 ** i);
  const ch = (r: number): number => Math.min(Math.floor(s.channelBase / r), s.channelMax);
  const blocks: BlockSpec[] = [];
  let numWs = 0;
  for (const res of resolutions) {
    const inChannels = res > resolutions[0] ? ch(res / 2) : 0;
    const outChannels = ch(res);
    need(outChannels > 0, `channel_base ${s.channelBase} gives 0 channels at ${res}x${res}`);
    if (s.numResBlocks > 0) {
      need(outChannels % s.gnGroups === 0, `GroupNorm: block b${res} has ${outChannels} channels, not divisible by gn_groups ${s.gnGroups}`);
    }
    const isLast = res === G.img_resolution;
    const numConv = 1 + 2 * s.numResBlocks;
    const numTorgb = isLast || s.architecture === 'skip' ? 1 : 0;
    blocks.push({ res, name: `b${res}`, inChannels, outChannels, numConv, numTorgb, isLast });
    numWs += numConv + (isLast ? numTorgb : 0);
  }
  const D = cfg.D;
  const dino = cfg.dino ?? { embed_dim: 384, n_hooks: 5, img_resolution: 224 };
  need(Number.isInteger(D.c_dim) && D.c_dim >= 0, `D.c_dim must be an integer >= 0, found ${D.c_dim}`);
  need(D.c_dim === cDim || !G.conditional, `D.c_dim (${D.c_dim}) must equal the text width G.c_dim (${cDim})`);
  need(Number.isInteger(dino.embed_dim) && dino.embed_dim > 0, `dino.embed_dim must be a positive integer, found ${dino.embed_dim}`);
  need(Number.isInteger(dino.n_hooks) && dino.n_hooks > 0, `dino.n_hooks must be a positive integer, found ${dino.n_hooks}`);
  const pCrop = D.p_crop ?? 0.5;
  need(pCrop >= 0 && pCrop <= 1, `D.p_crop must be in [0, 1], found ${pCrop}`);
  return {
    zDim: G.z_dim,
    cDim,
    wDim: G.z_dim + cDim,
    imgResolution: G.img_resolution,
    imgChannels,
    trainMode,
    synthesis: s,
    blocks,
    numWs,
    mappingLayers: 2,
    dino: { embed_dim: dino.embed_dim, n_hooks: dino.n_hooks, img_resolution: dino.img_resolution ?? 224, cmap_dim: dino.cmap_dim ?? 64, heads: dino.heads ?? 0 },
    dCDim: D.c_dim,
    diffaug: D.diffaug ?? true,
    pCrop,
  };
}

/** A preset by name, or a deep copy of a given config, validated. */
export function makeConfig(configOrPreset: StyleGANTConfig | PresetName): StyleGANTConfig {
  if (typeof configOrPreset === 'string') {
    const p = PRESETS[configOrPreset as PresetName];
    if (!p) throw new Error(`StyleGAN-T: unknown preset '${configOrPreset}' (expected one of ${Object.keys(PRESETS).join(', ')})`);
    return p();
  }
  const c = JSON.parse(JSON.stringify(configOrPreset)) as StyleGANTConfig;
  resolveConfig(c);
  return c;
}
