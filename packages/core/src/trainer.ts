/**
 * The GAN trainer: one loop that every ganzoo model plugs into.
 *
 * ## How a model plugs in: implement `GanTrainable`
 *
 * The model owns its networks, losses, EMA and any non-trainable state (spectral-norm `u`, BN running stats).
 * The trainer owns everything around them: the data, optimizers (Adam, built from the model's `trainDefaults`
 * merged with user overrides), gradient accumulation, lazy-regularization scheduling, NaN/Inf guards, logging,
 * sample grids and checkpoints. Concretely the model provides:
 *
 *  - `modelId` and a JSON-serialisable `config`: written into every checkpoint; a resume with a different
 *    id/config is refused.
 *  - `dVariables()` / `gVariables()`: the trainable variables each optimizer updates (fixed order, unique names).
 *  - `dLoss(batch, ctx)` / `gLoss(batch, ctx)`: forward pass + loss, returning `{ loss, logs? }` as scalars.
 *    The trainer calls them inside `tf.variableGrads`, so they must not dispose what they return. Randomness
 *    (latents, fake labels) must come from `ctx.seed` (e.g. `tf.randomNormal(shape, 0, 1, 'float32', tfSeed(ctx.seed))`
 *    or core's `Rng`). Give tfjs's random ops their seed through core's `tfSeed`: tfjs treats seed 0 as "no seed",
 *    and `ctx.seed` can be 0. The seed is a pure function of (run seed, step, phase, sub-step, micro-batch), which
 *    is what makes `--resume` bit-exact without saving RNG state. Non-trainable state (SN power iteration `u`) may be
 *    updated by `assign` inside the loss, or in `beforeUpdate`.
 *  - `regularizers()` (optional): lazy regularizers (R1, path length, ...). Each has a phase, an interval k and a
 *    loss; every k-th step the trainer runs it as an extra update whose loss is multiplied by k (StyleGAN2 lazy
 *    regularization, Karras et al. 2020, sec. B).
 *  - `adjustGradients(phase, grads, ctx)` (optional): e.g. add BigGAN's orthogonal-regularisation gradient, or
 *    apply decoupled weight decay scaled by `ctx.lr` (the learning rate in effect, overrides included).
 *  - `emaUpdate(step)`: update the EMA copy of G after each G update (the model decides decay and start step).
 *  - `variables()`: EVERY variable to checkpoint, by stable name: G, D, EMA, SN `u`, BN statistics.
 *  - `sample(seeds, cond)`: images in [-1, 1] NHWC from the EMA generator (or G if it has no EMA), one per seed,
 *    for the fixed-seed sample grids; `cond.labels` (class ids) or `cond.captions` (prompts), one per seed.
 *  - `exportGenerator(dir)` (optional): write the EMA generator as a loadable weights folder.
 *  - `trainDefaults`: the model's recipe: D steps per G step, Adam settings per network, loss weights, batch size.
 *  - `dispose()`.
 *
 * Batches are `{ images, labels?, captions? }`: images float32 NHWC in [-1, 1]; labels int32 [B] class ids for
 * class-conditional models; captions for text-conditional ones. The G step receives the batch of the last D step
 * (its labels/captions are the conditioning distribution; G losses usually ignore the images).
 *
 * Vocabulary: a *step* is one G update preceded by `dStepsPerG` D updates. An *update* is one optimizer
 * application, averaged over `accumulate` micro-batches of `batchSize` each.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { assertCompatible, listCheckpoints, loadCheckpoint, readCheckpointState, saveCheckpoint } from './checkpoint';
import { mixSeed } from './data/seed';
import { disposeBatch } from './data/dataset';
import { saveGrid } from './images';

/** One batch as the model sees it. */
export interface TrainBatch {
  /** float32 [B, H, W, 3] in [-1, 1]. */
  images: tf.Tensor4D;
  /** int32 [B] class ids (class-conditional models). */
  labels?: tf.Tensor1D;
  /** B captions (text-conditional models). */
  captions?: string[];
}

