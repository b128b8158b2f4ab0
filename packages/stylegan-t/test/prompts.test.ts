import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, relativeError } from '@ganzoo/core';
import { CLIP } from '@ganzoo/encoders';
import { PRESETS, StyleGANT, StyleGANTConfig, StyleGANTTrainer } from '../src';

const tinyClip = path.resolve(__dirname, '../../encoders/test/fixtures/tiny-clip');

function tiny16(): StyleGANTConfig {
  const c = PRESETS.tiny();
  c.text_dim = 16;
  c.D.c_dim = 16;
  c.D.diffaug = true;
  return c;
}

describe('prompts through a CLIP text encoder (tiny CLIP fixture)', () => {
  let clip: CLIP;
  let m: StyleGANT;
  beforeAll(async () => {
    await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm' });
    clip = await CLIP.fromPretrained(tinyClip);
    m = StyleGANT.create(tiny16(), { seed: 2, textEncoder: clip });
  });
  afterAll(() => {
    m.dispose();
    clip.dispose();
  });

  test('generate from prompts equals generate from their normalised CLIP embeddings; leak-free', () => {
    tf.dispose(m.encodePrompts(['warm-up'])); // the text encoder may cache constants on first use
    const before = tf.memory().numTensors;
    const prompts = ['a photo of a cat', 'a red car'];
    const a = m.generate({ prompts, seed: 4, truncation: 0.8 });
    const e = m.encodePrompts(prompts);
    const norms = tf.norm(e, 'euclidean', 1);
    expect(relativeError(norms, [1, 1])).toBeLessThan(1e-6);
    norms.dispose();
    const b = m.generate({ textEmbeddings: e, seed: 4, truncation: 0.8 });
    expect(a.shape).toEqual([2, 32, 32, 3]);
    expect(relativeError(a, b)).toBe(0);
    const seq = m.interpolatePrompts({ from: 'a cat', to: 'a dog', steps: 3, seed: 1 });
    expect(seq.shape).toEqual([3, 32, 32, 3]);
    tf.dispose([a, b, e, seq]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('prompt list length must match z rows; empty / non-string prompts are refused', () => {
    const z = tf.zeros([3, 16]) as tf.Tensor2D;
    expect(() => m.generate({ prompts: ['a', 'b'], z })).toThrow(/z has 3 rows but there are 2 prompts/);
    expect(() => m.generate({ prompts: [] })).toThrow(/non-empty array of strings/);
    expect(() => m.generate({ prompts: [3 as unknown as string] })).toThrow(/non-empty array of strings/);
    z.dispose();
  });

  test('a G step with CLIP guidance (captions encoded by the loss CLIP) is finite and leak-free', () => {
    const model = StyleGANT.create(tiny16(), { seed: 5, withDiscriminator: true, textEncoder: clip });
    const tr = new StyleGANTTrainer(model, { batchSize: 2, lossClip: clip, clipWeight: 0.5, blurInitSigma: 2, blurFadeKimg: 10 });
    const images = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const batch = { images, captions: ['a cat', 'a dog'] };
    tr.step(batch);
    const before = tf.memory().numTensors;
    const r = tr.step(batch);
    expect(tf.memory().numTensors).toBe(before);
    expect(Number.isFinite(r.dLoss) && Number.isFinite(r.gLoss)).toBe(true);
    expect(r.logs['G/clip']).toBeGreaterThan(0);
    const s = tr.sample([1, 2], { captions: ['a cat', 'a dog'] });
    expect(s.shape).toEqual([2, 32, 32, 3]);
    tf.dispose([s, images]);
    tr.dispose();
    model.textEncoder = null; // shared with the suite
    model.dispose();
  });

  test("train_mode 'text_encoder' updates only G's own CLIP text tower", async () => {
    const cfg = tiny16();
    cfg.G.train_mode = 'text_encoder';
    const gClip = await CLIP.fromPretrained(tinyClip);
    const model = StyleGANT.create(cfg, { seed: 6, withDiscriminator: true, textEncoder: gClip });
    const tr = new StyleGANTTrainer(model, { batchSize: 2, lossClip: clip, blurInitSigma: 0, blurFadeKimg: 0 });
    expect(tr.trainDefaults.G.lr).toBe(3e-6);
    const images = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const tok = gClip.params.get('token_embedding.weight').dataSync().slice();
    const syn = model.G.params['synthesis.b8.convs1.0.weight'].dataSync().slice();
    const frozen = clip.params.get('token_embedding.weight').dataSync().slice();
    tr.step({ images, captions: ['a cat', 'a dog'] });
    const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).some((v, i) => v !== b[i]);
    expect(diff(tok, gClip.params.get('token_embedding.weight').dataSync())).toBe(true);
    expect(diff(syn, model.G.params['synthesis.b8.convs1.0.weight'].dataSync())).toBe(false);
    expect(diff(frozen, clip.params.get('token_embedding.weight').dataSync())).toBe(false);
    // the EMA copy of the text tower moved too, and the exported EMA G carries it as mapping.clip.model.*
    expect(diff(tok, (tr.emaTextEncoder as CLIP).params.get('token_embedding.weight').dataSync())).toBe(true);
    const fs = await import('fs');
    const os = await import('os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgt-te-'));
    try {
      tr.exportGenerator(dir);
      const back = await StyleGANT.fromPretrained(dir, { tokenizer: tinyClip, textEncoderLoad: { heads: { text: clip.config.text.heads } } });
      const a = tr.sample([3], { captions: ['a cat'] });
      const b = back.generate({ prompts: ['a cat'], seed: 3 });
      expect(relativeError(b, a)).toBeLessThan(1e-6);
      tf.dispose([a, b]);
      back.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const c = tf.zeros([2, 16]) as tf.Tensor2D;
    expect(() => tr.step({ images, textEmbeddings: c } as never)).toThrow(/needs captions in the batch/);
    tf.dispose([images, c]);
    tr.dispose();
    model.dispose();
    gClip.dispose();
  });

  test('save with the text tower (mapping.clip.model.*) -> fromPretrained gives the same images from prompts', async () => {
    const fs = await import('fs');
    const os = await import('os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgt-clip-'));
    try {
      m.save(dir, { includeTextEncoder: true });
      const back = await StyleGANT.fromPretrained(dir, { tokenizer: tinyClip, textEncoderLoad: { heads: { text: clip.config.text.heads } } });
      expect(back.textEncoder).not.toBeNull();
      const a = m.generate({ prompts: ['a cat', 'a red car'], seed: 9 });
      const b = back.generate({ prompts: ['a cat', 'a red car'], seed: 9 });
      expect(relativeError(b, a)).toBeLessThan(1e-6);
      tf.dispose([a, b]);
      back.dispose(); // owns the text tower it read
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
