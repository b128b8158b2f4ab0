/**
 * CLIP (Radford et al. 2021) text and vision towers in tfjs, NHWC images in, with the lower-level pieces other
 * packages build on (token features, the vision embedding stage, ranges of vision blocks on given tokens).
 * Parameters are frozen tf.Variables under OpenAI CLIP state_dict names (see convert.ts); every call is tidy and
 * differentiable w.r.t. its tensor inputs.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { layerNorm } from '@ganzoo/core';
import type { ResolveOptions } from '@ganzoo/core';
import { CLIPConfig, CLIP_PRESETS, clipConfigFromHF } from './config';
import {
  StateDict, checkStateDict, clipConfigFromOpenAI, clipExpectedShapes, clipHFToOpenAI, detectClipLayout, randomStateDict, stripPrefix, toVariables,
} from './convert';
import { locate, readStateDict } from './io';
import { ImageProcessorConfig, ImageInput, preprocessImages, readImageProcessorConfig, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD } from './preprocess';
import { Tokenizer, TokenizeOptions, loadTokenizer } from './tokenizer';
import { CLIPTextOnnx, hasOnnxTextModel } from './onnx';
import { BlockParams, OPENAI_BLOCK, ParamMap, PatchEmbedImpl, blockParams, causalMask, patchEmbedding, transformerBlock } from './vit';

export interface CLIPLoadOptions {
  /** Config to use instead of config.json / inference from the weights (a preset name or a full config). */
  config?: CLIPConfig | keyof typeof CLIP_PRESETS;
  /** Head counts for OpenAI-layout weights whose widths are not multiples of 64 (build_model uses width / 64). */
  heads?: { text?: number; vision?: number };
  /** Key prefix in front of the CLIP keys (auto-detected: 'module.', 'clip.', ...). */
  prefix?: string;
  /** Tokenizer folder (tokenizer.json + tokenizer_config.json); default: the model folder; false: none. */
  tokenizer?: string | false;
  /** Image processor settings; default: the folder's preprocessor_config.json, else OpenAI CLIP's 224 settings. */
  imageProcessor?: Partial<ImageProcessorConfig>;
  /** Cache folder for hub downloads (core resolveWeights) and transformers.js. */
  cacheDir?: string;
  offline?: boolean;
  /** download progress for manifest ids (core resolveWeights). */
  onProgress?: ResolveOptions['onProgress'];
}

export interface CLIPTextOutput {
  /** ln_final output [B, L, W] (HF text_model last_hidden_state; GALIP words_embs; GigaGAN text encodings). */
  lastHiddenState: tf.Tensor3D;
  /** the pooled (EOT) token of lastHiddenState [B, W] (HF pooler_output). */
  pooled: tf.Tensor2D;
  /** pooled @ text_projection [B, E], not normalised (HF text_embeds before normalisation). */
  embeds: tf.Tensor2D;
  /** pooling positions [B] (int32). */
  eotIndex: tf.Tensor1D;
}

export interface CLIPVisionOutput {
  /** transformer output [B, 1 + N, W] before ln_post (HF vision_model last_hidden_state). */
  lastHiddenState: tf.Tensor3D;
  /** ln_post(CLS) [B, W] (HF pooler_output). */
  pooled: tf.Tensor2D;
  /** pooled @ visual.proj [B, E], not normalised. */
  embeds: tf.Tensor2D;
  /** outputs of the requested blocks (in the order requested), and 'embed' = the input to block 0 (after ln_pre). */
  hidden: tf.Tensor3D[];
}

export type VisionHook = number | 'embed';

export class CLIP {
  readonly config: CLIPConfig;
  readonly params: ParamMap;
  readonly hasText: boolean;
  readonly hasVision: boolean;
  tokenizer: Tokenizer | null;
  imageProcessor: ImageProcessorConfig;
  /** patch embedding implementation: 'matmul' (fast, default) or 'conv' (reference). */
  patchImpl: PatchEmbedImpl = 'matmul';
  /** the folder the model was loaded from (tokenizer, ONNX export), if any. */
  dir: string | null = null;
  private onnxText: Promise<CLIPTextOnnx> | null = null;

  constructor(config: CLIPConfig, params: ParamMap, opts: { tokenizer?: Tokenizer | null; imageProcessor?: ImageProcessorConfig } = {}) {
    this.config = config;
    this.params = params;
    this.hasText = params.has('token_embedding.weight');
    this.hasVision = params.has('visual.conv1.weight');
    this.tokenizer = opts.tokenizer ?? null;
    this.imageProcessor = opts.imageProcessor ?? defaultImageProcessor(config.vision.imageSize);
  }

