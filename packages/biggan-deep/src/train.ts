/**
 * Training BigGAN-deep (ajbrock/BigGAN-PyTorch train_fns.py + launch_BigGAN_deep.sh recipe): hinge loss, Adam
 * (G lr 1e-4, D lr 4e-4, betas (0, 0.999), eps 1e-6), D steps per G step, spectral-norm power iteration and
 * batch-statistics BN in train mode (running stats and u updated), EMA of G.
 *
 * `BigGANDeepTrainer` implements core's `GanTrainable` (the generic trainer owns optimizers then) and also has its
 * own `dStep` / `gStep` / `step` with internal Adam optimizers and exact `saveState` / `loadState`.
 */
import * as tf from '@tensorflow/tfjs';
import { EMA, GanTrainable, LossResult, Phase, Rng, StepContext, TrainBatch, TrainDefaults, truncationStatsIndex } from '@ganzoo/core';
import { generatorForward, generatorSpecs } from './generator';
import { discriminatorForward } from './discriminator';
import { ParamStore } from './params';
import { discriminatorLoss, generatorLoss, addOrthoReg } from './loss';
import type { BigGANDeep } from './index';
import { writeGanzooFolder } from './save';

export interface BigGANDeepTrainOptions {
  gLr?: number;
  dLr?: number;
  beta1?: number;
  beta2?: number;
  /** Adam eps (launch_BigGAN_deep.sh --adam_eps 1e-6). */
  eps?: number;
  /** D updates per G update: 2 as in the BigGAN paper (ajbrock's deep launch script uses 1). */
  dStepsPerG?: number;
  batchSize?: number;
  /** EMA decay of G (0.9999) and the step it starts at (ajbrock --ema_start 20000; copied before). */
  emaDecay?: number;
  emaStart?: number;
  /** BigGAN's modified orthogonal regularisation strength on G (launch script: G_ortho 0.0). */
  orthoBeta?: number;
  /** Truncation whose BN-stats row train mode updates (HF layout with 51 rows; untruncated z -> 1.0). */
  statsTruncation?: number;
}

const DEFAULTS: Required<BigGANDeepTrainOptions> = {
  gLr: 1e-4, dLr: 4e-4, beta1: 0, beta2: 0.999, eps: 1e-6, dStepsPerG: 2, batchSize: 256, emaDecay: 0.9999,
  emaStart: 20000, orthoBeta: 0, statsTruncation: 1,
};

function scalarValue(t: tf.Scalar): number {
  return t.dataSync()[0];
}

export interface StandingStatsOptions {
  /** Truncations whose stats rows are recomputed (default: 1.0, the row untruncated training updates). */
  truncations?: number[];
  /** Forward passes averaged per row (ajbrock --num_standing_accumulations 16). */
  passes?: number;
  batchSize?: number;
  seed?: number;
}

/**
 * Standing statistics (Brock et al. 2019 §B; ajbrock utils.accumulate_standing_stats): for each truncation, average
 * the BN batch means and (biased) variances of `passes` train-mode forwards with z = truncation · truncnorm(−2, 2)
 * and random classes, and store them in that truncation's stats row. Spectral norm stays in inference mode.
 * `store` defaults to the model's G (pass a trainer's `emaG` to refresh the EMA generator).
 */
