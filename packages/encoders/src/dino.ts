/**
 * DINO ViT (Caron et al. 2021; timm VisionTransformer / Hugging Face ViTModel; DINOv2 ViTs with LayerScale) in tfjs: NHWC pixels in, pooled
 * CLS output and hooked tokens (the outputs of chosen blocks and of the embedding stage) out. Parameters are frozen
 * tf.Variables under timm names (see convert.ts); every call is tidy and differentiable w.r.t. the pixels.
 */
import * as tf from '@tensorflow/tfjs';
import { layerNorm } from '@ganzoo/core';
import type { ResolveOptions } from '@ganzoo/core';
import { DINOConfig, DINO_PRESETS, dinoConfigFromHF, dinoConfigFromTimm } from './config';
import { StateDict, checkStateDict, detectVitLayout, dinoConfigFromTimmWeights, randomStateDict, stripPrefix, toVariables, vitExpectedShapes, vitHFToTimm } from './convert';
import { locate, readStateDict } from './io';
import * as fs from 'fs';
import * as path from 'path';
import { IMAGENET_MEAN, IMAGENET_STD, ImageInput, ImageProcessorConfig, preprocessImages, readImageProcessorConfig } from './preprocess';
import { resizeImages } from './resize';
import { BlockParams, ParamMap, PatchEmbedImpl, TIMM_BLOCK, blockParams, patchEmbedding, transformerBlock } from './vit';

/**
 * How the position embedding grid is resized for other input sizes:
 * - 'bicubic': facebookresearch/dino interpolate_pos_encoding (bicubic, scale_factor = (g + 0.1) / g0), also older
 *   transformers versions;
 * - 'bicubic-size': bicubic to an explicit size (current Hugging Face ViT / Dinov2 interpolate_pos_encoding);
 * - 'bilinear': bilinear, align_corners=False, explicit size (StyleGAN-T vit_utils._resize_pos_embed).
 */
export type PosInterpolation = 'bicubic' | 'bicubic-size' | 'bilinear';

export type DINOHook = number | 'embed';

export interface DINOForwardOptions {
  /** block indices (0-based) and/or 'embed' (cls + patches + pos embed, the input of block 0); outputs in this order. */
  hooks?: DINOHook[];
  /** position-grid resize for inputs of another size (default: the model's `posInterpolation`). */
  posInterpolation?: PosInterpolation;
}

export interface DINOOutput {
  /** norm(x)[:, 0]: the CLS token after the final LayerNorm [B, D] (the DINO feature). */
  pooled: tf.Tensor2D;
  /** norm(x) [B, 1 + N, D]. */
  lastHiddenState: tf.Tensor3D;
  /** hooked tokens [B, 1 + N, D], in the order of `hooks`. */
  hidden: tf.Tensor3D[];
}

export interface DINOLoadOptions {
  config?: DINOConfig | keyof typeof DINO_PRESETS;
  /** heads for timm weights without a config (default width / 64, as DINO's ViT-S and ViT-B). */
  heads?: number;
  /** key prefix (auto-detected, e.g. 'dino.model.model.' inside a StyleGAN-T discriminator). */
  prefix?: string;
  cacheDir?: string;
  offline?: boolean;
  /** download progress for manifest ids (core resolveWeights). */
  onProgress?: ResolveOptions['onProgress'];
}

function configFromJson(j: any): DINOConfig | null {
  if (!j || typeof j !== 'object') return null;
  if (j.vit?.config) return dinoConfigFromTimm(j.vit.config);
  if (j.model_type === 'vit' || j.model_type === 'dinov2' || j.hidden_size !== undefined) return dinoConfigFromHF(j);
  if (j.embed_dim !== undefined && j.depth !== undefined) return dinoConfigFromTimm(j);
  return null;
}

/** ViTImageProcessor defaults for DINO: resize to the model size (PIL bilinear), rescale, ImageNet mean/std. */
export function dinoImageProcessor(size: number): ImageProcessorConfig {
  return {
    size,
    resizeTo: [size, size],
    cropSize: size,
    doResize: true,
    doCenterCrop: false,
    doNormalize: true,
    rescaleFactor: 1 / 255,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    resample: 'pil-bilinear',
  };
}

export class DINO {
  readonly config: DINOConfig;
  readonly params: ParamMap;
  imageProcessor: ImageProcessorConfig;
  /** patch embedding implementation: 'matmul' (fast, default) or 'conv' (reference). */
  patchImpl: PatchEmbedImpl = 'matmul';
  /**
   * Default position-grid resize for other input sizes: 'bicubic-size' for Hugging Face checkpoints (what current
   * transformers ViTModel / Dinov2Model do), 'bicubic' (facebookresearch/dino's +0.1 rule) for timm / DINO ones.
   */
  posInterpolation: PosInterpolation = 'bicubic';

  constructor(config: DINOConfig, params: ParamMap, imageProcessor?: ImageProcessorConfig) {
    this.config = config;
    this.params = params;
    this.imageProcessor = imageProcessor ?? dinoImageProcessor(config.imageSize);
  }

