/**
 * GigaGAN losses and the training plug-in for core's trainer, following lucidrains' GigaGAN.train_discriminator_step
 * / train_generator_step, with the paper's behaviour behind explicit options where lucidrains differs:
 *
 *  - dSign 'lucidrains' (default): D is trained LOW on reals (hinge relu(1 + D(real)) + relu(1 - D(fake)), G loss
 *    mean(D(fake))); 'paper': the usual sign (core hingeDLoss / hingeGLoss as written).
 *  - matchingAware 'lucidrains' (default): the matching-aware loss sees the MATCHED texts (lucidrains discards its
 *    rotated text list); 'mismatched': texts rotated by one inside the batch (the paper's intent).
 *  - weightDecay 'lucidrains' (default): decoupled AdamW decay 0.01 on >= 2-D parameters (lucidrains' get_optimizer
 *    swallows `weight_decay=0.` and uses its default wd=1e-2); 'none': plain Adam as the wrapper intended.
 *  - image range: see GigaGAN.imageRange ([0, 1] as lucidrains by default).
 */
import * as tf from '@tensorflow/tfjs';
import { GanTrainable, LossResult, Phase, Rng, StepContext, TrainBatch, TrainDefaults, clipContrastiveLoss, hingeDLoss, hingeGLoss, logisticDLoss, tfSeed } from '@ganzoo/core';
import { GigaGAN } from './model';
import { TextTokens, fStyleNetwork, generatorForward } from './generator';
import { upsamplerForward } from './upsampler';
import { discriminatorInputResolutions } from './config';
import { DiscriminatorOutput, discriminatorForward, discriminatorTextEmbeds, realImagesToRgbs, visionAidedForward } from './discriminator';
import { getter } from './params';

export type DSign = 'lucidrains' | 'paper';

/** D hinge loss in the chosen sign convention. */
export function dHingeLoss(real: tf.Tensor, fake: tf.Tensor, sign: DSign = 'lucidrains'): tf.Scalar {
  return tf.tidy(() => (sign === 'lucidrains' ? hingeDLoss(tf.neg(real), tf.neg(fake)) : hingeDLoss(real, fake)));
}

/** G hinge loss in the chosen sign convention (lucidrains: mean(D(fake))). */
export function gHingeLoss(fake: tf.Tensor, sign: DSign = 'lucidrains'): tf.Scalar {
  return tf.tidy(() => (sign === 'lucidrains' ? hingeGLoss(tf.neg(fake)) : hingeGLoss(fake)));
}

/** Matching-aware loss: push D toward "fake" on (image, text) pairs: lucidrains softplus(-real) + softplus(-fake). */
export function matchingAwareLoss(real: tf.Tensor, fake: tf.Tensor, sign: DSign = 'lucidrains'): tf.Scalar {
  return tf.tidy(() => (sign === 'lucidrains' ? logisticDLoss(real, tf.neg(fake)) : logisticDLoss(tf.neg(real), fake)));
}

/**
 * Zero-centred gradient penalty (lucidrains gradient_penalty, center 0): weight * mean_b ||d/dx sum_k w_k sum(out_k)||^2
 * with the main logits at weight 1 and the multi-scale outputs at `msWeight` (Mescheder et al. 2018 eq. 9 form, on real
 * AND fake images as in lucidrains' latest commit). `outputs(x)` maps images to [logits, ...multiscale].
 */
export function gradientPenalty(outputs: (x: tf.Tensor4D) => tf.Tensor[], images: tf.Tensor4D, msWeight: number, weight = 10): tf.Scalar {
  return tf.tidy(() => {
    const g = tf.grad((x: tf.Tensor) => {
      const outs = outputs(x as tf.Tensor4D);
      let s = tf.sum(outs[0]);
      for (let i = 1; i < outs.length; i++) s = tf.add(s, tf.mul(tf.sum(outs[i]), msWeight));
      return s;
    })(images);
    const sq = tf.sum(tf.reshape(tf.square(g), [g.shape[0], -1]), 1);
    return tf.mul(tf.mean(sq), weight) as tf.Scalar;
  });
}