export function accumulateStandingStats(model: BigGANDeep, opts: StandingStatsOptions = {}, store: ParamStore = model.G): void {
  const g = model.config.generator;
  const passes = opts.passes ?? 16;
  const batch = opts.batchSize ?? 16;
  const truncations = opts.truncations ?? [1];
  for (const t of truncations) {
    const row = truncationStatsIndex(t, g.nStats);
    if (row.coef !== 0) throw new Error(`standing stats: truncation ${t} is not on the ${g.nStats}-row grid`);
    const sums = new Map<string, { mean: tf.Tensor; variance: tf.Tensor }>();
    for (let p = 0; p < passes; p++) {
      const rng = new Rng(`standing:${opts.seed ?? 0}:${t}:${p}`);
      tf.tidy(() => {
        const z = tf.mul(rng.truncatedNormal([batch, g.zDim], 2), t) as tf.Tensor2D;
        const cv = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, () => rng.int(g.numClasses)), 'int32'), g.numClasses).toFloat() as tf.Tensor2D;
        generatorForward(store, g, z, cv, {
          truncation: t, training: true,
          onBatchStats: (prefix, mean, variance) => {
            const old = sums.get(prefix);
            sums.set(prefix, old
              ? { mean: tf.keep(tf.add(old.mean, mean)), variance: tf.keep(tf.add(old.variance, variance)) }
              : { mean: tf.keep(mean.clone()), variance: tf.keep(variance.clone()) });
            if (old) tf.dispose([old.mean, old.variance]);
          },
        });
      });
    }
    for (const [prefix, s] of sums) {
      for (const [key, v] of [['running_means', s.mean], ['running_vars', s.variance]] as const) {
        const table = store.get(`${prefix}.${key}`);
        tf.tidy(() => {
          const n = table.shape[0];
          const mask = tf.reshape(tf.oneHot(row.index, n), [n, 1]);
          table.assign(tf.add(tf.mul(table, tf.sub(1, mask)), tf.mul(mask, tf.reshape(tf.div(v, passes), [1, -1]))));
        });
      }
      tf.dispose([s.mean, s.variance]);
    }
  }
  store.invalidate();
}

/** The train-mode losses, EMA and optimizer state of one BigGANDeep model (G + D). */
export class BigGANDeepTrainer implements GanTrainable {
  readonly modelId = 'biggan-deep';
  readonly conditioning = 'class' as const;
  readonly opts: Required<BigGANDeepTrainOptions>;
  readonly ema: EMA;
  /** The EMA generator as a parameter store over the EMA shadow variables (sampling, eval mode). */
  readonly emaG: ParamStore;
  private optG: tf.AdamOptimizer | null = null;
  private optD: tf.AdamOptimizer | null = null;
  /** Completed G updates of the internal loop. */
  stepCount = 0;

  constructor(readonly model: BigGANDeep, opts: BigGANDeepTrainOptions = {}) {
    if (!model.D || !model.config.discriminator) throw new Error('BigGANDeepTrainer: the model has no discriminator (create it with { discriminator: true } or load D.pth)');
    this.opts = { ...DEFAULTS, ...opts };
    if (!(this.opts.dStepsPerG >= 1)) throw new Error(`dStepsPerG must be >= 1, found ${this.opts.dStepsPerG}`);
    this.ema = new EMA(model.G.vars, { decay: this.opts.emaDecay, startStep: this.opts.emaStart });
    const gs = generatorSpecs(model.config.generator);
    this.emaG = new ParamStore(gs.specs, gs.sn);
    Object.assign(this.emaG.vars, this.ema.shadow);
  }

  get config(): Record<string, unknown> {
    return this.model.config as unknown as Record<string, unknown>;
  }
  get resolution(): number {
    return this.model.resolution;
  }
  get numClasses(): number {
    return this.model.numClasses;
  }
  get trainDefaults(): TrainDefaults {
    const o = this.opts;
    return {
      dStepsPerG: o.dStepsPerG, batchSize: o.batchSize,
      G: { lr: o.gLr, beta1: o.beta1, beta2: o.beta2, epsilon: o.eps },
      D: { lr: o.dLr, beta1: o.beta1, beta2: o.beta2, epsilon: o.eps },
    };
  }

  dVariables(): tf.Variable[] {
    return this.model.D!.trainable();
  }
  gVariables(): tf.Variable[] {
    return this.model.G.trainable();
  }

  private statsRow(): number {
    const rows = this.model.config.generator.nStats;
    return truncationStatsIndex(this.opts.statsTruncation, rows).index;
  }

