/**
 * The public GigaGAN object: create / fromPretrained / save, generate (prompts or CLIP text encodings, seeds or
 * latents, image pyramid, style mixing, truncation, interpolation) and the 4x upsampler.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { EMA, RawTensor, flattenStateDict, readSafetensors, readTorchCheckpoint, saveSafetensors, tfSeed, writeFileAtomic } from '@ganzoo/core';
import { GigaGANConfig, fromLucidrainsKwargs, presetConfig, validateConfig } from './config';
import { TextTokens, checkTextTokens, fStyleNetwork, fTextEncoder, generatorForward, generatorSpec } from './generator';
import { discriminatorConvertOptions, discriminatorSpec, visionAidedSpec } from './discriminator';
import { upsamplerForward, upsamplerSpec } from './upsampler';
import { fromLucidrains, toLucidrains, ConvertOptions } from './convert';
import { Params, Spec, assignParams, createParams, disposeParams, getter } from './params';
import { GigaGANClip } from './clip';

/**
 * Pixel range the networks work in. lucidrains trains on [0, 1] images (ToTensor, no tanh, samples clamped to
 * [0, 1]); 'minus-one-one' trains on [-1, 1] as the paper's StyleGAN lineage does. The API edge is always [-1, 1].
 */
export type ImageRange = 'zero-one' | 'minus-one-one';

export interface CreateOptions {
  /** Seed of the parameter initialisation (default 0). */
  seed?: number;
  /** CLIP adapter for prompts (and the CLIP / vision-aided losses). Without it, pass CLIP `textEncodings`. */
  clip?: GigaGANClip | null;
  imageRange?: ImageRange;
  /** Keep an EMA copy of G (used by generate; default true). */
  ema?: boolean;
}

export interface TextInput {
  prompts?: string[];
  /** CLIP per-token text encodings [B, N, clip.dimLatent] (rows of zeros are padding). */
  textEncodings?: tf.Tensor3D;
  /** Already encoded text tokens (skips the TextEncoder). */
  text?: TextTokens;
}

export interface GenerateOptions extends TextInput {
  /** Number of images for an unconditional model (conditional: one per prompt / encoding row). */
  batchSize?: number;
  /** Seed of z and of the per-layer noise. */
  seed?: number;
  /** Style noise [B, styleDim] (instead of a seed). */
  z?: tf.Tensor2D;
  /** Also return G's cumulative RGB pyramid (4, 8, ..., S), in [-1, 1]. */
  returnPyramid?: boolean;
  /** Truncation psi in [0, 1]: w <- mean + psi (w - mean) (not in lucidrains; see README). */
  truncation?: number;
  /** Mean for truncation: 'per-prompt' (average w over samples for each text; default) or 'tracked' (running mean from training). */
  truncationMean?: 'per-prompt' | 'tracked';
  /** Style mixing: layers with index >= crossover take their styles from this second latent. */
  mix?: { seed?: number; z?: tf.Tensor2D; crossover: number };
  /** Explicit noise per Noise module (`layers.{j}.1.1` / `.1.4`, NHWC [B,H,W,1]). */
  noise?: Record<string, tf.Tensor>;
  /** Use the EMA generator when there is one (default true). */
  useEma?: boolean;
  /** Return the raw network output (model range, no clamp) instead of [-1, 1]. */
  raw?: boolean;
}

export interface GenerateResult {
  /** [B, S, S, 3] in [-1, 1] (clamped), or raw. */
  images: tf.Tensor4D;
  pyramid?: tf.Tensor4D[];
}

export interface UpsampleOptions extends TextInput {
  /** [B, s, s, 3] in [-1, 1], s = upsampler.inputImageSize. */
  images: tf.Tensor4D;
  seed?: number;
  z?: tf.Tensor2D;
  returnPyramid?: boolean;
  raw?: boolean;
}

const FORMAT = 'ganzoo-gigagan';

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
function snakeize(x: any): any {
  if (Array.isArray(x)) return x.map(snakeize);
  if (x && typeof x === 'object') {
    const o: any = {};
    for (const [k, v] of Object.entries(x)) o[k === 'G' || k === 'D' ? k : snake(k)] = snakeize(v);
    return o;
  }
  return x;
}

