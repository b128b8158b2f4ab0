/**
 * D's 2×2 average pooling: the AvgPool-kernel path against the reshape+mean reference — values, first-order
 * gradient and the second-order gradient R1 needs (AvgPoolGrad's gradient is registered by core) — on wasm and cpu.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@ganzoo/core';
import { avgPool2x } from '../src';

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe.each(['wasm', 'cpu'])('avgPool2x on %s', (backend) => {
  beforeAll(async () => {
    await initBackend({ backend, log: false });
  });

  test('fast and ref agree: values, gradient, gradient of a gradient penalty; leak-free', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal([3, 6, 8, 5], 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 2);
      const y = { fast: avgPool2x(x), ref: avgPool2x(x, 'ref') };
      expect(y.fast.shape).toEqual([3, 3, 4, 5]);
      expect(maxAbsDiff(y.fast, y.ref)).toBeLessThan(1e-6);
      // the pooled value at (0,0,0,0) is the mean of its 2×2 window
      const win = x.slice([0, 0, 0, 0], [1, 2, 2, 1]);
      expect(y.fast.slice([0, 0, 0, 0], [1, 1, 1, 1]).dataSync()[0]).toBeCloseTo(win.mean().dataSync()[0], 6);
      // a nonlinear loss so the second-order term is not trivial
      const loss = (impl: 'fast' | 'ref') => (t: tf.Tensor) => tf.sum(tf.mul(tf.square(avgPool2x(t as tf.Tensor4D, impl)), w));
      const g = { fast: tf.grad(loss('fast'))(x), ref: tf.grad(loss('ref'))(x) };
      expect(maxAbsDiff(g.fast, g.ref)).toBeLessThan(1e-5);
      expect(tf.max(tf.abs(g.ref)).dataSync()[0]).toBeGreaterThan(0.01);
      const penalty = (impl: 'fast' | 'ref') => (t: tf.Tensor) => tf.sum(tf.square(tf.grad(loss(impl))(t)));
      const gg = { fast: tf.grad(penalty('fast'))(x), ref: tf.grad(penalty('ref'))(x) };
      expect(maxAbsDiff(gg.fast, gg.ref)).toBeLessThan(1e-4);
      expect(tf.max(tf.abs(gg.ref)).dataSync()[0]).toBeGreaterThan(0.01);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  test('odd sizes are an error naming the shape', () => {
    const x = tf.zeros([1, 5, 4, 2]) as tf.Tensor4D;
    expect(() => avgPool2x(x)).toThrow(/even height and width, got \[1,5,4,2\]/);
    x.dispose();
  });
});
