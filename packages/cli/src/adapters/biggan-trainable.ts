/**
 * A `GanTrainable` for BigGAN-deep built only from @ganzoo/biggan-deep's public API (BigGANDeep.create /
 * forwardG / discriminate in training mode, its hinge losses) and core's EMA, following ajbrock's BigGAN-deep
 * recipe: hinge loss, Adam(β1 = 0, β2 = 0.999, ε = 1e-6), 2 D steps per G step, D on cat(fake, real) in one pass
 * (one SN power iteration per step), G in train mode (batch BN statistics, running stats updated), EMA of G.
 * Used by `ganzoo finetune --model biggan-deep` until the package exports its own `createTrainable`.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { EMA, diffAugment, mixSeed, modeSeekingLoss, parseDiffAugmentPolicy, tfSeed, writeFileAtomic, type GanTrainable, type LossResult, type StepContext, type TrainBatch, type TrainDefaults } from '@ganzoo/core';
import type { TrainableRequest } from '../models';

/* Structural view of the package's API (kept loose so the CLI does not pin the package's internals). */
interface Store { vars: Record<string, tf.Variable>; trainable(): tf.Variable[] }
export interface BigGANNet {
  config: { generator: { zDim: number; numClasses: number; resolution: number; nStats: number }; discriminator?: unknown };
  G: Store;
  D: Store | null;
  forwardG(z: tf.Tensor2D, classVector: tf.Tensor2D, opts: { truncation: number; training?: boolean }): tf.Tensor4D;
  discriminate(images: tf.Tensor4D, labels: tf.Tensor1D, opts?: { training?: boolean }): tf.Tensor2D;
  generate(o: { classes?: number[]; seed?: number; truncation?: number; batchSize?: number }): tf.Tensor4D;
  variables(): Record<string, tf.Variable>;
  invalidateCaches(): void;
  save(dir: string): void;
  dispose(): void;
}
export interface BigGANStatic {
  create(preset: string | object, o?: { seed?: number; discriminator?: boolean }): BigGANNet;
  fromDirectory(dir: string): BigGANNet;
  fromPretrained(id: string, o?: object): Promise<BigGANNet>;
  fromTensors(config: object, g: Record<string, tf.Tensor>, d?: Record<string, tf.Tensor> | null): BigGANNet;
}
interface Losses {
  discriminatorLoss(dReal: tf.Tensor, dFake: tf.Tensor): { loss: tf.Scalar; real: tf.Scalar; fake: tf.Scalar };
  generatorLoss(dFake: tf.Tensor): tf.Scalar;
  presetConfig(name: string): Record<string, unknown> & { generator: Record<string, unknown>; discriminator?: Record<string, unknown> };
}

/**
 * BN statistics trained at truncation 1 live in the last row of each [nStats, C] table: make every row that row,
 * so any truncation reads them.
 */
export function spreadLastStatsRow(vars: Record<string, tf.Variable>): void {
  tf.tidy(() => {
    for (const [k, v] of Object.entries(vars)) {
      if (/\.running_(means|vars)$/.test(k) && v.shape[0] > 1) v.assign(tf.tile(v.slice([v.shape[0] - 1, 0], [1, -1]), [v.shape[0], 1]));
    }
  });
}

/** The EMA generator of a `ganzoo finetune` run folder or checkpoint folder, as a BigGANDeep (G only). */
export function generatorFromCheckpoint(B: BigGANStatic, ref: string, readSafetensorsFn: (f: string) => { tensors: Record<string, { data: Float32Array | Int32Array | Uint8Array; shape: number[]; dtype: string }> }): { net: BigGANNet; classNames?: string[] } {
  let dir = path.resolve(ref);
  if (fs.existsSync(path.join(dir, 'checkpoints'))) {
    const steps = fs.readdirSync(path.join(dir, 'checkpoints')).filter((n) => /^step-\d+$/.test(n)).sort();
    if (!steps.length) throw new Error(`no checkpoints in ${dir}/checkpoints`);
    dir = path.join(dir, 'checkpoints', steps[steps.length - 1]);
  }
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  if (state.modelId !== 'biggan-deep') throw new Error(`${dir} holds a '${state.modelId}' checkpoint, not biggan-deep`);
  const { classNames, ...config } = state.config as Record<string, unknown> & { classNames?: string[] };
  const raw = readSafetensorsFn(path.join(dir, 'model.safetensors')).tensors;
  const g: Record<string, tf.Tensor> = {};
  for (const [k, r] of Object.entries(raw)) {
    if (k.startsWith('ema.')) g[k.slice(4)] = tf.tensor(r.data, r.shape, r.dtype as tf.DataType);
  }
  const net = B.fromTensors({ ...config, discriminator: undefined }, g, null);
  spreadLastStatsRow(net.G.vars);
  net.invalidateCaches();
  return { net, classNames };
}

