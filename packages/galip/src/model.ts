/**
 * The GALIP model: one frozen CLIP shared by the text encoder, NetG's CLIP_Mapper and the discriminator's image
 * encoder, plus the learnable NetG / NetD / NetC. Loading, sampling (with truncation and interpolation).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { RawTensor } from '@ganzoo/core';
import { Rng, readSafetensors, resolveWeights, saveSafetensors, writeFileAtomic } from '@ganzoo/core';
import { CLIP, fromTfLayout, toTfLayout } from '@ganzoo/encoders';
import { ClipImageFeatures, checkClipMatches, clipImageEncoder, clipTextEncoder, encoderClipConfig, randomClip } from './clip';
import { GalipConfig, PresetName, configFromJson, galipConfig } from './config';
import { GalipStateDicts, StateDict, convertGalip, readGalipCheckpoint, splitClipFromNetG, variablesToStateDict } from './convert';
import { NetC, NetD, netCSpecs, netDSpecs } from './discriminator';
import { NetG, netGSpecs } from './generator';

export interface CreateOptions {
  /** Seed of the random initialisation (NetG/NetD/NetC as the official init; a random CLIP unless `clip` is given). */
  seed?: number;
  /** A CLIP to use (must match cfg.clip). The model takes ownership (disposes it). */
  clip?: CLIP;
}

export interface FromPretrainedOptions {
  /** The GALIP checkpoint file (default: `src` itself, or the `state_epoch_*.pth` of the folder with the highest epoch / config.state_epoch). */
  checkpoint?: string;
  /**
   * The CLIP weights it was trained with: an OpenAI CLIP state_dict file, a Hugging Face CLIP folder, a manifest id
   * such as 'openai/clip-vit-base-patch32', or a loaded CLIP. Default: config.json `clip_weights`, else
   * `clip.pth` / `clip.safetensors` in `dir`.
   */
  clip?: string | CLIP;
  /** Config (default: `dir/config.json`). */
  config?: GalipConfig | PresetName;
  /** Load NetD / NetC too (default true: needed for training and discriminate()). */
  discriminator?: boolean;
  cacheDir?: string;
  offline?: boolean;
}

export interface NoiseOptions {
  /** Seed of the noise (reproducible). */
  seed?: number;
  /**
   * Truncation: noise = truncation * z with z ~ N(0, 1) truncated to [-2, 2] (DF-GAN / BigGAN truncated_noise).
   * Undefined: plain N(0, 1) as GALIP's sampling does.
   */
  truncation?: number;
}

export interface GenerateOptions extends NoiseOptions {
  /** Texts (needs a CLIP with a tokenizer). */
  prompts?: string[];
  /** int32 CLIP token ids [B, context] (EOT the highest id of each row), instead of prompts. */
  tokenIds?: tf.Tensor2D;
  /** Raw (unnormalised) CLIP sentence embeddings [B, condDim], instead of prompts. */
  sentenceEmbeddings?: tf.Tensor2D;
  /** Noise [B, zDim] instead of seed / truncation. */
  noise?: tf.Tensor2D;
  /** Clamp to [-1, 1] as GALIP does when saving images (default true; false gives NetG's raw output). */
  clamp?: boolean;
}

export interface InterpolateOptions extends NoiseOptions {
  /** Two prompts (or two sentence embeddings [2, condDim]) to go between; one prompt keeps the text fixed. */
  prompts?: string[];
  sentenceEmbeddings?: tf.Tensor2D;
  /** Two noise vectors [2, zDim] (default: from `seeds`, or one shared noise from `seed`). */
  noise?: tf.Tensor2D;
  seeds?: [number, number];
  steps: number;
  /** Noise path: 'slerp' (default, keeps the norm) or 'linear'. Embeddings are always interpolated linearly. */
  noisePath?: 'slerp' | 'linear';
  clamp?: boolean;
}

let seedCounter = 1;

