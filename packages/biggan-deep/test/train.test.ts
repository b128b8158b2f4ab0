import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, relativeError, Rng, train } from '@ganzoo/core';
import { BigGANDeep, BigGANDeepTrainer, accumulateStandingStats } from '../src';

function fixedBatch(seed: number): { images: tf.Tensor4D; labels: tf.Tensor1D } {
  return {
    images: tf.tidy(() => tf.tanh(tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', seed)) as tf.Tensor4D),
    labels: tf.tensor1d([3, 9], 'int32'),
  };
}

for (const backend of ['wasm', 'cpu']) {
  describe(`BigGAN-deep training (${backend})`, () => {
    beforeAll(async () => {
      await initBackend({ backend, log: false });
    });

    test('D steps reduce D loss on a fixed batch; steps are leak-free; SN u and BN stats update', () => {
      const start = tf.memory().numTensors;
      const model = BigGANDeep.create('tiny', { seed: 1 });
      const trainer = new BigGANDeepTrainer(model, { emaStart: 0, emaDecay: 0.9 });
      const batch = fixedBatch(2);
      const u0 = Array.from(model.D!.vars['discriminator.input_conv.weight_u'].dataSync());
      const stats0 = Array.from(model.G.vars['generator.bn.running_means'].dataSync().slice(-8));
      const first = trainer.dStep(batch, 7); // creates Adam slots
      const before = tf.memory().numTensors;
      const losses = [first];
      for (let i = 0; i < 2; i++) losses.push(trainer.dStep(batch, 7));
      expect(tf.memory().numTensors).toBe(before);
      console.log(`${backend} D losses on a fixed batch: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
      expect(Array.from(model.D!.vars['discriminator.input_conv.weight_u'].dataSync())).not.toEqual(u0);
      // fakes ran G in train mode: the truncation-1.0 stats row moved
      expect(Array.from(model.G.vars['generator.bn.running_means'].dataSync().slice(-8))).not.toEqual(stats0);
      trainer.gStep(batch, 11); // creates G's Adam slots
      const b2 = tf.memory().numTensors;
      const g = trainer.gStep(batch, 12);
      expect(Number.isFinite(g)).toBe(true);
      expect(tf.memory().numTensors).toBe(b2);
      tf.dispose([batch.images, batch.labels]);
      trainer.dispose();
      model.dispose();
      // model + trainer (EMA, optimizers, caches) leave nothing behind
      expect(tf.memory().numTensors).toBe(start);
    });

    if (backend === 'wasm') {
      test('saveState / loadState resume exactly; EMA sample', async () => {
        const model = BigGANDeep.create('tiny', { seed: 4 });
        const trainer = new BigGANDeepTrainer(model, { emaStart: 0, emaDecay: 0.5, orthoBeta: 1e-4 });
        const batch = fixedBatch(3);
        trainer.step(batch);
        const state = await trainer.saveState();
        const a = trainer.step(batch);
        const imgA = trainer.sample([1, 2], { labels: [1, 2] });
        // a second model restored from the state follows the same path bit for bit
        const model2 = BigGANDeep.create('tiny', { seed: 99 });
        const trainer2 = new BigGANDeepTrainer(model2, { emaStart: 0, emaDecay: 0.5, orthoBeta: 1e-4 });
        await trainer2.loadState(state);
        const b = trainer2.step(batch);
        expect(b.d.length).toBe(2);
        const imgB = trainer2.sample([1, 2], { labels: [1, 2] });
        expect(b.d).toEqual(a.d);
        expect(b.g).toBe(a.g);
        expect(relativeError(imgB, imgA)).toBe(0);
        expect(imgA.shape).toEqual([2, 32, 32, 3]);
        expect(Object.keys(trainer.variables()).some((k) => k.startsWith('ema.'))).toBe(true);
        tf.dispose([imgA, imgB, batch.images, batch.labels, ...Object.values(state.tensors)]);
        trainer.dispose();
        trainer2.dispose();
        model.dispose();
        model2.dispose();
      });
    }
  });
}

describe('BigGAN-deep with the core trainer', () => {
  test('two steps through core train(), then the exported EMA generator loads back', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const model = BigGANDeep.create('tiny', { seed: 5 });
    const trainer = new BigGANDeepTrainer(model, { emaStart: 0, emaDecay: 0.9, batchSize: 2 });
    const batch = fixedBatch(6);
    let position = 0;
    const data = {
      batchSize: 2,
      get position() {
        return position;
      },
      seek(p: number) {
        position = p;
      },
      async next() {
        position += 2;
        return { batch: { images: batch.images.clone(), labels: batch.labels.clone() }, indices: [position - 2, position - 1] };
      },
    };
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'biggan-train-'));
    try {
      const steps: Record<string, number>[] = [];
      const r = await train(trainer, data, { outDir: out, steps: 2, seed: 1, sampleEvery: 0, checkpointEvery: 0, onStep: (rec) => steps.push(rec.losses) });
      expect(r.step).toBe(2);
      expect(steps.length).toBe(2);
      expect(Number.isFinite(steps[1]['D/loss'])).toBe(true);
      const dir = path.join(out, 'export');
      trainer.exportGenerator(dir);
      const g = await BigGANDeep.fromPretrained(dir);
      const a = g.generate({ classes: [7], seed: 3, truncation: 1 });
      const b = trainer.sample([3], { labels: [7] }); // the EMA G in eval mode, same z
      expect(a.shape).toEqual([1, 32, 32, 3]);
      expect(relativeError(a, b)).toBeLessThan(1e-6);
      expect(g.D).toBeNull();
      tf.dispose([a, b]);
      g.dispose();
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
      tf.dispose([batch.images, batch.labels]);
      trainer.dispose();
      model.dispose();
    }
  });
});

describe('standing statistics', () => {
  test('rows are the average batch moments of train-mode passes; other rows, u and v untouched; leak-free', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const model = BigGANDeep.create('tiny', { seed: 2 });
    const u = Array.from(model.G.vars['generator.gen_z.weight_u'].dataSync());
    const row = (name: string, r: number) => Array.from(model.G.vars[name].dataSync().slice(r * 8, r * 8 + 8));
    const other = row('generator.bn.running_vars', 10);
    const before = tf.memory().numTensors;
    accumulateStandingStats(model, { truncations: [0.5], passes: 2, batchSize: 4, seed: 1 });
    expect(tf.memory().numTensors).toBe(before);
    const r25 = row('generator.bn.running_vars', 25);
    expect(r25).not.toEqual(Array(8).fill(1));
    expect(row('generator.bn.running_vars', 10)).toEqual(other);
    expect(Array.from(model.G.vars['generator.gen_z.weight_u'].dataSync())).toEqual(u);
    // equals the average of the two passes' batch moments, recomputed here from the same seeded inputs
    const sum = new Float32Array(8);
    for (let p = 0; p < 2; p++) {
      const rng = new Rng(`standing:1:0.5:${p}`);
      tf.tidy(() => {
        const z = tf.mul(rng.truncatedNormal([4, 16], 2), 0.5) as tf.Tensor2D;
        const cv = tf.oneHot(tf.tensor1d(Array.from({ length: 4 }, () => rng.int(10)), 'int32'), 10).toFloat() as tf.Tensor2D;
        model.forwardG(z, cv, {
          truncation: 0.5, training: true,
          onBatchStats: (prefix, _m, v) => {
            if (prefix === 'generator.bn') v.dataSync().forEach((x, i) => (sum[i] += x / 2));
          },
        });
      });
    }
    expect(relativeError(r25, Array.from(sum))).toBeLessThan(1e-5);
    model.dispose();
  });
});

describe('one-row BN statistics table (n_stats = 1, as ajbrock layouts have)', () => {
  test('a train-mode step updates the single row without error', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const cfg = JSON.parse(JSON.stringify(BigGANDeep.create('tiny', { seed: 1 }).config));
    cfg.generator.nStats = 1;
    const model = BigGANDeep.create(cfg, { seed: 1 });
    expect(model.G.vars['generator.bn.running_means'].shape[0]).toBe(1);
    const trainer = new BigGANDeepTrainer(model, { emaStart: 0, emaDecay: 0.9 });
    const batch = fixedBatch(3);
    const before = Array.from(model.G.vars['generator.bn.running_means'].dataSync());
    trainer.dStep(batch, 5);
    expect(Array.from(model.G.vars['generator.bn.running_means'].dataSync())).not.toEqual(before);
    tf.dispose([batch.images, batch.labels]);
    trainer.dispose?.();
    model.dispose();
  });
});
