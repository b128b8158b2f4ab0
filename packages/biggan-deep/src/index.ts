/**
 * @ganzoo/biggan-deep: BigGAN-deep (Brock et al., ICLR 2019) on TensorFlow.js.
 *
 *   const g = await BigGANDeep.fromPretrained('biggan-deep-128');      // or a local HF / ajbrock folder
 *   const img = g.generate({ classes: ['golden retriever'], truncation: 0.4, seed: 1 }); // [1, 128, 128, 3] in [-1, 1]
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as core from '@ganzoo/core';
import { readSafetensors, saveSafetensors, writeFileAtomic, readTorchCheckpoint, flattenStateDict, resolveWeights, Rng, Manifest } from '@ganzoo/core';
import {
  BigGANDeepConfig, fromAjbrockConfig, fromHfConfig, presetConfig, toAjbrockConfig, toHfConfig, validateConfig,
  defaultDiscriminator,
} from './config';
import { generatorForward, generatorSpecs, GeneratorRunOptions } from './generator';
import { discriminatorForward, discriminatorSpecs, DiscriminatorRunOptions } from './discriminator';
import { convertFromOfficial, convertToOfficial, LooseTensor } from './convert';
import { ParamStore, WeightInit, checkTensors, initValue } from './params';
import { classIndex } from './classes';
import { GANZOO_FORMAT, writeGanzooFolder } from './save';
import { FastGenerator } from './fast';
import { OnnxGenerator } from './onnx';
import { classNamesOf, shippedWeightsDir } from './shipped';

export * from './config';
export * from './classes';
export { generatorForward, generatorSpecs, generatorModules, upsampleNearest2x, embedClasses } from './generator';
export { discriminatorForward, discriminatorSpecs, discriminatorStages, avgPool2x } from './discriminator';
export { convertFromOfficial, convertToOfficial, hfTable, ajbrockTable, ajbrockDTable } from './convert';
export { ParamStore, orthogonalMatrix, checkTensors } from './params';
export * from './loss';
export * from './train';

export { GANZOO_FORMAT, writeGanzooFolder };
export { FastGenerator, upsample2x } from './fast';
export type { FastGeneratorOptions } from './fast';
export { BatchSplitGenerator } from './split';
export { OnnxGenerator } from './onnx';
export type { OnnxGeneratorOptions } from './onnx';

/** Engine of `generateAsync`: see there. */
export type GenerateEngine = 'auto' | 'onnxruntime' | 'tfjs';

export type ClassSpec = number | string;

export interface GenerateOptions {
  /** Class indices or ImageNet names (one per image, or one for the whole batch). Default: random classes from the seed. */
  classes?: ClassSpec | ClassSpec[];
  /** Explicit class vectors [B, numClasses] (one-hot or soft mixes); overrides `classes`. */
  classVector?: tf.Tensor2D;
  /** Explicit latents [B, zDim] (e.g. from `truncatedNoise`); overrides `seed`. */
  z?: tf.Tensor2D;
  /** In (0, 1]; scales z (when drawn here) and selects the BN statistics. Default 0.4. */
  truncation?: number;
  seed?: number;
  batchSize?: number;
  /**
   * Inference fast path (default true; src/fast.ts: resident W/σ, folded BN statistics, fused convs), equal to the
   * reference path to float32 rounding (≤ 1e-6 relative measured). false: the reference `generatorForward`.
   */
  fast?: boolean;
}

export interface FromPretrainedOptions {
  /** Download progress: a callback or `true` for the standard reporter (core's resolveWeights). */
  onProgress?: ((p: any) => void) | boolean;
  cacheDir?: string;
  offline?: boolean;
  /** A manifest object or file instead of core's weights-manifest.json (tests, private mirrors). */
  manifest?: Manifest | string;
}

export interface CreateOptions {
  seed?: number;
  /** Weight init (ajbrock G_init / D_init): 'ortho' (default), 'N02', 'xavier'. */
  init?: WeightInit;
  /** Build a discriminator (default: the config's, or none). true adds the default D when the config has none. */
  discriminator?: boolean;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readJson(file: string): any {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`BigGAN-deep: cannot read ${file}: ${(e as Error).message}`);
  }
}