/** Linear interpolation a + t (b - a) of two rows, for t = 0 .. 1 in `steps` steps: [steps, D]. */
export function lerpRows(a: tf.Tensor1D, b: tf.Tensor1D, steps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const t = tf.reshape(tf.linspace(0, 1, steps), [steps, 1]);
    return tf.add(a, tf.mul(t, tf.sub(b, a))) as tf.Tensor2D;
  });
}

/** Spherical interpolation of two rows (falls back to linear when they are parallel): [steps, D]. */
export function slerpRows(a: tf.Tensor1D, b: tf.Tensor1D, steps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const na = tf.norm(a).dataSync()[0];
    const nb = tf.norm(b).dataSync()[0];
    const cos = tf.sum(tf.mul(a, b)).dataSync()[0] / Math.max(na * nb, 1e-12);
    const omega = Math.acos(Math.min(1, Math.max(-1, cos)));
    if (Math.abs(Math.sin(omega)) < 1e-6) return lerpRows(a, b, steps);
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < steps; i++) {
      const t = steps === 1 ? 0 : i / (steps - 1);
      const wa = Math.sin((1 - t) * omega) / Math.sin(omega);
      const wb = Math.sin(t * omega) / Math.sin(omega);
      rows.push(tf.add(tf.mul(a, wa), tf.mul(b, wb)));
    }
    return tf.stack(rows) as tf.Tensor2D;
  });
}

export class GALIP {
  readonly config: GalipConfig;
  readonly clip: CLIP;
  readonly netG: NetG;
  readonly netD: NetD | null;
  readonly netC: NetC | null;

  constructor(config: GalipConfig, clip: CLIP, netG: NetG, netD: NetD | null, netC: NetC | null) {
    checkClipMatches(clip, config.clip);
    this.config = config;
    this.clip = clip;
    this.netG = netG;
    this.netD = netD;
    this.netC = netC;
  }

  /** A model with random weights (official initialisation) for a preset or config. */
  static create(preset: PresetName | GalipConfig = 'tiny', opts: CreateOptions = {}): GALIP {
    const cfg = typeof preset === 'string' ? galipConfig(preset) : galipConfig(preset);
    const seed = opts.seed ?? seedCounter++;
    const clip = opts.clip ?? randomClip(cfg.clip, seed);
    try {
      checkClipMatches(clip, cfg.clip);
    } catch (e) {
      if (!opts.clip) clip.dispose();
      throw e;
    }
    return new GALIP(cfg, clip, new NetG(cfg, clip, undefined, seed * 3), new NetD(cfg, undefined, seed * 3 + 1), new NetC(cfg, undefined, seed * 3 + 2));
  }