  /**
   * Load from a folder (config.json + model.safetensors / pytorch_model.bin: Hugging Face ViTModel such as
   * facebook/dino-vits16, or timm names with a timm config), a weights file (facebookresearch/dino .pth, a StyleGAN-T
   * discriminator checkpoint holding `dino.model.model.*`), or a hub id (through core's resolveWeights).
   */
  static async fromPretrained(idOrDir: string, opts: DINOLoadOptions = {}): Promise<DINO> {
    const loc = await locate(idOrDir, { cacheDir: opts.cacheDir, offline: opts.offline, onProgress: opts.onProgress });
    const sd = readStateDict(loc.weights);
    const cfg = opts.config ?? configFromJson(loc.config) ?? undefined;
    const model = DINO.fromStateDict(sd, { ...opts, config: cfg });
    const pre = loc.dir ? path.join(loc.dir, 'preprocessor_config.json') : null;
    if (pre && fs.existsSync(pre)) model.imageProcessor = readImageProcessorConfig(pre);
    return model;
  }

  /** A DINO ViT with seeded random weights (tests, examples; not a trained model). */
  static random(config: DINOConfig | keyof typeof DINO_PRESETS, seed = 0): DINO {
    const cfg = typeof config === 'string' ? DINO_PRESETS[config] : config;
    if (!cfg) throw new Error(`DINO: unknown preset '${String(config)}' (expected one of ${Object.keys(DINO_PRESETS).join(', ')})`);
    return DINO.fromStateDict(randomStateDict(vitExpectedShapes(cfg), seed), { config: cfg });
  }

  static fromStateDict(sdIn: StateDict, opts: Pick<DINOLoadOptions, 'config' | 'heads' | 'prefix'> = {}): DINO {
    const det = detectVitLayout(sdIn);
    const prefix = opts.prefix ?? det.prefix;
    let sd = stripPrefix(sdIn, prefix);
    if (det.layout === 'hf') sd = vitHFToTimm(sd);
    let cfg: DINOConfig;
    if (typeof opts.config === 'string') {
      const p = DINO_PRESETS[opts.config];
      if (!p) throw new Error(`DINO: unknown preset '${opts.config}' (expected one of ${Object.keys(DINO_PRESETS).join(', ')})`);
      cfg = p;
    } else cfg = opts.config ?? dinoConfigFromTimmWeights(sd, opts.heads);
    if (cfg.width % cfg.heads !== 0) throw new Error(`DINO config: width ${cfg.width} is not divisible by ${cfg.heads} heads`);
    // timm checkpoints may carry a classifier head, DINOv2 ones a mask token; the feature network uses neither
    for (const k of Object.keys(sd)) if (/^(head|fc_norm|pre_logits)\./.test(k) || k === 'mask_token') delete sd[k];
    checkStateDict(sd, vitExpectedShapes(cfg), `DINO (${det.layout} layout${prefix ? `, prefix '${prefix}'` : ''})`);
    const model = new DINO(cfg, new ParamMap(toVariables(sd, 'dino')));
    if (det.layout === 'hf') model.posInterpolation = 'bicubic-size';
    return model;
  }

  /**
   * Images -> NHWC pixels as the model's image processor (ViTImageProcessor: resize to the model size with PIL
   * bilinear, rescale, ImageNet mean/std); 8-bit images exactly, float tensors ([-1, 1] by default) differentiably.
   */
  preprocess(images: ImageInput, opts: Partial<ImageProcessorConfig> = {}): tf.Tensor4D {
    return preprocessImages(images, { ...this.imageProcessor, ...opts });
  }