export type Phase = 'D' | 'G';

/** What the trainer tells a loss function about the current call. */
export interface StepContext {
  /** 0-based step index (number of completed G updates before this one). */
  step: number;
  phase: Phase;
  /** Which D update within the step (0 .. dStepsPerG-1); 0 for G. */
  sub: number;
  /** Micro-batch index within the update (0 .. micros-1). */
  micro: number;
  micros: number;
  /** uint32 seed, a pure function of (run seed, step, phase, sub, micro, regularizer): use it for all randomness. */
  seed: number;
  /** Loss weights: the model's `trainDefaults.lossWeights` merged with user overrides. */
  weights: Record<string, number>;
  /**
   * Learning rate of this phase's optimizer as the trainer runs it (the model's default or the user's override),
   * e.g. for AdamW-style decoupled weight decay in `adjustGradients`. Set by the trainer; absent elsewhere.
   */
  lr?: number;
}

/** A loss as returned by a model: `loss` is minimised; `logs` are extra scalars for the log (e.g. D(real)). */
export interface LossResult {
  loss: tf.Scalar;
  logs?: Record<string, tf.Scalar>;
}

/** A lazily applied regularizer (run every `interval` steps, loss scaled by `interval`). */
export interface Regularizer {
  /** Name used in logs and in `TrainerOptions.regIntervals` overrides, e.g. 'r1'. */
  name: string;
  /** Which network's optimizer applies it. */
  phase: Phase;
  /** Default interval in steps (1 = every step, no lazy scaling). */
  interval: number;
  loss(batch: TrainBatch, ctx: StepContext): LossResult;
}

/** Adam settings of one network. */
export interface AdamSettings {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon?: number;
}

/** A model's training recipe; every field can be overridden by `TrainerOptions`. */
export interface TrainDefaults {
  dStepsPerG: number;
  batchSize: number;
  G: AdamSettings;
  D: AdamSettings;
  /** Named loss weights the model's losses read from `ctx.weights`. */
  lossWeights?: Record<string, number>;
}

/** The plug-in interface every trainable ganzoo model implements. */
export interface GanTrainable {
  /** Model family id, e.g. 'biggan-deep'. */
  readonly modelId: string;
  /** JSON-serialisable architecture config (checkpoints refuse to resume across different configs). */
  readonly config: Record<string, unknown>;
  readonly trainDefaults: TrainDefaults;
  /** Image side length the model trains on. */
  readonly resolution: number;
  /** 'class' needs batch labels in [0, numClasses); 'text' needs captions. */
  readonly conditioning: 'class' | 'text' | 'none';
  readonly numClasses?: number;

  dVariables(): tf.Variable[];
  gVariables(): tf.Variable[];
  dLoss(batch: TrainBatch, ctx: StepContext): LossResult;
  gLoss(batch: TrainBatch, ctx: StepContext): LossResult;
  regularizers?(): Regularizer[];
  /** Optional hook before each update's first micro-batch (e.g. SN power iteration outside the tape). */
  beforeUpdate?(phase: Phase, ctx: StepContext): void;
  /**
   * Optional: adjust the (accumulated, averaged) gradients of an update before the optimizer applies them, e.g.
   * BigGAN's orthogonal regularisation added directly to G's gradients. Return a map with the same keys; the
   * trainer disposes both maps.
   */
  adjustGradients?(phase: Phase, grads: Record<string, tf.Tensor>, ctx: StepContext): Record<string, tf.Tensor>;
  /** Update EMA weights after G update number `step` (0-based). */
  emaUpdate(step: number): void;
  /** Every variable to checkpoint (G, D, EMA, SN u, BN stats), keyed by a stable name. */
  variables(): Record<string, tf.Variable>;
  /**
   * Optional: write the (EMA) generator as a self-contained weights folder (config.json + safetensors) that the
   * model package's loader reads back, e.g. for `ganzoo finetune --export` and shipping a fine-tuned model.
   */
  exportGenerator?(dir: string): Promise<void> | void;
  /** [N, H, W, 3] in [-1, 1] from the EMA generator, one image per seed. */
  sample(seeds: number[], cond: { labels?: number[]; captions?: string[]; truncation?: number }): tf.Tensor4D;
  dispose(): void;
}