export class GigaGAN {
  readonly config: GigaGANConfig;
  readonly gSpec: Spec;
  readonly dSpec: Spec;
  readonly uSpec: Spec | null;
  readonly vdSpec: Spec | null;
  readonly G: Params;
  readonly D: Params;
  readonly U: Params | null;
  readonly VD: Params | null;
  readonly imageRange: ImageRange;
  ema: EMA | null;
  /** Running mean of w (styles) tracked during training, for 'tracked' truncation. */
  readonly wAvg: tf.Variable;
  clip: GigaGANClip | null;

  private constructor(config: GigaGANConfig, opts: CreateOptions) {
    validateConfig(config);
    this.config = config;
    const clipDim = config.clip.dimLatent;
    if (opts.clip && opts.clip.dimLatent !== clipDim) {
      throw new Error(`GigaGAN: the CLIP's text width ${opts.clip.dimLatent} does not match config.clip.dimLatent ${clipDim}`);
    }
    const seed = opts.seed ?? 0;
    this.gSpec = generatorSpec(config.G, clipDim);
    this.dSpec = discriminatorSpec(config.D, clipDim);
    this.uSpec = config.upsampler ? upsamplerSpec(config.upsampler, clipDim) : null;
    this.vdSpec = config.visionAided ? visionAidedSpec(config.visionAided) : null;
    this.G = createParams(this.gSpec, seed);
    this.D = createParams(this.dSpec, seed + 1);
    this.U = this.uSpec ? createParams(this.uSpec, seed + 2) : null;
    this.VD = this.vdSpec ? createParams(this.vdSpec, seed + 3) : null;
    this.imageRange = opts.imageRange ?? 'zero-one';
    this.ema = opts.ema === false ? null : new EMA(this.G, { decay: 0.995 });
    const z = tf.zeros([config.G.styleNetwork.dim]);
    this.wAvg = tf.variable(z, false);
    z.dispose();
    this.clip = opts.clip ?? null;
  }

  /** A fresh model from a preset name ('tiny', 'text-64', 'unconditional-256', 'upsampler-64-256', 'upsampler-128-512') or a config. */
  static create(presetOrConfig: string | GigaGANConfig, opts: CreateOptions = {}): GigaGAN {
    const cfg = typeof presetOrConfig === 'string' ? presetConfig(presetOrConfig) : presetOrConfig;
    return new GigaGAN(cfg, opts);
  }