export interface GigaGANTrainOptions {
  dSign?: DSign;
  matchingAware?: 'lucidrains' | 'mismatched';
  weightDecay?: 'lucidrains' | 'none';
  /** Apply the gradient penalty every k steps (lucidrains 4; 0 disables). */
  gpEvery?: number;
  /** Texts -> CLIP per-token encodings [B, N, clip.dimLatent] (default: the model's attached CLIP). */
  encodeCaptions?: (captions: string[]) => tf.Tensor3D;
  /**
   * Default learning rate of G and D (trainDefaults; lucidrains 2e-4). The decoupled decay uses the learning rate the
   * trainer actually applies (`ctx.lr`, so `lrG` / `lrD` / `--lr` overrides reach it); this value only when called
   * without one.
   */
  lr?: number;
  /**
   * What the generator side is: the base 'generator' (default) or the 'upsampler' (lucidrains train_upsampler=True:
   * reals are downsized with nearest interpolation to the upsampler's input size, the D sees the upsampler's rgbs).
   */
  target?: 'generator' | 'upsampler';
  /**
   * lucidrains' DiffAugment (off by default there too): with probability `prob`, then 1/2, flip the whole batch and
   * its rgb pyramid horizontally; drawn independently for the reals and fakes of a D step and for a G step.
   */
  diffAugment?: { prob: number } | null;
}

export const GIGAGAN_LOSS_WEIGHTS = {
  multiscale: 0.1,
  visionAided: 0.5,
  contrastive: 0.1,
  matching: 0.1,
  auxRecon: 1,
  gp: 10,
};

/** lucidrains' EMA schedule: ema_pytorch EMA(beta 0.995, update_every 10, update_after_step 100). */
export const EMA_SCHEDULE = { decay: 0.995, every: 10, after: 100 };

/** Core-trainer plug-in for GigaGAN (base generator + multi-scale D, optional vision-aided D and CLIP losses). */
export class GigaGANTrainable implements GanTrainable {
  readonly modelId = 'gigagan';
  readonly config: Record<string, unknown>;
  readonly trainDefaults: TrainDefaults;
  readonly resolution: number;
  readonly conditioning: 'text' | 'none';
  readonly opts: Required<Omit<GigaGANTrainOptions, 'encodeCaptions' | 'diffAugment'>> & Pick<GigaGANTrainOptions, 'encodeCaptions' | 'diffAugment'>;

  constructor(readonly model: GigaGAN, opts: GigaGANTrainOptions = {}) {
    this.config = model.config as unknown as Record<string, unknown>;
    const target = opts.target ?? 'generator';
    const u = model.config.upsampler;
    if (target === 'upsampler') {
      if (!u || !model.U) throw new Error('GigaGAN training: target "upsampler" needs a model with an upsampler');
      const allowed: number[] = [];
      for (let r = u.inputImageSize; r < u.imageSize; r *= 2) allowed.push(r);
      const ins = discriminatorInputResolutions(model.config.D);
      const bad = ins.filter((r) => !allowed.includes(r));
      if (bad.length) throw new Error(`GigaGAN training: D.multiscaleInputResolutions ${JSON.stringify(ins)} must be among the upsampler's rgb resolutions ${JSON.stringify(allowed)}`);
    }
    this.resolution = target === 'upsampler' ? u!.imageSize : model.config.G.imageSize;
    if (model.config.D.imageSize !== this.resolution) throw new Error(`GigaGAN training: D.imageSize ${model.config.D.imageSize} must equal the ${target}'s image size ${this.resolution}`);
    this.conditioning = (target === 'upsampler' ? u!.unconditional : model.config.G.unconditional) ? 'none' : 'text';
    this.opts = {
      dSign: opts.dSign ?? 'lucidrains',
      matchingAware: opts.matchingAware ?? 'lucidrains',
      weightDecay: opts.weightDecay ?? 'lucidrains',
      gpEvery: opts.gpEvery ?? 4,
      lr: opts.lr ?? 2e-4,
      target,
      diffAugment: opts.diffAugment ?? null,
      encodeCaptions: opts.encodeCaptions,
    };
    const adam = { lr: this.opts.lr, beta1: 0.5, beta2: 0.9, epsilon: 1e-8 };
    this.trainDefaults = { dStepsPerG: 1, batchSize: 4, G: adam, D: adam, lossWeights: { ...GIGAGAN_LOSS_WEIGHTS } };
  }