  /** Fake images from seeded z ~ N(0, 1) and uniform labels, G in train mode. */
  private fake(batchSize: number, seed: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
    const g = this.model.config.generator;
    const rng = new Rng(seed);
    const z = rng.normal([batchSize, g.zDim]) as tf.Tensor2D; // utils.prepare_z_y: z ~ N(0, 1)
    const labelsArr = Array.from({ length: batchSize }, () => rng.int(g.numClasses));
    const labels = tf.tensor1d(labelsArr, 'int32');
    const cv = tf.oneHot(labels, g.numClasses).toFloat() as tf.Tensor2D;
    const images = generatorForward(this.model.G, g, z, cv, { truncation: 1, training: true, statsRow: this.statsRow() });
    return { images, labels };
  }

  /** D hinge loss on a real batch and seeded fakes; G and D run in train mode (u, BN stats updated). */
  dLoss(batch: TrainBatch, ctx: Pick<StepContext, 'seed'>): LossResult {
    if (!batch.labels) throw new Error('BigGAN-deep training needs class labels in the batch');
    this.model.invalidateCaches();
    const B = batch.images.shape[0];
    const f = this.fake(B, ctx.seed);
    // one D pass over cat([fake, real]) (ajbrock G_D without split_D): one SN power iteration per D step
    const out = discriminatorForward(this.model.D!, this.model.config.discriminator!, tf.concat([f.images, batch.images], 0) as tf.Tensor4D,
      tf.concat([f.labels, batch.labels], 0) as tf.Tensor1D, { training: true });
    const dFake = tf.slice(out, [0, 0], [B, -1]);
    const dReal = tf.slice(out, [B, 0], [-1, -1]);
    const l = discriminatorLoss(dReal, dFake);
    return { loss: l.loss, logs: { d_real: l.real, d_fake: l.fake, D_real_mean: tf.mean(dReal) as tf.Scalar, D_fake_mean: tf.mean(dFake) as tf.Scalar } };
  }

  /** G hinge loss −mean D(G(z), y) on seeded z and labels (D in train mode too, as in ajbrock). */
  gLoss(batch: TrainBatch, ctx: Pick<StepContext, 'seed'>): LossResult {
    this.model.invalidateCaches();
    const B = batch.images.shape[0];
    const f = this.fake(B, ctx.seed);
    const dFake = discriminatorForward(this.model.D!, this.model.config.discriminator!, f.images, f.labels, { training: true });
    return { loss: generatorLoss(dFake) };
  }

  /** Ortho reg on G's gradients (β = orthoBeta, 0 by default as in the deep launch script). */
  adjustGradients(phase: Phase, grads: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    if (phase !== 'G' || !this.opts.orthoBeta) return grads;
    const byVarName: Record<string, tf.Tensor> = {};
    for (const v of this.gVariables()) byVarName[v.name] = v;
    // grads are keyed by variable name; map to parameter names for the skip list
    const nameOf = new Map(Object.entries(this.model.G.vars).map(([k, v]) => [v.name, k]));
    const byParam: Record<string, tf.Tensor> = {};
    const params: Record<string, tf.Tensor> = {};
    for (const [vn, g] of Object.entries(grads)) {
      const pn = nameOf.get(vn) ?? vn;
      byParam[pn] = g;
      params[pn] = byVarName[vn];
    }
    const adj = addOrthoReg(byParam, params, this.opts.orthoBeta);
    const out: Record<string, tf.Tensor> = {};
    for (const [vn] of Object.entries(grads)) out[vn] = adj[nameOf.get(vn) ?? vn];
    return out;
  }

  emaUpdate(step: number): void {
    this.ema.update(step);
    this.emaG.invalidate();
    this.model.invalidateCaches();
  }

