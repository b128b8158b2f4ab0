import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import * as bigganPkg from '@ganzoo/biggan-deep';
import { createBigGANTrainable, LOCAL_PRESETS, scaleClassEmbedding } from '../src/adapters/biggan-trainable';
import { makeShapes, type StepContext } from '@ganzoo/core';
import { EXIT, parseClassWeights } from '../src/index';
import { runCli } from './run-cli';

const pkg = bigganPkg as unknown as Record<string, unknown>;

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.randomNormal([1]).dispose(); // tfjs prints its one-time Node notice here, not inside a test
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
  // The shapes-32 recipe's defaults apply when the request names none; flags override them; tiny keeps ajbrock's.
  const dflt = await createBigGANTrainable(pkg, req);
  expect([dflt.augment, dflt.modeSeeking, dflt.trainDefaults.dStepsPerG, dflt.trainDefaults.G.lr, dflt.trainDefaults.D.lr])
    .toEqual([LOCAL_PRESETS['shapes-32'].augment, LOCAL_PRESETS['shapes-32'].modeSeeking ?? 0, 1, 2e-4, 4e-4]);
  expect(dflt.emaDecay).toBe(LOCAL_PRESETS['shapes-32'].emaDecay);
  dflt.dispose();
  const fast = await createBigGANTrainable(pkg, { ...req, emaDecay: 0.99 });
  expect(fast.emaDecay).toBe(0.99);
  fast.dispose();
  const off = await createBigGANTrainable(pkg, { ...req, augment: 'none', modeSeeking: 0 });
  expect([off.augment, off.modeSeeking]).toEqual([undefined, 0]);
  off.dispose();
  const on = await createBigGANTrainable(pkg, { ...req, augment: 'translation', modeSeeking: 2 });
  expect([on.augment, on.modeSeeking]).toEqual(['translation', 2]);
  on.dispose();
  const tiny = await createBigGANTrainable(pkg, { preset: 'tiny', numClasses: 4, seed: 0 });
  expect([tiny.augment, tiny.modeSeeking, tiny.trainDefaults.dStepsPerG, tiny.trainDefaults.G.lr]).toEqual([undefined, 0, 2, 1e-4]);
  tiny.dispose();
  // Bad settings are refused before any model is built: nothing is left allocated.
  const beforeBad = tf.memory().numTensors;
  await expect(createBigGANTrainable(pkg, { ...req, augment: 'rotate' })).rejects.toThrow(/unknown policy 'rotate'/);
  await expect(createBigGANTrainable(pkg, { ...req, modeSeeking: -1 })).rejects.toThrow(/mode-seeking weight must be >= 0, got -1/);
  await expect(createBigGANTrainable(pkg, { ...req, emaDecay: 1 })).rejects.toThrow(/EMA decay must be in \(0, 1\), got 1/);
  expect(tf.memory().numTensors).toBe(beforeBad);
}, 120000);

test('biggan-deep trainable: the mode-seeking term is logged, weighted into G\'s loss, and leaks nothing', async () => {
  const m = await createBigGANTrainable(pkg, { preset: 'shapes-32', numClasses: 4, seed: 0, augment: 'none', modeSeeking: 0.5 });
  const b = batch();
  const before = tf.memory().numTensors;
  const r = tf.tidy(() => {
    const out = m.gLoss(b, ctx(3));
    return [out.loss, out.logs!.adv, out.logs!.ms].map((t) => t.dataSync()[0]);
  });
  expect(tf.memory().numTensors).toBe(before);
  const [loss, adv, ms] = r;
  expect(ms).toBeGreaterThan(0);
  expect(loss).toBeCloseTo(adv + 0.5 * ms, 4);
  // G's gradient exists for every trainable G variable
  const grads = tf.tidy(() => tf.variableGrads(() => m.gLoss(b, ctx(3)).loss, m.gVariables()).grads);
  expect(Object.keys(grads).length).toBe(m.gVariables().length);
  tf.dispose(Object.values(grads));
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([b.images, b.labels]);
  m.dispose();
}, 120000);

test('--diffaugment / --mode-seeking / --ema-decay on a model with its own recipe, or out of range, is a usage error', async () => {
  const r = await runCli('cpu', 'finetune', '--model', 'galip', '--data', '/nonexistent', '--out', '/tmp/x', '--diffaugment', 'translation');
  expect(r.code).toBe(EXIT.USAGE);
  expect(r.err).toMatch(/--diffaugment is a biggan-deep option; galip/);
  const m = await runCli('cpu', 'finetune', '--model', 'gigagan', '--data', '/nonexistent', '--out', '/tmp/x', '--mode-seeking', '1');
  expect(m.code).toBe(EXIT.USAGE);
  expect(m.err).toMatch(/--mode-seeking is a biggan-deep option, not one of gigagan/);
  const neg = await runCli('cpu', 'finetune', '--model', 'biggan-deep', '--data', '/nonexistent', '--out', '/tmp/x', '--mode-seeking', '-2');
  expect(neg.code).toBe(EXIT.USAGE);
  expect(neg.err).toMatch(/--mode-seeking must be >= 0, got -2/);
  const e = await runCli('cpu', 'finetune', '--model', 'galip', '--data', '/nonexistent', '--out', '/tmp/x', '--ema-decay', '0.99');
  expect(e.code).toBe(EXIT.USAGE);
  expect(e.err).toMatch(/--ema-decay is a biggan-deep option; galip/);
  const e2 = await runCli('cpu', 'finetune', '--model', 'biggan-deep', '--data', '/nonexistent', '--out', '/tmp/x', '--ema-decay', '1.5');
  expect(e2.code).toBe(EXIT.USAGE);
  expect(e2.err).toMatch(/--ema-decay must be in \(0, 1\), got 1.5/);
});