// ---------------------------------------------------------------------------------------------------------------
// The loop.
// ---------------------------------------------------------------------------------------------------------------


/** Where batches come from (core's `DataLoader` implements it). */
export interface BatchSource {
  next(): Promise<{ batch: TrainBatch; indices: number[] }>;
  /** Samples consumed so far. */
  readonly position: number;
  seek(position: number): void;
  /** Bad files met so far. */
  badFiles?: number;
  /** Samples per batch (recorded in checkpoints; default: the model recipe). */
  readonly batchSize?: number;
}

export interface TrainerOptions {
  /** Run folder: `log.jsonl`, `samples/`, `checkpoints/`. */
  outDir: string;
  /** Train until this many steps are completed (a resumed run continues to the same total). */
  steps: number;
  seed?: number;
  /** Micro-batches averaged per update (gradient accumulation); default 1. */
  accumulate?: number;
  /** Overrides of the model's `trainDefaults`. */
  dStepsPerG?: number;
  lrG?: number;
  lrD?: number;
  adamG?: Partial<AdamSettings>;
  adamD?: Partial<AdamSettings>;
  lossWeights?: Record<string, number>;
  /** Per-regularizer interval overrides (0 disables). */
  regIntervals?: Record<string, number>;
  /** Stop after this many consecutive steps with a non-finite loss or gradient (default 10). */
  maxNonFinite?: number;
  /** Sample grid every N steps (0 = never; default 500) from fixed seeds. */
  sampleEvery?: number;
  /** Seeds of the sample grid (default 0..15) and their conditioning (default: labels cycling over classes). */
  sampleSeeds?: number[];
  /** Labels / captions of the sample grid, one per seed (shorter lists are cycled). */
  sampleCond?: { labels?: number[]; captions?: string[] };
  /** Checkpoint every N steps (0 = only at the end; default 1000); keep the newest K (default 3). */
  checkpointEvery?: number;
  keepCheckpoints?: number;
  /** Resume: true = newest checkpoint in `<outDir>/checkpoints` (none -> fresh start); a path = that checkpoint
   * folder or a run folder. */
  resume?: boolean | string;
  /** Called after every step with the log record (progress bars, tests). */
  onStep?: (rec: StepRecord) => void;
  /** Called for notable events (checkpoint written, samples written, resumed, bad file). */
  onEvent?: (msg: string) => void;
  /** Checked after every step: when it returns true the trainer writes a checkpoint and returns (e.g. on SIGINT). */
  shouldStop?: () => boolean;
  /** Test hook for checkpoint writes. */
  checkpointWriteFile?: (file: string, data: Uint8Array | string) => void;
}

/** One line of `log.jsonl` (event lines carry `event` instead). */
export interface StepRecord {
  step: number;
  /** Seconds for this step. */
  dt: number;
  imagesPerSec: number;
  /** Data position after the step and its epoch. */
  position: number;
  epoch: number;
  /** Losses and model logs: `D/loss`, `G/loss`, `D/<name>`, `reg/<name>`. */
  losses: Record<string, number>;
  /** Non-finite updates skipped in this step, in a row, and in total. */
  skipped: number;
  nonFiniteInARow: number;
  nonFiniteTotal: number;
  /** Item indices of the first D micro-batch of the step (data-order fingerprint). */
  firstIndices: number[];
}

export interface TrainResult {
  step: number;
  /** True when `shouldStop` ended the run before `steps`. */
  stopped?: boolean;
  resumedFrom?: number;
  nonFiniteTotal: number;
  lastCheckpoint?: string;
  lastSamples?: string;
}

