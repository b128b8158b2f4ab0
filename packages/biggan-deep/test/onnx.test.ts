/**
 * The onnxruntime engine (src/onnx.ts, generateAsync): equal to the tfjs reference path (`fast: false`) on the tiny
 * preset and a 2-block preset with attention, batch 1 and 3, truncation 0.4 and 1.0; the HF parity fixture (official
 * PyTorch output) within its tolerance; session rebuilt after a weight change; leak-free; clear errors. Skips with a
 * reason when onnxruntime-node cannot be loaded.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, loadOnnxRuntime, onnxRuntimeUnavailableReason, parityFixture, readFixture, relativeError, nchwToNhwc } from '@ganzoo/core';
import { BigGANDeep, BigGANDeepConfig, fromHfConfig, truncatedNoise } from '../src';
import { OnnxGenerator } from '../src/onnx';

jest.setTimeout(120000);

const TOL = 1e-5;
const ort = loadOnnxRuntime();
if (!ort) console.log(`BigGAN-deep onnx tests skipped: onnxruntime-node cannot be loaded (${onnxRuntimeUnavailableReason()})`);
const maybe = ort ? describe : describe.skip;

/**
 * 16 px, blocks without and with upsampling, attention after the last block (16×16, 8 channels). (A 2-block layout is
 * not a valid BigGAN-deep config: the channels must halve from 16·ch to 1·ch, i.e. 4 blocks at least.)
 */
function attnLast(): BigGANDeepConfig {
  return fromHfConfig({
    output_dim: 16, z_dim: 8, class_embed_dim: 8, channel_width: 8, num_classes: 5,
    layers: [[false, 16, 8], [true, 8, 4], [true, 4, 2], [false, 2, 1]], attention_layer_position: 4,
  });
}

/** Random weights with non-trivial BN statistics, attention gate and biases, so every folded term matters. */
function model(cfg: string | BigGANDeepConfig, seed: number): BigGANDeep {
  const g = BigGANDeep.create(cfg, { seed, init: 'N02', discriminator: false });
  tf.tidy(() => {
    for (const [k, v] of Object.entries(g.G.vars)) {
      if (k.endsWith('running_means')) v.assign(tf.randomNormal(v.shape, 0, 0.3, 'float32', seed + 11));
      if (k.endsWith('running_vars')) v.assign(tf.randomUniform(v.shape, 0.5, 1.5, 'float32', seed + 12));
      if (k.endsWith('.gamma')) v.assign(tf.fill(v.shape, 0.7));
      if (k === 'generator.bn.weight') v.assign(tf.randomUniform(v.shape, 0.5, 1.5, 'float32', seed + 13));
      if (k.endsWith('.bias')) v.assign(tf.randomNormal(v.shape, 0, 0.1, 'float32', seed + 14));
    }
  });
  g.G.invalidate();
  return g;
}

function inputs(g: BigGANDeep, b: number, trunc: number): { z: tf.Tensor2D; classVector: tf.Tensor2D } {
  const n = g.numClasses;
  return {
    z: truncatedNoise(b, trunc, 7 + b, g.zDim),
    classVector: tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => (i * 3 + 1) % n), 'int32'), n).toFloat() as tf.Tensor2D),
  };
}

async function compare(g: BigGANDeep, b: number, trunc: number): Promise<number> {
  const { z, classVector } = inputs(g, b, trunc);
  const ref = g.generate({ z, classVector, truncation: trunc, fast: false });
  const out = await g.generateAsync({ z, classVector, truncation: trunc, engine: 'onnxruntime' });
  expect(out.shape).toEqual(ref.shape);
  const e = relativeError(out, ref);
  tf.dispose([z, classVector, ref, out]);
  return e;
}

