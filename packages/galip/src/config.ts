/**
 * GALIP configuration (tobran/GALIP `code/cfg/*.yml` + the constants `code/models/GALIP.py` hard-codes).
 *
 * The official classes hard-code the CLIP ViT-B/32 vision width (768), the 7x7 patch grid, the final 224 size, the 8
 * prompt layers, the D taps [1,4,8] and NetD's 512 output channels. Here each is a config field so reduced-width
 * checkpoints (the parity fixtures) and the `tiny` test preset run the very same formulas.
 */

/** OpenAI CLIP architecture numbers (the `clip.model.CLIP` constructor arguments). */
export interface ClipArch {
  embedDim: number;
  imageResolution: number;
  visionLayers: number;
  visionWidth: number;
  /** OpenAI CLIP uses visionWidth / 64; given explicitly so small widths work. */
  visionHeads: number;
  visionPatchSize: number;
  contextLength: number;
  vocabSize: number;
  transformerWidth: number;
  transformerHeads: number;
  transformerLayers: number;
}

export interface GalipConfig {
  /** Noise size (yml `z_dim`). */
  zDim: number;
  /** Sentence-embedding size (yml `cond_dim`); must equal clip.embedDim. */
  condDim: number;
  /** Base channel count (yml `nf`, NetG `ngf`). */
  nf: number;
  /** yml `imsize`: sets the number of G blocks; the last block always resizes to clip.imageResolution. */
  imsize: number;
  /** Output image channels (yml `ch_size`). */
  chSize: number;
  clip: ClipArch;
  /** NetG `code_ch` (official 64). The code size is the CLIP patch grid (official 7). */
  codeCh: number;
  /** NetG `mid_ch` of the M_Blocks (official 32). */
  midCh: number;
  /** Number of M_Blocks in the CLIP_Adapter (official 4). */
  mapperBlocks: number;
  /** CLIP_Mapper blocks that get a prompt token appended (official [1..8]); fc_prompt emits one per entry. */
  promptLayers: number[];
  /** CLIP_IMG_ENCODER blocks whose patch tokens feed NetD (official [1, 4, 8]). */
  dTaps: number[];
  /** NetD output channels (the literal 512 of NetD.main and NetC's 512+512 input). */
  netDOut: number;
  /** Training settings from the yml / train.py. */
  train: GalipTrainConfig;
}

export interface GalipTrainConfig {
  lrG: number;
  lrD: number;
  beta1: number;
  beta2: number;
  /** Weight of the CLIP text-image cosine term in L_G (yml `sim_w`). */
  simW: number;
  /** MA-GP weight k and power p: k * mean(||grad||^p) (modules.py MA_GP_FP32: 2.0 and 6). */
  magpWeight: number;
  magpPower: number;
}

export const OFFICIAL_TRAIN: GalipTrainConfig = {
  lrG: 1e-4,
  lrD: 4e-4,
  beta1: 0.0,
  beta2: 0.9,
  simW: 4.0,
  magpWeight: 2.0,
  magpPower: 6,
};

/** OpenAI CLIP ViT-B/32 (`clip.load('ViT-B/32')`). */
export const CLIP_VIT_B32: ClipArch = {
  embedDim: 512,
  imageResolution: 224,
  visionLayers: 12,
  visionWidth: 768,
  visionHeads: 12,
  visionPatchSize: 32,
  contextLength: 77,
  vocabSize: 49408,
  transformerWidth: 512,
  transformerHeads: 8,
  transformerLayers: 12,
};

const OFFICIAL_CONSTANTS = {
  codeCh: 64,
  midCh: 32,
  mapperBlocks: 4,
  promptLayers: [1, 2, 3, 4, 5, 6, 7, 8],
  dTaps: [1, 4, 8],
};

/** coco.yml: imsize 256, z_dim 100, cond_dim 512, nf 64, CLIP ViT-B/32. */
const COCO: GalipConfig = {
  zDim: 100,
  condDim: 512,
  nf: 64,
  imsize: 256,
  chSize: 3,
  clip: CLIP_VIT_B32,
  ...OFFICIAL_CONSTANTS,
  netDOut: 512,
  train: OFFICIAL_TRAIN,
};

/** Test preset (after official-impls.md §4.7, with a 7x7 grid as NetC needs): every formula as official. Output 28x28. */
const TINY: GalipConfig = {
  zDim: 8,
  condDim: 16,
  nf: 4,
  imsize: 32,
  chSize: 3,
  clip: {
    embedDim: 16,
    imageResolution: 28,
    visionLayers: 4,
    visionWidth: 32,
    visionHeads: 2,
    visionPatchSize: 4,
    contextLength: 16,
    vocabSize: 64,
    transformerWidth: 16,
    transformerHeads: 2,
    transformerLayers: 2,
  },
  codeCh: 8,
  midCh: 4,
  mapperBlocks: 2,
  promptLayers: [1, 2],
  dTaps: [1, 2, 3],
  netDOut: 16,
  train: OFFICIAL_TRAIN,
};