  /** ImageNet mean/std normalisation of NHWC images in [0, 1] (torchvision Normalize). */
  normalize(x01: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.div(tf.sub(x01, tf.tensor1d(IMAGENET_MEAN)), tf.tensor1d(IMAGENET_STD)) as tf.Tensor4D);
  }

  /** Patch conv -> [B, gh, gw, D]. */
  patchEmbed(pixels: tf.Tensor4D): tf.Tensor4D {
    const p = this.config.patchSize;
    if (pixels.rank !== 4 || pixels.shape[3] !== 3) throw new Error(`DINO: expected NHWC pixels [B, H, W, 3], found [${pixels.shape}]`);
    if (pixels.shape[1] < p || pixels.shape[2] < p) throw new Error(`DINO: image ${pixels.shape[1]}x${pixels.shape[2]} is smaller than one ${p}x${p} patch`);
    return patchEmbedding(pixels, this.params.get('patch_embed.proj.weight') as tf.Tensor4D, this.params.get('patch_embed.proj.bias'), p, this.patchImpl);
  }

  /** The position embedding [1, 1 + gh*gw, D] for a gh x gw patch grid (resized from the trained grid when needed). */
  posEmbed(gh: number, gw: number, mode: PosInterpolation = this.posInterpolation): tf.Tensor3D {
    const pos = this.params.get('pos_embed');
    const n = pos.shape[1]! - 1;
    const g0 = Math.round(Math.sqrt(n));
    if (g0 * g0 !== n) throw new Error(`DINO: position embedding of ${n} patches is not a square grid`);
    if (gh === g0 && gw === g0) return tf.clone(pos) as tf.Tensor3D;
    const d = this.config.width;
    return tf.tidy(() => {
      const cls = tf.slice(pos, [0, 0, 0], [1, 1, d]);
      const grid = tf.reshape(tf.slice(pos, [0, 1, 0], [1, n, d]), [1, g0, g0, d]) as tf.Tensor4D;
      let resized: tf.Tensor4D;
      if (mode === 'bilinear') resized = resizeImages(grid, gh, gw, 'bilinear');
      else if (mode === 'bicubic-size') resized = resizeImages(grid, gh, gw, 'bicubic');
      else if (mode === 'bicubic') resized = resizeImages(grid, gh, gw, 'bicubic', { scaleFactor: [(gh + 0.1) / g0, (gw + 0.1) / g0] });
      else throw new Error(`DINO: unknown posInterpolation '${mode}' (expected bicubic, bicubic-size or bilinear)`);
      return tf.concat([cls, tf.reshape(resized, [1, gh * gw, d])], 1) as tf.Tensor3D;
    });
  }

  /** The embedding stage: patch conv, cls token, position embedding -> [B, 1 + N, D] (timm pos_drop output). */
  embed(pixels: tf.Tensor4D, mode: PosInterpolation = this.posInterpolation): tf.Tensor3D {
    return tf.tidy(() => {
      const y = this.patchEmbed(pixels);
      const [b, gh, gw, d] = y.shape;
      const tokens = tf.reshape(y, [b, gh * gw, d]);
      const cls = tf.tile(this.params.get('cls_token'), [b, 1, 1]);
      return tf.add(tf.concat([cls, tokens], 1), this.posEmbed(gh, gw, mode)) as tf.Tensor3D;
    });
  }

  block(i: number): BlockParams {
    return blockParams(this.params, `blocks.${i}`, TIMM_BLOCK);
  }

  /** Run blocks start..end-1 on given tokens [B, L, D]; `hooks` (block indices) are returned too, in that order. */
  runBlocks(tokens: tf.Tensor3D, start = 0, end = this.config.layers, hooks: number[] = []): { tokens: tf.Tensor3D; hidden: tf.Tensor3D[] } {
    const c = this.config;
    if (!(start >= 0 && end <= c.layers && start <= end)) throw new Error(`DINO: block range [${start}, ${end}) outside [0, ${c.layers})`);
    if (tokens.rank !== 3 || tokens.shape[2] !== c.width) throw new Error(`DINO: expected tokens [B, L, ${c.width}], found [${tokens.shape}]`);
    for (const h of hooks) if (!(Number.isInteger(h) && h >= start && h < end)) throw new Error(`DINO: hook ${h} is outside the block range [${start}, ${end})`);
    return tf.tidy(() => {
      const kept = new Map<number, tf.Tensor3D>();
      let x = tokens;
      for (let i = start; i < end; i++) {
        x = transformerBlock(x, this.block(i), { heads: c.heads, act: c.act, eps: c.eps });
        if (hooks.includes(i)) kept.set(i, x);
      }
      return { tokens: x === tokens ? tf.clone(x) : x, hidden: hooks.map((h) => kept.get(h)!) };
    });
  }

  /** Full forward: pooled CLS feature (after the final norm), normed tokens, hooked tokens. */
  forward(pixels: tf.Tensor4D, opts: DINOForwardOptions = {}): DINOOutput {
    const hooks = opts.hooks ?? [];
    for (const h of hooks) {
      if (h !== 'embed' && !(Number.isInteger(h) && h >= 0 && h < this.config.layers)) {
        throw new Error(`DINO: hook ${String(h)} is neither 'embed' nor a block index in [0, ${this.config.layers})`);
      }
    }
    return tf.tidy(() => {
      const x0 = this.embed(pixels, opts.posInterpolation);
      const blockHooks = hooks.filter((h): h is number => h !== 'embed');
      const { tokens, hidden } = this.runBlocks(x0, 0, this.config.layers, blockHooks);
      const normed = layerNorm(tokens, this.params.get('norm.weight'), this.params.get('norm.bias'), this.config.eps) as tf.Tensor3D;
      const pooled = tf.squeeze(tf.slice(normed, [0, 0, 0], [-1, 1, -1]), [1]) as tf.Tensor2D;
      let j = 0;
      return { pooled, lastHiddenState: normed, hidden: hooks.map((h) => (h === 'embed' ? x0 : hidden[j++])) };
    });
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** StyleGAN-T / DPT readout 'add': x[:, 1:] + x[:, :1] -> [B, N, D] (patch tokens plus the CLS token). */
export function addReadout(tokens: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => tf.add(tf.slice(tokens, [0, 1, 0], [-1, -1, -1]), tf.slice(tokens, [0, 0, 0], [-1, 1, -1])) as tf.Tensor3D);
}