  /**
   * Load from a folder (Hugging Face CLIPModel: config.json + model.safetensors / pytorch_model.bin, tokenizer
   * files, preprocessor_config.json), a single weights file (OpenAI CLIP state_dict .pth / .safetensors, also
   * nested inside a larger checkpoint), or a hub id (through core's resolveWeights).
   */
  static async fromPretrained(idOrDir: string, opts: CLIPLoadOptions = {}): Promise<CLIP> {
    const loc = await locate(idOrDir, { cacheDir: opts.cacheDir, offline: opts.offline, onProgress: opts.onProgress });
    const sd = readStateDict(loc.weights);
    const dirConfig = loc.config?.text_config ? loc.config : null;
    let tokenizer: Tokenizer | null = null;
    const tokDir = opts.tokenizer === false ? null : opts.tokenizer ?? loc.dir;
    if (tokDir && fs.existsSync(path.join(tokDir, 'tokenizer.json'))) {
      tokenizer = await loadTokenizer(tokDir, { cacheDir: opts.cacheDir });
    } else if (typeof opts.tokenizer === 'string') {
      throw new Error(`CLIP: no tokenizer.json in ${opts.tokenizer}`);
    }
    let imageProcessor: ImageProcessorConfig | undefined;
    if (loc.dir && fs.existsSync(path.join(loc.dir, 'preprocessor_config.json'))) {
      imageProcessor = readImageProcessorConfig(path.join(loc.dir, 'preprocessor_config.json'));
    }
    const model = CLIP.fromStateDict(sd, { ...opts, config: opts.config ?? (dirConfig ? clipConfigFromHF(dirConfig) : undefined) });
    model.tokenizer = tokenizer;
    model.dir = loc.dir;
    if (imageProcessor || opts.imageProcessor) model.imageProcessor = { ...(imageProcessor ?? model.imageProcessor), ...opts.imageProcessor };
    return model;
  }

  /** A CLIP with seeded random weights (tests, examples; not a trained model). */
  static random(config: CLIPConfig | keyof typeof CLIP_PRESETS, seed = 0, towers = { text: true, vision: true }): CLIP {
    const cfg = typeof config === 'string' ? CLIP_PRESETS[config] ?? unknownPreset(config) : config;
    return CLIP.fromStateDict(randomStateDict(clipExpectedShapes(cfg, towers), seed), { config: cfg });
  }

  /** Build from an in-memory state dict in either layout (torch tensor layout, as read from a file). */
  static fromStateDict(sdIn: StateDict, opts: Pick<CLIPLoadOptions, 'config' | 'heads' | 'prefix'> = {}): CLIP {
    const det = detectClipLayout(sdIn);
    const prefix = opts.prefix ?? det.prefix;
    let sd = stripPrefix(sdIn, prefix);
    if (det.layout === 'hf') sd = clipHFToOpenAI(sd);
    else sd = dropOpenAIBuffers(sd);
    const towers = { text: 'token_embedding.weight' in sd, vision: 'visual.conv1.weight' in sd };
    const cfg =
      typeof opts.config === 'string'
        ? CLIP_PRESETS[opts.config] ?? unknownPreset(opts.config)
        : opts.config ?? clipConfigFromOpenAI(sd, opts.heads);
    // keys of other modules sharing a checkpoint (e.g. a GAN's own weights next to 'clip.*') are dropped by the prefix;
    // a bare CLIP state dict must match exactly
    checkStateDict(sd, clipExpectedShapes(cfg, towers), `CLIP (${det.layout} layout${prefix ? `, prefix '${prefix}'` : ''})`);
    for (const [w, h, what] of [[cfg.text.width, cfg.text.heads, 'text'], [cfg.vision.width, cfg.vision.heads, 'vision']] as const) {
      if (w % h !== 0) throw new Error(`CLIP config: ${what} width ${w} is not divisible by ${h} heads`);
    }
    return new CLIP(cfg, new ParamMap(toVariables(sd, 'clip')));
  }

  // ------------------------------------------------------------------ text

