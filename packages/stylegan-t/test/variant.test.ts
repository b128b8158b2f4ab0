/**
 * A second official-code fixture (test/fixtures/variant, made by make_variant_fixture.py with the official
 * networks/generator.py): 32 px, 1 res block, GroupNorm 8 groups, conv_clamp None, 'orig' architecture, psi 0.7,
 * const noise with non-zero strengths. Checks the port beyond the shared fixture's configuration.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nchwToNhwc, readSafetensors, relativeError } from '@ganzoo/core';
import { StyleGANT } from '../src';

test('official generator in a second configuration (orig, no clamp, 1 res block, gn 8, psi 0.7) within 1e-4', async () => {
  await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm' });
  const dir = path.join(__dirname, 'fixtures', 'variant');
  const m = await StyleGANT.fromPretrained(dir);
  const io = readSafetensors(path.join(dir, 'io.safetensors')).tensors;
  const z = tf.tensor(io.z.data as Float32Array, io.z.shape) as tf.Tensor2D;
  const c = tf.tensor(io.c.data as Float32Array, io.c.shape) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const w = m.mapping({ z, textEmbeddings: c, truncation: 0.7 });
  const img = m.synthesize(w, { noiseMode: 'const' });
  const errW = relativeError(w, io.ws);
  const ref = nchwToNhwc(io.image);
  const errImg = relativeError(img, ref);
  console.log(`variant fixture: ws ${errW}, image ${errImg}`);
  expect(errW).toBeLessThan(1e-4);
  expect(errImg).toBeLessThan(1e-4);
  tf.dispose([w, img, ref]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([z, c]);
  m.dispose();
});
