import * as tf from '@tensorflow/tfjs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BatchSource, Rng, StepContext, initBackend, train } from '@ganzoo/core';
import { GigaGAN, GigaGANConfig, GigaGANTrainable, gradientPenalty, realImagesToRgbs, discriminatorForward, getter, presetConfig } from '../src';

const SIZE = 16;

/** The tiny preset shrunk to 16 px so a few second-order D steps stay cheap on 2 shared cores. */
function microConfig(): GigaGANConfig {
  const c = presetConfig('tiny');
  c.G.imageSize = SIZE;
  c.D.imageSize = SIZE;
  c.D.multiscaleInputResolutions = [8];
  c.upsampler = null;
  return c;
}

// one fixed batch of 2 "images" in [-1, 1] with captions encoded by a fixed lookup (no CLIP needed)
function fixedBatch() {
  return tf.tidy(() => {
    const yy = tf.linspace(-1, 1, SIZE).reshape([1, SIZE, 1, 1]);
    const xx = tf.linspace(-1, 1, SIZE).reshape([1, 1, SIZE, 1]);
    const a = tf.concat([tf.add(tf.mul(yy, 0), xx), tf.mul(yy, xx), tf.add(yy, tf.mul(xx, 0))], 3);
    const b = tf.neg(a);
    return tf.clipByValue(tf.concat([a, b], 0), -1, 1) as tf.Tensor4D;
  });
}

const CAPTIONS = ['a red square', 'a blue circle on a long white table'];

function encoder(dim: number) {
  const table = new Map<string, tf.Tensor2D>();
  return {
    encode(captions: string[]): tf.Tensor3D {
      return tf.tidy(() => {
        const rows = captions.map((c) => {
          if (!table.has(c)) {
            const t = tf.keep(tf.randomNormal([6, dim], 0, 1, 'float32', c.length) as tf.Tensor2D);
            table.set(c, t);
          }
          const words = Math.min(6, c.split(' ').length);
          return tf.mul(table.get(c)!, tf.tensor2d(Array.from({ length: 6 }, (_, i) => [i < words ? 1 : 0])));
        });
        return tf.stack(rows) as tf.Tensor3D;
      });
    },
    dispose() {
      for (const t of table.values()) t.dispose();
    },
  };
}

const ctxFor = (step: number, phase: 'D' | 'G'): StepContext => ({ step, phase, sub: 0, micro: 0, micros: 1, seed: 1000 + step, weights: {} });

