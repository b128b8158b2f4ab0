/**
 * StyleGAN-T training (training/loss.py ProjectedGANLoss.accumulate_gradients, training/training_loop.py):
 * D phase = hinge on D(blur(G(z, c))) and D(blur(x)); G phase = -D(blur(G(z, c))) / B + clip_weight * L_clip;
 * Adam (lr 0.002, betas (0, 0.99), eps 1e-8; G lr 3e-6 in 'text_encoder' mode); gradients nan_to_num'd;
 * G_ema with the official half-life ramp. Implements core's GanTrainable, and has a self-contained `step()`.
 */
import * as tf from '@tensorflow/tfjs';
import { GanTrainable, LossResult, Phase, StepContext, TrainBatch, TrainDefaults, tfSeed } from '@ganzoo/core';
import { CLIP, ParamMap as ClipParams } from '@ganzoo/encoders';
import { Generator, isGeneratorBuffer } from './generator';
import { isDiscriminatorBuffer, ProjectedDiscriminator } from './discriminator';
import { blurSigma, clipGuidanceLoss, DEFAULT_LOSS_SETTINGS, emaBeta, LossSettings, prepareDInput, projectedDLoss, projectedGLoss } from './loss';
import { latentsFromSeeds, StyleGANT } from './model';
import { makeVariable, ParamMap } from './params';

/** A batch for StyleGAN-T: images in [-1, 1] NHWC plus captions and / or their (L2-normalised) CLIP text embeddings. */
export interface StyleGANTBatch extends TrainBatch {
  textEmbeddings?: tf.Tensor2D;
}

export interface TrainOptions extends Partial<LossSettings> {
  /** Batch size of the recipe (train.py --batch; the tests use small ones). Default 8 (one BatchNormLocal group). */
  batchSize?: number;
  /** EMA half-life in kimg (train.py: batch * 10 / 32) and ramp-up (0.05; null = none). */
  emaKimg?: number;
  emaRampup?: number | null;
  /** Frozen CLIP of the loss: encodes captions for D (and G in 'all' mode) and scores images for the CLIP guidance. */
  lossClip?: CLIP;
  /** Seed of the run's randomness (z, noise, DiffAugment, crops) in `step()`. */
  seed?: number;
  /** Adam overrides. */
  lrG?: number;
  lrD?: number;
}

/** nan_to_num(nan=0, posinf=1e5, neginf=-1e5) as the official gradient all-reduce does. */
export function nanToNum(g: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const finite = tf.where(tf.isNaN(g), tf.zerosLike(g), g);
    return tf.clipByValue(finite, -1e5, 1e5);
  });
}

export class StyleGANTTrainer implements GanTrainable {
  readonly modelId = 'stylegan-t';
  readonly conditioning = 'text' as const;
  readonly resolution: number;
  readonly trainDefaults: TrainDefaults;
  readonly settings: LossSettings;
  readonly batchSize: number;
  /** The EMA generator (same architecture, its own variables). */
  readonly Gema: Generator;
  readonly D: ProjectedDiscriminator;
  /** In 'text_encoder' mode: the EMA copy of G's CLIP text tower (official G_ema averages every G parameter). */
  readonly emaTextEncoder: CLIP | null = null;
  /** Images seen so far (drives the blur fade and the EMA ramp); advanced by one batch per G update. */
  curNimg = 0;
  /** Text embeddings of the first training batch: the sample grid's conditioning when the caller gives none. */
  private sampleText: tf.Tensor2D | null = null;
  private optG: tf.Optimizer | null = null;
  private optD: tf.Optimizer | null = null;
  private stepCount = 0;