  /**
   * Load GALIP's own checkpoint (`state_epoch_*.pth`: torch.save of {'model': {'netG', 'netD', 'netC'}, ...},
   * `module.` prefixes stripped), the CLIP weights it was trained with and the yml settings. `src` is
   *  - a folder holding the checkpoint, `config.json` and (unless opts.clip) `clip.pth`;
   *  - a checkpoint file (e.g. the downloaded `pre_coco.pth`), with opts.config (or a config.json beside it);
   *  - a manifest id (`galip-coco`, `galip-cc12m`): its config and CLIP id come from the manifest; the official
   *    files are manual downloads, so the error says where to get the file and where to put it.
   */
  static async fromPretrained(src: string, opts: FromPretrainedOptions = {}): Promise<GALIP> {
    let dir: string;
    let ckpt: string | undefined = opts.checkpoint;
    let json: any = null;
    let clipDefault: string | undefined;
    if (fs.existsSync(src) && fs.statSync(src).isDirectory()) {
      dir = src;
    } else if (fs.existsSync(src)) {
      dir = path.dirname(src);
      ckpt = ckpt ?? src;
    } else if (!/[\\/]/.test(src) && !/\.(pth|pt|bin)$/.test(src)) {
      const r = await resolveWeights(src, { cacheDir: opts.cacheDir, offline: opts.offline });
      if (r.entry && r.entry.model !== 'galip') throw new Error(`GALIP.fromPretrained: manifest id '${src}' is a ${r.entry.model} model, not galip`);
      dir = r.dir;
      ckpt = ckpt ?? Object.values(r.files).find((f) => /\.(pth|pt|bin)$/.test(f));
      json = r.entry?.config ?? null;
      clipDefault = (r.entry as any)?.requires?.[0];
    } else {
      throw new Error(`GALIP.fromPretrained: expected a folder, a state_epoch_*.pth file or a manifest id such as 'galip-coco', found nothing at ${src}`);
    }
    const cfgPath = path.join(dir, 'config.json');
    if (!json && fs.existsSync(cfgPath)) json = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
    let cfg: GalipConfig;
    if (opts.config) cfg = galipConfig(opts.config);
    else if (json) cfg = configFromJson(json);
    else throw new Error(`GALIP.fromPretrained: no config.json in ${dir}; pass opts.config (a preset such as 'coco' or a GalipConfig)`);
    const own = path.join(dir, GANZOO_WEIGHTS);
    if (!ckpt && fs.existsSync(own)) ckpt = own;
    ckpt = ckpt ?? findCheckpoint(dir, json?.state_epoch);
    const sds = ckpt.endsWith('.safetensors') ? readGanzooWeights(ckpt) : readGalipCheckpoint(ckpt, { discriminator: opts.discriminator });
    let clipSrc: string | CLIP | undefined = opts.clip ?? json?.clip_weights ?? clipDefault;
    if (!clipSrc) {
      const cand = ['clip.pth', 'clip.pt', 'clip.safetensors', 'clip.bin'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
      if (!cand) throw new Error(`GALIP.fromPretrained: no CLIP weights: pass opts.clip (a file, folder or id such as 'openai/clip-vit-base-patch32') or put clip.pth in ${dir}`);
      clipSrc = cand;
    } else if (typeof clipSrc === 'string' && !path.isAbsolute(clipSrc) && fs.existsSync(path.join(dir, clipSrc))) {
      clipSrc = path.join(dir, clipSrc);
    }
    const ownsClip = typeof clipSrc === 'string';
    const clip = typeof clipSrc === 'string'
      ? await CLIP.fromPretrained(clipSrc, { config: encoderClipConfig(cfg.clip), cacheDir: opts.cacheDir, offline: opts.offline })
      : clipSrc;
    try {
      return GALIP.fromStateDicts(cfg, clip, sds, { discriminator: opts.discriminator });
    } catch (e) {
      if (ownsClip) clip.dispose();
      throw e;
    }
  }

  /**
   * Build from already-read state dicts. netG's `mapping.CLIP_ViT.*` copy is loaded into the shared CLIP visual
   * tower, exactly as the official load_state_dict does (NetG, CLIP_IMG_ENCODER and the CLIP share those modules).
   */
  static fromStateDicts(cfg: GalipConfig, clip: CLIP, sds: GalipStateDicts, opts: { discriminator?: boolean } = {}): GALIP {
    checkClipMatches(clip, cfg.clip);
    const { netG: gSd, clipVisual } = splitClipFromNetG(sds.netG);
    const wantD = opts.discriminator ?? true;
    if (wantD && (!sds.netD || !sds.netC)) {
      throw new Error(`GALIP checkpoint: expected netD and netC state dicts for the discriminator, found ${[sds.netD ? 'netD' : '', sds.netC ? 'netC' : ''].filter(Boolean).join(', ') || 'neither'} (pass discriminator: false for generation only)`);
    }
    const vars = convertGalip(cfg, { netG: gSd, netD: wantD ? sds.netD : undefined, netC: wantD ? sds.netC : undefined });
    try {
      // checked and converted first, so a failure leaves the CLIP untouched
      loadClipVisualCopy(clip, clipVisual);
    } catch (e) {
      for (const v of [vars.netG, vars.netD, vars.netC]) if (v) Object.values(v).forEach((x) => x.dispose());
      throw e;
    }
    return new GALIP(
      cfg, clip, new NetG(cfg, clip, vars.netG),
      vars.netD ? new NetD(cfg, vars.netD) : null,
      vars.netC ? new NetC(cfg, vars.netC) : null,
    );
  }

  /** The official state dicts (torch layout, no `module.` prefix); netG includes its `mapping.CLIP_ViT.*` copy. */
  stateDicts(): { netG: StateDict; netD?: StateDict; netC?: StateDict } {
    const netG = variablesToStateDict(this.netG.vars, netGSpecs(this.config));
    for (const name of this.clip.params.keys()) {
      if (!name.startsWith('visual.') || name.startsWith('visual.ln_post') || name === 'visual.proj') continue;
      const t = fromTfLayout(name, this.clip.params.get(name));
      netG[`mapping.CLIP_ViT.${name.slice('visual.'.length)}`] = { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.dataSync() as Float32Array), sourceDtype: 'F32' };
      t.dispose();
    }
    return {
      netG,
      netD: this.netD ? variablesToStateDict(this.netD.vars, netDSpecs(this.config)) : undefined,
      netC: this.netC ? variablesToStateDict(this.netC.vars, netCSpecs(this.config)) : undefined,
    };
  }