export class BigGANDeepTrainable implements GanTrainable {
  readonly modelId = 'biggan-deep';
  readonly config: Record<string, unknown>;
  readonly trainDefaults: TrainDefaults;
  readonly conditioning = 'class' as const;
  readonly resolution: number;
  readonly numClasses: number;
  private readonly ema: EMA;
  private readonly twin: BigGANNet;
  private readonly zDim: number;

  constructor(private readonly net: BigGANNet, B: BigGANStatic, private readonly L: Losses,
    readonly classNames?: string[], emaDecay = 0.999, emaStart = 0, readonly augment?: string, readonly modeSeeking = 0,
    recipe: { dStepsPerG?: number; lrG?: number; lrD?: number } = {}) {
    checkRegularisers(augment, modeSeeking);
    // ajbrock's BigGAN-deep recipe unless a preset's recipe says otherwise
    this.trainDefaults = {
      dStepsPerG: recipe.dStepsPerG ?? 2, batchSize: 32,
      G: { lr: recipe.lrG ?? 1e-4, beta1: 0, beta2: 0.999, epsilon: 1e-6 },
      D: { lr: recipe.lrD ?? 4e-4, beta1: 0, beta2: 0.999, epsilon: 1e-6 },
    };
    if (!net.D) throw new Error('BigGAN-deep training needs a discriminator: the config has none');
    const g = net.config.generator;
    this.config = JSON.parse(JSON.stringify(net.config));
    if (classNames) this.config.classNames = classNames;
    this.resolution = g.resolution;
    this.numClasses = g.numClasses;
    this.zDim = g.zDim;
    this.ema = new EMA(net.G.vars, { decay: emaDecay, startStep: emaStart });
    const gCopy = Object.fromEntries(Object.entries(net.G.vars).map(([k, v]) => [k, v.clone()]));
    this.twin = B.fromTensors({ ...net.config, discriminator: undefined }, gCopy, null);
  }

  /** Decay of the EMA generator (sampled and exported). */
  get emaDecay(): number {
    return this.ema.decay;
  }

  private z(n: number, seed: number): tf.Tensor2D {
    return tf.randomNormal([n, this.zDim], 0, 1, 'float32', tfSeed(seed));
  }
  private cv(labels: tf.Tensor1D): tf.Tensor2D {
    return tf.oneHot(labels, this.numClasses).toFloat() as tf.Tensor2D;
  }

  /** DiffAugment (Zhao et al. 2020) of D's inputs, real and fake alike, when the run asks for it. */
  private aug(x: tf.Tensor4D, seed: number): tf.Tensor4D {
    return this.augment ? diffAugment(x, { policy: this.augment, seed }) : x;
  }

  dVariables(): tf.Variable[] {
    return this.net.D!.trainable();
  }
  gVariables(): tf.Variable[] {
    return this.net.G.trainable();
  }

  dLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const n = batch.images.shape[0];
    const labels = batch.labels!;
    const fake = this.net.forwardG(this.z(n, ctx.seed), this.cv(labels), { truncation: 1, training: true });
    // ajbrock: D(cat(fake, real)) in one pass, then split.
    const out = this.net.discriminate(this.aug(tf.concat([fake, batch.images], 0) as tf.Tensor4D, mixSeed(ctx.seed, 1)), tf.concat([labels, labels], 0) as tf.Tensor1D, { training: true });
    const dFake = out.slice([0, 0], [n, -1]);
    const dReal = out.slice([n, 0], [n, -1]);
    const l = this.L.discriminatorLoss(dReal, dFake);
    return { loss: l.loss, logs: { real: l.real, fake: l.fake } };
  }

  gLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const n = batch.images.shape[0];
    const h = this.modeSeeking > 0 ? Math.floor(n / 2) : 0;
    // mode seeking pairs sample i with sample h + i under the same class: the second half repeats the first's labels
    const labels = h > 0 ? tf.concat([batch.labels!.slice(0, h), batch.labels!.slice(0, n - h)]) as tf.Tensor1D : batch.labels!;
    const z = this.z(n, ctx.seed);
    const fake = this.net.forwardG(z, this.cv(labels), { truncation: 1, training: true });
    const adv = this.L.generatorLoss(this.net.discriminate(this.aug(fake, mixSeed(ctx.seed, 1)), labels, { training: true }));
    if (h === 0) return { loss: adv };
    const ms = modeSeekingLoss(fake.slice(0, h), fake.slice(h, h), z.slice(0, h), z.slice(h, h));
    return { loss: tf.add(adv, tf.mul(ms, this.modeSeeking)) as tf.Scalar, logs: { adv, ms } };
  }

  emaUpdate(step: number): void {
    this.ema.update(step);
  }

  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = { ...this.net.variables() };
    for (const [k, v] of Object.entries(this.ema.shadow)) out[`ema.${k}`] = v;
    return out;
  }

  /** The EMA generator as a BigGANDeep (G only), synchronised with the current EMA weights. */
  emaGenerator(): BigGANNet {
    this.ema.copyTo(this.twin.G.vars);
    this.twin.invalidateCaches();
    return this.twin;
  }

  sample(seeds: number[], cond: { labels?: number[]; truncation?: number }): tf.Tensor4D {
    const g = this.emaGenerator();
    return tf.tidy(() => tf.concat(seeds.map((s, i) => g.generate({
      classes: [cond.labels ? cond.labels[i] : i % this.numClasses], seed: s, truncation: cond.truncation ?? 1, batchSize: 1,
    })), 0) as tf.Tensor4D);
  }

  exportGenerator(dir: string): void {
    const g = this.emaGenerator();
    spreadLastStatsRow(g.G.vars);
    g.invalidateCaches();
    g.save(dir);
    if (this.classNames) writeFileAtomic(path.join(dir, 'classes.json'), JSON.stringify(this.classNames) + '\n');
  }

  dispose(): void {
    this.net.dispose();
    this.twin.dispose();
    this.ema.dispose();
  }
}

/**
 * Training presets on top of the package's: `shapes-32` is the shipped default's recipe — the package's `shapes-32`
 * architecture, class embedding at z's norm, a short EMA (decay 0.99), 1 D step per G step, lr 2e-4 (G) / 4e-4 (D).
 * DiffAugment (`--diffaugment`) and the mode-seeking term (`--mode-seeking`) are opt-in: with both, every class kept
 * its variety, but shape accuracy was no better within 2000 steps (37.8 % vs 35.8 % at step 2000, 500 samples;
 * weights README).
 * CLI flags override each part.
 */
export const LOCAL_PRESETS: Record<string, { base: string; dCh?: number; emaDecay: number; emaStart: number;
  /** Norm of each class vector of G's embedding as a fraction of z's (√zDim); unset: the init's (unit norm). */
  classEmbedScale?: number; augment?: string; modeSeeking?: number;
  recipe?: { dStepsPerG?: number; lrG?: number; lrD?: number } }> = {
  'shapes-32': {
    // EMA 0.99: with 0.999 the EMA generator averaged over G's mode hops and drew saturated, broken blobs (run E at
    // step 3250: 50 % shape accuracy) while G itself drew the shapes; 100 steps with 0.99 gave 76 % (weights README).
    base: 'shapes-32', emaDecay: 0.99, emaStart: 500, classEmbedScale: 1,
    recipe: { dStepsPerG: 1, lrG: 2e-4, lrD: 4e-4 },
  },
};

/**
 * Scale G's class embedding so each class vector has norm `fraction` · √zDim (the norm of a z sample) instead of the
 * orthogonal init's 1: with cond = [z, embed(y)] feeding spectrally normalised BN projections, a unit-norm class
 * vector next to a √zDim-norm z leaves the class nearly invisible to G at first (measured: after 500 steps every class
 * drew the same image for a seed), and Adam moves the embedding only ~lr per step. At the full norm (fraction 1) the
 * opposite happens: G soon ignores z and draws one image per class.
 */
export function scaleClassEmbedding(vars: Record<string, tf.Variable>, zDim: number, fraction = 1): void {
  const e = vars['embeddings.weight'];
  if (!e) throw new Error(`BigGAN-deep: no 'embeddings.weight' to scale (found ${Object.keys(vars).filter((k) => k.includes('embed')).join(', ') || 'none'})`);
  if (!(fraction > 0)) throw new Error(`BigGAN-deep: the class-embedding scale must be > 0, got ${fraction}`);
  tf.tidy(() => {
    // rows = classes ([numClasses, zDim], HF layout as stored here): each row to norm fraction · √zDim.
    const norms = tf.sqrt(tf.sum(tf.square(e), 1, true));
    e.assign(tf.mul(tf.div(e, tf.add(norms, 1e-12)), fraction * Math.sqrt(zDim)));
  });
}