const PHASE_CODE: Record<Phase, number> = { D: 1, G: 2 };

/** The per-call seed: a pure function of the run seed and the position in the run. */
export function stepSeed(seed: number, step: number, phase: Phase, sub: number, micro: number, reg = 0): number {
  return mixSeed(seed, step, PHASE_CODE[phase], sub, micro, reg);
}

/** The trainer settings a resume must match (data order and batch composition depend on them). */
function resumeSettings(model: GanTrainable, o: Required<Pick<TrainerOptions, 'accumulate' | 'dStepsPerG' | 'seed'>>, batchSize: number) {
  return { batchSize, accumulate: o.accumulate, dStepsPerG: o.dStepsPerG, seed: o.seed, resolution: model.resolution };
}

/**
 * Train `model` on batches from `data` until `opts.steps` steps are done. Returns when finished; throws with a
 * clear message on bad settings, incompatible resume, too many non-finite steps, or a failed checkpoint write
 * (earlier checkpoints stay intact).
 */
export async function train(model: GanTrainable, data: BatchSource, opts: TrainerOptions): Promise<TrainResult> {
  const d = model.trainDefaults;
  const seed = opts.seed ?? 0;
  const accumulate = opts.accumulate ?? 1;
  const dStepsPerG = opts.dStepsPerG ?? d.dStepsPerG;
  const maxNonFinite = opts.maxNonFinite ?? 10;
  const sampleEvery = opts.sampleEvery ?? 500;
  const checkpointEvery = opts.checkpointEvery ?? 1000;
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new Error(`steps must be a non-negative integer, got ${opts.steps}`);
  if (!Number.isInteger(accumulate) || accumulate < 1) throw new Error(`accumulate must be a positive integer, got ${accumulate}`);
  if (!Number.isInteger(dStepsPerG) || dStepsPerG < 1) throw new Error(`D steps per G step must be a positive integer, got ${dStepsPerG}`);
  const adam = (base: AdamSettings, over: Partial<AdamSettings> | undefined, lr: number | undefined): AdamSettings => {
    const a = { ...base, ...(over ?? {}) };
    if (lr !== undefined) a.lr = lr;
    if (!(a.lr > 0)) throw new Error(`learning rate must be > 0, got ${a.lr}`);
    return a;
  };
  const aG = adam(d.G, opts.adamG, opts.lrG);
  const aD = adam(d.D, opts.adamD, opts.lrD);
  const weights = { ...(d.lossWeights ?? {}), ...(opts.lossWeights ?? {}) };
  const regs = (model.regularizers?.() ?? []).map((r) => ({ r, interval: opts.regIntervals?.[r.name] ?? r.interval }));
  for (const { r, interval } of regs) {
    if (!Number.isInteger(interval) || interval < 0) throw new Error(`regularizer '${r.name}': interval must be an integer >= 0, got ${interval}`);
  }
  const batchSize = data.batchSize ?? d.batchSize;
  const settings = resumeSettings(model, { accumulate, dStepsPerG, seed }, batchSize);
  const optG = tf.train.adam(aG.lr, aG.beta1, aG.beta2, aG.epsilon);
  const optD = tf.train.adam(aD.lr, aD.beta1, aD.beta2, aD.epsilon);
  const lrOf = (phase: Phase) => (phase === 'G' ? aG.lr : aD.lr);
  const optimizers = { G: optG, D: optD };
  const ckptDir = path.join(opts.outDir, 'checkpoints');
  const sampleDir = path.join(opts.outDir, 'samples');
  fs.mkdirSync(opts.outDir, { recursive: true });
  const logFile = path.join(opts.outDir, 'log.jsonl');
  // A crash can leave the last line of a previous run's log cut short: start on a fresh line.
  if (fs.existsSync(logFile) && fs.statSync(logFile).size > 0) {
    const fd = fs.openSync(logFile, 'r');
    const last = Buffer.alloc(1);
    fs.readSync(fd, last, 0, 1, fs.statSync(logFile).size - 1);
    fs.closeSync(fd);
    if (last[0] !== 0x0a) fs.appendFileSync(logFile, '\n');
  }
  const log = (o: object) => fs.appendFileSync(logFile, JSON.stringify(o) + '\n');
  const event = (msg: string, extra: object = {}) => {
    log({ event: msg, time: new Date().toISOString(), ...extra });
    opts.onEvent?.(msg);
  };

  let step = 0;
  let nonFiniteTotal = 0;
  let inARow = 0;
  let resumedFrom: number | undefined;
  const result: TrainResult = { step: 0, nonFiniteTotal: 0 };
  try {
    // ---- resume
    if (opts.resume) {
      let ckpt: string | undefined;
      if (typeof opts.resume === 'string') {
        const p = path.resolve(opts.resume);
        if (!fs.existsSync(p)) throw new Error(`resume path not found: ${p}`);
        if (fs.existsSync(path.join(p, 'state.json'))) ckpt = p;
        else {
          const dir = fs.existsSync(path.join(p, 'checkpoints')) ? path.join(p, 'checkpoints') : p;
          ckpt = listCheckpoints(dir).pop()?.path;
          if (!ckpt) throw new Error(`no checkpoint to resume from in ${p} (expected ${path.join(p, 'checkpoints', 'step-*')})`);
        }
      } else {
        ckpt = listCheckpoints(ckptDir).pop()?.path;
      }
      if (ckpt) {
        const st = readCheckpointState(ckpt);
        assertCompatible(st, model.modelId, model.config, settings, ckpt);
        // Create optimizer slots in the right order before loading: the state is matched by position.
        await loadCheckpoint(ckpt, model.variables(), optimizers);
        step = st.step;
        nonFiniteTotal = st.counters?.nonFiniteTotal ?? 0;
        inARow = st.counters?.nonFiniteInARow ?? 0;
        data.seek(st.dataPosition);
        resumedFrom = step;
        event(`resumed from ${ckpt} at step ${step}`, { step, checkpoint: ckpt, position: st.dataPosition });
      } else {
        event('no checkpoint found, starting fresh', { step: 0 });
      }
    } else {
      event('start', { step: 0, modelId: model.modelId, settings, G: aG, D: aD, weights });
    }
    result.resumedFrom = resumedFrom;

    const sampleSeeds = opts.sampleSeeds ?? Array.from({ length: 16 }, (_, i) => i);
    // one label / caption per seed: shorter lists given in sampleCond are cycled
    const perSeed = <T>(xs?: T[]) => (xs && xs.length ? sampleSeeds.map((_, i) => xs[i % xs.length]) : undefined);
    const sampleCond = opts.sampleCond
      ? { labels: perSeed(opts.sampleCond.labels), captions: perSeed(opts.sampleCond.captions) }
      : model.conditioning === 'class' && model.numClasses ? { labels: sampleSeeds.map((_, i) => i % model.numClasses!) } : {};
    const writeSamples = async (s: number) => {
      const file = path.join(sampleDir, `step-${String(s).padStart(8, '0')}.png`);
      const imgs = model.sample(sampleSeeds, sampleCond);
      try {
        await saveGrid(file, imgs, { gutter: 2, border: true, cols: model.conditioning === 'class' && model.numClasses
          ? Math.min(model.numClasses, sampleSeeds.length) : undefined });
      } finally {
        imgs.dispose();
      }
      result.lastSamples = file;
      event(`samples ${file}`, { step: s, file });
    };
    const checkpoint = async (s: number) => {
      const where = await saveCheckpoint(ckptDir, model.variables(), optimizers, {
        modelId: model.modelId, config: model.config, step: s, dataPosition: data.position, seed, settings,
        counters: { nonFiniteTotal, nonFiniteInARow: inARow },
      }, { keep: opts.keepCheckpoints ?? 3, writeFile: opts.checkpointWriteFile });
      result.lastCheckpoint = where;
      event(`checkpoint ${where}`, { step: s, checkpoint: where });
    };

    /** One optimizer update of `phase` over micro-batches; returns logs or null if skipped (non-finite). */
    const update = async (
      phase: Phase, vars: tf.Variable[], opt: tf.Optimizer, batches: TrainBatch[], sub: number,
      lossFn: (b: TrainBatch, ctx: StepContext) => LossResult, scale: number, regCode: number, prefix: string,
    ): Promise<Record<string, number> | null> => {
      const micros = batches.length;
      let acc: Record<string, tf.Tensor> | null = null;
      const scalars: Record<string, tf.Scalar[]> = {};
      for (let m = 0; m < micros; m++) {
        const ctx: StepContext = { step, phase, sub, micro: m, micros, seed: stepSeed(seed, step, phase, sub, m, regCode), weights, lr: lrOf(phase) };
        if (m === 0) model.beforeUpdate?.(phase, ctx);
        const logs: Record<string, tf.Scalar> = {};
        const { value, grads } = tf.variableGrads(() => {
          const r = lossFn(batches[m], ctx);
          for (const [k, v] of Object.entries(r.logs ?? {})) logs[k] = tf.keep(v);
          return scale === 1 ? r.loss : (r.loss.mul(scale) as tf.Scalar);
        }, vars);
        (scalars.loss ??= []).push(value);
        for (const [k, v] of Object.entries(logs)) (scalars[k] ??= []).push(v);
        if (!acc) acc = grads;
        else {
          for (const [k, g] of Object.entries(grads)) {
            if (!g) continue;
            const prev = acc[k];
            acc[k] = prev ? tf.add(prev, g) : tf.clone(g);
            prev?.dispose();
            g.dispose();
          }
        }
      }
      // Keys stay in variable order even where a loss does not reach a variable (null gradient): tfjs' Adam keeps
      // its slots by position and skips null gradients, so every update must present the same key list.
      let gradsMap: Record<string, tf.Tensor> = {};
      for (const v of vars) gradsMap[v.name] = acc![v.name] ?? (null as unknown as tf.Tensor);
      if (micros > 1) {
        const avg = tf.tidy(() => Object.fromEntries(Object.entries(gradsMap).map(([k, g]) => [k, g ? tf.div(g, micros) : g])));
        tf.dispose(Object.values(gradsMap).filter((g) => g));
        gradsMap = avg;
      }
      if (model.adjustGradients) {
        const ctx: StepContext = { step, phase, sub, micro: 0, micros, seed: stepSeed(seed, step, phase, sub, 0, regCode), weights, lr: lrOf(phase) };
        const adj = model.adjustGradients(phase, gradsMap, ctx);
        if (adj !== gradsMap) {
          tf.dispose(Object.values(gradsMap).filter((g) => g && !Object.values(adj).includes(g)));
          gradsMap = adj;
        }
      }
      // Non-finite guard: x * 0 is 0 for every finite x and NaN for NaN / +-Inf.
      const probe = tf.tidy(() => tf.addN([
        ...Object.values(gradsMap).filter((g) => g).map((g) => tf.sum(tf.mul(g, 0))),
        ...Object.values(scalars).flat().map((s) => tf.mul(s, 0)),
      ]));
      const means: Record<string, number> = {};
      const names = Object.keys(scalars);
      const stacked = tf.tidy(() => tf.stack(names.map((k) => tf.addN(scalars[k]).div(scalars[k].length))));
      const [probeV, vals] = await Promise.all([probe.data(), stacked.data()]);
      names.forEach((k, i) => (means[`${prefix}/${k}`] = vals[i]));
      tf.dispose([probe, stacked, ...Object.values(scalars).flat()]);
      const finite = Number.isFinite(probeV[0]);
      if (finite) opt.applyGradients(gradsMap as tf.NamedTensorMap);
      tf.dispose(Object.values(gradsMap).filter((g) => g));
      return finite ? means : null;
    };

    const imagesPerStep = batchSize * accumulate * dStepsPerG;
    while (step < opts.steps) {
      const t0 = Date.now();
      const losses: Record<string, number> = {};
      let skipped = 0;
      let firstIndices: number[] = [];
      let last: TrainBatch[] = [];
      const all: TrainBatch[] = [];
      try {
        for (let sub = 0; sub < dStepsPerG; sub++) {
          const batches: TrainBatch[] = [];
          for (let m = 0; m < accumulate; m++) {
            const { batch, indices } = await data.next();
            if (sub === 0 && m === 0) firstIndices = indices.slice(0, 8);
            if (model.conditioning === 'class' && !batch.labels) throw new Error(`${model.modelId} is class-conditional but the data has no labels`);
            if (model.conditioning === 'text' && !batch.captions) throw new Error(`${model.modelId} is text-conditional but the batch has no captions`);
            batches.push(batch);
            all.push(batch);
          }
          const r = await update('D', model.dVariables(), optD, batches, sub, (b, c) => model.dLoss(b, c), 1, 0, 'D');
          if (r) Object.assign(losses, r);
          else skipped++;
          last = batches;
        }
        for (const [ri, { r, interval }] of regs.entries()) {
          if (interval === 0 || step % interval !== 0) continue;
          const vars = r.phase === 'D' ? model.dVariables() : model.gVariables();
          const opt = r.phase === 'D' ? optD : optG;
          // Lazy regularization: apply every `interval` steps with the loss scaled by `interval`.
          const res = await update(r.phase, vars, opt, last, 0, (b, c) => r.loss(b, c), interval, ri + 1, `reg/${r.name}`);
          if (res) Object.assign(losses, res);
          else skipped++;
        }
        const g = await update('G', model.gVariables(), optG, last, 0, (b, c) => model.gLoss(b, c), 1, 0, 'G');
        if (g) {
          Object.assign(losses, g);
          model.emaUpdate(step);
        } else skipped++;
      } finally {
        for (const b of all) disposeBatch(b);
      }
      step++;
      if (skipped) {
        nonFiniteTotal += skipped;
        inARow++;
      } else inARow = 0;
      const dt = (Date.now() - t0) / 1000;
      const rec: StepRecord = {
        step, dt, imagesPerSec: imagesPerStep / Math.max(dt, 1e-9), position: data.position,
        epoch: 0, losses, skipped, nonFiniteInARow: inARow, nonFiniteTotal, firstIndices,
      };
      const n = (data as { dataset?: { items: unknown[] } }).dataset?.items.length;
      rec.epoch = n ? Math.floor(data.position / n) : 0;
      log(rec);
      opts.onStep?.(rec);
      if (inARow >= maxNonFinite) {
        throw new Error(`training stopped at step ${step}: ${inARow} steps in a row had a non-finite (NaN/Inf) loss or ` +
          `gradient and were skipped (${nonFiniteTotal} in total). Lower the learning rate, or resume from an earlier checkpoint ` +
          `in ${ckptDir}.`);
      }
      const stop = step < opts.steps && opts.shouldStop?.() === true;
      const done = step === opts.steps || stop;
      if (sampleEvery > 0 && (step % sampleEvery === 0 || done)) await writeSamples(step);
      if ((checkpointEvery > 0 && step % checkpointEvery === 0) || done) await checkpoint(step);
      if (stop) {
        result.stopped = true;
        event(`stopped at step ${step} on request`, { step });
        break;
      }
    }
    if (opts.steps === 0 || step === resumedFrom) {
      // Nothing to do (already at the target): still report where things are.
      event(`already at step ${step} (target ${opts.steps})`, { step });
    }
  } finally {
    optG.dispose();
    optD.dispose();
  }
  result.step = step;
  result.nonFiniteTotal = nonFiniteTotal;
  return result;
}
