import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nchwToNhwc, parityFixture, readFixture, relativeError } from '@ganzoo/core';
import { PRESETS, resolveConfig, StyleGANT } from '../src';

beforeAll(async () => {
  const backend = process.env.GANZOO_TEST_BACKEND ?? 'wasm';
  if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend(backend);
});

describe('config', () => {
  test('presets resolve to the official sizes', () => {
    const lite = resolveConfig(PRESETS.lite());
    expect(lite.wDim).toBe(64 + 768);
    expect(lite.numWs).toBe(21);
    expect(lite.blocks.map((b) => b.outChannels)).toEqual([512, 512, 512, 512]);
    const full = resolveConfig(PRESETS.full());
    expect(full.blocks.map((b) => b.outChannels)).toEqual([2048, 2048, 2048, 1024]);
    expect(full.numWs).toBe(29);
    const tiny = resolveConfig(PRESETS.tiny());
    expect(tiny.wDim).toBe(48);
    expect(tiny.numWs).toBe(10);
    expect(tiny.blocks.map((b) => b.outChannels)).toEqual([32, 32, 16]);
  });

  test('bad configs name what is wrong', () => {
    const c = PRESETS.tiny();
    c.G.synthesis_kwargs.gn_groups = 5;
    expect(() => resolveConfig(c)).toThrow(/b8 has 32 channels, not divisible by gn_groups 5/);
    const d = PRESETS.tiny();
    d.G.img_resolution = 48;
    expect(() => resolveConfig(d)).toThrow(/img_resolution must be a power of two/);
    const e = PRESETS.tiny();
    e.D.c_dim = 7;
    expect(() => resolveConfig(e)).toThrow(/D.c_dim \(7\) must equal the text width/);
    expect(() => StyleGANT.create('huge' as never)).toThrow(/unknown preset 'huge'/);
  });

  test('tiny preset has the documented parameter count (102 453 without the CLIP tower)', () => {
    const m = StyleGANT.create('tiny', { seed: 1 });
    expect(m.parameterCount()).toBe(102453);
    m.dispose();
  });
});

