/**
 * The public StyleGAN-T model: a generator (+ optional projected discriminator) with create / fromPretrained / save,
 * text-conditioned generation from prompts (through a CLIP text encoder) or precomputed text embeddings, truncation,
 * prompt interpolation (the text half of w, StyleGAN-T fig. 7) and latent interpolation.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { RawTensor, readSafetensors, saveSafetensors, tfSeed, writeFileAtomic } from '@ganzoo/core';
import { CLIP, CLIPLoadOptions, DINO, DINOConfig, DINOLoadOptions, fromTfLayout, loadTokenizer } from '@ganzoo/encoders';
import { makeConfig, PresetName, ResolvedConfig, resolveConfig, StyleGANTConfig } from './config';
import { Generator, generatorShapes, initGeneratorParams, isGeneratorBuffer, NoiseMode } from './generator';
import { DiscriminatorHeads, discriminatorShapes, initDiscriminatorParams, isDiscriminatorBuffer, ProjectedDiscriminator } from './discriminator';
import { convertStateDict, discriminatorLayout, exportStateDict, generatorLayout } from './convert';
import { disposeParams, paramsFromTensors } from './params';

export interface GenerateOptions {
  /** Prompts, one per image (needs a CLIP text encoder). */
  prompts?: string[];
  /** Precomputed text embeddings [B, text_dim] (used as given, as the official mapping does with a tensor c). */
  textEmbeddings?: tf.Tensor2D;
  /** Seed of z (images are reproducible per seed); default 0. Ignored when z is given. */
  seed?: number;
  /** z [B, z_dim]. */
  z?: tf.Tensor2D;
  /** Truncation psi in [0, 1] (1 = none); pulls only the z part of w toward x_avg. */
  truncation?: number;
  noiseMode?: NoiseMode;
  /** Seed of the noise when noiseMode = 'random'. */
  noiseSeed?: number;
  /** Number of images when neither prompts nor embeddings fix it (unconditional G); default 1. */
  batchSize?: number;
}

export interface LoadOptions {
  /** CLIP text encoder for prompts: a loaded CLIP or a folder / id for CLIP.fromPretrained. */
  textEncoder?: CLIP | string;
  /** DINO for the discriminator: a loaded DINO or a folder / id; default: `dino.model.model.*` in model_D, else none. */
  dino?: DINO | string;
  /** Load model_D.safetensors when present (default true). */
  loadDiscriminator?: boolean;
  /** Tokenizer folder (tokenizer.json + tokenizer_config.json) for a text tower read from mapping.clip.model.*. */
  tokenizer?: string;
  /** CLIP config / head counts for that text tower when they cannot be inferred (ViT-L/14 widths are inferred). */
  textEncoderLoad?: Pick<CLIPLoadOptions, 'config' | 'heads'>;
  /** DINO config / heads for a `dino.model.model.*` tower when they cannot be inferred (ViT-S/16, ViT-B are inferred). */
  dinoLoad?: Pick<DINOLoadOptions, 'config' | 'heads'>;
}

export interface CreateOptions {
  seed?: number;
  textEncoder?: CLIP;
  /** DINO for the discriminator; default: a random DINO of the config's width (tests / smoke runs only). */
  dino?: DINO;
  /** Build the discriminator too (default false). */
  withDiscriminator?: boolean;
}

/** z ~ N(0, I) [n, zDim] from a seed (row i from seed + i, so batches and single images agree). */
export function latentsFromSeeds(seeds: number[], zDim: number): tf.Tensor2D {
  return tf.tidy(() => tf.concat(seeds.map((s) => tf.randomNormal([1, zDim], 0, 1, 'float32', tfSeed(s >>> 0))), 0) as tf.Tensor2D);
}

/** A random DINO (timm layout) of the given width: 12 blocks (hooks 2, 5, 8, 11), patch 16, 224 px. Tests / smoke runs. */
export function randomDino(width: number, seed = 0): DINO {
  const heads = width % 64 === 0 ? width / 64 : width % 2 === 0 ? 2 : 1;
  const cfg: DINOConfig = { imageSize: 224, patchSize: 16, width, heads, layers: 12, mlpWidth: 4 * width, qkvBias: true, act: 'gelu', eps: 1e-6 };
  return DINO.random(cfg, seed);
}