export const PRESETS: Record<string, GalipConfig> = {
  tiny: TINY,
  coco: COCO,
  /** The CC12M checkpoint was trained with the COCO architecture (same yml numbers, ViT-B/32). */
  cc12m: { ...COCO },
};

export type PresetName = 'tiny' | 'coco' | 'cc12m';

/** A deep copy of a preset, with overrides. */
export function galipConfig(preset: PresetName | GalipConfig = 'tiny', overrides: Partial<GalipConfig> = {}): GalipConfig {
  let base: GalipConfig;
  if (typeof preset === 'string') {
    if (!(preset in PRESETS)) throw new Error(`GALIP: unknown preset '${preset}'; expected one of ${Object.keys(PRESETS).join(', ')}`);
    base = PRESETS[preset];
  } else {
    base = preset;
  }
  const cfg: GalipConfig = JSON.parse(JSON.stringify({ ...base, ...overrides }));
  validateConfig(cfg);
  return cfg;
}

/** The CLIP patch grid (official code_sz 7 = 224 / 32). */
export function gridSize(cfg: GalipConfig): number {
  return cfg.clip.imageResolution / cfg.clip.visionPatchSize;
}

/** NetG's G_Block list: official get_G_in_out_chs(nf, imsize) with sizes 8, 16, ... and the last at the CLIP size. */
export function gBlockSpecs(cfg: GalipConfig): { inCh: number; outCh: number; size: number }[] {
  const layerNum = Math.floor(Math.log2(cfg.imsize)) - 1;
  const chs: number[] = [];
  for (let i = 0; i < layerNum; i++) chs.push(cfg.nf * Math.min(2 ** i, 8));
  chs.reverse();
  const specs: { inCh: number; outCh: number; size: number }[] = [];
  let size = 4;
  for (let i = 0; i + 1 < chs.length; i++) {
    const last = i === chs.length - 2;
    size = last ? cfg.clip.imageResolution : size * 2;
    specs.push({ inCh: chs[i], outCh: chs[i + 1], size });
  }
  return specs;
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Throws an Error naming the first invalid field. */
export function validateConfig(cfg: GalipConfig): void {
  const need = (cond: boolean, what: string, found: unknown): void => {
    if (!cond) throw new Error(`GALIP config: expected ${what}, found ${JSON.stringify(found)}`);
  };
  for (const k of ['zDim', 'condDim', 'nf', 'imsize', 'chSize', 'codeCh', 'midCh', 'mapperBlocks', 'netDOut'] as const) {
    need(isPosInt(cfg[k]), `${k} a positive integer`, cfg[k]);
  }
  need(cfg.clip !== null && typeof cfg.clip === 'object', 'clip architecture object', cfg.clip);
  const c = cfg.clip;
  for (const k of Object.keys(CLIP_VIT_B32) as (keyof ClipArch)[]) need(isPosInt(c[k]), `clip.${k} a positive integer`, c[k]);
  need(c.imageResolution % c.visionPatchSize === 0, `clip.imageResolution divisible by clip.visionPatchSize (${c.visionPatchSize})`, c.imageResolution);
  need(c.visionWidth % c.visionHeads === 0, `clip.visionWidth divisible by clip.visionHeads (${c.visionHeads})`, c.visionWidth);
  need(c.transformerWidth % c.transformerHeads === 0, `clip.transformerWidth divisible by clip.transformerHeads (${c.transformerHeads})`, c.transformerWidth);
  need(cfg.condDim === c.embedDim, `condDim equal to clip.embedDim (${c.embedDim}): NetG/NetC take the raw CLIP sentence embedding`, cfg.condDim);
  need(Array.isArray(cfg.promptLayers) && cfg.promptLayers.every((i) => Number.isInteger(i) && i >= 0 && i < c.visionLayers),
    `promptLayers block indices in [0, ${c.visionLayers})`, cfg.promptLayers);
  need(new Set(cfg.promptLayers).size === cfg.promptLayers.length, 'promptLayers without repeats', cfg.promptLayers);
  need(Array.isArray(cfg.dTaps) && cfg.dTaps.length >= 1 && cfg.dTaps.every((i) => Number.isInteger(i) && i >= 0 && i < c.visionLayers),
    `dTaps: at least one block index in [0, ${c.visionLayers})`, cfg.dTaps);
  need(Math.floor(Math.log2(cfg.imsize)) - 1 >= 2, 'imsize >= 8 (at least one G block)', cfg.imsize);
  need(gridSize(cfg) >= 7, 'a CLIP patch grid of at least 7x7 (NetC applies two valid 4x4 convs)', gridSize(cfg));
  const t = cfg.train;
  need(t !== null && typeof t === 'object', 'train settings object', t);
  for (const k of Object.keys(OFFICIAL_TRAIN) as (keyof GalipTrainConfig)[]) need(typeof t[k] === 'number' && Number.isFinite(t[k]), `train.${k} a finite number`, t[k]);
}

/** Named OpenAI CLIP models GALIP's yml may name (`clip4trn: {src: clip, type: ViT-B/32}`). */
const CLIP_TYPES: Record<string, ClipArch> = {
  'ViT-B/32': CLIP_VIT_B32,
  'openai/clip-vit-base-patch32': CLIP_VIT_B32,
};

/**
 * A config from a `config.json` beside a GALIP checkpoint. Accepts this package's own form (camelCase GalipConfig
 * fields, optionally `preset`) and the yml-style form of the official cfg files (`z_dim`, `cond_dim`, `nf`,
 * `imsize`, `ch_size`, `lr_g`, `lr_d`, `sim_w`, `clip4trn.type` or an explicit `clip` block with the
 * `clip.model.CLIP` argument names, and `width_substitutions` when the official 768/512 literals were changed).
 */
export function configFromJson(json: any): GalipConfig {
  if (json === null || typeof json !== 'object') throw new Error(`GALIP config.json: expected an object, found ${JSON.stringify(json)}`);
  if (json.format === 'ganzoo-galip') return galipConfig(json.config);
  if ('zDim' in json || 'preset' in json) {
    const { preset, ...rest } = json;
    return galipConfig((preset as PresetName) ?? 'coco', rest);
  }
  const num = (k: string, dflt?: number): number => {
    const v = json[k] ?? dflt;
    if (typeof v !== 'number') throw new Error(`GALIP config.json: expected a number for '${k}', found ${JSON.stringify(json[k])}`);
    return v;
  };
  let clip: ClipArch;
  if (json.clip && typeof json.clip === 'object') {
    const c = json.clip;
    const g = (k: string, alt?: string): number => {
      const v = c[k] ?? (alt !== undefined ? c[alt] : undefined);
      if (typeof v !== 'number') throw new Error(`GALIP config.json: expected a number for 'clip.${k}', found ${JSON.stringify(v)}`);
      return v;
    };
    const visionWidth = g('vision_width', 'visionWidth');
    clip = {
      embedDim: g('embed_dim', 'embedDim'),
      imageResolution: g('image_resolution', 'imageResolution'),
      visionLayers: g('vision_layers', 'visionLayers'),
      visionWidth,
      visionHeads: c.vision_heads ?? c.visionHeads ?? Math.max(1, Math.floor(visionWidth / 64)),
      visionPatchSize: g('vision_patch_size', 'visionPatchSize'),
      contextLength: g('context_length', 'contextLength'),
      vocabSize: g('vocab_size', 'vocabSize'),
      transformerWidth: g('transformer_width', 'transformerWidth'),
      transformerHeads: g('transformer_heads', 'transformerHeads'),
      transformerLayers: g('transformer_layers', 'transformerLayers'),
    };
  } else {
    const type = typeof json.clip === 'string' ? json.clip : json.clip4trn?.type ?? 'ViT-B/32';
    if (!(type in CLIP_TYPES)) {
      throw new Error(`GALIP config.json: unknown CLIP type '${type}'; expected one of ${Object.keys(CLIP_TYPES).join(', ')} or an explicit 'clip' block`);
    }
    clip = { ...CLIP_TYPES[type] };
  }
  // The official code's literals: 768 = CLIP vision width, 512 = NetD output channels (and NetC's input halves).
  let netDOut = 512;
  const subs: any[] = json.width_substitutions?.substitutions ?? [];
  for (const s of subs) {
    const oldV = Number(s.old);
    const newV = Number(s.new);
    if (oldV === 768 && newV !== clip.visionWidth) {
      throw new Error(`GALIP config.json: width substitution 768 -> ${newV} disagrees with clip.vision_width ${clip.visionWidth}`);
    }
    if (oldV === 512) netDOut = newV;
  }
  if (typeof json.netD_out === 'number') netDOut = json.netD_out;
  const cfg: GalipConfig = {
    zDim: num('z_dim'),
    condDim: num('cond_dim'),
    nf: num('nf'),
    imsize: num('imsize'),
    chSize: num('ch_size', 3),
    clip,
    ...JSON.parse(JSON.stringify(OFFICIAL_CONSTANTS)),
    netDOut,
    train: {
      ...OFFICIAL_TRAIN,
      lrG: num('lr_g', OFFICIAL_TRAIN.lrG),
      lrD: num('lr_d', OFFICIAL_TRAIN.lrD),
      simW: num('sim_w', OFFICIAL_TRAIN.simW),
    },
  };
  validateConfig(cfg);
  return cfg;
}
