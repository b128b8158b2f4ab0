/**
 * GALIP training (tobran/GALIP code/lib/modules.py `train`, code/src/train.py), as a core GanTrainable plus a
 * self-contained `step()` with the official Adam settings (G lr 1e-4, D+C lr 4e-4, betas (0.0, 0.9), no EMA).
 *
 * D step: L_D = hinge_real + ½(hinge_fake + hinge_mis) + MA-GP (w.r.t. the real CLIP tap features and the
 * sentence embedding; second-order gradients through NetD/NetC). G step: −mean C(D(f_fake), s) − sim_w·cos(e_fake, s),
 * gradients flowing through the frozen CLIP image encoder and NetG's frozen CLIP_Mapper into NetG. The G step
 * reuses the D step's noise, as the official loop reuses its fake batch.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '@ganzoo/core';
import type { GanTrainable, LossResult, StepContext, TrainBatch, TrainDefaults } from '@ganzoo/core';
import { clipImageEncoder } from './clip';
import { galipDLoss, galipGLoss, maGradientPenalty, rollByOne } from './loss';
import { GALIP } from './model';

/** A batch: images NHWC in [-1, 1] with captions, token ids or precomputed raw sentence embeddings. */
export interface GalipBatch extends TrainBatch {
  sentEmb?: tf.Tensor2D;
  tokenIds?: tf.Tensor2D;
}

export interface GalipStepResult {
  dLoss: number;
  dReal: number;
  dFake: number;
  dMis: number;
  magp: number;
  gLoss: number;
  gAdv: number;
  gSim: number;
}

export class GalipTrainer implements GanTrainable {
  readonly modelId = 'galip';
  readonly model: GALIP;
  readonly config: Record<string, unknown>;
  readonly trainDefaults: TrainDefaults;
  readonly resolution: number;
  readonly conditioning = 'text' as const;
  private optG: tf.Optimizer | null = null;
  private optD: tf.Optimizer | null = null;
  private lastD: { step: number; seed: number } | null = null;
  private stepCount = 0;

  constructor(model: GALIP) {
    if (!model.netD || !model.netC) throw new Error('GalipTrainer: the model has no NetD/NetC (loaded with discriminator: false)');
    this.model = model;
    const t = model.config.train;
    this.config = JSON.parse(JSON.stringify(model.config));
    this.resolution = model.config.clip.imageResolution;
    this.trainDefaults = {
      dStepsPerG: 1,
      batchSize: 16,
      G: { lr: t.lrG, beta1: t.beta1, beta2: t.beta2, epsilon: 1e-8 },
      D: { lr: t.lrD, beta1: t.beta1, beta2: t.beta2, epsilon: 1e-8 },
      lossWeights: { simW: t.simW, magp: t.magpWeight },
    };
  }

  dVariables(): tf.Variable[] {
    return [...this.model.netD!.trainableVariables(), ...this.model.netC!.trainableVariables()];
  }

  gVariables(): tf.Variable[] {
    return this.model.netG.trainableVariables();
  }

  /** Raw sentence embeddings of a batch (frozen text encoder: no gradient). */
  sentenceEmbeddings(batch: GalipBatch): tf.Tensor2D {
    const b = batch.images.shape[0];
    let s: tf.Tensor2D;
    if (batch.sentEmb) s = batch.sentEmb.clone();
    else if (batch.tokenIds) s = this.model.sentenceEmbeddings(batch.tokenIds);
    else if (batch.captions) s = this.model.sentenceEmbeddings(batch.captions);
    else throw new Error('GALIP training: a batch needs captions, tokenIds or sentEmb');
    if (s.shape[0] !== b) {
      s.dispose();
      throw new Error(`GALIP training: expected ${b} captions / embeddings for ${b} images, found ${s.shape[0]}`);
    }
    return s;
  }

  /** Noise [b, zDim] from a seed (core Rng, N(0, 1) as the official loop), or a given noise tensor (cloned). */
  private noise(b: number, seed: number | tf.Tensor2D): tf.Tensor2D {
    if (typeof seed !== 'number') {
      if (seed.rank !== 2 || seed.shape[0] !== b || seed.shape[1] !== this.model.config.zDim) {
        throw new Error(`GALIP training: expected noise [${b}, ${this.model.config.zDim}], found [${seed.shape}]`);
      }
      return seed.clone();
    }
    return new Rng(seed).normal([b, this.model.config.zDim]) as tf.Tensor2D;
  }

  private weights(ctx?: Pick<StepContext, 'weights'>): { simW: number; magp: number } {
    const t = this.model.config.train;
    return { simW: ctx?.weights?.simW ?? t.simW, magp: ctx?.weights?.magp ?? t.magpWeight };
  }