maybe('BigGAN-deep onnxruntime engine', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });

  test.each([
    ['tiny', () => 'tiny' as string | BigGANDeepConfig],
    ['attention after the last block', attnLast],
  ])('%s: equal to the tfjs reference path at batch 1 and 3, truncation 0.4 and 1.0', async (name, cfg) => {
    const g = model(cfg(), 5);
    const errs: string[] = [];
    for (const b of [1, 3]) {
      for (const t of [0.4, 1.0]) {
        const e = await compare(g, b, t);
        errs.push(`b${b} t${t}: ${e.toExponential(2)}`);
        expect(e).toBeLessThanOrEqual(TOL);
      }
    }
    console.log(`onnxruntime vs reference (${name}): ${errs.join(', ')}`);
    g.dispose();
  });

  test('weight change -> session rebuilt, output equal to tfjs; leak-free; dispose releases the session', async () => {
    const g = model('tiny', 9);
    const plan = () => (g as any).onnxPlan as OnnxGenerator | null;
    expect(await compare(g, 2, 0.4)).toBeLessThanOrEqual(TOL);
    const first = (plan() as any).current;
    const { z, classVector } = inputs(g, 2, 0.4);
    const before = await g.generateAsync({ z, classVector, truncation: 0.4, engine: 'onnxruntime' });
    // steady state: nothing stays but the result
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) (await g.generateAsync({ z, classVector, truncation: i % 2 ? 0.4 : 0.8, engine: 'onnxruntime' })).dispose();
    (await g.generateAsync({ classes: [1, 2], seed: 3, engine: 'onnxruntime' })).dispose();
    expect(tf.memory().numTensors).toBe(n0);
    expect((plan() as any).current).toBe(first); // other truncations, batch sizes: the same session
    // assign a variable: the fast plan rebuilds, and with it the ORT session
    const w = g.G.get('generator.layers.0.conv_1.bias');
    w.assign(tf.tidy(() => tf.add(w, 0.5)));
    g.G.invalidate();
    const after = await g.generateAsync({ z, classVector, truncation: 0.4, engine: 'onnxruntime' });
    const ref = g.generate({ z, classVector, truncation: 0.4, fast: false });
    expect((plan() as any).current.version).toBeGreaterThan(first.version);
    expect(relativeError(after, before)).toBeGreaterThan(1e-3);
    expect(relativeError(after, ref)).toBeLessThanOrEqual(TOL);
    tf.dispose([z, classVector, before, after, ref]);
    const p = plan()!;
    expect(p.hasSession).toBe(true);
    g.dispose();
    expect(p.hasSession).toBe(false);
    expect(plan()).toBeNull();
    await expect(p.forward(tf.zeros([1, 16]) as tf.Tensor2D, tf.zeros([1, 10]) as tf.Tensor2D, 0.4)).rejects.toThrow(/after dispose/);
  });

  test("engines: 'auto' picks onnxruntime on wasm/cpu; tfjs engine = generate(); errors name the package", async () => {
    const g = model('tiny', 3);
    expect(g.resolveEngine('auto')).toBe('onnxruntime');
    expect(g.resolveEngine('tfjs')).toBe('tfjs');
    const opts = { classes: [1, 4], seed: 2, truncation: 0.6 };
    const a = await g.generateAsync({ ...opts, engine: 'tfjs' });
    const b = g.generate(opts);
    expect(relativeError(a, b)).toBe(0);
    const c = await g.generateAsync(opts); // auto -> onnxruntime
    expect(relativeError(c, b)).toBeLessThanOrEqual(TOL);
    tf.dispose([a, b, c]);
    await expect(g.generateAsync({ engine: 'gpu' as any })).rejects.toThrow(/engine must be 'auto', 'onnxruntime' or 'tfjs', found "gpu"/);
    await expect(g.generateAsync({ classes: [1, 2], batchSize: 3, engine: 'onnxruntime' })).rejects.toThrow(/2 classes given for a batch of 3/);
    const prev = process.env.GANZOO_ORT;
    process.env.GANZOO_ORT = 'off';
    try {
      await expect(g.generateAsync({ engine: 'onnxruntime' })).rejects.toThrow(/needs the optional package 'onnxruntime-node'.*npm install onnxruntime-node/);
      expect(g.resolveEngine('auto')).toBe('tfjs');
      const n0 = tf.memory().numTensors;
      (await g.generateAsync({ classes: [1], seed: 1 })).dispose();
      expect(tf.memory().numTensors).toBe(n0);
    } finally {
      if (prev === undefined) delete process.env.GANZOO_ORT;
      else process.env.GANZOO_ORT = prev;
    }
    g.dispose();
  });

  test('concurrent calls share one session and give the sequential results', async () => {
    const g = model('tiny', 4);
    const opts = [1, 2, 3].map((s) => ({ classes: [s], seed: s, truncation: 0.5, engine: 'onnxruntime' as const }));
    const together = await Promise.all(opts.map((o) => g.generateAsync(o)));
    const first = (g as any).onnxPlan.current;
    for (let i = 0; i < opts.length; i++) {
      const one = await g.generateAsync(opts[i]);
      expect(relativeError(one, together[i])).toBe(0);
      one.dispose();
    }
    expect((g as any).onnxPlan.current).toBe(first);
    tf.dispose(together);
    g.dispose();
  });

  const dir = parityFixture('biggan-deep-hf');
  (dir ? test : test.skip)('matches the official PyTorch output of the HF fixture (max abs <= 1e-4)', async () => {
    const { io } = readFixture(dir!);
    const g = await BigGANDeep.fromPretrained(path.join(dir!, 'model'));
    const errs: string[] = [];
    for (const t of ['0.4', '1.0', '0.725']) {
      const p = `trunc${t}/`;
      const trunc = io[`${p}input.truncation`].float64![0];
      const z = tf.tensor2d(io[`${p}input.z`].data as Float32Array, io[`${p}input.z`].shape as [number, number]);
      const cv = tf.tensor2d(io[`${p}input.class_label`].data as Float32Array, io[`${p}input.class_label`].shape as [number, number]);
      const img = await g.generateAsync({ z, classVector: cv, truncation: trunc, engine: 'onnxruntime' });
      const exp = nchwToNhwc(io[`${p}output.image`]);
      const maxAbs = tf.tidy(() => tf.max(tf.abs(tf.sub(img, exp))).dataSync()[0]);
      errs.push(`${t}: max abs ${maxAbs.toExponential(2)}, rel ${relativeError(img, exp).toExponential(2)}`);
      expect(maxAbs).toBeLessThanOrEqual(1e-4);
      tf.dispose([z, cv, img, exp]);
    }
    console.log(`onnxruntime engine vs official HF output: ${errs.join('; ')}`);
    g.dispose();
  });
});