for (const backend of ['wasm', 'cpu']) {
  describe(`GigaGAN training on ${backend} (tiny)`, () => {
    beforeAll(async () => {
      await initBackend({ backend, log: false });
    });

    // the full loop is heavy on the cpu backend (minutes on 2 shared cores): cpu runs it only with GANZOO_TEST_CPU_TRAIN=1
    const full = backend === 'wasm' || process.env.GANZOO_TEST_CPU_TRAIN === '1' ? test : test.skip;
    full('D steps on a fixed batch reduce D loss; G, GP and EMA steps run, leak-free', () => {
      const model = GigaGAN.create(microConfig(), { seed: 11 });
      const enc = encoder(model.config.clip.dimLatent);
      const tr = new GigaGANTrainable(model, { encodeCaptions: (c) => enc.encode(c), gpEvery: 4 });
      const images = fixedBatch();
      const batch = { images, captions: CAPTIONS };
      enc.encode(CAPTIONS).dispose(); // warm the caption table so later steps allocate nothing persistent
      const optD = tf.train.adam(1e-3, 0.5, 0.9);
      const optG = tf.train.adam(2e-4, 0.5, 0.9);
      const dLossAt0 = () => tf.tidy(() => tr.dLoss(batch, ctxFor(0, 'D')).loss.arraySync() as number);
      const dUpdate = (s: number) =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() => tr.dLoss(batch, ctxFor(s, 'D')).loss, tr.dVariables());
          optD.applyGradients(tr.adjustGradients('D', grads) as Record<string, tf.Tensor>);
          return value.arraySync() as number;
        });
      const first = dLossAt0();
      const losses = [dUpdate(0)];
      const afterSlots = tf.memory().numTensors;
      losses.push(dUpdate(1), dUpdate(2));
      expect(tf.memory().numTensors).toBe(afterSlots);
      const last = dLossAt0();
      console.log(backend, { first, last, losses });
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(last).toBeLessThan(first);
      // step index 3: (3 + 1) % gpEvery == 0 -> this D update carries the zero-centred gradient penalty
      const gpLoss = tf.tidy(() => {
        const r = tr.dLoss(batch, ctxFor(3, 'D'));
        return [r.loss.arraySync() as number, r.logs!.gradient_penalty.arraySync() as number];
      });
      expect(gpLoss[1]).toBeGreaterThan(0);
      expect(gpLoss[0]).toBeGreaterThan(gpLoss[1]);
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tr.gLoss(batch, ctxFor(3, 'G')).loss, tr.gVariables());
        for (const g of Object.values(grads)) expect(Number.isFinite(tf.sum(tf.abs(g)).arraySync() as number)).toBe(true);
        optG.applyGradients(grads);
      });
      const afterG = tf.memory().numTensors;
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tr.gLoss(batch, ctxFor(4, 'G')).loss, tr.gVariables());
        optG.applyGradients(grads);
      });
      tr.emaUpdate(4);
      tr.emaUpdate(110);
      expect(tf.memory().numTensors).toBe(afterG);
      optD.dispose();
      optG.dispose();
      images.dispose();
      enc.dispose();
      model.dispose();
    });

    full('core trainer: 2 steps with the GAN loop (GP on step index 1), checkpoint, resume to 3 steps', async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gigagan-train-'));
      const makeModel = () => {
        const model = GigaGAN.create(microConfig(), { seed: 21 });
        const enc = encoder(model.config.clip.dimLatent);
        return { model, enc, tr: new GigaGANTrainable(model, { encodeCaptions: (c) => enc.encode(c), gpEvery: 2 }) };
      };
      const source = (): BatchSource & { batchSize: number } => {
        let pos = 0;
        return {
          batchSize: 2,
          get position() { return pos; },
          seek(p: number) { pos = p; },
          async next() {
            pos += 2;
            return { batch: { images: fixedBatch(), captions: CAPTIONS.slice() }, indices: [pos - 2, pos - 1] };
          },
        };
      };
      try {
        const a = makeModel();
        const r1 = await train(a.tr, source(), { outDir: out, steps: 2, seed: 5, sampleEvery: 0, checkpointEvery: 0 });
        expect(r1.step).toBe(2);
        expect(r1.nonFiniteTotal).toBe(0);
        const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.event === undefined);
        expect(log.length).toBe(2);
        expect(log[1].losses['D/gradient_penalty']).toBeGreaterThan(0);
        expect(log[0].losses['D/gradient_penalty']).toBeUndefined();
        expect(Number.isFinite(log[1].losses['G/loss'])).toBe(true);
        const b = makeModel();
        const r2 = await train(b.tr, source(), { outDir: out, steps: 3, seed: 5, sampleEvery: 0, checkpointEvery: 0, resume: true });
        expect(r2.resumedFrom).toBe(2);
        expect(r2.step).toBe(3);
        for (const m of [a, b]) {
          m.enc.dispose();
          m.model.dispose();
        }
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    });

    test('DiffAugment (lucidrains horizontal flip): a flipped real batch equals flipping the batch by hand', () => {
      const model = GigaGAN.create(microConfig(), { seed: 3 });
      const enc = encoder(model.config.clip.dimLatent);
      enc.encode(CAPTIONS).dispose();
      const aug = new GigaGANTrainable(model, { encodeCaptions: (c) => enc.encode(c), gpEvery: 0, diffAugment: { prob: 1 } });
      const plain = new GigaGANTrainable(model, { encodeCaptions: (c) => enc.encode(c), gpEvery: 0 });
      // a seed whose draws flip the reals (2nd draw < 0.5) but not the fakes (4th draw >= 0.5)
      let seed = 0;
      for (;; seed++) {
        const r = new Rng(seed);
        const d = [r.random(), r.random(), r.random(), r.random()];
        if (d[1] < 0.5 && d[3] >= 0.5) break;
      }
      const images = fixedBatch();
      // the matching-aware pass sees the images from before augmentation (as in lucidrains): leave it out here
      const ctx = { ...ctxFor(0, 'D'), seed, weights: { matching: 0 } };
      const [a, b, c] = tf.tidy(() => [
        aug.dLoss({ images, captions: CAPTIONS }, ctx).loss.arraySync() as number,
        plain.dLoss({ images: tf.reverse(images, 2) as tf.Tensor4D, captions: CAPTIONS }, ctx).loss.arraySync() as number,
        plain.dLoss({ images, captions: CAPTIONS }, ctx).loss.arraySync() as number,
      ]);
      expect(Math.abs(a - b)).toBeLessThan(1e-5 * Math.abs(b));
      expect(Math.abs(a - c)).toBeGreaterThan(1e-6);
      images.dispose();
      enc.dispose();
      model.dispose();
    });

    test('gradient penalty: second-order gradients reach D parameters', () => {
      const model = GigaGAN.create(microConfig(), { seed: 2 });
      const enc = encoder(model.config.clip.dimLatent);
      const images = fixedBatch();
      const tr = new GigaGANTrainable(model, { encodeCaptions: (c) => enc.encode(c) });
      enc.encode(CAPTIONS).dispose();
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const real = model.fromApi(images);
        const te = tf.randomNormal([2, 32], 0, 1, 'float32', 3) as tf.Tensor2D;
        const d = model.config.D;
        const outs = (x: tf.Tensor4D) => {
          const o = discriminatorForward(getter(model.D, 'D'), d, { images: x, rgbs: realImagesToRgbs(d, x), textEmbeds: te });
          return [o.logits, ...o.multiscale];
        };
        const { value, grads } = tf.variableGrads(() => gradientPenalty(outs, real, 0.1, 10), tr.dVariables());
        expect(value.arraySync()).toBeGreaterThan(0);
        const conv = grads[model.D['layers.1.2.0.weight'].name];
        expect(tf.sum(tf.abs(conv)).arraySync()).toBeGreaterThan(0);
      });
      expect(tf.memory().numTensors).toBe(before);
      images.dispose();
      enc.dispose();
      model.dispose();
    });

    full('upsampler training (lucidrains train_upsampler): D and G losses, finite gradients, D loss decreases', () => {
      const cfg = microConfig();
      const tinyU = presetConfig('tiny').upsampler!;
      cfg.upsampler = { ...tinyU, imageSize: SIZE, inputImageSize: 8, dimMults: [1, 2], fullAttn: [false, true], crossAttn: [false, true], attnDepths: [1, 1] };
      const model = GigaGAN.create(cfg, { seed: 5 });
      const enc = encoder(model.config.clip.dimLatent);
      const tr = new GigaGANTrainable(model, { encodeCaptions: (c) => enc.encode(c), gpEvery: 0, target: 'upsampler' });
      expect(tr.resolution).toBe(SIZE);
      const images = fixedBatch();
      const batch = { images, captions: CAPTIONS };
      enc.encode(CAPTIONS).dispose();
      const opt = tf.train.adam(1e-3, 0.5, 0.9);
      const dAt0 = () => tf.tidy(() => tr.dLoss(batch, ctxFor(0, 'D')).loss.arraySync() as number);
      const first = dAt0();
      for (let s = 0; s < 3; s++) {
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => tr.dLoss(batch, ctxFor(s, 'D')).loss, tr.dVariables());
          opt.applyGradients(grads);
        });
      }
      expect(dAt0()).toBeLessThan(first);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tr.gLoss(batch, ctxFor(0, 'G')).loss, tr.gVariables());
        expect(Number.isFinite(value.arraySync() as number)).toBe(true);
        expect(tf.sum(tf.abs(grads[model.U!['init_conv.weight'].name])).arraySync()).toBeGreaterThan(0);
      });
      expect(tf.memory().numTensors).toBe(before);
      const s = tr.sample([1, 2], { captions: CAPTIONS });
      expect(s.shape).toEqual([2, SIZE, SIZE, 3]);
      s.dispose();
      opt.dispose();
      images.dispose();
      enc.dispose();
      model.dispose();
    });
  });
}