  /**
   * Texts -> int32 ids [B, contextLength] with the model's BPE tokenizer (transformers.js): <|startoftext|>,
   * the tokens, <|endoftext|>. Longer texts are truncated as CLIP does (`clip.tokenize(truncate=True)`): the first
   * contextLength - 2 tokens are kept and the last position holds <|endoftext|>. Padding is 0 as in OpenAI / open_clip
   * (`padding: 'tokenizer'` pads with the tokenizer's pad token as Hugging Face does; embeddings are the same).
   */
  tokenize(texts: string | string[], opts: TokenizeOptions = {}): tf.Tensor2D {
    if (!this.tokenizer) throw new Error('CLIP.tokenize: this model was loaded without a tokenizer (no tokenizer.json in its folder; pass { tokenizer: dir })');
    return this.tokenizer.encode(texts, { contextLength: this.config.text.contextLength, ...opts });
  }

  private checkIds(ids: tf.Tensor): void {
    if (!this.hasText) throw new Error('CLIP: this model has no text tower (no token_embedding.weight in its weights)');
    const L = this.config.text.contextLength;
    if (ids.rank !== 2 || ids.shape[1]! > L) throw new Error(`CLIP text: expected ids [B, <=${L}], found [${ids.shape}]`);
    if (ids.dtype !== 'int32') throw new Error(`CLIP text: expected int32 ids, found ${ids.dtype}`);
  }

  /** Token embeddings + positional embeddings [B, L, W] (the input of the text transformer). */
  textEmbed(ids: tf.Tensor2D): tf.Tensor3D {
    this.checkIds(ids);
    return tf.tidy(() => {
      const L = ids.shape[1];
      const V = this.config.text.vocabSize;
      const tok = tf.gather(this.params.get('token_embedding.weight'), tf.clipByValue(ids, 0, V - 1) as tf.Tensor2D);
      const pos = tf.slice(this.params.get('positional_embedding'), [0, 0], [L, -1]);
      return tf.add(tok, pos) as tf.Tensor3D;
    });
  }

  /** Text transformer + ln_final and EOT pooling (OpenAI CLIP.encode_text). */
  textForward(ids: tf.Tensor2D): CLIPTextOutput {
    this.checkIds(ids);
    const t = this.config.text;
    const { min, max } = tf.tidy(() => ({ min: tf.min(ids).arraySync() as number, max: tf.max(ids).arraySync() as number }));
    if (min < 0 || max >= t.vocabSize) throw new Error(`CLIP text: token ids must lie in [0, ${t.vocabSize - 1}], found [${min}, ${max}]`);
    return tf.tidy(() => {
      const [B, L] = ids.shape;
      let x = this.textEmbed(ids);
      const mask = causalMask(L);
      for (let i = 0; i < t.layers; i++) {
        x = transformerBlock(x, this.textBlock(i), { heads: t.heads, act: t.act, eps: t.eps, mask });
      }
      const last = layerNorm(x, this.params.get('ln_final.weight'), this.params.get('ln_final.bias'), t.eps) as tf.Tensor3D;
      const eotIndex = (t.pool === 'argmax' ? tf.argMax(ids, 1) : tf.argMax(tf.cast(tf.equal(ids, t.pool), 'int32'), 1)) as tf.Tensor1D;
      const flat = tf.reshape(last, [B * L, t.width]);
      const rows = tf.add(tf.mul(tf.range(0, B, 1, 'int32'), tf.scalar(L, 'int32')), eotIndex);
      const pooled = tf.gather(flat, rows) as tf.Tensor2D;
      const embeds = tf.matMul(pooled, this.params.get('text_projection')) as tf.Tensor2D;
      return { lastHiddenState: last, pooled, embeds, eotIndex };
    });
  }

  /** Projected text embeddings [B, E], not normalised (= HF get_text_features / OpenAI encode_text). */
  encodeText(ids: tf.Tensor2D): tf.Tensor2D {
    const out = this.textForward(ids);
    tf.dispose([out.lastHiddenState, out.pooled, out.eotIndex]);
    return out.embeds;
  }

  /**
   * Frozen text embeddings for inference: through transformers.js + ONNX Runtime when the model folder holds
   * onnx/text_model.onnx, else the tfjs tower (same numbers either way; no gradients through the ONNX path).
   */
  async encodeTextFrozen(ids: tf.Tensor2D, opts: { cacheDir?: string } = {}): Promise<tf.Tensor2D> {
    this.checkIds(ids);
    if (!hasOnnxTextModel(this.dir)) return this.encodeText(ids);
    if (!this.onnxText) this.onnxText = CLIPTextOnnx.fromPretrained(this.dir!, opts);
    return (await this.onnxText).encodeText(ids);
  }