  /**
   * Write this model as a ganzoo folder: `galip.safetensors` (official names and torch layouts under `netG.` (with
   * its `mapping.CLIP_ViT.*` copy), `netD.`, `netC.`), `clip.safetensors` (the OpenAI CLIP state dict) and
   * `config.json`; `GALIP.fromPretrained(dir)` reads it back. Atomic writes.
   */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const sds = this.stateDicts();
    const flat: Record<string, RawTensor> = {};
    for (const [net, sd] of Object.entries(sds)) if (sd) for (const [k, v] of Object.entries(sd)) flat[`${net}.${k}`] = v;
    saveSafetensors(path.join(dir, GANZOO_WEIGHTS), flat, { metadata: { format: 'pt', ganzoo: 'galip' } });
    const clipSd = this.clip.params.stateDict();
    try {
      saveSafetensors(path.join(dir, 'clip.safetensors'), clipSd, { metadata: { format: 'pt' } });
    } finally {
      tf.dispose(Object.values(clipSd));
    }
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify({ modelId: 'galip', format: 'ganzoo-galip', config: this.config }, null, 2) + '\n');
  }

  /** CLIP token ids for prompts, refusing prompts longer than the context (GALIP's tokenize would cut them). */
  tokenize(prompts: string[]): tf.Tensor2D {
    const tok = this.clip.tokenizer;
    if (!tok) throw new Error('GALIP: this CLIP has no tokenizer (an OpenAI .pth has none): pass tokenIds or sentenceEmbeddings, or load CLIP from a folder with tokenizer.json');
    const L = this.config.clip.contextLength;
    prompts.forEach((p, i) => {
      const n = tok.ids(p).length;
      if (n > L) throw new Error(`GALIP: prompt ${i} is ${n} tokens long with <start>/<end>; the CLIP context holds ${L}`);
    });
    return this.clip.tokenize(prompts, { contextLength: L });
  }

  /** CLIP_TXT_ENCODER: raw sentence embeddings [B, condDim] and word features [B, L, Wt]. */
  encodeText(prompts: string[] | tf.Tensor2D): { sentEmb: tf.Tensor2D; words: tf.Tensor3D } {
    if (Array.isArray(prompts)) {
      const ids = this.tokenize(prompts);
      try {
        return clipTextEncoder(this.clip, ids);
      } finally {
        ids.dispose();
      }
    }
    return clipTextEncoder(this.clip, prompts);
  }

  /** Sentence embeddings only. */
  sentenceEmbeddings(prompts: string[] | tf.Tensor2D): tf.Tensor2D {
    const { sentEmb, words } = this.encodeText(prompts);
    words.dispose();
    return sentEmb;
  }

  /** Noise [n, zDim]: N(0, 1), or truncation * N(0, 1) truncated to [-2, 2]. */
  sampleNoise(n: number, opts: NoiseOptions = {}): tf.Tensor2D {
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`GALIP: expected a positive batch size, found ${n}`);
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    const shape: [number, number] = [n, this.config.zDim];
    const rng = new Rng(seed);
    if (opts.truncation === undefined) return rng.normal(shape) as tf.Tensor2D;
    const t = opts.truncation;
    if (!(t > 0)) throw new Error(`GALIP: truncation must be > 0, found ${t}`);
    return tf.tidy(() => tf.mul(rng.truncatedNormal(shape, 2), t) as tf.Tensor2D);
  }

  private condition(o: { prompts?: string[]; tokenIds?: tf.Tensor2D; sentenceEmbeddings?: tf.Tensor2D }): tf.Tensor2D {
    const given = [o.prompts, o.tokenIds, o.sentenceEmbeddings].filter((x) => x !== undefined).length;
    if (given !== 1) throw new Error(`GALIP.generate: expected exactly one of prompts, tokenIds, sentenceEmbeddings; found ${given}`);
    if (o.sentenceEmbeddings) {
      const s = o.sentenceEmbeddings;
      if (s.rank !== 2 || s.shape[1] !== this.config.condDim) throw new Error(`GALIP: expected sentence embeddings [B, ${this.config.condDim}], found [${s.shape}]`);
      return s.clone();
    }
    return this.sentenceEmbeddings(o.prompts ?? o.tokenIds!);
  }

  /** Images NHWC [B, R, R, chSize] in [-1, 1] (R = the CLIP input size, 224 for ViT-B/32). */
  generate(opts: GenerateOptions): tf.Tensor4D {
    const sent = this.condition(opts);
    try {
      const b = sent.shape[0];
      if (opts.noise && (opts.noise.rank !== 2 || opts.noise.shape[0] !== b || opts.noise.shape[1] !== this.config.zDim)) {
        throw new Error(`GALIP.generate: expected noise [${b}, ${this.config.zDim}], found [${opts.noise.shape}]`);
      }
      const noise = opts.noise ? opts.noise.clone() : this.sampleNoise(b, opts);
      try {
        return tf.tidy(() => {
          const img = this.netG.forward(noise, sent);
          return opts.clamp === false ? img : (tf.clipByValue(img, -1, 1) as tf.Tensor4D);
        });
      } finally {
        noise.dispose();
      }
    } finally {
      sent.dispose();
    }
  }

  /** Images along a path between two prompts / embeddings and two noises: [steps, R, R, chSize]. */
  interpolate(opts: InterpolateOptions): tf.Tensor4D {
    const steps = opts.steps;
    if (!(Number.isInteger(steps) && steps >= 2)) throw new Error(`GALIP.interpolate: expected steps >= 2, found ${steps}`);
    const sent = this.condition(opts);
    const toFree: tf.Tensor[] = [sent];
    try {
      if (sent.shape[0] !== 1 && sent.shape[0] !== 2) throw new Error(`GALIP.interpolate: expected 1 or 2 prompts / embeddings, found ${sent.shape[0]}`);
      let noise: tf.Tensor2D;
      if (opts.noise) {
        if (opts.noise.rank !== 2 || opts.noise.shape[1] !== this.config.zDim || opts.noise.shape[0] > 2) {
          throw new Error(`GALIP.interpolate: expected noise [1 or 2, ${this.config.zDim}], found [${opts.noise.shape}]`);
        }
        noise = opts.noise.clone();
      } else if (opts.seeds) {
        noise = tf.tidy(() => tf.concat(opts.seeds!.map((s) => this.sampleNoise(1, { seed: s, truncation: opts.truncation })), 0) as tf.Tensor2D);
      } else {
        noise = this.sampleNoise(1, opts);
      }
      toFree.push(noise);
      return tf.tidy(() => {
        const row = (x: tf.Tensor2D, i: number) => tf.squeeze(tf.slice(x, [Math.min(i, x.shape[0] - 1), 0], [1, -1]), [0]) as tf.Tensor1D;
        const s = lerpRows(row(sent, 0), row(sent, 1), steps);
        const z = (opts.noisePath ?? 'slerp') === 'slerp' ? slerpRows(row(noise, 0), row(noise, 1), steps) : lerpRows(row(noise, 0), row(noise, 1), steps);
        const img = this.netG.forward(z, s);
        return opts.clamp === false ? img : (tf.clipByValue(img, -1, 1) as tf.Tensor4D);
      });
    } finally {
      tf.dispose(toFree);
    }
  }

  /** CLIP_IMG_ENCODER on images NHWC in [-1, 1]: tap features and the image embedding. */
  encodeImage(images: tf.Tensor4D): ClipImageFeatures {
    return clipImageEncoder(this.clip, this.config.dTaps, images);
  }

  /** NetC(NetD(CLIP features(images)), sentence embeddings): match logits [B, 1, 1, 1] (at the official grid). */
  discriminate(images: tf.Tensor4D, sentEmb: tf.Tensor2D): tf.Tensor4D {
    if (!this.netD || !this.netC) throw new Error('GALIP: this model was loaded without NetD/NetC (discriminator: false)');
    return tf.tidy(() => {
      const f = this.encodeImage(images);
      return this.netC!.forward(this.netD!.forward(f.local), sentEmb);
    });
  }

  dispose(): void {
    this.netG.dispose();
    this.netD?.dispose();
    this.netC?.dispose();
    this.clip.dispose();
  }
}

