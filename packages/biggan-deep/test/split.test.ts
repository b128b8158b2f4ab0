/** BatchSplitGenerator (src/split.ts): a batch split over 2 worker threads gives the single-process fast-path images. */
import * as tf from '@tensorflow/tfjs';
import { initBackend, relativeError } from '@ganzoo/core';
import { BigGANDeep, truncatedNoise } from '../src';
import { BatchSplitGenerator } from '../src/split';

jest.setTimeout(120000);

test('batch split over 2 workers equals the fast path in one process (odd batch, leak-free)', async () => {
  await initBackend({ backend: 'wasm', log: false });
  const g = BigGANDeep.create('tiny', { seed: 4, init: 'N02' });
  const gc = g.config.generator;
  const split = await BatchSplitGenerator.create(g.G, gc, 2);
  try {
    const z = truncatedNoise(3, 0.6, 9, gc.zDim);
    const cv = tf.tidy(() => tf.oneHot(tf.tensor1d([7, 0, 3], 'int32'), gc.numClasses).toFloat() as tf.Tensor2D);
    const ref = g.generate({ z, classVector: cv, truncation: 0.6, fast: false });
    const one = g.generate({ z, classVector: cv, truncation: 0.6 });
    const before = tf.memory().numTensors;
    const out = await split.forward(z, cv, 0.6);
    expect(out.shape).toEqual([3, 32, 32, 3]);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(relativeError(out, one)).toBeLessThanOrEqual(1e-6); // parts of 2 + 1 rows: same kernels up to folding
    expect(relativeError(out, ref)).toBeLessThanOrEqual(1e-4);
    await expect(split.forward(z, tf.zeros([2, gc.numClasses]) as tf.Tensor2D, 0.6)).rejects.toThrow(/classVector batch 2 does not match z's batch 3/);
    tf.dispose([z, cv, ref, one, out]);
  } finally {
    await split.dispose();
    g.dispose();
  }
});