  /** L_D with all parts (noise from a seed or given); call inside tf.variableGrads over dVariables(). */
  dLossParts(batch: GalipBatch, seed: number | tf.Tensor2D, w = this.weights()): { total: tf.Scalar; logs: Record<string, tf.Scalar> } {
    const m = this.model;
    const cfg = m.config;
    const b = batch.images.shape[0];
    const sent = this.sentenceEmbeddings(batch);
    const score = (f: tf.Tensor4D[], s: tf.Tensor2D) => m.netC!.forward(m.netD!.forward(f), s);
    // frozen CLIP features of the real and the fake images (the fake is 'detached': only D/C variables get gradients)
    const fReal = tf.tidy(() => {
      const f = clipImageEncoder(m.clip, cfg.dTaps, batch.images);
      f.emb.dispose();
      return f.local;
    });
    const fFake = tf.tidy(() => {
      const z = this.noise(b, seed);
      const f = clipImageEncoder(m.clip, cfg.dTaps, m.netG.forward(z, sent));
      f.emb.dispose();
      return f.local;
    });
    // NetD once on the real features, NetC on (real, s) and (real, s_mis), as the official loop
    const realFeats = m.netD!.forward(fReal);
    const predReal = m.netC!.forward(realFeats, sent);
    const mis = rollByOne(sent);
    const predMis = m.netC!.forward(realFeats, mis);
    const predFake = score(fFake, sent);
    const magp = maGradientPenalty(score, fReal, sent, w.magp, cfg.train.magpPower);
    const parts = galipDLoss(predReal, predFake, predMis, magp);
    tf.dispose([sent, ...fReal, ...fFake, realFeats, predReal, mis, predMis, predFake, magp]);
    return { total: parts.total, logs: { dReal: parts.real, dFake: parts.fake, dMis: parts.mis, magp: parts.magp } };
  }

  /** L_G with its parts (noise from a seed or given); call inside tf.variableGrads over gVariables(). */
  gLossParts(batch: GalipBatch, seed: number | tf.Tensor2D, w = this.weights()): { total: tf.Scalar; logs: Record<string, tf.Scalar> } {
    const m = this.model;
    const b = batch.images.shape[0];
    const sent = this.sentenceEmbeddings(batch);
    const z = this.noise(b, seed);
    const fake = m.netG.forward(z, sent);
    const f = clipImageEncoder(m.clip, m.config.dTaps, fake);
    const pred = m.netC!.forward(m.netD!.forward(f.local), sent);
    const g = galipGLoss(pred, f.emb, sent, w.simW);
    tf.dispose([sent, z, fake, ...f.local, f.emb, pred]);
    return { total: g.total, logs: { gAdv: g.adv, gSim: g.sim } };
  }

  // ------------------------------------------------------------ GanTrainable

  dLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    this.lastD = { step: ctx.step, seed: ctx.seed };
    const r = this.dLossParts(batch as GalipBatch, ctx.seed, this.weights(ctx));
    return { loss: r.total, logs: r.logs };
  }

  gLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const seed = this.lastD && this.lastD.step === ctx.step ? this.lastD.seed : ctx.seed;
    const r = this.gLossParts(batch as GalipBatch, seed, this.weights(ctx));
    return { loss: r.total, logs: r.logs };
  }

  /** Write the trained model as a ganzoo folder (GALIP.save: weights, CLIP, config). */
  exportGenerator(dir: string): void {
    this.model.save(dir);
  }

  emaUpdate(): void {
    // GALIP trains without EMA
  }

  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const [net, vars] of [['netG', this.model.netG.vars], ['netD', this.model.netD!.vars], ['netC', this.model.netC!.vars]] as const) {
      for (const [k, v] of Object.entries(vars)) out[`${net}.${k}`] = v;
    }
    return out;
  }

  sample(seeds: number[], cond: { captions?: string[]; truncation?: number }): tf.Tensor4D {
    if (!cond.captions || cond.captions.length !== seeds.length) {
      throw new Error(`GALIP.sample: expected one caption per seed (${seeds.length}), found ${cond.captions?.length ?? 0}`);
    }
    return tf.tidy(() => tf.concat(seeds.map((s, i) => this.model.generate({ prompts: [cond.captions![i]], seed: s, truncation: cond.truncation })), 0) as tf.Tensor4D);
  }

  dispose(): void {
    this.optG?.dispose();
    this.optD?.dispose();
    this.optG = this.optD = null;
  }

  // ------------------------------------------------------------ standalone loop

  /** One D update then one G update with the official Adam settings, the G step reusing the D step's noise. */
  step(batch: GalipBatch, opts: { seed?: number } = {}): GalipStepResult {
    const d = this.trainDefaults;
    this.optD ??= tf.train.adam(d.D.lr, d.D.beta1, d.D.beta2, d.D.epsilon);
    this.optG ??= tf.train.adam(d.G.lr, d.G.beta1, d.G.beta2, d.G.epsilon);
    const seed = opts.seed ?? (this.stepCount * 7919 + 17);
    this.stepCount++;
    const out: Record<string, number> = {};
    const run = (phase: 'D' | 'G') => {
      const vars = phase === 'D' ? this.dVariables() : this.gVariables();
      let logs: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const r = phase === 'D' ? this.dLossParts(batch, seed) : this.gLossParts(batch, seed);
        logs = r.logs;
        for (const l of Object.values(logs)) tf.keep(l);
        return r.total;
      }, vars);
      const bad = Object.keys(grads).filter((k) => tf.tidy(() => !tf.all(tf.isFinite(grads[k])).dataSync()[0]));
      if (bad.length) {
        tf.dispose([value, ...Object.values(grads), ...Object.values(logs)]);
        throw new Error(`GALIP ${phase} step: non-finite gradients for ${bad.join(', ')} (update skipped)`);
      }
      (phase === 'D' ? this.optD! : this.optG!).applyGradients(grads);
      out[phase === 'D' ? 'dLoss' : 'gLoss'] = value.dataSync()[0];
      for (const [k, v] of Object.entries(logs)) out[k] = v.dataSync()[0];
      tf.dispose([value, ...Object.values(grads), ...Object.values(logs)]);
    };
    run('D');
    run('G');
    return out as unknown as GalipStepResult;
  }
}