describe('StyleGANT API (tiny preset)', () => {
  let m: StyleGANT;
  let c: tf.Tensor2D;
  beforeAll(() => {
    m = StyleGANT.create('tiny', { seed: 3 });
    c = tf.tidy(() => {
      const r = tf.randomNormal([2, 32], 0, 1, 'float32', 5);
      return tf.div(r, tf.norm(r, 'euclidean', 1, true)) as tf.Tensor2D;
    });
  });
  afterAll(() => {
    m.dispose();
    c.dispose();
  });

  test('generate is seeded, leak-free, and truncation 0 removes the z dependence', () => {
    const before = tf.memory().numTensors;
    const a = m.generate({ textEmbeddings: c, seed: 7 });
    const b = m.generate({ textEmbeddings: c, seed: 7 });
    const d = m.generate({ textEmbeddings: c, seed: 8 });
    expect(a.shape).toEqual([2, 32, 32, 3]);
    expect(relativeError(b, a)).toBe(0);
    expect(relativeError(d, a)).toBeGreaterThan(1e-4);
    const t0 = m.generate({ textEmbeddings: c, seed: 7, truncation: 0 });
    const t1 = m.generate({ textEmbeddings: c, seed: 99, truncation: 0 });
    expect(relativeError(t1, t0)).toBeLessThan(1e-6);
    tf.dispose([a, b, d, t0, t1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('seed 0 (the default) is reproducible: generate, random noise, and create', () => {
    const before = tf.memory().numTensors;
    const a = m.generate({ textEmbeddings: c, seed: 0, noiseMode: 'random', noiseSeed: 0 });
    const b = m.generate({ textEmbeddings: c, noiseMode: 'random' }); // seed and noiseSeed default to 0
    const d = m.generate({ textEmbeddings: c, seed: 1, noiseMode: 'random', noiseSeed: 0 });
    expect(relativeError(b, a)).toBe(0);
    expect(relativeError(d, a)).toBeGreaterThan(1e-4);
    const m0 = StyleGANT.create('tiny', { seed: 0 });
    const m1 = StyleGANT.create('tiny', { seed: 0 });
    const g0 = m0.generate({ textEmbeddings: c, seed: 0 });
    const g1 = m1.generate({ textEmbeddings: c, seed: 0 });
    expect(relativeError(g1, g0)).toBe(0);
    m0.dispose();
    m1.dispose();
    tf.dispose([a, b, d, g0, g1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('noise modes: const reproducible, random seeded, none differs from const', () => {
    const before = tf.memory().numTensors;
    // non-zero noise strength so the modes differ
    tf.tidy(() => { for (const [k, v] of Object.entries(m.G.params)) if (k.endsWith('noise_strength')) v.assign(tf.scalar(0.5)); });
    const cst = m.generate({ textEmbeddings: c, seed: 1, noiseMode: 'const' });
    const r1 = m.generate({ textEmbeddings: c, seed: 1, noiseMode: 'random', noiseSeed: 4 });
    const r2 = m.generate({ textEmbeddings: c, seed: 1, noiseMode: 'random', noiseSeed: 4 });
    const none = m.generate({ textEmbeddings: c, seed: 1, noiseMode: 'none' });
    expect(relativeError(r2, r1)).toBe(0);
    expect(relativeError(none, cst)).toBeGreaterThan(1e-4);
    expect(relativeError(r1, cst)).toBeGreaterThan(1e-4);
    tf.dispose([cst, r1, r2, none]);
    tf.tidy(() => { for (const [k, v] of Object.entries(m.G.params)) if (k.endsWith('noise_strength')) v.assign(tf.scalar(0)); });
    expect(tf.memory().numTensors).toBe(before);
  });

  test('prompt and latent interpolation: endpoints equal the plain generations', () => {
    const before = tf.memory().numTensors;
    const c0 = tf.slice(c, [0, 0], [1, -1]) as tf.Tensor2D;
    const c1 = tf.slice(c, [1, 0], [1, -1]) as tf.Tensor2D;
    const seq = m.interpolatePrompts({ from: c0, to: c1, steps: 3, seed: 11, truncation: 0.7 });
    expect(seq.shape).toEqual([3, 32, 32, 3]);
    const g0 = m.generate({ textEmbeddings: c0, seed: 11, truncation: 0.7 });
    const g1 = m.generate({ textEmbeddings: c1, seed: 11, truncation: 0.7 });
    const first = tf.slice(seq, [0, 0, 0, 0], [1, -1, -1, -1]);
    const last = tf.slice(seq, [2, 0, 0, 0], [1, -1, -1, -1]);
    expect(relativeError(first, g0)).toBeLessThan(1e-5);
    expect(relativeError(last, g1)).toBeLessThan(1e-5);
    const lat = m.interpolateLatents({ fromSeed: 1, toSeed: 2, steps: 4, textEmbedding: c0 });
    const l0 = m.generate({ textEmbeddings: c0, seed: 1 });
    expect(relativeError(tf.slice(lat, [0, 0, 0, 0], [1, -1, -1, -1]), l0)).toBeLessThan(1e-5);
    tf.dispose([c0, c1, seq, g0, g1, first, last, lat, l0]);
    expect(tf.memory().numTensors).toBe(before + 1); // the slice inside expect above
  });

  test('bad input: wrong widths, psi, batch mismatch, prompts without encoder', () => {
    const before = tf.memory().numTensors;
    const bad = tf.zeros([2, 31]) as tf.Tensor2D;
    expect(() => m.generate({ textEmbeddings: bad })).toThrow(/textEmbeddings must be \[B, 32\], got \[2,31\]/);
    expect(() => m.generate({ textEmbeddings: c, truncation: 1.5 })).toThrow(/psi must be in \[0, 1\], got 1.5/);
    const z = tf.zeros([3, 16]) as tf.Tensor2D;
    expect(() => m.generate({ textEmbeddings: c, z })).toThrow(/z has 3 rows but there are 2 prompts/);
    expect(() => m.generate({ prompts: ['a cat'] })).toThrow(/need a CLIP text encoder/);
    expect(() => m.generate({})).toThrow(/needs prompts/);
    tf.dispose([bad, z]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('save -> fromPretrained round trip reproduces the images; mismatched weights are listed', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgt-'));
    try {
      m.save(dir);
      const m2 = await StyleGANT.fromPretrained(dir);
      const a = m.generate({ textEmbeddings: c, seed: 5, truncation: 0.5 });
      const b = m2.generate({ textEmbeddings: c, seed: 5, truncation: 0.5 });
      expect(relativeError(b, a)).toBe(0);
      tf.dispose([a, b]);
      m2.dispose();
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      cfg.G.synthesis_kwargs.channel_max = 16;
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
      await expect(StyleGANT.fromPretrained(dir)).rejects.toThrow(/mis-shaped keys .*synthesis\.b8\.input\.weight: expected \[16,16\], found \[32,32\]/s);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const fx = parityFixture('stylegan-t');
(fx ? test : test.skip)('fromPretrained on the official fixture folder reproduces the official image', async () => {
  const m = await StyleGANT.fromPretrained(path.join(fx as string, 'model'));
  const { io } = readFixture(fx as string);
  const z = tf.tensor(io['G/input.z'].data as Float32Array, io['G/input.z'].shape) as tf.Tensor2D;
  const c = tf.tensor(io['G/input.c_text_embedding'].data as Float32Array, io['G/input.c_text_embedding'].shape) as tf.Tensor2D;
  const img = m.generate({ z, textEmbeddings: c, truncation: 0.5, noiseMode: 'const' });
  const ref = nchwToNhwc(io['G/psi0.5/output.image']);
  expect(relativeError(img, ref)).toBeLessThan(1e-4);
  tf.dispose([z, c, img, ref]);
  m.dispose();
});

test('save -> fromPretrained keeps the discriminator (heads + its DINO) and its logits', async () => {
  const m = StyleGANT.create('tiny', { seed: 4, withDiscriminator: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgt-d-'));
  try {
    m.save(dir);
    const back = await StyleGANT.fromPretrained(dir);
    expect(back.D).not.toBeNull();
    const x = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
    const c = tf.randomNormal([2, 32], 0, 0.2, 'float32', 2) as tf.Tensor2D;
    const a = m.D!.forward(x, c, { augment: false });
    const b = back.D!.forward(x, c, { augment: false });
    expect(a.shape).toEqual([2, 5 * 196]);
    expect(relativeError(b, a)).toBe(0);
    tf.dispose([x, c, a, b]);
    back.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    m.dispose();
  }
});

test('unconditional G / D (conditional: false, c_dim 0): w = x, heads without the text projection', () => {
  const cfg = PRESETS.tiny();
  cfg.G.conditional = false;
  cfg.text_dim = 0;
  cfg.D.c_dim = 0;
  cfg.G.synthesis_kwargs.architecture = 'orig';
  const m = StyleGANT.create(cfg, { seed: 2, withDiscriminator: true });
  const before = tf.memory().numTensors;
  expect(m.resolved.wDim).toBe(16);
  const img = m.generate({ batchSize: 3, seed: 1, truncation: 0.5 });
  expect(img.shape).toEqual([3, 32, 32, 3]);
  const logits = m.D!.forward(img, null, { augment: true, seed: 2 });
  expect(logits.shape).toEqual([3, 5 * 196]);
  expect(() => m.generate({ textEmbeddings: tf.zeros([1, 16]) as tf.Tensor2D })).toThrow(/unconditional/);
  tf.dispose([img, logits]);
  expect(tf.memory().numTensors).toBe(before + 1); // the zeros given to the refused call
  m.dispose();
});
