/** Prompt conditioning through a real CLIP BPE tokenizer (encoders' tiny fixture tokenizer, offline). */
import * as os from 'os';
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend, relativeError, train } from '@ganzoo/core';
import { loadTokenizer } from '@ganzoo/encoders';
import { GALIP, GalipTrainer, galipConfig, randomClip } from '@ganzoo/galip';

const tokDir = path.resolve(__dirname, '../../encoders/test/fixtures/tiny-clip');
const maybe = fs.existsSync(path.join(tokDir, 'tokenizer.json')) ? describe : describe.skip;

maybe('prompts', () => {
  let model: GALIP;
  let cache: string;
  beforeAll(async () => {
    await initBackend({ log: false });
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'galip-tok-'));
    const base = galipConfig('tiny');
    const cfg = galipConfig('tiny', { clip: { ...base.clip, vocabSize: 548, contextLength: 77 } });
    const clip = randomClip(cfg.clip, 4);
    clip.tokenizer = await loadTokenizer(tokDir, { cacheDir: cache });
    model = GALIP.create(cfg, { seed: 4, clip });
  });
  afterAll(() => {
    model?.dispose();
    fs.rmSync(cache, { recursive: true, force: true });
  });

  test('generate from prompts equals generate from their sentence embeddings; leak-free', () => {
    const prompts = ['a red square', 'a small blue circle'];
    model.generate({ prompts, seed: 9 }).dispose();
    const before = tf.memory().numTensors;
    const a = model.generate({ prompts, seed: 9 });
    const s = model.sentenceEmbeddings(prompts);
    const b = model.generate({ sentenceEmbeddings: s, seed: 9 });
    expect(a.shape).toEqual([2, 28, 28, 3]);
    expect(relativeError(a, b)).toBe(0);
    const ids = model.tokenize(prompts);
    expect(ids.shape).toEqual([2, 77]);
    const c = model.generate({ tokenIds: ids, seed: 9 });
    expect(relativeError(a, c)).toBe(0);
    tf.dispose([a, b, c, s, ids]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('prompt interpolation: endpoints are the prompts themselves', () => {
    const imgs = model.interpolate({ prompts: ['a red square', 'a green star'], seed: 2, steps: 3, clamp: false });
    const first = model.generate({ prompts: ['a red square'], seed: 2, clamp: false });
    const last = model.generate({ prompts: ['a green star'], seed: 2, clamp: false });
    expect(relativeError(tf.slice(imgs, [0], [1]), first)).toBeLessThan(1e-5);
    expect(relativeError(tf.slice(imgs, [2], [1]), last)).toBeLessThan(1e-5);
    tf.dispose([imgs, first, last]);
  });

  test('GalipTrainer.sample: one image per seed and caption (for the trainer sample grids)', () => {
    const t = new GalipTrainer(model);
    const before = tf.memory().numTensors;
    const imgs = t.sample([1, 2, 3], { captions: ['a red square', 'a blue circle', 'a star'] });
    expect(imgs.shape).toEqual([3, 28, 28, 3]);
    imgs.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => t.sample([1, 2], { captions: ['one'] })).toThrow(/one caption per seed \(2\), found 1/);
    t.dispose();
  });

  test('a prompt longer than the context is refused', () => {
    const long = Array.from({ length: 100 }, () => 'red').join(' ');
    expect(() => model.generate({ prompts: [long], seed: 1 })).toThrow(/prompt 0 is \d+ tokens long .* context holds 77/);
  });

  test('the core trainer runs GALIP (captions through the tokenizer) and leaves no tensors behind', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'galip-train-'));
    const captions = ['a red square', 'a blue circle'];
    let pos = 0;
    const source = {
      get position() { return pos; },
      seek(p: number) { pos = p; },
      batchSize: 2,
      async next() {
        pos += 2;
        return { batch: { images: tf.tidy(() => tf.tanh(tf.randomNormal([2, 28, 28, 3], 0, 1, 'float32', pos))) as tf.Tensor4D, captions }, indices: [pos - 2, pos - 1] };
      },
    };
    const trainer = new GalipTrainer(model);
    const before = tf.memory().numTensors;
    try {
      const steps: any[] = [];
      await train(trainer, source, { outDir: out, steps: 1, sampleEvery: 0, checkpointEvery: 0, onStep: (r) => steps.push(r) });
      expect(steps.length).toBe(1);
      expect(JSON.stringify(steps[0])).toMatch(/magp/);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      trainer.dispose();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