  /**
   * Load a folder: config.json (lucidrains constructor kwargs `{G, D, upsampler?, clip?}`, as the parity fixture or
   * our save() writes) + model.safetensors (Generator.state_dict()), model_D.safetensors, and optionally
   * model_upsampler.safetensors, model_VD.safetensors, model_ema.safetensors, all with lucidrains' keys and layouts.
   */
  static async fromPretrained(dir: string, opts: Omit<CreateOptions, 'seed'> = {}): Promise<GigaGAN> {
    const cfgFile = path.join(dir, 'config.json');
    if (!fs.existsSync(cfgFile)) throw new Error(`GigaGAN.fromPretrained: no config.json in ${dir}`);
    let json: any;
    try {
      json = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    } catch (e) {
      throw new Error(`GigaGAN.fromPretrained: ${cfgFile} is not valid JSON: ${(e as Error).message}`);
    }
    const cfg = fromLucidrainsKwargs(json);
    const m = new GigaGAN(cfg, { ...opts, imageRange: opts.imageRange ?? json.image_range ?? 'zero-one' });
    try {
      const load = (file: string, spec: Spec, params: Params, what: string, copts: ConvertOptions = {}) => {
        const f = path.join(dir, file);
        const t = fromLucidrains(spec, readSafetensors(f).tensors, `${what} (${f})`, copts);
        try {
          assignParams(spec, params, t, what);
        } finally {
          tf.dispose(Object.values(t));
        }
      };
      const need = (file: string) => {
        if (!fs.existsSync(path.join(dir, file))) throw new Error(`GigaGAN.fromPretrained: missing ${file} in ${dir}`);
      };
      need('model.safetensors');
      load('model.safetensors', m.gSpec, m.G, 'Generator');
      if (fs.existsSync(path.join(dir, 'model_D.safetensors'))) load('model_D.safetensors', m.dSpec, m.D, 'Discriminator', discriminatorConvertOptions(cfg.D));
      if (m.uSpec && m.U) {
        need('model_upsampler.safetensors');
        load('model_upsampler.safetensors', m.uSpec, m.U, 'UnetUpsampler');
      }
      if (m.vdSpec && m.VD && fs.existsSync(path.join(dir, 'model_VD.safetensors'))) load('model_VD.safetensors', m.vdSpec, m.VD, 'VisionAidedDiscriminator');
      if (m.ema) {
        if (fs.existsSync(path.join(dir, 'model_ema.safetensors'))) load('model_ema.safetensors', m.gSpec, m.ema.shadow, 'Generator EMA');
        else for (const [k, v] of Object.entries(m.G)) m.ema.shadow[k].assign(v);
      }
      const wavg = path.join(dir, 'w_avg.safetensors');
      if (fs.existsSync(wavg)) {
        const t = readSafetensors(wavg).tensors['w_avg'];
        if (!t || t.shape.length !== 1 || t.shape[0] !== cfg.G.styleNetwork.dim) throw new Error(`GigaGAN.fromPretrained: w_avg expected [${cfg.G.styleNetwork.dim}]`);
        tf.tidy(() => m.wAvg.assign(tf.tensor1d(t.data as Float32Array)));
      }
    } catch (e) {
      m.dispose();
      throw e;
    }
    return m;
  }

  /**
   * Load the checkpoint lucidrains' trainer writes (`GigaGAN.save`: a torch.save dict `{G, D, G_opt, D_opt, steps,
   * version, VD?, G_ema?}`, e.g. `gigagan-models/model-12.ckpt`) with the constructor kwargs of that run (a config.json
   * path or the parsed object, as fromPretrained reads). A `train_upsampler=True` checkpoint's G is the UnetUpsampler.
   * Optimizer states are ignored; G_ema (ema_pytorch's state dict, `ema_model.*`) becomes the EMA generator.
   */
  static fromLucidrainsCheckpoint(file: string, config: string | object, opts: Omit<CreateOptions, 'seed'> = {}): GigaGAN {
    const json = typeof config === 'string' ? JSON.parse(fs.readFileSync(config, 'utf8')) : config;
    const cfg = fromLucidrainsKwargs(json);
    const ckpt = readTorchCheckpoint(file) as Record<string, unknown>;
    if (!ckpt || typeof ckpt !== 'object' || !ckpt.G || !ckpt.D) {
      throw new Error(`GigaGAN.fromLucidrainsCheckpoint: ${file}: expected a dict with G and D state dicts, found keys ${JSON.stringify(Object.keys(ckpt ?? {}))}`);
    }
    const m = new GigaGAN(cfg, { ...opts, imageRange: opts.imageRange ?? (json as any).image_range ?? 'zero-one' });
    try {
      const load = (state: Record<string, RawTensor>, spec: Spec, params: Params, what: string, copts: ConvertOptions = {}) => {
        const t = fromLucidrains(spec, state, `${what} (${file})`, copts);
        try {
          assignParams(spec, params, t, what);
        } finally {
          tf.dispose(Object.values(t));
        }
      };
      const g = flattenStateDict(ckpt.G);
      const isUpsampler = Object.keys(g).some((k) => k.startsWith('downs.'));
      if (isUpsampler) {
        if (!m.uSpec || !m.U) throw new Error(`GigaGAN.fromLucidrainsCheckpoint: ${file} holds a UnetUpsampler (train_upsampler=True) but the config has no "upsampler"`);
        load(g, m.uSpec, m.U, 'UnetUpsampler');
      } else load(g, m.gSpec, m.G, 'Generator');
      load(flattenStateDict(ckpt.D), m.dSpec, m.D, 'Discriminator', discriminatorConvertOptions(cfg.D));
      if (ckpt.VD && m.vdSpec && m.VD) load(flattenStateDict(ckpt.VD), m.vdSpec, m.VD, 'VisionAidedDiscriminator');
      if (m.ema && !isUpsampler) {
        if (ckpt.G_ema) {
          const all = flattenStateDict(ckpt.G_ema);
          const ema: Record<string, RawTensor> = {};
          const prefixed = Object.keys(all).some((k) => k.startsWith('ema_model.'));
          for (const [k, v] of Object.entries(all)) {
            if (prefixed ? k.startsWith('ema_model.') : k !== 'initted' && k !== 'step' && !k.startsWith('online_model.')) ema[prefixed ? k.slice(10) : k] = v;
          }
          load(ema, m.gSpec, m.ema.shadow, 'Generator EMA');
        } else for (const [k, v] of Object.entries(m.G)) m.ema.shadow[k].assign(v);
      }
    } catch (e) {
      m.dispose();
      throw e;
    }
    return m;
  }

