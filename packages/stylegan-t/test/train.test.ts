import * as tf from '@tensorflow/tfjs';
import * as core from '@ganzoo/core';
import { blurSigma, blurTaps, emaBeta, PRESETS, StyleGANT, StyleGANTTrainer } from '../src';

const backend = process.env.GANZOO_TEST_BACKEND ?? 'wasm';

beforeAll(async () => {
  const init = (core as unknown as { initBackend?: (o: { backend: string }) => Promise<string> }).initBackend;
  if (init) await init({ backend });
  else {
    if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend(backend);
  }
});

describe('recipe pieces', () => {
  test('blur schedule, taps and EMA ramp as the official formulas', () => {
    expect(blurSigma(0, { blurInitSigma: 32, blurFadeKimg: 1000 })).toBe(32);
    expect(blurSigma(500_000, { blurInitSigma: 32, blurFadeKimg: 1000 })).toBe(16);
    expect(blurSigma(2_000_000, { blurInitSigma: 32, blurFadeKimg: 1000 })).toBe(0);
    expect(blurSigma(10, { blurInitSigma: 2, blurFadeKimg: 0 })).toBe(0);
    const t = blurTaps(1) as number[];
    expect(t.length).toBe(7);
    expect(t.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(t[3] / t[2]).toBeCloseTo(2, 6); // 2^0 / 2^-1
    expect(blurTaps(0.3)).toBeNull();
    // batch 32: ema_kimg 10 -> half-life 10k images once ramped
    expect(emaBeta(32, 1e9)).toBeCloseTo(0.5 ** (32 / 10000), 12);
    expect(emaBeta(32, 64)).toBeCloseTo(0.5 ** (32 / (64 * 0.05)), 12);
  });
});

describe(`training on the tiny preset (${backend})`, () => {
  let model: StyleGANT;
  let trainer: StyleGANTTrainer;
  let batch: { images: tf.Tensor4D; textEmbeddings: tf.Tensor2D };
  beforeAll(() => {
    const cfg = PRESETS.tiny();
    cfg.D.diffaug = false; // a fixed batch: keep D's view of it deterministic
    model = StyleGANT.create(cfg, { seed: 1, withDiscriminator: true });
    trainer = new StyleGANTTrainer(model, { batchSize: 4, seed: 3, blurInitSigma: 0, blurFadeKimg: 0 });
    batch = tf.tidy(() => {
      const r = tf.randomNormal([4, 32], 0, 1, 'float32', 9);
      const yy = tf.linspace(-1, 1, 32).reshape([1, 32, 1, 1]);
      const images = tf.tanh(tf.mul(tf.add(yy, tf.randomNormal([4, 1, 1, 3], 0, 0.3, 'float32', 2)), 2)).tile([1, 1, 32, 1]) as tf.Tensor4D;
      return { images, textEmbeddings: tf.div(r, tf.norm(r, 'euclidean', 1, true)) as tf.Tensor2D };
    });
  });
  afterAll(() => {
    trainer.dispose();
    model.dispose();
    tf.dispose([batch.images, batch.textEmbeddings]);
  });

  test('a step is leak-free and updates G, D, the SN vectors, x_avg and G_ema', () => {
    trainer.step(batch); // optimizer slots are created on the first step
    const before = tf.memory().numTensors;
    const u0 = model.D!.heads.params['heads.0.cls.weight_u'].dataSync().slice();
    const x0 = model.G.params['mapping.x_avg'].dataSync().slice();
    const g0 = model.G.params['synthesis.b8.convs1.0.weight'].dataSync().slice();
    const e0 = trainer.Gema.params['synthesis.b8.convs1.0.weight'].dataSync().slice();
    const r = trainer.step(batch);
    expect(Number.isFinite(r.dLoss) && Number.isFinite(r.gLoss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    const changed = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).some((v, i) => v !== b[i]);
    expect(changed(u0, model.D!.heads.params['heads.0.cls.weight_u'].dataSync())).toBe(true);
    expect(changed(x0, model.G.params['mapping.x_avg'].dataSync())).toBe(true);
    expect(changed(g0, model.G.params['synthesis.b8.convs1.0.weight'].dataSync())).toBe(true);
    expect(changed(e0, trainer.Gema.params['synthesis.b8.convs1.0.weight'].dataSync())).toBe(true);
  });

  test("a few D steps reduce D's loss on a fixed batch", () => {
    // the same seed every time: the same fake images, so the batch is fixed on both sides
    const ctx = { step: 0, phase: 'D' as const, sub: 0, micro: 0, micros: 1, seed: 5, weights: {} };
    const measure = () => tf.tidy(() => trainer.dLoss(batch, ctx).loss.dataSync()[0]);
    const opt = tf.train.adam(0.002, 0, 0.99, 1e-8);
    const first = measure();
    for (let i = 0; i < 6; i++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => trainer.dLoss(batch, ctx).loss, trainer.dVariables());
        opt.applyGradients(grads);
      });
    }
    const last = measure();
    opt.dispose();
    console.log(`D loss on the fixed batch: ${first.toFixed(5)} -> ${last.toFixed(5)}`);
    expect(last).toBeLessThan(first * 0.95);
  });
});