  constructor(readonly model: StyleGANT, readonly opts: TrainOptions = {}) {
    if (!model.D) throw new Error('StyleGAN-T training needs a discriminator (create with { withDiscriminator: true } or load model_D.safetensors with a DINO)');
    this.D = model.D;
    const cfg = model.resolved;
    this.resolution = cfg.imgResolution;
    this.settings = { ...DEFAULT_LOSS_SETTINGS, ...definedOnly({ blurInitSigma: opts.blurInitSigma, blurFadeKimg: opts.blurFadeKimg, clipWeight: opts.clipWeight }) };
    if (this.settings.clipWeight > 0 && !opts.lossClip) throw new Error('StyleGAN-T: clipWeight > 0 needs a CLIP (image + text towers) as lossClip');
    this.batchSize = opts.batchSize ?? 8;
    const textMode = cfg.trainMode === 'text_encoder';
    if (textMode) {
      if (!model.textEncoder) throw new Error("StyleGAN-T: train_mode 'text_encoder' needs the generator's CLIP text encoder (model.textEncoder)");
      if (model.textEncoder === opts.lossClip) throw new Error("StyleGAN-T: train_mode 'text_encoder' trains G's own CLIP copy; pass a separate frozen CLIP as lossClip");
    }
    this.trainDefaults = {
      dStepsPerG: 1,
      batchSize: this.batchSize,
      G: { lr: opts.lrG ?? (textMode ? 3e-6 : 0.002), beta1: 0, beta2: 0.99, epsilon: 1e-8 },
      D: { lr: opts.lrD ?? 0.002, beta1: 0, beta2: 0.99, epsilon: 1e-8 },
      lossWeights: { clip: this.settings.clipWeight },
    };
    const ema: ParamMap = {};
    for (const [k, v] of Object.entries(model.G.params)) ema[k] = makeVariable('Gema', k, v, false);
    this.Gema = new Generator(cfg, ema);
    if (textMode) {
      const enc = model.textEncoder as CLIP;
      const vars = new Map<string, tf.Variable>();
      for (const [k, v] of Object.entries(enc.params.toRecord())) vars.set(k, makeVariable('Gema_clip', k, v, false));
      this.emaTextEncoder = new CLIP(enc.config, new ClipParams(vars), { tokenizer: enc.tokenizer, imageProcessor: enc.imageProcessor });
    }
  }

  get config(): Record<string, unknown> {
    return this.model.config as unknown as Record<string, unknown>;
  }

  /** Trainable G variables by train mode: 'all' = synthesis + mapping.mlp; 'freeze64' = blocks > 64 and every torgb;
   * 'text_encoder' = the generator's CLIP text tower only (made trainable here). */
  gVariables(): tf.Variable[] {
    const cfg = this.model.resolved;
    const p = this.model.G.params;
    if (cfg.trainMode === 'text_encoder') {
      const vars = Object.values((this.model.textEncoder as CLIP).params.toRecord());
      for (const v of vars) v.trainable = true;
      return vars;
    }
    const keep = (k: string): boolean => {
      if (isGeneratorBuffer(k)) return false;
      if (cfg.trainMode === 'freeze64') {
        const m = k.match(/^synthesis\.b(\d+)\./);
        return (!!m && Number(m[1]) > 64) || k.includes('torgb');
      }
      return k.startsWith('synthesis.') || k.startsWith('mapping.mlp.');
    };
    return Object.keys(p).filter(keep).map((k) => p[k]);
  }

  dVariables(): tf.Variable[] {
    const p = this.D.heads.params;
    return Object.keys(p).filter((k) => !isDiscriminatorBuffer(k)).map((k) => p[k]);
  }

  /** c_enc: the batch's text embeddings, or the loss CLIP's L2-normalised encoding of its captions. */
  private textEmbeddings(batch: StyleGANTBatch): tf.Tensor2D {
    const c = this.encodeBatchText(batch);
    if (!this.sampleText) this.sampleText = tf.keep(c.clone());
    return c;
  }