function isCLIP(x: unknown): x is CLIP {
  return x instanceof CLIP;
}

export class StyleGANT {
  readonly resolved: ResolvedConfig;
  private disposed = false;
  /** Whether dispose() frees the text encoder (true when this model loaded it itself). */
  ownsTextEncoder = false;
  /** Whether dispose() frees the discriminator's DINO (false when the caller passed it in). */
  ownsDino = true;

  constructor(
    readonly config: StyleGANTConfig,
    readonly G: Generator,
    public textEncoder: CLIP | null = null,
    public D: ProjectedDiscriminator | null = null,
  ) {
    this.resolved = G.cfg;
  }

  /** A freshly initialised model (official initialisation, seeded) from a config or preset name. */
  static create(configOrPreset: StyleGANTConfig | PresetName, opts: CreateOptions = {}): StyleGANT {
    const config = makeConfig(configOrPreset);
    const cfg = resolveConfig(config);
    const seed = opts.seed ?? 0;
    const G = new Generator(cfg, initGeneratorParams(cfg, seed));
    let D: ProjectedDiscriminator | null = null;
    if (opts.withDiscriminator) {
      const dino = opts.dino ?? randomDino(cfg.dino.embed_dim, seed + 1);
      D = new ProjectedDiscriminator(cfg, new DiscriminatorHeads(cfg, initDiscriminatorParams(cfg, seed + 2)), dino);
    }
    const model = new StyleGANT(config, G, opts.textEncoder ?? null, D);
    model.ownsDino = !opts.dino;
    return model;
  }

  /**
   * Load a model folder: config.json ({G, D, text_dim, dino}: the official constructor kwargs), model.safetensors
   * (G.state_dict() with official keys; a frozen `mapping.clip.model.*` text tower is used as the text encoder when
   * no other is given) and optionally model_D.safetensors (heads.*, and `dino.model.model.*` if present).
   */
  static async fromPretrained(dir: string, opts: LoadOptions = {}): Promise<StyleGANT> {
    const cfgFile = path.join(dir, 'config.json');
    if (!fs.existsSync(cfgFile)) throw new Error(`StyleGAN-T: ${cfgFile} not found (expected a folder with config.json and model.safetensors)`);
    const config = makeConfig(JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as StyleGANTConfig);
    const cfg = resolveConfig(config);
    const gFile = path.join(dir, 'model.safetensors');
    if (!fs.existsSync(gFile)) throw new Error(`StyleGAN-T: ${gFile} not found`);
    const gsd = readSafetensors(gFile).tensors;
    const G = new Generator(cfg, paramsFromTensors('G', convertStateDict(gsd, generatorShapes(cfg), generatorLayout, `StyleGAN-T generator (${gFile})`, /^mapping\.clip\./), isGeneratorBuffer));
    let textEncoder: CLIP | null = null;
    try {
      if (isCLIP(opts.textEncoder)) textEncoder = opts.textEncoder;
      else if (typeof opts.textEncoder === 'string') textEncoder = await CLIP.fromPretrained(opts.textEncoder);
      else if (Object.keys(gsd).some((k) => k.startsWith('mapping.clip.model.'))) {
        const sub: Record<string, RawTensor> = {};
        // logit_scale belongs to the (deleted) image-text head: the text tower does not use it
        for (const [k, v] of Object.entries(gsd)) if (k.startsWith('mapping.clip.model.') && k !== 'mapping.clip.model.logit_scale') sub[k] = v;
        textEncoder = CLIP.fromStateDict(sub, { ...opts.textEncoderLoad, prefix: 'mapping.clip.model.' });
        if (opts.tokenizer) textEncoder.tokenizer = await loadTokenizer(opts.tokenizer);
      }
      let D: ProjectedDiscriminator | null = null;
      const dFile = path.join(dir, 'model_D.safetensors');
      if ((opts.loadDiscriminator ?? true) && fs.existsSync(dFile)) {
        const dsd = readSafetensors(dFile).tensors;
        let dino: DINO | null = null;
        if (opts.dino instanceof DINO) dino = opts.dino;
        else if (typeof opts.dino === 'string') dino = await DINO.fromPretrained(opts.dino);
        else if (Object.keys(dsd).some((k) => k.startsWith('dino.model.model.'))) {
          const sub: Record<string, RawTensor> = {};
          for (const [k, v] of Object.entries(dsd)) if (k.startsWith('dino.model.model.')) sub[k] = v;
          dino = DINO.fromStateDict(sub, { ...(cfg.dino.heads ? { heads: cfg.dino.heads } : {}), ...opts.dinoLoad, prefix: 'dino.model.model.' });
        }
        const heads = new DiscriminatorHeads(cfg, paramsFromTensors('D', convertStateDict(dsd, discriminatorShapes(cfg), discriminatorLayout, `StyleGAN-T discriminator (${dFile})`, /^dino\./), isDiscriminatorBuffer));
        if (dino) D = new ProjectedDiscriminator(cfg, heads, dino);
        else disposeParams(heads.params); // heads without a feature network cannot run; pass { dino } to keep them
      }
      const model = new StyleGANT(config, G, textEncoder, D);
      model.ownsTextEncoder = !!textEncoder && textEncoder !== opts.textEncoder;
      model.ownsDino = !(opts.dino instanceof DINO);
      return model;
    } catch (e) {
      disposeParams(G.params);
      throw e;
    }
  }