describe('GigaGAN weight decay follows the learning rate in effect', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });

  test('adjustGradients decays by ctx.lr (the trainer\'s), opts.lr only without one; trainer overrides reach it', async () => {
    const model = GigaGAN.create(microConfig(), { seed: 4 });
    const enc = encoder(model.config.clip.dimLatent);
    const tr = new GigaGANTrainable(model, { encodeCaptions: (c) => enc.encode(c), gpEvery: 0 });
    expect(tr.trainDefaults.D.lr).toBe(2e-4);
    const v = tr.dVariables().find((x) => x.rank >= 2)!;
    const decayed = (ctx: StepContext | undefined): number => {
      const before = v.dataSync().slice();
      const zeros = { [v.name]: tf.zerosLike(v) };
      tr.adjustGradients('D', zeros, ctx);
      tf.dispose(Object.values(zeros));
      const after = v.dataSync();
      const i = before.findIndex((x) => Math.abs(x) > 1e-3);
      return after[i] / before[i];
    };
    expect(decayed({ ...ctxFor(0, 'D'), lr: 0.5 })).toBeCloseTo(1 - 0.5 * 0.01, 6);
    expect(decayed(ctxFor(0, 'D'))).toBeCloseTo(1 - 2e-4 * 0.01, 6); // no ctx.lr: the trainable's own lr

    // through core's trainer: lrG / lrD (what `ganzoo finetune --lr` sets) arrive as ctx.lr, per phase
    const seen: Record<string, number | undefined> = {};
    const orig = tr.adjustGradients.bind(tr);
    tr.adjustGradients = (phase, grads, ctx) => {
      seen[phase] = ctx?.lr;
      return orig(phase, grads, ctx);
    };
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gigagan-lr-'));
    try {
      let pos = 0;
      const source: BatchSource & { batchSize: number } = {
        batchSize: 2,
        get position() { return pos; },
        seek(p: number) { pos = p; },
        async next() {
          pos += 2;
          return { batch: { images: fixedBatch(), captions: CAPTIONS.slice() }, indices: [pos - 2, pos - 1] };
        },
      };
      const r = await train(tr, source, { outDir: out, steps: 1, seed: 0, sampleEvery: 0, checkpointEvery: 0, lrG: 3e-3, lrD: 7e-3 });
      expect(r.step).toBe(1);
      expect(seen).toEqual({ D: 7e-3, G: 3e-3 });
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
      enc.dispose();
      model.dispose();
    }
  });
});