/** An Error for an unknown DiffAugment policy or a negative mode-seeking weight (before any model is built). */
function checkRegularisers(augment: string | undefined, modeSeeking: number | undefined): void {
  if (augment && augment !== 'none') parseDiffAugmentPolicy(augment);
  if (modeSeeking !== undefined && !(modeSeeking >= 0)) throw new Error(`BigGAN-deep: the mode-seeking weight must be >= 0, got ${modeSeeking}`);
}

/** An Error for an EMA decay outside (0, 1) (before any model is built). */
function checkEmaDecay(d: number | undefined): void {
  if (d !== undefined && !(d > 0 && d < 1)) throw new Error(`BigGAN-deep: the EMA decay must be in (0, 1), got ${d}`);
}

/** The run's DiffAugment policy: the request's ('none' turns a preset's off), else the preset's. */
function augmentOf(req: TrainableRequest, presetDefault?: string): string | undefined {
  const a = req.augment ?? presetDefault;
  return a && a !== 'none' ? a : undefined;
}

/** `createTrainable` for the CLI: a preset (default 'tiny') resized to the data's classes, or given weights. */
export async function createBigGANTrainable(pkg: Record<string, unknown>, req: TrainableRequest): Promise<BigGANDeepTrainable> {
  const B = pkg.BigGANDeep as BigGANStatic;
  const L = pkg as unknown as Losses;
  if (!req.numClasses) throw new Error('BigGAN-deep is class-conditional: the data needs labels (class sub-folders or labels.csv)');
  checkRegularisers(req.augment, req.modeSeeking);
  checkEmaDecay(req.emaDecay);
  if (req.bnClassScale !== undefined && !(req.bnClassScale >= 0)) throw new Error(`BigGAN-deep: bnClassScale must be >= 0, got ${req.bnClassScale}`);
  let net: BigGANNet;
  if (req.weights) {
    if (req.bnClassScale !== undefined) throw new Error('BigGAN-deep: bnClassScale shapes a fresh model; given weights keep their own');
    net = fs.existsSync(req.weights) ? B.fromDirectory(req.weights) : await B.fromPretrained(req.weights);
    if (!net.D) {
      net.dispose();
      throw new Error(`BigGAN-deep weights ${req.weights} have no discriminator; fine-tuning needs G and D`);
    }
    if (net.config.generator.numClasses !== req.numClasses) {
      const n = net.config.generator.numClasses;
      net.dispose();
      throw new Error(`BigGAN-deep weights ${req.weights} have ${n} classes but the data has ${req.numClasses}`);
    }
  } else {
    const local = LOCAL_PRESETS[req.preset ?? ''];
    const cfg = L.presetConfig(local ? local.base : req.preset ?? 'tiny');
    if (local?.dCh && cfg.discriminator) cfg.discriminator.ch = local.dCh;
    cfg.generator.numClasses = req.numClasses;
    // A model trained here has no truncation-indexed BN statistics: train mode at truncation 1 updates the last
    // row; export copies it to every row (2 rows, not 1: the package's row update needs >= 2 rows today).
    cfg.generator.nStats = 2;
    if (!cfg.discriminator) throw new Error(`BigGAN-deep preset '${req.preset}' has no discriminator config`);
    cfg.discriminator.numClasses = req.numClasses;
    if (req.bnClassScale !== undefined) cfg.generator.bnClassScale = req.bnClassScale;
    net = B.create(cfg, { seed: req.seed ?? 0, discriminator: true });
    if (local?.classEmbedScale) scaleClassEmbedding(net.G.vars, net.config.generator.zDim, local.classEmbedScale);
    if (local) {
      return new BigGANDeepTrainable(net, B, L, req.classNames, req.emaDecay ?? local.emaDecay, local.emaStart, augmentOf(req, local.augment),
        req.modeSeeking ?? local.modeSeeking ?? 0, local.recipe);
    }
  }
  return new BigGANDeepTrainable(net, B, L, req.classNames, req.emaDecay, undefined, augmentOf(req), req.modeSeeking ?? 0);
}
