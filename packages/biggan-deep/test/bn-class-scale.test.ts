/**
 * `bnClassScale` (a training option, not an official one): the class embedding enters G's conditional BNs scaled,
 * gen_z gets it whole. Reference and fast paths agree, 1 is BigGAN-deep exactly, 0 takes the class out of every BN,
 * official formats refuse it, and ganzoo folders keep it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, relativeError } from '@ganzoo/core';
import { BigGANDeep, presetConfig, toHfConfig, toAjbrockConfig, truncatedNoise, validateConfig } from '../src';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: false });
});

function tinyWith(scale?: number) {
  const cfg = presetConfig('tiny');
  if (scale !== undefined) cfg.generator.bnClassScale = scale;
  return BigGANDeep.create(cfg, { seed: 4 });
}

function classVec(idx: number[], n: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.tensor1d(idx, 'int32'), n).toFloat() as tf.Tensor2D);
}

test('reference and fast paths agree at bnClassScale 0.25; 1 is the same as unset; neither leaks', () => {
  const g = tinyWith(0.25);
  const opts = { classes: [1, 3, 5], seed: 8, truncation: 0.6 };
  const ref = g.generate({ ...opts, fast: false });
  const fast = g.generate(opts);
  expect(relativeError(fast, ref)).toBeLessThanOrEqual(1e-4);
  const before = tf.memory().numTensors;
  g.generate(opts).dispose();
  g.generate({ ...opts, fast: false }).dispose();
  expect(tf.memory().numTensors).toBe(before);
  const plain = tinyWith();
  const one = tinyWith(1);
  const a = plain.generate({ ...opts, fast: false });
  const b = one.generate({ ...opts, fast: false });
  expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  // and 0.25 does change the image (same weights as `plain`: same seed)
  expect(relativeError(ref, a)).toBeGreaterThan(1e-3);
  tf.dispose([ref, fast, a, b]);
  [g, plain, one].forEach((m) => m.dispose());
});

test('bnClassScale 0: with gen_z blind to the class, the class changes nothing; at 1 it does', () => {
  for (const [scale, classMatters] of [[0, false], [1, true]] as const) {
    const g = tinyWith(scale);
    const gc = g.config.generator;
    const w = g.G.get('generator.gen_z.weight_orig'); // [zDim + embedDim, out], z first
    w.assign(tf.tidy(() => tf.concat([tf.slice(w, [0, 0], [gc.zDim, -1]), tf.zeros([gc.embedDim, w.shape[1]])], 0)));
    g.invalidateCaches();
    const z = truncatedNoise(2, 1, 3, gc.zDim);
    const y0 = g.forwardG(z, classVec([0, 0], gc.numClasses), { truncation: 1 });
    const y1 = g.forwardG(z, classVec([2, 2], gc.numClasses), { truncation: 1 });
    const d = relativeError(y1, y0);
    if (classMatters) expect(d).toBeGreaterThan(1e-3);
    else expect(d).toBe(0);
    tf.dispose([z, y0, y1]);
    g.dispose();
  }
});

test('bad values are refused; official formats cannot hold it; a ganzoo folder keeps it', () => {
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    const cfg = presetConfig('tiny');
    cfg.generator.bnClassScale = bad;
    expect(() => validateConfig(cfg)).toThrow(/bnClassScale must be a finite number >= 0/);
  }
  const g = tinyWith(0.5);
  expect(() => toHfConfig(g.config)).toThrow(/cannot be written as an HF BigGANConfig: bnClassScale 0.5/);
  expect(() => toAjbrockConfig(g.config)).toThrow(/cannot be written as an ajbrock config: bnClassScale 0.5/);
  expect(() => g.save(fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-bncs-hf-')), { format: 'hf' })).toThrow(/bnClassScale/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-bncs-'));
  try {
    g.save(dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(cfg.ganzoo.config.generator.bnClassScale).toBe(0.5);
    expect(cfg.output_dim).toBeUndefined(); // no HF keys for a config HF cannot load
    const back = BigGANDeep.fromDirectory(dir);
    expect(back.config.generator.bnClassScale).toBe(0.5);
    const opts = { classes: [2], seed: 1, truncation: 1 };
    const a = g.generate(opts);
    const b = back.generate(opts);
    expect(relativeError(b, a)).toBeLessThanOrEqual(1e-6);
    tf.dispose([a, b]);
    back.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    g.dispose();
  }
});