  /** Text token features: the ln_final output [B, L, W]. */
  textTokens(ids: tf.Tensor2D): tf.Tensor3D {
    const out = this.textForward(ids);
    tf.dispose([out.embeds, out.pooled, out.eotIndex]);
    return out.lastHiddenState;
  }

  textBlock(i: number): BlockParams {
    return blockParams(this.params, `transformer.resblocks.${i}`, OPENAI_BLOCK);
  }

  // ------------------------------------------------------------------ vision

  /**
   * Images -> NHWC pixels in the model's input space: shortest side resized to `size` (bicubic as PIL does),
   * centre crop, rescale and OpenAI mean/std (CLIPImageProcessor). See preprocess.ts for accepted inputs.
   */
  preprocess(images: ImageInput, opts: Partial<ImageProcessorConfig> = {}): tf.Tensor4D {
    return preprocessImages(images, { ...this.imageProcessor, ...opts });
  }

  private checkPixels(pixels: tf.Tensor): void {
    if (!this.hasVision) throw new Error('CLIP: this model has no vision tower (no visual.conv1.weight in its weights)');
    const s = this.config.vision.imageSize;
    if (pixels.rank !== 4 || pixels.shape[3] !== 3 || pixels.shape[1] !== s || pixels.shape[2] !== s) {
      throw new Error(`CLIP vision: expected preprocessed NHWC pixels [B, ${s}, ${s}, 3], found [${pixels.shape}] (use clip.preprocess)`);
    }
  }

  /** Patch conv -> [B, N, W] patch tokens (row-major grid), before the class token and positions. */
  patchEmbed(pixels: tf.Tensor4D): tf.Tensor3D {
    this.checkPixels(pixels);
    return tf.tidy(() => {
      const p = this.config.vision.patchSize;
      const y = patchEmbedding(pixels, this.params.get('visual.conv1.weight') as tf.Tensor4D, undefined, p, this.patchImpl);
      const [b, gh, gw, w] = y.shape;
      return tf.reshape(y, [b, gh * gw, w]) as tf.Tensor3D;
    });
  }

  /**
   * The embedding stage on given patch tokens [B, N, W]: prepend the class embedding, add the positional
   * embedding, apply ln_pre (GALIP's CLIP_Mapper feeds its own 7x7 features here). Returns the input of block 0.
   */
  embedPatchTokens(patches: tf.Tensor3D): tf.Tensor3D {
    const v = this.config.vision;
    const pos = this.params.get('visual.positional_embedding');
    if (patches.rank !== 3 || patches.shape[1] !== pos.shape[0]! - 1 || patches.shape[2] !== v.width) {
      throw new Error(`CLIP vision: expected patch tokens [B, ${pos.shape[0]! - 1}, ${v.width}], found [${patches.shape}]`);
    }
    return tf.tidy(() => {
      const b = patches.shape[0];
      const cls = tf.tile(tf.reshape(this.params.get('visual.class_embedding'), [1, 1, v.width]), [b, 1, 1]);
      const x = tf.add(tf.concat([cls, patches], 1), pos);
      return layerNorm(x, this.params.get('visual.ln_pre.weight'), this.params.get('visual.ln_pre.bias'), v.eps) as tf.Tensor3D;
    });
  }