  /** Write config.json + model.safetensors (+ model_D.safetensors) with official keys and layouts (atomic writes). */
  save(dir: string, opts: { includeTextEncoder?: boolean; includeDino?: boolean } = {}): void {
    this.checkAlive();
    fs.mkdirSync(dir, { recursive: true });
    const buffers = Object.keys(this.G.params).filter(isGeneratorBuffer);
    const g = exportStateDict(this.G.params, generatorShapes(this.resolved), generatorLayout);
    // The official G holds its CLIP text tower as mapping.clip.model.*: written when asked, and by default in
    // 'text_encoder' train mode, where that tower is what training changed.
    const withText = opts.includeTextEncoder ?? this.resolved.trainMode === 'text_encoder';
    if (withText) {
      if (!this.textEncoder) throw new Error('StyleGAN-T save: includeTextEncoder needs a text encoder on the model');
      for (const [k, v] of Object.entries(this.textEncoder.params.toRecord())) {
        if (!k.startsWith('visual.')) g[`mapping.clip.model.${k}`] = fromTfLayout(k, v);
      }
    }
    try {
      saveSafetensors(path.join(dir, 'model.safetensors'), g, { metadata: { format: 'pt', buffers: JSON.stringify(buffers), producer: '@ganzoo/stylegan-t' } });
    } finally {
      tf.dispose(Object.values(g));
    }
    if (this.D) {
      const d = exportStateDict(this.D.heads.params, discriminatorShapes(this.resolved), discriminatorLayout);
      // the frozen DINO as the official D state_dict holds it (dino.model.model.<timm key>)
      if (opts.includeDino ?? true) {
        for (const [k, v] of Object.entries(this.D.dino.params.toRecord())) d[`dino.model.model.${k}`] = fromTfLayout(k, v);
      }
      try {
        saveSafetensors(path.join(dir, 'model_D.safetensors'), d, { metadata: { format: 'pt', producer: '@ganzoo/stylegan-t' } });
      } finally {
        tf.dispose(Object.values(d));
      }
    }
    const config: StyleGANTConfig = JSON.parse(JSON.stringify(this.config));
    if (this.D) config.dino = { ...config.dino, heads: this.D.dino.config.heads };
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('StyleGAN-T: this model was disposed');
  }