test('--bn-class-scale: stored in a fresh model\'s config; other models, negative values and given weights are refused', async () => {
  const m = await createBigGANTrainable(pkg, { preset: 'shapes-32', numClasses: 4, seed: 0, bnClassScale: 0.25 });
  expect((m.config as { generator: { bnClassScale?: number } }).generator.bnClassScale).toBe(0.25);
  m.dispose();
  await expect(createBigGANTrainable(pkg, { weights: '/nonexistent-weights', numClasses: 4, bnClassScale: 0.5 }))
    .rejects.toThrow(/bnClassScale shapes a fresh model; given weights keep their own/);
  const g = await runCli('cpu', 'finetune', '--model', 'galip', '--data', '/nonexistent', '--out', '/tmp/x', '--bn-class-scale', '0.5');
  expect(g.code).toBe(EXIT.USAGE);
  expect(g.err).toMatch(/--bn-class-scale is a biggan-deep option, not one of galip/);
  const neg = await runCli('cpu', 'finetune', '--model', 'biggan-deep', '--data', '/nonexistent', '--out', '/tmp/x', '--bn-class-scale', '-1');
  expect(neg.code).toBe(EXIT.USAGE);
  expect(neg.err).toMatch(/--bn-class-scale must be >= 0, got -1/);
  const w = await runCli('cpu', 'finetune', '--model', 'biggan-deep', '--weights', '/nonexistent', '--data', '/nonexistent', '--out', '/tmp/x', '--bn-class-scale', '0.5');
  expect(w.code).toBe(EXIT.USAGE);
  expect(w.err).toMatch(/--bn-class-scale shapes a fresh model/);
});

test('scaleClassEmbedding: every class vector to fraction · √zDim; a bad fraction is refused', () => {
  const e = tf.variable(tf.tensor2d([[3, 4, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]]), true, 'embeddings.weight.scaletest');
  const vars = { 'embeddings.weight': e };
  scaleClassEmbedding(vars, 16, 0.5); // √16 · 0.5 = 2
  const n = tf.tidy(() => tf.sqrt(tf.sum(tf.square(e), 1)).arraySync() as number[]);
  for (const v of n) expect(v).toBeCloseTo(2, 5);
  expect((e.arraySync() as number[][])[0].slice(0, 2).map((v) => +v.toFixed(5))).toEqual([1.2, 1.6]); // direction kept
  expect(() => scaleClassEmbedding(vars, 16, 0)).toThrow(/must be > 0, got 0/);
  expect(() => scaleClassEmbedding({}, 16)).toThrow(/no 'embeddings.weight'/);
  e.dispose();
});

test('parseClassWeights: name=weight pairs (others 1) or one number per class; bad specs are usage errors', () => {
  const cls = ['circle', 'square', 'triangle', 'star'];
  expect(parseClassWeights('star=3', cls)).toEqual([1, 1, 1, 3]);
  expect(parseClassWeights(' star = 2.5 , square=0 ', cls)).toEqual([1, 0, 1, 2.5]);
  expect(parseClassWeights('1,1,2,4', cls)).toEqual([1, 1, 2, 4]);
  expect(() => parseClassWeights('moon=2', cls)).toThrow(/unknown class 'moon'; the data has circle, square, triangle, star/);
  expect(() => parseClassWeights('1,2', cls)).toThrow(/expected 4 weights \(circle, square, triangle, star\), got 2/);
  expect(() => parseClassWeights('star=-1', cls)).toThrow(/weight of star must be a number >= 0, got '-1'/);
  expect(() => parseClassWeights('1,1,x,1', cls)).toThrow(/weight of triangle must be a number >= 0, got 'x'/);
  expect(() => parseClassWeights('star=2,1', cls)).toThrow(/either name=weight pairs or one number per class/);
  expect(() => parseClassWeights('', cls)).toThrow(/no weights given/);
});

test('finetune --class-weights: unknown class and unlabelled data are usage errors; a run with them logs the weights', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-cw-'));
  try {
    const data = path.join(dir, 'shapes');
    await makeShapes({ out: data, n: 8, size: 32, seed: 3, classing: 'shape', background: 'white' });
    const bad = await runCli('cpu', 'finetune', '--model', 'biggan-deep', '--preset', 'tiny', '--data', data, '--out', path.join(dir, 'r0'),
      '--class-weights', 'moon=2');
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.err).toMatch(/unknown class 'moon'; the data has circle, square, triangle, star/);
    const flat = path.join(dir, 'flat');
    fs.mkdirSync(flat);
    fs.copyFileSync(path.join(data, 'circle', fs.readdirSync(path.join(data, 'circle'))[0]), path.join(flat, 'a.png'));
    const nolab = await runCli('cpu', 'finetune', '--model', 'dcgan', '--data', flat, '--out', path.join(dir, 'r1'), '--class-weights', '1');
    expect(nolab.code).toBe(EXIT.USAGE);
    expect(nolab.err).toMatch(/--class-weights needs class labels/);
    const ok = await runCli('cpu', 'finetune', '--model', 'biggan-deep', '--preset', 'tiny', '--data', data, '--out', path.join(dir, 'r2'),
      '--class-weights', 'star=0,circle=2', '--steps', '1', '--batch', '2', '--sample-every', '0', '--checkpoint-every', '0');
    expect(ok.err).toMatch(/class weights: circle 2, square 1, triangle 1, star 0/);
    expect(ok.code).toBe(EXIT.OK);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 120000);
