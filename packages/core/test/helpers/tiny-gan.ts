/**
 * A tiny class-conditional DCGAN implementing `GanTrainable`, for trainer tests (BigGAN-deep's trainable is tested
 * in its own package). G: [z, onehot] -> dense 4x4xC -> (nearest up x2, conv3x3, lrelu) x log2(res/4) -> conv -> tanh.
 * D: (conv3x3 stride 2, SiLU) -> mean pool -> linear + projection (Miyato & Koyama 2018). Hinge loss, lazy R1, EMA.
 */
import * as tf from '@tensorflow/tfjs';
import { EMA } from '../../src/ema';
import { hingeDLoss, hingeGLoss, r1Penalty } from '../../src/losses';
import type { GanTrainable, LossResult, Regularizer, StepContext, TrainBatch, TrainDefaults } from '../../src/trainer';

let instance = 0;

export interface TinyGanOptions {
  resolution?: number;
  numClasses?: number;
  zDim?: number;
  ch?: number;
  seed?: number;
  /** D loss becomes NaN at these steps (non-finite guard tests); 'always' for every step. */
  nanAt?: number[] | 'always';
  r1Interval?: number;
}

export class TinyGan implements GanTrainable {
  readonly modelId = 'tiny-dcgan';
  readonly config: Record<string, unknown>;
  readonly trainDefaults: TrainDefaults = {
    dStepsPerG: 1, batchSize: 8, G: { lr: 2e-3, beta1: 0.5, beta2: 0.99 }, D: { lr: 2e-3, beta1: 0.5, beta2: 0.99 },
    lossWeights: { r1: 0.1 },
  };
  readonly resolution: number;
  readonly conditioning = 'class' as const;
  readonly numClasses: number;
  private readonly zDim: number;
  private readonly g: Record<string, tf.Variable> = {};
  private readonly d: Record<string, tf.Variable> = {};
  private readonly ema: EMA;
  private readonly nanAt: number[] | 'always';
  private readonly r1Interval: number;
  private readonly nUp: number;

  constructor(o: TinyGanOptions = {}) {
    this.resolution = o.resolution ?? 16;
    this.numClasses = o.numClasses ?? 4;
    this.zDim = o.zDim ?? 8;
    const ch = o.ch ?? 8;
    this.nanAt = o.nanAt ?? [];
    this.r1Interval = o.r1Interval ?? 4;
    this.nUp = Math.log2(this.resolution / 4);
    this.config = { resolution: this.resolution, numClasses: this.numClasses, zDim: this.zDim, ch };
    const id = instance++;
    const seed = o.seed ?? 1;
    let k = 0;
    const v = (store: Record<string, tf.Variable>, name: string, shape: number[], scale: number) => {
      store[name] = tf.variable(scale === 0 ? tf.zeros(shape) : tf.randomNormal(shape, 0, scale, 'float32', seed * 1000 + k++), true, `tiny${id}/${name}`);
    };
    const C = this.numClasses;
    v(this.g, 'G.fc.w', [this.zDim + C, 16 * ch], 1 / Math.sqrt(this.zDim + C));
    v(this.g, 'G.fc.b', [16 * ch], 0);
    for (let i = 0; i < this.nUp; i++) {
      v(this.g, `G.up${i}.w`, [3, 3, ch, ch], 1 / Math.sqrt(9 * ch));
      v(this.g, `G.up${i}.b`, [ch], 0);
    }
    v(this.g, 'G.out.w', [3, 3, ch, 3], 1 / Math.sqrt(9 * ch));
    v(this.g, 'G.out.b', [3], 0);
    let cin = 3;
    for (let i = 0; i < this.nUp; i++) {
      v(this.d, `D.down${i}.w`, [3, 3, cin, ch], 1 / Math.sqrt(9 * cin));
      v(this.d, `D.down${i}.b`, [ch], 0);
      cin = ch;
    }
    v(this.d, 'D.fc.w', [ch, 1], 1 / Math.sqrt(ch));
    v(this.d, 'D.fc.b', [1], 0);
    v(this.d, 'D.embed', [C, ch], 1 / Math.sqrt(ch));
    this.ema = new EMA(this.g, { decay: 0.9, startStep: 2 });
  }