function readTorch(file: string): Record<string, LooseTensor> {
  return flattenStateDict(readTorchCheckpoint(file));
}

/** z = truncation · truncnorm(−2, 2) [batch, dim] (pytorch-pretrained-BigGAN utils.truncated_noise_sample semantics). */
export function truncatedNoise(batch: number, truncation: number, seed = 0, dim = 128): tf.Tensor2D {
  checkTruncation(truncation);
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`truncatedNoise: batch must be a positive integer, found ${batch}`);
  const d = new Rng(seed).truncatedNormalArray(batch * dim, 2); // scipy truncnorm(-2, 2): resampled outside ±2
  for (let i = 0; i < d.length; i++) d[i] = d[i] * truncation;
  return tf.tensor2d(d, [batch, dim]);
}

function checkTruncation(t: number): void {
  if (typeof t !== 'number' || !(t > 0 && t <= 1)) throw new Error(`truncation must be in (0, 1], found ${t}`);
}

/** Linear interpolation between two [1, D] or [D] vectors: [steps, D] (endpoints included). */
export function lerpVectors(a: tf.Tensor, b: tf.Tensor, steps: number): tf.Tensor2D {
  if (!Number.isInteger(steps) || steps < 2) throw new Error(`interpolation needs steps >= 2, found ${steps}`);
  return tf.tidy(() => {
    const aa = tf.reshape(a, [1, -1]);
    const bb = tf.reshape(b, [1, -1]);
    const t = tf.reshape(tf.linspace(0, 1, steps), [steps, 1]);
    return tf.add(tf.mul(aa, tf.sub(1, t)), tf.mul(bb, t)) as tf.Tensor2D;
  });
}

/** Spherical interpolation between two latents: [steps, D]. */
export function slerpVectors(a: tf.Tensor, b: tf.Tensor, steps: number): tf.Tensor2D {
  if (!Number.isInteger(steps) || steps < 2) throw new Error(`interpolation needs steps >= 2, found ${steps}`);
  return tf.tidy(() => {
    const aa = tf.reshape(a, [1, -1]);
    const bb = tf.reshape(b, [1, -1]);
    const cos = tf.sum(tf.mul(tf.div(aa, tf.norm(aa)), tf.div(bb, tf.norm(bb)))).dataSync()[0];
    const omega = Math.acos(Math.min(1, Math.max(-1, cos)));
    if (omega < 1e-6) return lerpVectors(a, b, steps);
    const ts = Array.from({ length: steps }, (_, i) => i / (steps - 1));
    const wa = tf.tensor2d(ts.map((t) => Math.sin((1 - t) * omega) / Math.sin(omega)), [steps, 1]);
    const wb = tf.tensor2d(ts.map((t) => Math.sin(t * omega) / Math.sin(omega)), [steps, 1]);
    return tf.add(tf.mul(aa, wa), tf.mul(bb, wb)) as tf.Tensor2D;
  });
}

/** A BigGAN-deep model: the generator (and optionally an ajbrock-style discriminator) over named variables. */
export class BigGANDeep {
  readonly G: ParamStore;
  readonly D: ParamStore | null;

  /** The inference fast path's resident plan (built on the first fast generate, rebuilt when weights change). */
  private fastPlan: FastGenerator | null = null;
  /** Class names in label order when the weights folder has a classes.json (e.g. the shipped shapes model). */
  classNames: string[] | null = null;
  /** The onnxruntime engine's plan (its session built on the first generateAsync on that engine). */
  private onnxPlan: OnnxGenerator | null = null;

