import * as tf from '@tensorflow/tfjs';
import * as bigganPkg from '@ganzoo/biggan-deep';
import { createBigGANTrainable, LOCAL_PRESETS } from '../src/adapters/biggan-trainable';
import type { StepContext } from '@ganzoo/core';
import { EXIT } from '../src/index';
import { runCli } from './run-cli';

const pkg = bigganPkg as unknown as Record<string, unknown>;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function batch() {
  const images = tf.tidy(() => tf.sub(tf.mul(tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 7), 2), 1)) as tf.Tensor4D;
  return { images, labels: tf.tensor1d([0, 3], 'int32') };
}
const ctx = (seed: number) => ({ step: 1, phase: 'D', sub: 0, micro: 0, micros: 1, seed, weights: {}, lr: 1e-4 }) as unknown as StepContext;

test('biggan-deep trainable: DiffAugment of D inputs is seeded, changes the losses, and leaks nothing', async () => {
  const req = { preset: 'shapes-32', numClasses: 4, seed: 0 };
  const plain = await createBigGANTrainable(pkg, { ...req, augment: 'none' });
  const aug = await createBigGANTrainable(pkg, { ...req, augment: 'translation,cutout' });
  const b = batch();
  const before = tf.memory().numTensors;
  const loss = (m: typeof plain, seed: number, g = false) => tf.tidy(() => (g ? m.gLoss(b, ctx(seed)) : m.dLoss(b, ctx(seed))).loss.dataSync()[0]);
  // D in train mode runs one SN power iteration per call: warm u up so repeated calls see (nearly) the same D.
  for (let k = 0; k < 2; k++) {
    loss(plain, 9);
    loss(aug, 9);
  }
  const p = loss(plain, 5);
  const a1 = loss(aug, 5);
  const a2 = loss(aug, 5);
  const a3 = loss(aug, 6);
  expect(Math.abs(a1 - a2)).toBeLessThan(1e-3 * Math.abs(a1)); // same seed, same augmentation
  expect(Number.isFinite(a1) && Number.isFinite(p)).toBe(true);
  expect(a1).not.toBeCloseTo(p, 5);
  expect(Math.abs(a3 - a1)).toBeGreaterThan(1e-2 * Math.abs(a1));
  expect(Number.isFinite(loss(aug, 5, true))).toBe(true);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([b.images, b.labels]);
  plain.dispose();
  aug.dispose();
  // The preset's default applies when the request names none.
  expect(LOCAL_PRESETS['shapes-32'].augment === undefined || typeof LOCAL_PRESETS['shapes-32'].augment === 'string').toBe(true);
  await expect(createBigGANTrainable(pkg, { ...req, augment: 'rotate' })).rejects.toThrow(/unknown policy 'rotate'/);
}, 120000);

test('--diffaugment on a model with its own augmentation recipe is a usage error', async () => {
  const r = await runCli('cpu', 'finetune', '--model', 'galip', '--data', '/nonexistent', '--out', '/tmp/x', '--diffaugment', 'translation');
  expect(r.code).toBe(EXIT.USAGE);
  expect(r.err).toMatch(/--diffaugment is a biggan-deep option; galip/);
});