  /** Write config.json (lucidrains kwargs) and lucidrains-layout safetensors that fromPretrained (and PyTorch) read. */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const c = this.config;
    const cfgJson = {
      format: FORMAT,
      image_range: this.imageRange,
      ...snakeize({ G: c.G, D: c.D, upsampler: c.upsampler, clip: c.clip, visionAided: c.visionAided }),
    };
    const write = (file: string, spec: Spec, params: Params, copts: ConvertOptions = {}) => {
      const t = toLucidrains(spec, params, copts);
      try {
        saveSafetensors(path.join(dir, file), t, { metadata: { format: 'pt', source: FORMAT } });
      } finally {
        tf.dispose(Object.values(t));
      }
    };
    write('model.safetensors', this.gSpec, this.G);
    write('model_D.safetensors', this.dSpec, this.D, discriminatorConvertOptions(c.D));
    if (this.uSpec && this.U) write('model_upsampler.safetensors', this.uSpec, this.U);
    if (this.vdSpec && this.VD) write('model_VD.safetensors', this.vdSpec, this.VD);
    if (this.ema) write('model_ema.safetensors', this.gSpec, this.ema.shadow);
    saveSafetensors(path.join(dir, 'w_avg.safetensors'), { w_avg: this.wAvg });
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(cfgJson, null, 2) + '\n');
  }

  /** Parameters of the generator used for sampling (EMA when present and wanted). */
  samplingParams(useEma = true): Params {
    return useEma && this.ema ? this.ema.shadow : this.G;
  }

  /** Count of parameters per network. */
  numParams(): { G: number; D: number; upsampler: number; VD: number } {
    const n = (p: Params | null) => (p ? Object.values(p).reduce((a, v) => a + v.size, 0) : 0);
    return { G: n(this.G), D: n(this.D), upsampler: n(this.U), VD: n(this.VD) };
  }

  // ------------------------------------------------------------ text

  /** CLIP per-token encodings for prompts (needs an attached CLIP). */
  encodePrompts(prompts: string[]): tf.Tensor3D {
    if (!this.clip) throw new Error('GigaGAN: prompts need a CLIP (GigaGAN.create(..., { clip }) or model.clip = new GigaGANClip(clip)); or pass textEncodings');
    if (!Array.isArray(prompts) || prompts.length === 0 || prompts.some((p) => typeof p !== 'string')) {
      throw new Error(`GigaGAN: expected prompts as a non-empty string array, found ${JSON.stringify(prompts)}`);
    }
    const { embeds, encodings } = this.clip.embedTexts(prompts);
    embeds.dispose();
    return encodings;
  }

  /** Run a network's TextEncoder on prompts / encodings (inside a tidy). */
  textTokens(inp: TextInput, net: 'G' | 'upsampler', params?: Params): TextTokens | null {
    const te = net === 'G' ? this.config.G.textEncoder : this.config.upsampler?.textEncoder ?? null;
    const given = [inp.prompts, inp.textEncodings, inp.text].filter((v) => v !== undefined).length;
    if (!te) {
      if (given) throw new Error(`GigaGAN: the ${net === 'G' ? 'generator' : 'upsampler'} is unconditional; it takes no prompts or text`);
      return null;
    }
    if (given !== 1) throw new Error(`GigaGAN: give exactly one of prompts, textEncodings, text (found ${given})`);
    if (inp.text) {
      checkTextTokens(inp.text, te.dim, 'GigaGAN');
      return inp.text;
    }
    const enc = inp.textEncodings ?? this.encodePrompts(inp.prompts!);
    const p = params ?? (net === 'G' ? this.samplingParams() : this.U!);
    return fTextEncoder(getter(p, net), 'text_encoder', te, this.config.clip.dimLatent, enc);
  }

  private batchOf(text: TextTokens | null, o: { batchSize?: number; z?: tf.Tensor2D }): number {
    if (text) return text.global.shape[0];
    if (o.z) return o.z.shape[0];
    const b = o.batchSize ?? 1;
    if (!Number.isInteger(b) || b < 1) throw new Error(`GigaGAN: batchSize must be a positive integer, found ${b}`);
    return b;
  }

  private latents(b: number, dim: number, o: { z?: tf.Tensor2D; seed?: number }, what: string): tf.Tensor2D {
    if (o.z) {
      if (o.z.rank !== 2 || o.z.shape[0] !== b || o.z.shape[1] !== dim) throw new Error(`${what}: expected z [${b}, ${dim}], found ${JSON.stringify(o.z.shape)}`);
      return o.z;
    }
    return tf.randomNormal([b, dim], 0, 1, 'float32', o.seed === undefined ? undefined : tfSeed(o.seed));
  }

  /** w = StyleNetwork(z, t_global). */
  styles(z: tf.Tensor2D, text: TextTokens | null, params?: Params): tf.Tensor2D {
    const p = params ?? this.samplingParams();
    return fStyleNetwork(getter(p, 'G'), 'style_network', this.config.G.styleNetwork, z, text ? text.global : null);
  }

  /** Mean w per text row over `samples` latents (truncation centre). */
  styleMean(text: TextTokens | null, b: number, samples = 256, params?: Params): tf.Tensor2D {
    return tf.tidy(() => {
      const dim = this.config.G.styleNetwork.dim;
      const z = tf.randomNormal([samples * b, dim], 0, 1, 'float32', 12345) as tf.Tensor2D;
      const tg = text ? tf.tile(text.global, [samples, 1]) : null;
      const w = fStyleNetwork(getter(params ?? this.samplingParams(), 'G'), 'style_network', this.config.G.styleNetwork, z, tg as tf.Tensor2D | null);
      return tf.mean(tf.reshape(w, [samples, b, dim]), 0) as tf.Tensor2D;
    });
  }

  private toApi(x: tf.Tensor4D, raw?: boolean): tf.Tensor4D {
    if (raw) return x;
    return (this.imageRange === 'zero-one' ? tf.clipByValue(tf.sub(tf.mul(x, 2), 1), -1, 1) : tf.clipByValue(x, -1, 1)) as tf.Tensor4D;
  }

  /** API-edge [-1, 1] images -> the network's range. */
  fromApi(x: tf.Tensor4D): tf.Tensor4D {
    return (this.imageRange === 'zero-one' ? tf.div(tf.add(x, 1), 2) : x) as tf.Tensor4D;
  }

  /** Generate images (and optionally the RGB pyramid), leak-free; the caller owns the returned tensors. */
  generate(o: GenerateOptions = {}): GenerateResult {
    const c = this.config.G;
    if (o.truncation !== undefined && !(o.truncation >= 0 && o.truncation <= 1)) throw new Error(`GigaGAN: truncation must be in [0, 1], found ${o.truncation}`);
    const out = tf.tidy(() => {
      const p = this.samplingParams(o.useEma ?? true);
      const text = this.textTokens(o, 'G', p);
      const b = this.batchOf(text, o);
      const dim = c.styleNetwork.dim;
      const z = this.latents(b, dim, o, 'GigaGAN.generate');
      let w = this.styles(z, text, p);
      let mixW: tf.Tensor2D | undefined;
      if (o.mix) {
        const n = c.imageSize >= 4 ? Math.log2(c.imageSize) - 1 : 0;
        if (!(Number.isInteger(o.mix.crossover) && o.mix.crossover >= 0 && o.mix.crossover <= n)) {
          throw new Error(`GigaGAN: mix.crossover must be an integer layer index in [0, ${n}], found ${o.mix.crossover}`);
        }
        mixW = this.styles(this.latents(b, dim, { z: o.mix.z, seed: o.mix.seed ?? (o.seed ?? 0) + 7919 }, 'GigaGAN.generate mix'), text, p);
      }
      if (o.truncation !== undefined && o.truncation < 1) {
        const mean = (o.truncationMean ?? 'per-prompt') === 'tracked' ? (tf.expandDims(this.wAvg, 0) as tf.Tensor2D) : this.styleMean(text, b, 256, p);
        const trunc = (x: tf.Tensor2D) => tf.add(mean, tf.mul(tf.sub(x, mean), o.truncation!)) as tf.Tensor2D;
        w = trunc(w);
        if (mixW) mixW = trunc(mixW);
      }
      const g = generatorForward(getter(p, 'G'), c, {
        styles: w,
        mixStyles: mixW,
        mixCrossover: o.mix?.crossover,
        text,
        noise: o.noise,
        noiseSeed: o.seed,
      });
      const images = this.toApi(g.image, o.raw);
      const pyramid = o.returnPyramid ? g.rgbs.map((r) => this.toApi(r, o.raw)) : undefined;
      return { images, pyramid };
    });
    return out.pyramid ? { images: out.images, pyramid: out.pyramid } : { images: out.images };
  }

  /** Images for `steps` latents slerped between two seeds (same text and the same per-layer noise for all). */
  interpolateLatents(o: TextInput & { seeds: [number, number]; steps: number; raw?: boolean }): tf.Tensor4D {
    if (!(Number.isInteger(o.steps) && o.steps >= 2)) throw new Error(`GigaGAN: steps must be an integer >= 2, found ${o.steps}`);
    return tf.tidy(() => {
      const dim = this.config.G.styleNetwork.dim;
      const a = tf.randomNormal([1, dim], 0, 1, 'float32', tfSeed(o.seeds[0]));
      const b = tf.randomNormal([1, dim], 0, 1, 'float32', tfSeed(o.seeds[1]));
      const an = tf.div(a, tf.norm(a));
      const bn = tf.div(b, tf.norm(b));
      const omega = Math.acos(Math.min(1, Math.max(-1, tf.sum(tf.mul(an, bn)).arraySync() as number)));
      const rows: tf.Tensor[] = [];
      for (let i = 0; i < o.steps; i++) {
        const t = i / (o.steps - 1);
        const s = Math.sin(omega);
        rows.push(s < 1e-6 ? tf.add(tf.mul(an, 1 - t), tf.mul(bn, t)) : tf.add(tf.mul(an, Math.sin((1 - t) * omega) / s), tf.mul(bn, Math.sin(t * omega) / s)));
      }
      const z = tf.concat(rows, 0) as tf.Tensor2D;
      const text = this.textTokens(o, 'G');
      const tiled = text ? this.repeatText(text, o.steps) : undefined;
      return this.generate({ z, text: tiled, raw: o.raw, noise: this.fixedNoise(o.steps, o.seeds[0]) }).images;
    });
  }

  /** Images for `steps` texts linearly interpolated (after the TextEncoder) between two prompts / encodings, one seed. */
  interpolatePrompts(o: { from: TextInput; to: TextInput; steps: number; seed?: number; raw?: boolean }): tf.Tensor4D {
    if (!(Number.isInteger(o.steps) && o.steps >= 2)) throw new Error(`GigaGAN: steps must be an integer >= 2, found ${o.steps}`);
    return tf.tidy(() => {
      const a = this.textTokens(o.from, 'G');
      const b = this.textTokens(o.to, 'G');
      if (!a || !b) throw new Error('GigaGAN: prompt interpolation needs a conditional generator');
      if (a.global.shape[0] !== 1 || b.global.shape[0] !== 1 || a.fine.shape[1] !== b.fine.shape[1]) {
        throw new Error(`GigaGAN: interpolatePrompts expects one text each with the same token count, found ${JSON.stringify([a.fine.shape, b.fine.shape])}`);
      }
      const g: tf.Tensor[] = [];
      const f: tf.Tensor[] = [];
      for (let i = 0; i < o.steps; i++) {
        const t = i / (o.steps - 1);
        g.push(tf.add(tf.mul(a.global, 1 - t), tf.mul(b.global, t)));
        f.push(tf.add(tf.mul(a.fine, 1 - t), tf.mul(b.fine, t)));
      }
      const mask = tf.tile(tf.logicalOr(a.mask, b.mask), [o.steps, 1]) as tf.Tensor2D;
      const text: TextTokens = { global: tf.concat(g, 0) as tf.Tensor2D, fine: tf.concat(f, 0) as tf.Tensor3D, mask };
      const z = tf.tile(tf.randomNormal([1, this.config.G.styleNetwork.dim], 0, 1, 'float32', o.seed === undefined ? undefined : tfSeed(o.seed)), [o.steps, 1]) as tf.Tensor2D;
      const noise = this.fixedNoise(o.steps, o.seed ?? 0);
      return this.generate({ z, text, raw: o.raw, noise }).images;
    });
  }

  /** The same per-layer noise for every row (so only the text changes between rows). */
  private fixedNoise(b: number, seed: number): Record<string, tf.Tensor> {
    const noise: Record<string, tf.Tensor> = {};
    let r = 4;
    for (let j = 0; r <= this.config.G.imageSize; j++, r *= 2) {
      for (const k of [1, 4]) noise[`layers.${j}.1.${k}`] = tf.tile(tf.randomNormal([1, r, r, 1], 0, 1, 'float32', tfSeed(seed * 1000 + 2 * j + (k === 4 ? 1 : 0))), [b, 1, 1, 1]);
    }
    return noise;
  }

  private repeatText(t: TextTokens, n: number): TextTokens {
    if (t.global.shape[0] !== 1) throw new Error(`GigaGAN: expected one text, found ${t.global.shape[0]}`);
    return { global: tf.tile(t.global, [n, 1]) as tf.Tensor2D, fine: tf.tile(t.fine, [n, 1, 1]) as tf.Tensor3D, mask: tf.tile(t.mask, [n, 1]) as tf.Tensor2D };
  }

  /** 4x (or the configured factor) text-conditioned super-resolution of [-1, 1] images. */
  upsample(o: UpsampleOptions): GenerateResult {
    const uc = this.config.upsampler;
    if (!uc || !this.U) throw new Error('GigaGAN: this model has no upsampler (use a preset with one, e.g. upsampler-64-256, or config.upsampler)');
    const out = tf.tidy(() => {
      const text = this.textTokens(o, 'upsampler', this.U!);
      const b = o.images.shape[0];
      if (text && text.global.shape[0] !== b) throw new Error(`GigaGAN.upsample: ${b} images but ${text.global.shape[0]} texts`);
      const z = this.latents(b, uc.styleNetwork.dim, o, 'GigaGAN.upsample');
      const r = upsamplerForward(getter(this.U!, 'upsampler'), uc, { lowres: this.fromApi(o.images), z, text });
      return { images: this.toApi(r.image, o.raw), pyramid: o.returnPyramid ? r.rgbs.map((x) => this.toApi(x, o.raw)) : undefined };
    });
    return out.pyramid ? { images: out.images, pyramid: out.pyramid } : { images: out.images };
  }

  dispose(): void {
    disposeParams(this.G);
    disposeParams(this.D);
    if (this.U) disposeParams(this.U);
    if (this.VD) disposeParams(this.VD);
    if (this.ema) disposeParams(this.ema.shadow);
    this.wAvg.dispose();
  }
}