  private constructor(readonly config: BigGANDeepConfig, g: Record<string, tf.Tensor>, d: Record<string, tf.Tensor> | null) {
    validateConfig(config);
    const gs = generatorSpecs(config.generator);
    checkTensors(gs.specs, g, 'BigGAN-deep generator');
    this.G = new ParamStore(gs.specs, gs.sn);
    this.G.setAll(g);
    if (config.discriminator && d) {
      const ds = discriminatorSpecs(config.discriminator);
      checkTensors(ds.specs, d, 'BigGAN-deep discriminator');
      this.D = new ParamStore(ds.specs, ds.sn);
      this.D.setAll(d);
    } else {
      this.D = null;
      if (!d) this.config = { ...config, discriminator: undefined };
    }
  }

  /** From tensors already in this package's names and layout (taken over). */
  static fromTensors(config: BigGANDeepConfig, g: Record<string, tf.Tensor>, d: Record<string, tf.Tensor> | null = null): BigGANDeep {
    return new BigGANDeep(config, g, d);
  }

  /** Random initialisation from a preset name or a config (ajbrock init: ortho by default). */
  static create(presetOrConfig: string | BigGANDeepConfig, opts: CreateOptions = {}): BigGANDeep {
    const cfg: BigGANDeepConfig = typeof presetOrConfig === 'string' ? presetConfig(presetOrConfig) : JSON.parse(JSON.stringify(presetOrConfig));
    if (opts.discriminator === true && !cfg.discriminator) cfg.discriminator = defaultDiscriminator(cfg.generator);
    if (opts.discriminator === false) delete cfg.discriminator;
    validateConfig(cfg);
    const rng = new Rng(opts.seed ?? 0);
    const init = opts.init ?? 'ortho';
    const make = (specs: ReturnType<typeof generatorSpecs>) => {
      const out: Record<string, tf.Tensor> = {};
      for (const s of specs.specs) out[s.name] = initValue(s, init, rng);
      // one power iteration so stored u (and v) are consistent with the weights, as after a training step
      for (const sn of specs.sn) {
        const r = core.spectralNormalize(out[`${sn.prefix}.weight_orig`], out[`${sn.prefix}.weight_u`], null, { eps: sn.eps, iterations: 1, outAxis: sn.outAxis });
        out[`${sn.prefix}.weight_u`].dispose();
        out[`${sn.prefix}.weight_u`] = r.u;
        if (sn.hasV) {
          out[`${sn.prefix}.weight_v`].dispose();
          out[`${sn.prefix}.weight_v`] = r.v;
        } else r.v.dispose();
        tf.dispose([r.weight, r.sigma]);
      }
      return out;
    };
    const g = make(generatorSpecs(cfg.generator));
    const d = cfg.discriminator ? make(discriminatorSpecs(cfg.discriminator)) : null;
    return new BigGANDeep(cfg, g, d);
  }

  /**
   * Load from a manifest id (biggan-deep-128/256/512, via core's resolveWeights), or a folder in the Hugging Face
   * layout (config.json + model.safetensors or pytorch_model.bin), ajbrock's layout (config.json {"G", "D"} +
   * G.pth [+ D.pth]) or this package's `save` output.
   */
  static async fromPretrained(idOrDir: string, opts: FromPretrainedOptions = {}): Promise<BigGANDeep> {
    const shipped = shippedWeightsDir(idOrDir);
    if (shipped) return BigGANDeep.fromDirectory(shipped);
    let dir = idOrDir;
    if (!isDir(idOrDir)) {
      const r = await resolveWeights(idOrDir, { onProgress: opts.onProgress as never, cacheDir: opts.cacheDir, offline: opts.offline, manifest: opts.manifest });
      dir = r.dir;
    }
    return BigGANDeep.fromDirectory(dir);
  }