  dVariables(): tf.Variable[] {
    const vs = Object.values(this.model.D).filter((v) => v.trainable);
    if (this.model.VD) vs.push(...Object.values(this.model.VD).filter((v) => v.trainable));
    return vs;
  }

  gVariables(): tf.Variable[] {
    return Object.values(this.gParams()).filter((v) => v.trainable);
  }

  private gParams(): Record<string, tf.Variable> {
    return this.opts.target === 'upsampler' ? this.model.U! : this.model.G;
  }

  private encodings(batch: TrainBatch): tf.Tensor3D | null {
    if (this.conditioning === 'none') return null;
    if (!batch.captions || batch.captions.length !== batch.images.shape[0]) {
      throw new Error(`GigaGAN training: a text-conditional model needs one caption per image (${batch.images.shape[0]}), found ${batch.captions?.length ?? 0}`);
    }
    if (this.opts.encodeCaptions) return this.opts.encodeCaptions(batch.captions);
    return this.model.encodePrompts(batch.captions);
  }

  private gText(enc: tf.Tensor3D | null): TextTokens | null {
    if (!enc) return null;
    return this.opts.target === 'upsampler'
      ? this.model.textTokens({ textEncodings: enc }, 'upsampler', this.model.U!)
      : this.model.textTokens({ textEncodings: enc }, 'G', this.model.G);
  }

  private fake(batch: TrainBatch, ctx: StepContext, text: TextTokens | null): { image: tf.Tensor4D; rgbs: tf.Tensor4D[]; w: tf.Tensor2D } {
    const b = batch.images.shape[0];
    if (this.opts.target === 'upsampler') {
      const u = this.model.config.upsampler!;
      const real = this.model.fromApi(batch.images);
      // lucidrains: F.interpolate(real_images, (size, size)) -- the default 'nearest' mode
      const lowres = tf.image.resizeNearestNeighbor(real, [u.inputImageSize, u.inputImageSize], false, false);
      const w = fStyleNetwork(getter(this.model.U!, 'upsampler'), 'style_network', u.styleNetwork, tf.randomNormal([b, u.styleNetwork.dim], 0, 1, 'float32', tfSeed(ctx.seed)) as tf.Tensor2D, text ? text.global : null);
      const out = upsamplerForward(getter(this.model.U!, 'upsampler'), u, { lowres, styles: w, text });
      return { image: out.image, rgbs: out.rgbs, w };
    }
    const c = this.model.config.G;
    const z = tf.randomNormal([b, c.styleNetwork.dim], 0, 1, 'float32', tfSeed(ctx.seed)) as tf.Tensor2D;
    const w = this.model.styles(z, text, this.model.G);
    const out = generatorForward(getter(this.model.G, 'G'), c, { styles: w, text, noiseSeed: (ctx.seed % 100000) + 1 });
    return { ...out, w };
  }

  /** lucidrains DiffAugment: maybe flip images and their pyramid (one decision for the batch). */
  private augment(images: tf.Tensor4D, rgbs: tf.Tensor4D[], rng: Rng): { images: tf.Tensor4D; rgbs: tf.Tensor4D[] } {
    const da = this.opts.diffAugment;
    if (!da || rng.random() >= da.prob || rng.random() >= 0.5) return { images, rgbs };
    return { images: tf.reverse(images, 2), rgbs: rgbs.map((r) => tf.reverse(r, 2)) };
  }

  private dForward(images: tf.Tensor4D, rgbs: tf.Tensor4D[], textEmbeds: tf.Tensor2D | null, ms: boolean, aux: { seed: number } | null): DiscriminatorOutput {
    return discriminatorForward(getter(this.model.D, 'D'), this.model.config.D, { images, rgbs, textEmbeds, returnMultiscale: ms, auxRecon: aux });
  }

  private dTextEmbeds(enc: tf.Tensor3D | null): tf.Tensor2D | null {
    if (!enc) return null;
    const d = this.model.config.D;
    if (d.textEncoder) return discriminatorTextEmbeds(getter(this.model.D, 'D'), d, this.model.config.clip.dimLatent, enc);
    return this.gText(enc)!.global;
  }

  dLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const wts = { ...GIGAGAN_LOSS_WEIGHTS, ...ctx.weights };
    const sign = this.opts.dSign;
    const enc = this.encodings(batch);
    const rng = new Rng(ctx.seed);
    // the real pyramid is always derived from `real`, so flipping `real` flips its pyramid too
    const realRaw = this.model.fromApi(batch.images);
    const real = this.augment(realRaw, [], rng).images;
    const text = this.gText(enc);
    const g = this.fake(batch, ctx, text);
    // D's gradients only reach D's variables (G's ops are not on their path), so G's outputs act as constants here
    const fa = this.augment(g.image, g.rgbs, rng);
    const fakeImg = fa.images;
    const fakeRgbs = fa.rgbs;
    const tEmb = this.dTextEmbeds(enc);
    const fakeOut = this.dForward(fakeImg, fakeRgbs, tEmb, true, null);
    const realOut = this.dForward(real, realImagesToRgbs(this.model.config.D, real), tEmb, true, { seed: ctx.seed });
    const logs: Record<string, tf.Scalar> = {};
    const divergence = dHingeLoss(realOut.logits, fakeOut.logits, sign);
    logs.divergence = divergence;
    let loss: tf.Scalar = divergence;
    if (wts.multiscale > 0 && fakeOut.multiscale.length) {
      let ms: tf.Scalar = tf.scalar(0);
      fakeOut.multiscale.forEach((f, i) => (ms = tf.add(ms, dHingeLoss(realOut.multiscale[i], f, sign)) as tf.Scalar));
      logs.multiscale = ms;
      loss = tf.add(loss, tf.mul(ms, wts.multiscale));
    }
    if (wts.auxRecon > 0 && realOut.auxLosses.length) {
      const aux = tf.addN(realOut.auxLosses) as tf.Scalar;
      logs.aux_recon = aux;
      loss = tf.add(loss, tf.mul(aux, wts.auxRecon));
    }
    if (enc && wts.matching > 0) {
      let tm = tEmb!;
      if (this.opts.matchingAware === 'mismatched' && tm.shape[0] > 1) tm = tf.concat([tf.slice(tm, [1, 0], [-1, -1]), tf.slice(tm, [0, 0], [1, -1])], 0);
      // lucidrains feeds the matching-aware pass the images from before DiffAugment
      const f = this.dForward(g.image, g.rgbs, tm, false, null);
      const r = this.dForward(realRaw, realImagesToRgbs(this.model.config.D, realRaw), tm, false, null);
      const mal = matchingAwareLoss(r.logits, f.logits, sign);
      logs.matching_aware = mal;
      loss = tf.add(loss, tf.mul(mal, wts.matching));
    }
    const gpStep = this.opts.gpEvery > 0 && (ctx.step + 1) % this.opts.gpEvery === 0 && wts.gp > 0;
    if (this.model.VD && this.model.clip && wts.visionAided > 0) {
      const vd = this.visionAidedD(fakeImg, real, batch, gpStep ? wts.visionAided : 0, wts.gp);
      logs.vision_aided = vd.loss;
      loss = tf.add(loss, tf.mul(vd.loss, wts.visionAided));
      if (vd.gp) {
        logs.vision_aided_gp = vd.gp;
        // lucidrains skips a NaN vision-aided penalty
        if (!Number.isNaN(vd.gp.dataSync()[0])) loss = tf.add(loss, vd.gp);
      }
    }
    if (gpStep) {
      const dc = this.model.config.D;
      const outs = (rgbsOf: (x: tf.Tensor4D) => tf.Tensor4D[]) => (x: tf.Tensor4D) => {
        const o = this.dForward(x, rgbsOf(x), tEmb, wts.multiscale > 0, null);
        return [o.logits, ...o.multiscale];
      };
      const gpReal = gradientPenalty(outs((x) => realImagesToRgbs(dc, x)), real, wts.multiscale, wts.gp);
      const gpFake = gradientPenalty(outs(() => fakeRgbs), fakeImg, wts.multiscale, wts.gp);
      const gp = tf.add(gpReal, gpFake) as tf.Scalar;
      logs.gradient_penalty = gp;
      loss = tf.add(loss, gp);
    }
    logs.real = tf.mean(realOut.logits) as tf.Scalar;
    logs.fake = tf.mean(fakeOut.logits) as tf.Scalar;
    return { loss: loss as tf.Scalar, logs };
  }

  /**
   * Vision-aided D hinge; with gpWeight > 0 also lucidrains' penalty on the real images' CLIP hidden states:
   * gp * mean over the stacked layer axis of ||d/dH sum_l gpWeight * sum(logits_l)||^2 (lucidrains flattens the
   * stacked [layers, B, N, D] encodings with the LAYER axis first, so its "per-sample" norm is per layer).
   */
  private visionAidedD(fake: tf.Tensor4D, real: tf.Tensor4D, batch: TrainBatch, gpWeight: number, gp: number): { loss: tf.Scalar; gp?: tf.Scalar } {
    const vc = this.model.config.visionAided!;
    const clip = this.model.clip!;
    const w = getter(this.model.VD!, 'VD');
    const toClip = (x: tf.Tensor4D) => (this.model.imageRange === 'zero-one' ? x : (tf.div(tf.add(x, 1), 2) as tf.Tensor4D));
    const te = vc.unconditional ? null : clip.embedTexts(batch.captions!).embeds;
    const f = visionAidedForward(w, vc, clip.embedImages(toClip(fake)).hidden, te);
    const hidden = clip.embedImages(toClip(real)).hidden;
    const r = visionAidedForward(w, vc, hidden, te);
    const loss = tf.addN(f.map((fl, i) => dHingeLoss(r[i], fl, this.opts.dSign))) as tf.Scalar;
    if (!(gpWeight > 0)) return { loss };
    const used = [...new Set(vc.layerIndices.map((li) => (li < 0 ? hidden.length + li : li)))];
    const grads = tf.grads((...hs: tf.Tensor[]) => {
      const all = hidden.slice();
      used.forEach((idx, j) => (all[idx] = hs[j] as tf.Tensor3D));
      return tf.mul(tf.addN(visionAidedForward(w, vc, all, te).map((l) => tf.sum(l))), gpWeight) as tf.Scalar;
    })(used.map((idx) => hidden[idx]));
    const sq = tf.addN(grads.map((g) => tf.sum(tf.square(g))));
    return { loss, gp: tf.mul(tf.div(sq, hidden.length), gp) as tf.Scalar };
  }

  gLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const wts = { ...GIGAGAN_LOSS_WEIGHTS, ...ctx.weights };
    const sign = this.opts.dSign;
    const enc = this.encodings(batch);
    const text = this.gText(enc);
    const g0 = this.fake(batch, ctx, text);
    const ga = this.augment(g0.image, g0.rgbs, new Rng(ctx.seed));
    const g = { ...g0, image: ga.images, rgbs: ga.rgbs };
    // running mean of w for 'tracked' truncation (not part of the loss)
    if (this.opts.target === 'generator') this.model.wAvg.assign(tf.tidy(() => tf.add(tf.mul(this.model.wAvg, 0.995), tf.mul(tf.mean(g.w, 0), 0.005))));
    const out = this.dForward(g.image, g.rgbs, this.dTextEmbeds(enc), wts.multiscale > 0, null);
    const logs: Record<string, tf.Scalar> = {};
    const divergence = gHingeLoss(out.logits, sign);
    logs.divergence = divergence;
    let loss: tf.Scalar = divergence;
    if (wts.multiscale > 0 && out.multiscale.length) {
      const ms = tf.addN(out.multiscale.map((m) => gHingeLoss(m, sign))) as tf.Scalar;
      logs.multiscale = ms;
      loss = tf.add(loss, tf.mul(ms, wts.multiscale));
    }
    const clip = this.model.clip;
    if (clip && (wts.visionAided > 0 || wts.contrastive > 0)) {
      const img = this.model.imageRange === 'zero-one' ? g.image : (tf.div(tf.add(g.image, 1), 2) as tf.Tensor4D);
      const emb = clip.embedImages(img);
      if (this.model.VD && wts.visionAided > 0) {
        const vc = this.model.config.visionAided!;
        const te = vc.unconditional ? null : clip.embedTexts(batch.captions!).embeds;
        const vl = tf.addN(visionAidedForward(getter(this.model.VD, 'VD'), vc, emb.hidden, te).map((l) => gHingeLoss(l, sign))) as tf.Scalar;
        logs.vision_aided = vl;
        loss = tf.add(loss, tf.mul(vl, wts.visionAided));
      }
      if (enc && wts.contrastive > 0) {
        const cl = clipContrastiveLoss(clip.embedTexts(batch.captions!).embeds, emb.embeds, clip.temperature());
        logs.contrastive = cl;
        loss = tf.add(loss, tf.mul(cl, wts.contrastive));
      }
    }
    return { loss: loss as tf.Scalar, logs };
  }

  /**
   * AdamW's decoupled decay (lucidrains' effective optimiser): p <- p (1 - lr wd) on >= 2-D parameters that have a
   * gradient, before Adam's step (PyTorch AdamW's order), with lr the learning rate of this phase's optimizer
   * (`ctx.lr` from the trainer; `opts.lr` without one). Returns the gradients unchanged.
   */
  adjustGradients(phase: Phase, grads: Record<string, tf.Tensor>, ctx?: StepContext): Record<string, tf.Tensor> {
    if (this.opts.weightDecay === 'lucidrains') {
      const lr = ctx?.lr ?? this.opts.lr;
      if (!(lr > 0)) throw new Error(`GigaGAN weight decay: expected a learning rate > 0, found ${lr}`);
      const vars = phase === 'G' ? this.gVariables() : this.dVariables();
      tf.tidy(() => {
        for (const v of vars) if (grads[v.name] && v.rank >= 2) v.assign(tf.mul(v, 1 - lr * 0.01));
      });
    }
    return grads;
  }

  emaUpdate(step: number): void {
    const ema = this.model.ema;
    // the model's EMA shadows the base generator; an upsampler run keeps no EMA copy
    if (!ema || this.opts.target === 'upsampler') return;
    // ema_pytorch: copy the weights until update_after_step, then blend every update_every steps
    if (step < EMA_SCHEDULE.after) {
      for (const [k, v] of Object.entries(this.model.G)) ema.shadow[k].assign(v);
    } else if (step % EMA_SCHEDULE.every === 0) ema.update();
  }

  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    const add = (prefix: string, p: Record<string, tf.Variable> | null) => {
      if (p) for (const [k, v] of Object.entries(p)) out[`${prefix}/${k}`] = v;
    };
    add('G', this.model.G);
    add('D', this.model.D);
    add('U', this.model.U);
    add('VD', this.model.VD);
    add('G_ema', this.model.ema?.shadow ?? null);
    out['w_avg'] = this.model.wAvg;
    return out;
  }

  /**
   * One image per seed from the EMA generator; for an upsampler run, the generator's image (resized to the upsampler's
   * input size when the sizes differ) upsampled with the same caption and seed.
   */
  sample(seeds: number[], cond: { captions?: string[]; truncation?: number }): tf.Tensor4D {
    return tf.tidy(() => {
      const imgs = seeds.map((s, i) => {
        const text: { textEncodings?: tf.Tensor3D; prompts?: string[] } = {};
        if (this.conditioning === 'text') {
          const cap = cond.captions?.[i];
          if (cap === undefined) throw new Error(`GigaGAN.sample: no caption for seed ${s}`);
          if (this.opts.encodeCaptions) text.textEncodings = this.opts.encodeCaptions([cap]);
          else text.prompts = [cap];
        }
        if (this.opts.target === 'upsampler') {
          const u = this.model.config.upsampler!;
          const baseText = this.model.config.G.unconditional ? {} : text;
          let base = this.model.generate({ ...baseText, seed: s, truncation: cond.truncation }).images;
          if (base.shape[1] !== u.inputImageSize) base = tf.image.resizeBilinear(base, [u.inputImageSize, u.inputImageSize], false, true);
          return this.model.upsample({ images: base, ...(u.unconditional ? {} : text), seed: s }).images;
        }
        return this.model.generate({ ...text, seed: s, truncation: cond.truncation }).images;
      });
      return tf.concat(imgs, 0) as tf.Tensor4D;
    });
  }

  exportGenerator(dir: string): void {
    this.model.save(dir);
  }

  dispose(): void {
    this.model.dispose();
  }
}