  /** L2-normalised CLIP text embeddings [B, text_dim] of prompts (networks/clip.py encode_text). */
  encodePrompts(prompts: string[]): tf.Tensor2D {
    this.checkAlive();
    if (!this.textEncoder) throw new Error('StyleGAN-T: prompts need a CLIP text encoder (pass { textEncoder } to create / fromPretrained, or give textEmbeddings)');
    if (!Array.isArray(prompts) || prompts.length === 0 || prompts.some((p) => typeof p !== 'string')) {
      throw new Error(`StyleGAN-T: prompts must be a non-empty array of strings, got ${JSON.stringify(prompts)}`);
    }
    const enc = this.textEncoder;
    const ids = enc.tokenize(prompts);
    try {
      const e = enc.encodeText(ids);
      if (e.shape[1] !== this.resolved.cDim) {
        e.dispose();
        throw new Error(`StyleGAN-T: the text encoder gives ${e.shape[1]}-d embeddings, the generator expects text_dim ${this.resolved.cDim}`);
      }
      const n = tf.tidy(() => tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-12))) as tf.Tensor2D;
      e.dispose();
      return n;
    } finally {
      ids.dispose();
    }
  }

  /** Resolve the text embeddings (owned by the caller afterwards) and the batch size of a generate call. */
  private conditioning(opts: GenerateOptions): { c: tf.Tensor2D | null; owned: boolean; batch: number } {
    const { cDim } = this.resolved;
    if (opts.prompts && opts.textEmbeddings) throw new Error('StyleGAN-T: give either prompts or textEmbeddings, not both');
    if (cDim === 0) {
      if (opts.prompts || opts.textEmbeddings) throw new Error('StyleGAN-T: this generator is unconditional (text_dim 0); drop prompts / textEmbeddings');
      return { c: null, owned: false, batch: opts.z ? opts.z.shape[0] : opts.batchSize ?? 1 };
    }
    if (opts.textEmbeddings) {
      const t = opts.textEmbeddings;
      if (t.rank !== 2 || t.shape[1] !== cDim) throw new Error(`StyleGAN-T: textEmbeddings must be [B, ${cDim}], got [${t.shape}]`);
      return { c: t, owned: false, batch: t.shape[0] };
    }
    if (opts.prompts) return { c: this.encodePrompts(opts.prompts), owned: true, batch: opts.prompts.length };
    throw new Error(`StyleGAN-T: a conditional generator needs prompts (string[]) or textEmbeddings [B, ${cDim}]`);
  }

  private latents(opts: GenerateOptions, batch: number): { z: tf.Tensor2D; owned: boolean } {
    const { zDim } = this.resolved;
    if (opts.z) {
      if (opts.z.rank !== 2 || opts.z.shape[1] !== zDim) throw new Error(`StyleGAN-T: z must be [B, ${zDim}], got [${opts.z.shape}]`);
      if (opts.z.shape[0] !== batch) throw new Error(`StyleGAN-T: z has ${opts.z.shape[0]} rows but there are ${batch} prompts / embeddings`);
      return { z: opts.z, owned: false };
    }
    const seed = opts.seed ?? 0;
    if (!Number.isInteger(seed)) throw new Error(`StyleGAN-T: seed must be an integer, got ${seed}`);
    return { z: latentsFromSeeds(Array.from({ length: batch }, (_, i) => seed + i), zDim), owned: true };
  }

  /** w = [lerp(x_avg, mapping(z), psi), c] [B, w_dim]. */
  mapping(opts: GenerateOptions): tf.Tensor2D {
    this.checkAlive();
    const psi = opts.truncation ?? 1;
    if (!(typeof psi === 'number' && psi >= 0 && psi <= 1)) throw new Error(`StyleGAN-T: truncation psi must be in [0, 1], got ${psi}`);
    const { c, owned: cOwned, batch } = this.conditioning(opts);
    let zz: { z: tf.Tensor2D; owned: boolean } | null = null;
    try {
      zz = this.latents(opts, batch);
      return this.G.mapping(zz.z, c, psi);
    } finally {
      if (cOwned && c) c.dispose();
      if (zz?.owned) zz.z.dispose();
    }
  }

  /** Images [B, R, R, 3] (about [-1, 1], no tanh, as official) from w [B, w_dim] or ws [B, num_ws, w_dim]. */
  synthesize(w: tf.Tensor, opts: { noiseMode?: NoiseMode; noiseSeed?: number } = {}): tf.Tensor4D {
    this.checkAlive();
    return this.G.synthesis(w, { noiseMode: opts.noiseMode ?? 'const', noiseSeed: opts.noiseSeed });
  }

  /** generate({ prompts | textEmbeddings, seed | z, truncation, noiseMode }) -> images [B, R, R, 3] in about [-1, 1]. */
  generate(opts: GenerateOptions = {}): tf.Tensor4D {
    const w = this.mapping(opts);
    try {
      return this.synthesize(w, opts);
    } finally {
      w.dispose();
    }
  }

  /**
   * Prompt interpolation: one z, the text half of w moved from prompt A to prompt B in `steps` images (the z half is
   * fixed), as the paper's fig. 7. `from` / `to`: a prompt or a text embedding [1, text_dim].
   */
  interpolatePrompts(opts: { from: string | tf.Tensor2D; to: string | tf.Tensor2D; steps: number; seed?: number; z?: tf.Tensor2D; truncation?: number; noiseMode?: NoiseMode }): tf.Tensor4D {
    this.checkAlive();
    const { steps } = opts;
    if (!(Number.isInteger(steps) && steps >= 2)) throw new Error(`StyleGAN-T: steps must be an integer >= 2, got ${steps}`);
    const emb = (p: string | tf.Tensor2D): tf.Tensor2D => (typeof p === 'string' ? this.encodePrompts([p]) : p.clone());
    const a = emb(opts.from);
    const b = emb(opts.to);
    try {
      const w0 = this.mapping({ textEmbeddings: a, seed: opts.seed, z: opts.z, truncation: opts.truncation });
      const ws = tf.tidy(() => {
        const x = tf.slice(w0, [0, 0], [1, this.resolved.zDim]);
        const t = tf.linspace(0, 1, steps).reshape([steps, 1]);
        const c = tf.add(a, tf.mul(tf.sub(b, a), t)); // lerp of the text half of w
        return tf.concat([tf.tile(x, [steps, 1]), c], 1) as tf.Tensor2D;
      });
      w0.dispose();
      try {
        return this.synthesize(ws, { noiseMode: opts.noiseMode });
      } finally {
        ws.dispose();
      }
    } finally {
      tf.dispose([a, b]);
    }
  }

  /** Latent interpolation: fixed conditioning, the z half of w (after mapping and truncation) lerped between two seeds. */
  interpolateLatents(opts: { fromSeed: number; toSeed: number; steps: number; prompt?: string; textEmbedding?: tf.Tensor2D; truncation?: number; noiseMode?: NoiseMode }): tf.Tensor4D {
    this.checkAlive();
    const { steps } = opts;
    if (!(Number.isInteger(steps) && steps >= 2)) throw new Error(`StyleGAN-T: steps must be an integer >= 2, got ${steps}`);
    const cond: GenerateOptions = this.resolved.cDim === 0 ? {} : opts.prompt !== undefined ? { prompts: [opts.prompt] } : { textEmbeddings: opts.textEmbedding };
    const w0 = this.mapping({ ...cond, seed: opts.fromSeed, truncation: opts.truncation });
    const w1 = this.mapping({ ...cond, seed: opts.toSeed, truncation: opts.truncation });
    const ws = tf.tidy(() => tf.add(w0, tf.mul(tf.sub(w1, w0), tf.linspace(0, 1, steps).reshape([steps, 1]))) as tf.Tensor2D);
    tf.dispose([w0, w1]);
    try {
      return this.synthesize(ws, { noiseMode: opts.noiseMode });
    } finally {
      ws.dispose();
    }
  }

  /** Number of parameters of G (without the text encoder), buffers excluded. */
  parameterCount(): number {
    return Object.entries(this.G.params).filter(([k]) => !isGeneratorBuffer(k)).reduce((a, [, v]) => a + v.size, 0);
  }

  /** Free the model's tensors (G, D heads, and the DINO / text encoder unless the caller passed them in). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeParams(this.G.params);
    if (this.D) {
      disposeParams(this.D.heads.params);
      if (this.ownsDino) this.D.dino.dispose();
    }
    if (this.ownsTextEncoder) this.textEncoder?.dispose();
  }
}