  private encodeBatchText(batch: StyleGANTBatch): tf.Tensor2D {
    const B = batch.images.shape[0];
    const cDim = this.model.resolved.cDim;
    if (batch.textEmbeddings) {
      const t = batch.textEmbeddings;
      if (t.rank !== 2 || t.shape[0] !== B || t.shape[1] !== cDim) throw new Error(`StyleGAN-T batch: textEmbeddings must be [${B}, ${cDim}], got [${t.shape}]`);
      return t.clone();
    }
    if (batch.captions) {
      if (batch.captions.length !== B) throw new Error(`StyleGAN-T batch: ${batch.captions.length} captions for ${B} images`);
      const clip = this.opts.lossClip ?? (this.model.resolved.trainMode === 'text_encoder' ? null : this.model.textEncoder);
      if (!clip) throw new Error('StyleGAN-T batch: captions need a CLIP (lossClip or the model text encoder), or give textEmbeddings');
      const captions = batch.captions;
      return tf.tidy(() => {
        const e = clip.encodeText(clip.tokenize(captions));
        return tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-12));
      }) as tf.Tensor2D;
    }
    throw new Error('StyleGAN-T batch: captions or textEmbeddings are required (text-conditional model)');
  }

  /** run_G in training mode: x_avg tracking, random noise; G's text comes from its own encoder in 'text_encoder' mode. */
  private runG(batch: StyleGANTBatch, cEnc: tf.Tensor2D, seed: number): tf.Tensor4D {
    const B = batch.images.shape[0];
    return tf.tidy(() => {
      const z = tf.randomNormal([B, this.model.resolved.zDim], 0, 1, 'float32', tfSeed(seed >>> 0)) as tf.Tensor2D;
      let cG = cEnc;
      if (this.model.resolved.trainMode === 'text_encoder') {
        if (!batch.captions) throw new Error("StyleGAN-T: train_mode 'text_encoder' needs captions in the batch (G encodes them with its own CLIP)");
        const enc = this.model.textEncoder as CLIP;
        const e = enc.encodeText(enc.tokenize(batch.captions));
        cG = tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
      }
      const w = this.model.G.mapping(z, cG, 1, { training: true });
      return this.model.G.synthesis(w, { noiseMode: 'random', noiseSeed: seed });
    });
  }

  private runD(img: tf.Tensor4D, c: tf.Tensor2D, seed: number): tf.Tensor2D {
    return tf.tidy(() => {
      const x = prepareDInput(img, this.resolution, blurSigma(this.curNimg, this.settings));
      return this.D.forward(x, c, { training: true, seed });
    });
  }

  dLoss(batch: StyleGANTBatch, ctx: StepContext): LossResult {
    return tf.tidy(() => {
      const c = this.textEmbeddings(batch);
      const fake = this.runG(batch, c, ctx.seed);
      const fakeLogits = this.runD(fake, c, ctx.seed ^ 0x1234567);
      const realLogits = this.runD(batch.images, c, ctx.seed ^ 0x7654321);
      const { loss, real, fake: f } = projectedDLoss(realLogits, fakeLogits);
      return { loss, logs: { real, fake: f, 'scores/real': tf.mean(realLogits) as tf.Scalar, 'scores/fake': tf.mean(fakeLogits) as tf.Scalar } };
    });
  }

  gLoss(batch: StyleGANTBatch, ctx: StepContext): LossResult {
    return tf.tidy(() => {
      const c = this.textEmbeddings(batch);
      const fake = this.runG(batch, c, ctx.seed);
      const fakeLogits = this.runD(fake, c, ctx.seed ^ 0x1234567);
      const adv = projectedGLoss(fakeLogits);
      const logs: Record<string, tf.Scalar> = { adv };
      let loss: tf.Scalar = adv;
      const w = ctx.weights.clip ?? this.settings.clipWeight;
      if (w > 0) {
        logs.clip = clipGuidanceLoss(this.opts.lossClip as CLIP, fake, c, ctx.seed ^ 0x2468ace);
        loss = tf.add(adv, tf.mul(logs.clip, w)) as tf.Scalar;
      }
      return { loss, logs };
    });
  }

  adjustGradients(_phase: Phase, grads: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) out[k] = nanToNum(g);
    return out;
  }

  /** G_ema <- lerp(G, G_ema, beta) for parameters, buffers copied (training_loop.py); advances curNimg by a batch. */
  emaUpdate(_step: number): void {
    this.curNimg += this.batchSize;
    const beta = emaBeta(this.batchSize, this.curNimg, this.opts.emaKimg, this.opts.emaRampup === undefined ? 0.05 : this.opts.emaRampup);
    tf.tidy(() => {
      for (const [k, v] of Object.entries(this.model.G.params)) {
        const e = this.Gema.params[k];
        if (isGeneratorBuffer(k)) e.assign(v);
        else e.assign(tf.add(v, tf.mul(tf.sub(e, v), beta)));
      }
      if (this.emaTextEncoder) {
        const live = (this.model.textEncoder as CLIP).params;
        for (const [k, e] of Object.entries(this.emaTextEncoder.params.toRecord())) {
          const v = live.get(k);
          e.assign(tf.add(v, tf.mul(tf.sub(e, v), beta)));
        }
      }
    });
  }

  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const [k, v] of Object.entries(this.model.G.params)) out[`G.${k}`] = v;
    for (const [k, v] of Object.entries(this.Gema.params)) out[`G_ema.${k}`] = v;
    for (const [k, v] of Object.entries(this.D.heads.params)) out[`D.${k}`] = v;
    if (this.model.resolved.trainMode === 'text_encoder' && this.model.textEncoder) {
      for (const [k, v] of Object.entries(this.model.textEncoder.params.toRecord())) out[`G.mapping.clip.model.${k}`] = v;
      for (const [k, v] of Object.entries((this.emaTextEncoder as CLIP).params.toRecord())) out[`G_ema.mapping.clip.model.${k}`] = v;
    }
    return out;
  }

  /** Write the EMA generator as a model folder (config.json + model.safetensors) that StyleGANT.fromPretrained reads. */
  exportGenerator(dir: string): void {
    const copy = new StyleGANT(this.model.config, this.Gema, this.emaTextEncoder ?? this.model.textEncoder);
    copy.save(dir);
  }

  sample(seeds: number[], cond: { labels?: number[]; captions?: string[]; truncation?: number; textEmbeddings?: tf.Tensor2D }): tf.Tensor4D {
    return tf.tidy(() => {
      const z = latentsFromSeeds(seeds, this.model.resolved.zDim);
      let c: tf.Tensor2D | null = null;
      if (this.model.resolved.cDim > 0) {
        if (cond.textEmbeddings) c = cond.textEmbeddings;
        else if (cond.captions && this.emaTextEncoder) {
          const e = this.emaTextEncoder.encodeText(this.emaTextEncoder.tokenize(cond.captions));
          c = tf.div(e, tf.maximum(tf.norm(e, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
        } else if (cond.captions) c = this.encodeBatchText({ images: tf.zeros([seeds.length, 1, 1, 3]) as tf.Tensor4D, captions: cond.captions });
        else if (this.sampleText) {
          const n = this.sampleText.shape[0];
          c = tf.gather(this.sampleText, seeds.map((_, i) => i % n)) as tf.Tensor2D;
        } else throw new Error('StyleGAN-T sample: captions (or textEmbeddings) are required before the first training batch');
      }
      const w = this.Gema.mapping(z, c, cond.truncation ?? 1);
      return this.Gema.synthesis(w, { noiseMode: 'const' });
    });
  }

  /**
   * One self-contained training step (no core Trainer needed): a D update then a G update on `batch`, each with
   * Adam, then the EMA. Returns the losses as numbers. Leak-free.
   */
  step(batch: StyleGANTBatch): { dLoss: number; gLoss: number; logs: Record<string, number> } {
    const seed = ((this.opts.seed ?? 0) * 1000003 + this.stepCount * 7919) >>> 0;
    if (!this.optD) this.optD = tf.train.adam(this.trainDefaults.D.lr, this.trainDefaults.D.beta1, this.trainDefaults.D.beta2, this.trainDefaults.D.epsilon);
    if (!this.optG) this.optG = tf.train.adam(this.trainDefaults.G.lr, this.trainDefaults.G.beta1, this.trainDefaults.G.beta2, this.trainDefaults.G.epsilon);
    const weights = this.trainDefaults.lossWeights ?? {};
    const ctx = (phase: Phase, s: number): StepContext => ({ step: this.stepCount, phase, sub: 0, micro: 0, micros: 1, seed: s, weights });
    const logs: Record<string, number> = {};
    const update = (phase: Phase, vars: tf.Variable[], opt: tf.Optimizer, s: number): number => {
      let lossVal = 0;
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => {
          const r = phase === 'D' ? this.dLoss(batch, ctx(phase, s)) : this.gLoss(batch, ctx(phase, s));
          for (const [k, v] of Object.entries(r.logs ?? {})) logs[`${phase}/${k}`] = v.dataSync()[0];
          return r.loss;
        }, vars);
        lossVal = value.dataSync()[0];
        const adj = this.adjustGradients(phase, grads);
        opt.applyGradients(adj as tf.NamedTensorMap);
      });
      return lossVal;
    };
    const dLoss = update('D', this.dVariables(), this.optD, seed);
    const gLoss = update('G', this.gVariables(), this.optG, (seed + 1) >>> 0);
    this.emaUpdate(this.stepCount);
    this.stepCount += 1;
    return { dLoss, gLoss, logs };
  }

  dispose(): void {
    for (const v of Object.values(this.Gema.params)) v.dispose();
    this.emaTextEncoder?.dispose();
    this.sampleText?.dispose();
    this.optD?.dispose();
    this.optG?.dispose();
  }
}

function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
