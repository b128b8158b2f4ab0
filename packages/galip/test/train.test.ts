import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@ganzoo/core';
import { GALIP, GalipTrainer, maGradientPenalty } from '@ganzoo/galip';

beforeAll(async () => {
  await initBackend({ log: false });
});

describe('MA-GP', () => {
  test('value: k * mean((|df|^2 + |ds|^2)^(p/2)) for a linear score', () => {
    // score = sum(f * a) + s . c  -> grads a (per sample) and c
    const a = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 1);
    const c = tf.randomNormal([4], 0, 1, 'float32', 2);
    const f = tf.randomNormal([2, 2, 2, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const s = tf.randomNormal([2, 4], 0, 1, 'float32', 4) as tf.Tensor2D;
    const score = (fs: tf.Tensor4D[], sent: tf.Tensor2D) => tf.add(tf.sum(tf.mul(fs[0], a), [1, 2, 3]), tf.sum(tf.mul(sent, c), 1));
    const v = maGradientPenalty(score, [f], s, 2, 6).dataSync()[0];
    const n2 = tf.tidy(() => tf.add(tf.sum(tf.square(a)), tf.sum(tf.square(c))).dataSync()[0]);
    expect(v).toBeCloseTo(2 * n2 ** 3, 2);
    tf.dispose([a, c, f, s]);
  });

  test('second-order gradient w.r.t. the weights matches finite differences', () => {
    const w = tf.variable(tf.tensor1d([0.3, -0.2, 0.5]));
    const f = tf.randomNormal([2, 1, 1, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const s = tf.randomNormal([2, 2], 0, 1, 'float32', 6) as tf.Tensor2D;
    // a nonlinear score through leakyRelu: sum(lrelu(f * w)) * sum(s)
    const score = (fs: tf.Tensor4D[], sent: tf.Tensor2D) =>
      tf.mul(tf.sum(tf.leakyRelu(tf.mul(fs[0], w), 0.2), [1, 2, 3]), tf.add(1, tf.sum(tf.square(sent), 1)));
    const loss = () => maGradientPenalty(score, [f], s, 2, 6);
    const { grads } = tf.variableGrads(loss, [w]);
    const g = Array.from(grads[w.name].dataSync());
    const base = Array.from(w.dataSync());
    const eps = 1e-2;
    for (let i = 0; i < 3; i++) {
      const at = (d: number) => { const x = base.slice(); x[i] += d; w.assign(tf.tensor1d(x)); return tf.tidy(() => loss().dataSync()[0]); };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      w.assign(tf.tensor1d(base));
      expect(Math.abs(g[i] - fd)).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
    }
    tf.dispose([w, f, s, grads[w.name]]);
  });
});

test('second-order gradients through the frozen CLIP-ViT: d/dθ ||∂f(θx)/∂x||² matches finite differences', () => {
  // f = <CLIP image embedding, u> + <first tap features, v>: smooth (QuickGELU, softmax, LayerNorm), so central
  // differences are accurate; θ scales the pixels, so d/dθ needs the ViT's second derivatives.
  const model = GALIP.create('tiny', { seed: 3 });
  const img = tf.tidy(() => tf.tanh(tf.randomNormal([2, 28, 28, 3], 0, 1, 'float32', 4))) as tf.Tensor4D;
  const u = tf.randomNormal([2, 16], 0, 1, 'float32', 5);
  const v = tf.randomNormal([2, 7, 7, 32], 0, 1, 'float32', 6);
  const theta = tf.variable(tf.scalar(0.9), true, 'galip_test_theta');
  const loss = () => tf.tidy(() => {
    const g = tf.grad((x: tf.Tensor) => {
      const f = model.encodeImage(tf.mul(x, theta) as tf.Tensor4D);
      return tf.add(tf.sum(tf.mul(f.emb, u)), tf.sum(tf.mul(f.local[0], v)));
    })(img);
    return tf.sum(tf.square(g)) as tf.Scalar;
  });
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(loss, [theta]);
  const g = grads[theta.name].dataSync()[0];
  tf.dispose([value, grads[theta.name]]);
  expect(tf.memory().numTensors).toBe(before);
  const at = (t: number) => { theta.assign(tf.scalar(t)); return loss().dataSync()[0]; };
  const eps = 1e-2;
  const fd = (at(0.9 + eps) - at(0.9 - eps)) / (2 * eps);
  expect(Number.isFinite(g)).toBe(true);
  expect(Math.abs(g - fd)).toBeLessThan(5e-3 * Math.abs(fd));
  tf.dispose([img, u, v, theta]);
  model.dispose();
});

describe('training on tiny', () => {
  test('a train step is leak-free, finite, and a few D steps reduce L_D on a fixed batch', () => {
    const model = GALIP.create('tiny', { seed: 11 });
    const trainer = new GalipTrainer(model);
    const images = tf.tidy(() => tf.tanh(tf.randomNormal([2, 28, 28, 3], 0, 1, 'float32', 7))) as tf.Tensor4D;
    const sentEmb = tf.randomNormal([2, 16], 0, 1, 'float32', 8) as tf.Tensor2D;
    const batch = { images, sentEmb };
    const first = trainer.step(batch, { seed: 1 });
    for (const v of Object.values(first)) expect(Number.isFinite(v)).toBe(true);
    const before = tf.memory().numTensors;
    trainer.step(batch, { seed: 1 });
    expect(tf.memory().numTensors).toBe(before);
    // D alone on a fixed batch and fixed noise
    const dLoss = () => tf.tidy(() => trainer.dLossParts(batch, 3).total.dataSync()[0]);
    const opt = tf.train.adam(4e-4, 0, 0.9, 1e-8);
    const l0 = dLoss();
    for (let i = 0; i < 4; i++) {
      const { value, grads } = tf.variableGrads(() => trainer.dLossParts(batch, 3).total, trainer.dVariables());
      opt.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const l1 = dLoss();
    expect(l1).toBeLessThan(l0);
    opt.dispose();
    trainer.dispose();
    model.dispose();
    tf.dispose([images, sentEmb]);
  });
});
