/**
 * Plug your own GAN into ganzoo's trainer: implement `GanTrainable`, point a `DataLoader` at an image folder,
 * call `train`. You get gradient accumulation, lazy regularizers, NaN/Inf guards, a JSONL log, fixed-seed sample
 * grids and crash-safe checkpoints with exact resume. Run: npx ts-node --transpile-only custom-model.ts <images> <out>
 *
 * The model below is deliberately tiny (an unconditional MLP GAN on 16 px images); replace the networks and losses.
 */
import * as tf from '@tensorflow/tfjs';
import {
  DataLoader, EMA, hingeDLoss, hingeGLoss, scanImageFolder, train,
  type GanTrainable, type LossResult, type StepContext, type TrainBatch,
} from '@ganzoo/core';

const R = 16;
const Z = 32;

class MlpGan implements GanTrainable {
  readonly modelId = 'example-mlp-gan';
  readonly config = { resolution: R, zDim: Z, hidden: 256 };
  readonly trainDefaults = {
    dStepsPerG: 1, batchSize: 32,
    G: { lr: 2e-4, beta1: 0.5, beta2: 0.999 }, D: { lr: 2e-4, beta1: 0.5, beta2: 0.999 },
  };
  readonly resolution = R;
  readonly conditioning = 'none' as const;
  private g = {
    w1: tf.variable(tf.randomNormal([Z, 256], 0, 0.05), true, 'ex.g.w1'),
    w2: tf.variable(tf.randomNormal([256, R * R * 3], 0, 0.05), true, 'ex.g.w2'),
  };
  private d = {
    w1: tf.variable(tf.randomNormal([R * R * 3, 256], 0, 0.05), true, 'ex.d.w1'),
    w2: tf.variable(tf.randomNormal([256, 1], 0, 0.05), true, 'ex.d.w2'),
  };
  private ema = new EMA(this.g, { decay: 0.99 });

  private G(w: Record<string, tf.Tensor>, z: tf.Tensor2D) {
    return tf.tanh(tf.relu(z.matMul(w.w1 as tf.Tensor2D)).matMul(w.w2 as tf.Tensor2D)).reshape([-1, R, R, 3]) as tf.Tensor4D;
  }
  private D(x: tf.Tensor) {
    return tf.leakyRelu(x.reshape([x.shape[0], -1]).matMul(this.d.w1), 0.2).matMul(this.d.w2).reshape([-1]);
  }
  dVariables() { return Object.values(this.d); }
  gVariables() { return Object.values(this.g); }
  // Randomness comes from ctx.seed: that is what makes --resume exact.
  dLoss(b: TrainBatch, ctx: StepContext): LossResult {
    const fake = this.G(this.g, tf.randomNormal([b.images.shape[0], Z], 0, 1, 'float32', ctx.seed));
    return { loss: hingeDLoss(this.D(b.images), this.D(fake)) };
  }
  gLoss(b: TrainBatch, ctx: StepContext): LossResult {
    return { loss: hingeGLoss(this.D(this.G(this.g, tf.randomNormal([b.images.shape[0], Z], 0, 1, 'float32', ctx.seed)))) };
  }
  emaUpdate(step: number) { this.ema.update(step); }
  variables() {
    return { 'g.w1': this.g.w1, 'g.w2': this.g.w2, 'd.w1': this.d.w1, 'd.w2': this.d.w2, 'ema.w1': this.ema.shadow.w1, 'ema.w2': this.ema.shadow.w2 };
  }
  sample(seeds: number[]) {
    return tf.tidy(() => this.G(this.ema.shadow, tf.concat(seeds.map((s) => tf.randomNormal([1, Z], 0, 1, 'float32', s))) as tf.Tensor2D));
  }
  dispose() { tf.dispose([...this.dVariables(), ...this.gVariables()]); this.ema.dispose(); }
}

async function main() {
  const [images = 'data/shapes32', out = 'runs/mlp-gan'] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = new MlpGan();
  const data = new DataLoader(scanImageFolder(images), { batchSize: 32, resolution: R, seed: 0 });
  const r = await train(model, data, {
    outDir: out, steps: 200, sampleEvery: 50, checkpointEvery: 50, resume: true,
    onStep: (s) => s.step % 10 === 0 && console.log(s.step, JSON.stringify(s.losses)),
  });
  console.log('done', r);
  model.dispose();
}
main();