/** The weights file `save()` writes. */
export const GANZOO_WEIGHTS = 'galip.safetensors';

/** Read a `galip.safetensors` written by `save()` into the three state dicts. */
export function readGanzooWeights(file: string): GalipStateDicts {
  const { tensors } = readSafetensors(file);
  const out: Record<string, StateDict> = {};
  for (const [k, v] of Object.entries(tensors)) {
    const m = /^(netG|netD|netC)\.(.+)$/.exec(k);
    if (!m) throw new Error(`${file}: unexpected key '${k}' (expected netG.*, netD.*, netC.*)`);
    (out[m[1]] ??= {})[m[2]] = v;
  }
  if (!out.netG) throw new Error(`${file}: no netG.* tensors; found ${Object.keys(out).join(', ') || 'none'}`);
  return { netG: out.netG, netD: out.netD, netC: out.netC };
}

/** The checkpoint in `dir`: state_epoch_<state_epoch>.pth, else the one with the highest epoch. */
export function findCheckpoint(dir: string, stateEpoch?: number): string {
  const files = fs.readdirSync(dir).filter((f) => /^state_epoch_\d+(_\d+)?\.pth$/.test(f));
  if (typeof stateEpoch === 'number') {
    const want = `state_epoch_${String(stateEpoch).padStart(3, '0')}.pth`;
    if (files.includes(want)) return path.join(dir, want);
  }
  if (!files.length) throw new Error(`GALIP.fromPretrained: no state_epoch_*.pth in ${dir} (found ${fs.readdirSync(dir).join(', ') || 'nothing'})`);
  const epoch = (f: string) => Number(/^state_epoch_(\d+)/.exec(f)![1]);
  files.sort((a, b) => epoch(a) - epoch(b) || a.localeCompare(b));
  return path.join(dir, files[files.length - 1]);
}

/** Load netG's CLIP visual copy (`visual.*`, torch layout) into the shared CLIP, checking names and shapes. */
export function loadClipVisualCopy(clip: CLIP, copy: StateDict): void {
  const problems: string[] = [];
  const converted: [tf.Variable, tf.Tensor][] = [];
  for (const [name, raw] of Object.entries(copy)) {
    if (!clip.params.has(name)) {
      problems.push(`unexpected key mapping.CLIP_ViT.${name.slice('visual.'.length)}`);
      continue;
    }
    const target = clip.params.get(name);
    const t = toTfLayout(name, raw);
    if (t.shape.join(',') !== target.shape.join(',')) {
      problems.push(`mapping.CLIP_ViT.${name.slice('visual.'.length)}: the checkpoint has [${raw.shape}], the CLIP weights imply [${target.shape}] (tfjs layout)`);
      t.dispose();
      continue;
    }
    converted.push([target, t]);
  }
  if (problems.length) {
    tf.dispose(converted.map((c) => c[1]));
    throw new Error(`GALIP checkpoint: netG's CLIP copy does not match the CLIP weights (wrong CLIP width or architecture?): ${problems.join('; ')}`);
  }
  for (const [v, t] of converted) {
    v.assign(t);
    t.dispose();
  }
}