  /** Load a local folder (see fromPretrained). */
  static fromDirectory(dir: string): BigGANDeep {
    const model = BigGANDeep.loadDirectory(dir);
    try {
      const names = classNamesOf(dir);
      if (names && names.length !== model.numClasses) throw new Error(`BigGAN-deep: ${dir}/classes.json names ${names.length} classes but the model has ${model.numClasses}`);
      model.classNames = names;
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  private static loadDirectory(dir: string): BigGANDeep {
    const cfgFile = path.join(dir, 'config.json');
    if (!fs.existsSync(cfgFile)) throw new Error(`BigGAN-deep: ${dir} has no config.json (expected an HF BigGANConfig, ajbrock {"G","D"} kwargs or a ganzoo save)`);
    const json = readJson(cfgFile);
    const has = (f: string) => fs.existsSync(path.join(dir, f));
    if (json && json.ganzoo && json.ganzoo.format === GANZOO_FORMAT) {
      const cfg = json.ganzoo.config as BigGANDeepConfig;
      if (!has('model.safetensors')) throw new Error(`BigGAN-deep: ${dir} has a ganzoo config.json but no model.safetensors`);
      const st = readSafetensors(path.join(dir, 'model.safetensors')).tensors;
      const g: Record<string, tf.Tensor> = {};
      const d: Record<string, tf.Tensor> = {};
      const gNames = new Set(generatorSpecs(cfg.generator).specs.map((s) => s.name));
      const dNames = new Set(cfg.discriminator ? discriminatorSpecs(cfg.discriminator).specs.map((s) => s.name) : []);
      const unexpected = Object.keys(st).filter((k) => !gNames.has(k) && !dNames.has(k));
      if (unexpected.length) throw new Error(`BigGAN-deep: ${dir}/model.safetensors: unexpected keys (${unexpected.length}): ${unexpected.slice(0, 20).join(', ')}`);
      for (const [k, raw] of Object.entries(st)) (gNames.has(k) ? g : d)[k] = core.rawToTensor(raw);
      const hasD = cfg.discriminator && Object.keys(d).length > 0;
      try {
        return new BigGANDeep(hasD ? cfg : { ...cfg, discriminator: undefined }, g, hasD ? d : null);
      } catch (e) {
        tf.dispose([...Object.values(g), ...Object.values(d)]);
        throw e;
      }
    }
    if (json && typeof json === 'object' && json.G) {
      const cfg = fromAjbrockConfig(json);
      // ajbrock's own files (G.pth / D.pth), or their safetensors conversions written by save(dir, { format: 'ajbrock' })
      const pick = (n: string) => (has(`${n}.pth`) ? readTorch(path.join(dir, `${n}.pth`)) : has(`${n}.safetensors`) ? readSafetensors(path.join(dir, `${n}.safetensors`)).tensors : null);
      const gState = pick('G');
      if (!gState) throw new Error(`BigGAN-deep: ${dir} has an ajbrock config.json but no G.pth (or G.safetensors)`);
      const g = convertFromOfficial(cfg, 'ajbrock', 'G', gState);
      let d: Record<string, tf.Tensor> | null = null;
      const dState = cfg.discriminator ? pick('D') : null;
      if (dState) {
        try {
          d = convertFromOfficial(cfg, 'ajbrock', 'D', dState);
        } catch (e) {
          tf.dispose(Object.values(g));
          throw e;
        }
      }
      return new BigGANDeep(d ? cfg : { ...cfg, discriminator: undefined }, g, d);
    }
    const cfg = fromHfConfig(json);
    let state: Record<string, LooseTensor>;
    if (has('model.safetensors')) state = readSafetensors(path.join(dir, 'model.safetensors')).tensors;
    else if (has('pytorch_model.bin')) state = readTorch(path.join(dir, 'pytorch_model.bin'));
    else throw new Error(`BigGAN-deep: ${dir} has an HF config.json but neither model.safetensors nor pytorch_model.bin`);
    return new BigGANDeep(cfg, convertFromOfficial(cfg, 'hf', 'G', state), null);
  }

  get resolution(): number {
    return this.config.generator.resolution;
  }
  get numClasses(): number {
    return this.config.generator.numClasses;
  }
  get zDim(): number {
    return this.config.generator.zDim;
  }

  /** z = truncation · truncnorm(−2, 2) of this model's z width. */
  truncatedNoise(batch: number, truncation = 0.4, seed = 0): tf.Tensor2D {
    return truncatedNoise(batch, truncation, seed, this.zDim);
  }

  /** Class indices from indices or names (validated). */
  classIndices(classes: ClassSpec | ClassSpec[]): number[] {
    const list = Array.isArray(classes) ? classes : [classes];
    const own = this.classNames;
    return list.map((c) => {
      if (typeof c === 'string' && own) {
        const k = own.findIndex((n) => n.toLowerCase() === c.trim().toLowerCase());
        if (k < 0) throw new Error(`unknown class '${c}': this model's classes are ${own.join(', ')}`);
        return k;
      }
      const i = typeof c === 'string' ? (this.numClasses === 1000 ? classIndex(c) : Number.NaN) : c;
      if (typeof c === 'string' && this.numClasses !== 1000) throw new Error(`class names need a 1000-class model or a classes.json next to the weights; this one has ${this.numClasses} classes: pass indices`);
      if (!Number.isInteger(i) || i < 0 || i >= this.numClasses) throw new Error(`class index must be an integer in [0, ${this.numClasses - 1}], found ${c}`);
      return i;
    });
  }

  /** One-hot class vectors [B, numClasses]. */
  classVector(classes: ClassSpec | ClassSpec[]): tf.Tensor2D {
    const idx = this.classIndices(classes);
    return tf.tidy(() => tf.oneHot(tf.tensor1d(idx, 'int32'), this.numClasses).toFloat() as tf.Tensor2D);
  }

  /**
   * Validated generation inputs (shared by generate and generateAsync): the truncation, and a function that makes
   * z [B, zDim] and the class vectors [B, numClasses] (the caller's tensors when given, else new ones: `owned`).
   */
  private generationInputs(opts: GenerateOptions): { truncation: number; make: () => { z: tf.Tensor2D; cv: tf.Tensor2D; owned: tf.Tensor[] } } {
    const truncation = opts.truncation ?? 0.4;
    checkTruncation(truncation);
    const seed = opts.seed ?? 0;
    const g = this.config.generator;
    let batch = opts.batchSize;
    if (opts.z) {
      if (opts.z.rank !== 2 || opts.z.shape[1] !== g.zDim) throw new Error(`z must be [B, ${g.zDim}], found ${JSON.stringify(opts.z.shape)}`);
      if (batch !== undefined && batch !== opts.z.shape[0]) throw new Error(`batchSize ${batch} does not match z's batch ${opts.z.shape[0]}`);
      batch = opts.z.shape[0];
    }
    if (opts.classVector) {
      const cv = opts.classVector;
      if (cv.rank !== 2 || cv.shape[1] !== g.numClasses) throw new Error(`classVector must be [B, ${g.numClasses}], found ${JSON.stringify(cv.shape)}`);
      if (batch !== undefined && batch !== cv.shape[0]) throw new Error(`classVector batch ${cv.shape[0]} does not match batch ${batch}`);
      batch = cv.shape[0];
    }
    let idx: number[] | null = null;
    if (!opts.classVector) {
      if (opts.classes !== undefined) {
        idx = this.classIndices(opts.classes);
        if (idx.length === 0) throw new Error('classes must not be empty');
        if (batch === undefined) batch = idx.length;
        if (idx.length === 1 && batch > 1) idx = new Array(batch).fill(idx[0]);
        if (idx.length !== batch) throw new Error(`${idx.length} classes given for a batch of ${batch}`);
      } else {
        batch = batch ?? 1;
        const rng = new Rng(`classes:${seed}`);
        idx = Array.from({ length: batch }, () => rng.int(g.numClasses));
      }
    }
    const B = batch ?? 1;
    if (!Number.isInteger(B) || B < 1) throw new Error(`batchSize must be a positive integer, found ${B}`);
    const make = () => {
      const owned: tf.Tensor[] = [];
      const z = opts.z ?? truncatedNoise(B, truncation, seed, g.zDim);
      if (!opts.z) owned.push(z);
      const cv = opts.classVector ?? tf.tidy(() => tf.oneHot(tf.tensor1d(idx!, 'int32'), g.numClasses).toFloat() as tf.Tensor2D);
      if (!opts.classVector) owned.push(cv);
      return { z, cv, owned };
    };
    return { truncation, make };
  }

  /**
   * Images [B, R, R, 3] in [-1, 1] (NHWC float32). Either `{ classes, truncation, seed, batchSize }` or explicit
   * `{ z, classVector, truncation }`. The caller owns the returned tensor.
   */
  generate(opts: GenerateOptions = {}): tf.Tensor4D {
    const { truncation, make } = this.generationInputs(opts);
    const g = this.config.generator;
    return tf.tidy(() => {
      const { z, cv } = make();
      if (opts.fast === false) return generatorForward(this.G, g, z, cv, { truncation });
      this.fastPlan ??= new FastGenerator(this.G, g);
      return this.fastPlan.forward(z, cv, truncation);
    });
  }

  /**
   * As `generate`, with a choice of engine. 'onnxruntime': the generator as an ONNX graph run by onnxruntime-node
   * (native CPU GEMMs; src/onnx.ts; the optional package must be installed); 'tfjs': `generate` on the active tfjs
   * backend; 'auto' (default): onnxruntime when it loads and the tfjs backend is wasm or cpu, else tfjs (a native
   * tfjs-node / GPU backend stays on tfjs). Same inputs, validation, seeds and result as `generate`.
   */
  async generateAsync(opts: GenerateOptions & { engine?: GenerateEngine } = {}): Promise<tf.Tensor4D> {
    const engine = this.resolveEngine(opts.engine ?? 'auto');
    if (engine === 'tfjs') return this.generate(opts);
    const { truncation, make } = this.generationInputs(opts);
    const g = this.config.generator;
    this.fastPlan ??= new FastGenerator(this.G, g);
    this.onnxPlan ??= new OnnxGenerator(this.fastPlan, g);
    const { z, cv, owned } = make();
    try {
      return await this.onnxPlan.forward(z, cv, truncation);
    } finally {
      tf.dispose(owned);
    }
  }

  /** The engine `generateAsync` would use for `engine` (throws when 'onnxruntime' is asked for but cannot load). */
  resolveEngine(engine: GenerateEngine = 'auto'): 'onnxruntime' | 'tfjs' {
    if (engine === 'tfjs') return 'tfjs';
    if (engine === 'onnxruntime') {
      core.requireOnnxRuntime("BigGAN-deep engine 'onnxruntime'");
      return 'onnxruntime';
    }
    if (engine !== 'auto') throw new Error(`engine must be 'auto', 'onnxruntime' or 'tfjs', found ${JSON.stringify(engine)}`);
    const backend = tf.getBackend();
    return (backend === 'wasm' || backend === 'cpu') && OnnxGenerator.available() ? 'onnxruntime' : 'tfjs';
  }

  /** Low-level forward with every option (training mode, intermediates). */
  forwardG(z: tf.Tensor2D, classVector: tf.Tensor2D, opts: GeneratorRunOptions): tf.Tensor4D {
    return generatorForward(this.G, this.config.generator, z, classVector, opts);
  }

  /** D(x, y) -> [B, 1] logits (needs a discriminator). */
  discriminate(images: tf.Tensor4D, labels: tf.Tensor1D | number[], opts: DiscriminatorRunOptions = {}): tf.Tensor2D {
    const d = this.config.discriminator;
    if (!this.D || !d) throw new Error('BigGAN-deep: this model has no discriminator (load D.pth or create with { discriminator: true })');
    const r = d.resolution;
    if (images.rank !== 4 || images.shape[1] !== r || images.shape[2] !== r || images.shape[3] !== 3) {
      throw new Error(`discriminator input must be [B, ${r}, ${r}, 3], found ${JSON.stringify(images.shape)}`);
    }
    return tf.tidy(() => {
      const y = Array.isArray(labels) ? tf.tensor1d(labels, 'int32') : labels;
      if (y.shape[0] !== images.shape[0]) throw new Error(`labels [${y.shape[0]}] do not match the image batch ${images.shape[0]}`);
      return discriminatorForward(this.D!, d, images, y, opts);
    });
  }

  /** Images along a latent path between two seeds, for one class (truncation-scaled z). */
  interpolateLatents(opts: { fromSeed: number; toSeed: number; steps: number; classes: ClassSpec; truncation?: number; spherical?: boolean }): tf.Tensor4D {
    const t = opts.truncation ?? 0.4;
    return tf.tidy(() => {
      const z0 = this.truncatedNoise(1, t, opts.fromSeed);
      const z1 = this.truncatedNoise(1, t, opts.toSeed);
      const z = opts.spherical ? slerpVectors(z0, z1, opts.steps) : lerpVectors(z0, z1, opts.steps);
      const cv = tf.tile(this.classVector(opts.classes), [opts.steps, 1]) as tf.Tensor2D;
      return this.generate({ z, classVector: cv, truncation: t });
    });
  }

  /** Images along a class-vector path (soft mixes of two classes) for one latent. */
  interpolateClasses(opts: { from: ClassSpec; to: ClassSpec; steps: number; seed?: number; truncation?: number }): tf.Tensor4D {
    const t = opts.truncation ?? 0.4;
    return tf.tidy(() => {
      const cv = lerpVectors(this.classVector(opts.from), this.classVector(opts.to), opts.steps);
      const z = tf.tile(this.truncatedNoise(1, t, opts.seed ?? 0), [opts.steps, 1]) as tf.Tensor2D;
      return this.generate({ z, classVector: cv, truncation: t });
    });
  }

  /** Every variable by name (G, then D). */
  variables(): Record<string, tf.Variable> {
    return { ...this.G.vars, ...(this.D ? this.D.vars : {}) };
  }

  /** Drop cached W/σ (call after changing variables directly). */
  invalidateCaches(): void {
    this.G.invalidate();
    this.D?.invalidate();
  }

  /**
   * Save to `dir`. Default: model.safetensors (this package's names and layout, G + D) + config.json
   * (`ganzoo` block; plus the HF BigGANConfig fields when expressible). `format: 'hf'` writes the official HF
   * layout instead (G only; loadable by pytorch-pretrained-BigGAN); `format: 'ajbrock'` writes G.safetensors /
   * D.safetensors with ajbrock's keys plus its config.json.
   */
  save(dir: string, opts: { format?: 'ganzoo' | 'hf' | 'ajbrock' } = {}): void {
    fs.mkdirSync(dir, { recursive: true });
    const format = opts.format ?? 'ganzoo';
    if (this.classNames) writeFileAtomic(path.join(dir, 'classes.json'), JSON.stringify(this.classNames) + '\n');
    const gTensors: Record<string, tf.Tensor> = { ...this.G.vars };
    if (format === 'hf') {
      const hfCfg = toHfConfig(this.config);
      const off = convertToOfficial(this.config, 'hf', 'G', gTensors);
      try {
        saveSafetensors(path.join(dir, 'model.safetensors'), off, { metadata: { format: 'pt' } });
      } finally {
        tf.dispose(Object.values(off));
      }
      writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(hfCfg, null, 2) + '\n');
      return;
    }
    if (format === 'ajbrock') {
      const aj = toAjbrockConfig(this.config);
      const offG = convertToOfficial(this.config, 'ajbrock', 'G', gTensors);
      try {
        saveSafetensors(path.join(dir, 'G.safetensors'), offG);
      } finally {
        tf.dispose(Object.values(offG));
      }
      if (this.D) {
        const offD = convertToOfficial(this.config, 'ajbrock', 'D', { ...this.D.vars });
        try {
          saveSafetensors(path.join(dir, 'D.safetensors'), offD);
        } finally {
          tf.dispose(Object.values(offD));
        }
      }
      writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(aj, null, 2) + '\n');
      return;
    }
    writeGanzooFolder(dir, this.config, this.variables());
  }

  dispose(): void {
    this.onnxPlan?.dispose();
    this.onnxPlan = null;
    this.fastPlan?.dispose();
    this.fastPlan = null;
    this.G.dispose();
    this.D?.dispose();
  }
}
export { SHIPPED_WEIGHTS, shippedWeightsDir } from './shipped';