  /** The whole embedding stage: patch conv, class token, positions, ln_pre -> [B, 1 + N, W]. */
  visionEmbed(pixels: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => this.embedPatchTokens(this.patchEmbed(pixels)));
  }

  visionBlock(i: number): BlockParams {
    return blockParams(this.params, `visual.transformer.resblocks.${i}`, OPENAI_BLOCK);
  }

  /**
   * Run vision blocks start..end-1 on given tokens [B, L, W] (any L: GALIP appends a prompt token).
   * `hooks` lists block indices whose outputs to return as well (in that order).
   */
  runVisionBlocks(tokens: tf.Tensor3D, start = 0, end = this.config.vision.layers, hooks: number[] = []): { tokens: tf.Tensor3D; hidden: tf.Tensor3D[] } {
    const v = this.config.vision;
    if (!(start >= 0 && end <= v.layers && start <= end)) throw new Error(`CLIP vision: block range [${start}, ${end}) outside [0, ${v.layers})`);
    if (tokens.rank !== 3 || tokens.shape[2] !== v.width) throw new Error(`CLIP vision: expected tokens [B, L, ${v.width}], found [${tokens.shape}]`);
    for (const h of hooks) if (!(h >= start && h < end)) throw new Error(`CLIP vision: hook ${h} is outside the block range [${start}, ${end})`);
    return tf.tidy(() => {
      const kept = new Map<number, tf.Tensor3D>();
      let x = tokens;
      for (let i = start; i < end; i++) {
        x = transformerBlock(x, this.visionBlock(i), { heads: v.heads, act: v.act, eps: v.eps });
        if (hooks.includes(i)) kept.set(i, x);
      }
      return { tokens: x === tokens ? tf.clone(x) : x, hidden: hooks.map((h) => kept.get(h)!) };
    });
  }

  /** ln_post(CLS) @ visual.proj on transformer output tokens [B, L, W] -> { pooled [B, W], embeds [B, E] }. */
  visionHead(tokens: tf.Tensor3D): { pooled: tf.Tensor2D; embeds: tf.Tensor2D } {
    const v = this.config.vision;
    return tf.tidy(() => {
      const cls = tf.squeeze(tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), [1]);
      const pooled = layerNorm(cls, this.params.get('visual.ln_post.weight'), this.params.get('visual.ln_post.bias'), v.eps) as tf.Tensor2D;
      return { pooled, embeds: tf.matMul(pooled, this.params.get('visual.proj')) as tf.Tensor2D };
    });
  }

  /** The full vision tower with optional hooks (block indices and/or 'embed'). */
  visionForward(pixels: tf.Tensor4D, opts: { hooks?: VisionHook[] } = {}): CLIPVisionOutput {
    this.checkPixels(pixels);
    const hooks = opts.hooks ?? [];
    return tf.tidy(() => {
      const x0 = this.visionEmbed(pixels);
      const blockHooks = hooks.filter((h): h is number => h !== 'embed');
      const { tokens, hidden } = this.runVisionBlocks(x0, 0, this.config.vision.layers, blockHooks);
      const { pooled, embeds } = this.visionHead(tokens);
      let j = 0;
      const all = hooks.map((h) => (h === 'embed' ? x0 : hidden[j++]));
      return { lastHiddenState: tokens, pooled, embeds, hidden: all };
    });
  }

  /** Projected image embeddings [B, E], not normalised (= HF get_image_features / OpenAI encode_image). */
  encodeImage(pixels: tf.Tensor4D): tf.Tensor2D {
    const out = this.visionForward(pixels);
    tf.dispose([out.lastHiddenState, out.pooled]);
    return out.embeds;
  }

  /** exp(logit_scale) * normalize(image) @ normalize(text)^T: logits_per_image [I, T]. */
  logits(imageEmbeds: tf.Tensor2D, textEmbeds: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const scale = tf.exp(this.params.get('logit_scale'));
      const i = tf.div(imageEmbeds, tf.norm(imageEmbeds, 'euclidean', -1, true));
      const t = tf.div(textEmbeds, tf.norm(textEmbeds, 'euclidean', -1, true));
      return tf.mul(scale, tf.matMul(i, t, false, true)) as tf.Tensor2D;
    });
  }

  /** exp(logit_scale) as a number (GigaGAN's contrastive temperature). */
  logitScale(): number {
    return tf.tidy(() => tf.exp(this.params.get('logit_scale')).arraySync() as number);
  }

  dispose(): void {
    this.params.dispose();
    if (this.onnxText) {
      this.onnxText.then((m) => m.dispose()).catch(() => undefined);
      this.onnxText = null;
    }
  }
}

/**
 * Non-parameter entries of OpenAI / open_clip state dicts: the JIT archives' `input_resolution`, `context_length`,
 * `vocab_size` scalars and persisted causal `attn_mask` buffers (older open_clip).
 */
function dropOpenAIBuffers(sd: StateDict): StateDict {
  const out: StateDict = {};
  for (const [k, v] of Object.entries(sd)) {
    if (/^(input_resolution|context_length|vocab_size)$/.test(k) || /(^|\.)attn_mask$/.test(k)) continue;
    out[k] = v;
  }
  return out;
}

function unknownPreset(name: string): never {
  throw new Error(`CLIP: unknown preset '${name}' (expected one of ${Object.keys(CLIP_PRESETS).join(', ')})`);
}

export function defaultImageProcessor(size: number): ImageProcessorConfig {
  return {
    size,
    cropSize: size,
    doResize: true,
    doCenterCrop: true,
    doNormalize: true,
    rescaleFactor: 1 / 255,
    mean: OPENAI_CLIP_MEAN,
    std: OPENAI_CLIP_STD,
    resample: 'pil-bicubic',
  };
}