  /** Every variable to checkpoint: G, D, EMA G (prefixed `ema.`). */
  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = { ...this.model.variables() };
    for (const [k, v] of Object.entries(this.ema.shadow)) out[`ema.${k}`] = v;
    return out;
  }

  /** Write the EMA generator as a weights folder `BigGANDeep.fromPretrained` reads (G only). */
  exportGenerator(dir: string): void {
    const cfg = { ...this.model.config, discriminator: undefined };
    writeGanzooFolder(dir, cfg, this.ema.shadow);
  }

  /** Images from the EMA G (eval mode), one per seed: z ~ N(0, 1)·truncation rows of the seeds. */
  sample(seeds: number[], cond: { labels?: number[]; truncation?: number } = {}): tf.Tensor4D {
    const g = this.model.config.generator;
    const t = cond.truncation ?? 1;
    const labels = cond.labels ?? seeds.map((s) => new Rng(`label:${s}`).int(g.numClasses));
    if (labels.length !== seeds.length) throw new Error(`sample: ${labels.length} labels for ${seeds.length} seeds`);
    this.model.classIndices(labels);
    return tf.tidy(() => {
      const z = tf.concat(seeds.map((s) => new Rng(s).truncatedNormal([1, g.zDim], 2, { std: t }))) as tf.Tensor2D;
      const cv = tf.oneHot(tf.tensor1d(labels, 'int32'), g.numClasses).toFloat() as tf.Tensor2D;
      return generatorForward(this.emaG, g, z, cv, { truncation: t });
    });
  }

  // ----- standalone loop with internal Adam optimizers -----

  private optimizers(): { G: tf.AdamOptimizer; D: tf.AdamOptimizer } {
    const o = this.opts;
    if (!this.optG) this.optG = tf.train.adam(o.gLr, o.beta1, o.beta2, o.eps);
    if (!this.optD) this.optD = tf.train.adam(o.dLr, o.beta1, o.beta2, o.eps);
    return { G: this.optG, D: this.optD };
  }

  private update(phase: Phase, batch: TrainBatch, seed: number): number {
    const opt = this.optimizers()[phase];
    const vars = phase === 'D' ? this.dVariables() : this.gVariables();
    let lossValue = 0;
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const r = phase === 'D' ? this.dLoss(batch, { seed }) : this.gLoss(batch, { seed });
        return r.loss;
      }, vars);
      lossValue = scalarValue(value);
      const adj = phase === 'G' ? this.adjustGradients('G', grads) : grads;
      opt.applyGradients(adj as never);
    });
    this.model.invalidateCaches();
    return lossValue;
  }

  /** One D update on a real batch (fakes from `seed`); returns the D loss before the update. */
  dStep(batch: TrainBatch, seed = this.stepCount * 1000 + 1): number {
    return this.update('D', batch, seed);
  }

  /** One G update (batch size from the batch); returns the G loss before the update. */
  gStep(batch: TrainBatch, seed = this.stepCount * 1000 + 999): number {
    const loss = this.update('G', batch, seed);
    this.emaUpdate(this.stepCount);
    this.stepCount++;
    return loss;
  }

  /** dStepsPerG D updates (one real batch each, cycling `batches`) then one G update and the EMA. */
  step(batches: TrainBatch | TrainBatch[]): { d: number[]; g: number } {
    const list = Array.isArray(batches) ? batches : [batches];
    const d: number[] = [];
    for (let k = 0; k < this.opts.dStepsPerG; k++) d.push(this.dStep(list[k % list.length], this.stepCount * 1000 + k + 1));
    const g = this.gStep(list[list.length - 1]);
    return { d, g };
  }

  /**
   * Everything needed to resume exactly: G, D, EMA, SN u/v, BN stats, both Adam states and the step counter.
   * Tensors are copies (the caller disposes them); names are stable across processes.
   */
  async saveState(): Promise<{ tensors: Record<string, tf.Tensor>; meta: { step: number; format: string } }> {
    const tensors: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(this.variables())) tensors[k] = v.clone();
    const { G, D } = this.optimizers();
    for (const [tag, opt, vars] of [['optG', G, this.model.G], ['optD', D, this.model.D!]] as const) {
      const names = new Map(Object.entries(vars.vars).map(([k, v]) => [v.name, k]));
      // tfjs keeps β1ᵗ, β2ᵗ as running products; setWeights recomputes them with pow (1-ulp different), so save them
      const acc = opt as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
      if (acc.accBeta1 && acc.accBeta2) {
        tensors[`${tag}.accBeta1`] = acc.accBeta1.clone();
        tensors[`${tag}.accBeta2`] = acc.accBeta2.clone();
      }
      for (const w of await opt.getWeights()) {
        const m = /^(.*)\/(m|v)$/.exec(w.name);
        const key = m ? `${tag}.${m[2]}.${names.get(m[1]) ?? m[1]}` : `${tag}.${w.name}`;
        tensors[key] = w.tensor.clone();
      }
    }
    return { tensors, meta: { step: this.stepCount, format: 'biggan-deep-trainer/1' } };
  }

  /** Restore a `saveState` result (tensors are copied, not taken over). */
  async loadState(state: { tensors: Record<string, tf.Tensor>; meta: { step: number } }): Promise<void> {
    const t = state.tensors;
    const missing: string[] = [];
    for (const [k, v] of Object.entries(this.variables())) {
      const s = t[k];
      if (!s) missing.push(k);
      else if (s.shape.join(',') !== v.shape.join(',')) throw new Error(`loadState: '${k}' has shape ${JSON.stringify(s.shape)}, expected ${JSON.stringify(v.shape)}`);
    }
    if (missing.length) throw new Error(`loadState: missing ${missing.length} variables: ${missing.slice(0, 10).join(', ')}`);
    for (const [k, v] of Object.entries(this.variables())) v.assign(t[k]);
    // fresh optimizers: setWeights replaces (and would otherwise leak) the old moment variables
    this.optG?.dispose();
    this.optD?.dispose();
    this.optG = null;
    this.optD = null;
    const { G, D } = this.optimizers();
    for (const [tag, opt, store] of [['optG', G, this.model.G], ['optD', D, this.model.D!]] as const) {
      const vars = tag === 'optG' ? this.gVariables() : this.dVariables();
      const nameOf = new Map(Object.entries(store.vars).map(([k, v]) => [v.name, k]));
      const iter = t[`${tag}.iter`];
      if (!iter) continue; // optimizer never stepped when saved
      const ms = vars.map((v) => t[`${tag}.m.${nameOf.get(v.name)}`]);
      const vs = vars.map((v) => t[`${tag}.v.${nameOf.get(v.name)}`]);
      if (ms.some((x) => !x) || vs.some((x) => !x)) throw new Error(`loadState: ${tag} moments are incomplete`);
      const copies = [
        { name: 'iter', tensor: iter.clone() },
        ...vars.map((v, i) => ({ name: `${v.name}/m`, tensor: ms[i].clone() })),
        ...vars.map((v, i) => ({ name: `${v.name}/v`, tensor: vs[i].clone() })),
      ];
      await opt.setWeights(copies);
      tf.dispose(copies.map((c) => c.tensor));
      const acc = opt as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable };
      if (acc.accBeta1 && acc.accBeta2 && t[`${tag}.accBeta1`] && t[`${tag}.accBeta2`]) {
        acc.accBeta1.assign(t[`${tag}.accBeta1`]);
        acc.accBeta2.assign(t[`${tag}.accBeta2`]);
      }
    }
    this.stepCount = state.meta.step;
    this.emaG.invalidate();
    this.model.invalidateCaches();
  }

  dispose(): void {
    this.optG?.dispose();
    this.optD?.dispose();
    this.emaG.invalidate();
    this.ema.dispose();
  }
}