  private generator(w: Record<string, tf.Tensor>, z: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor4D {
    return tf.tidy(() => {
      const ch = w['G.fc.b'].shape[0] / 16;
      const h0 = tf.concat([z, tf.oneHot(labels, this.numClasses).toFloat()], 1).matMul(w['G.fc.w'] as tf.Tensor2D).add(w['G.fc.b']);
      let h = tf.leakyRelu(h0, 0.2).reshape([z.shape[0], 4, 4, ch]) as tf.Tensor4D;
      for (let i = 0; i < this.nUp; i++) {
        h = tf.image.resizeNearestNeighbor(h, [h.shape[1] * 2, h.shape[2] * 2]);
        h = tf.leakyRelu(tf.conv2d(h, w[`G.up${i}.w`] as tf.Tensor4D, 1, 'same').add(w[`G.up${i}.b`]), 0.2) as tf.Tensor4D;
      }
      return tf.tanh(tf.conv2d(h, w['G.out.w'] as tf.Tensor4D, 1, 'same').add(w['G.out.b'])) as tf.Tensor4D;
    });
  }

  private discriminator(x: tf.Tensor, labels: tf.Tensor1D): tf.Tensor1D {
    return tf.tidy(() => {
      let h = x as tf.Tensor4D;
      for (let i = 0; i < this.nUp; i++) {
        const a = tf.conv2d(h, this.d[`D.down${i}.w`] as tf.Tensor4D, 2, 'same').add(this.d[`D.down${i}.b`]);
        h = tf.mul(a, tf.sigmoid(a)) as tf.Tensor4D; // SiLU: twice differentiable on every backend (R1)
      }
      const f = tf.mean(h, [1, 2]) as tf.Tensor2D;
      const out = f.matMul(this.d['D.fc.w'] as tf.Tensor2D).add(this.d['D.fc.b']).reshape([-1]);
      const proj = tf.sum(tf.mul(f, tf.gather(this.d['D.embed'], labels)), 1);
      return tf.add(out, proj) as tf.Tensor1D;
    });
  }

  private z(n: number, seed: number): tf.Tensor2D {
    return tf.randomNormal([n, this.zDim], 0, 1, 'float32', seed);
  }

  dVariables(): tf.Variable[] {
    return Object.values(this.d);
  }
  gVariables(): tf.Variable[] {
    return Object.values(this.g);
  }

  dLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const n = batch.images.shape[0];
    const fake = this.generator(this.g, this.z(n, ctx.seed), batch.labels!);
    const dReal = this.discriminator(batch.images, batch.labels!);
    const dFake = this.discriminator(fake, batch.labels!);
    let loss = hingeDLoss(dReal, dFake);
    if (this.nanAt === 'always' || this.nanAt.includes(ctx.step)) loss = tf.mul(loss, NaN) as tf.Scalar;
    return { loss, logs: { real: tf.mean(dReal) as tf.Scalar, fake: tf.mean(dFake) as tf.Scalar } };
  }

  gLoss(batch: TrainBatch, ctx: StepContext): LossResult {
    const n = batch.images.shape[0];
    const fake = this.generator(this.g, this.z(n, ctx.seed), batch.labels!);
    return { loss: hingeGLoss(this.discriminator(fake, batch.labels!)) };
  }

  regularizers(): Regularizer[] {
    return [{
      name: 'r1', phase: 'D', interval: this.r1Interval,
      loss: (batch, ctx) => ({ loss: r1Penalty((x) => this.discriminator(x, batch.labels!), batch.images, ctx.weights.r1) }),
    }];
  }

  emaUpdate(step: number): void {
    this.ema.update(step);
  }

  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = { ...this.g, ...this.d };
    for (const [k, v] of Object.entries(this.ema.shadow)) out[`ema.${k}`] = v;
    return out;
  }

  sample(seeds: number[], cond: { labels?: number[] }): tf.Tensor4D {
    return tf.tidy(() => {
      const z = tf.concat(seeds.map((s) => this.z(1, s)), 0) as tf.Tensor2D;
      const labels = tf.tensor1d(cond.labels ?? seeds.map((_, i) => i % this.numClasses), 'int32');
      return this.generator(this.ema.shadow, z, labels);
    });
  }

  dispose(): void {
    tf.dispose([...Object.values(this.g), ...Object.values(this.d)]);
    this.ema.dispose();
  }
}
