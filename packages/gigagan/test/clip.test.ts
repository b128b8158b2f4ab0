/**
 * Prompts end to end with a real (tiny, random) CLIP loaded through @ganzoo/encoders from its test fixture:
 * OpenClipAdapter-style text encodings, generate({ prompts }), the vision-aided head, and the G losses that need CLIP.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@ganzoo/core';
import { CLIP } from '@ganzoo/encoders';
import { GigaGAN, GigaGANClip, GigaGANTrainable, presetConfig, visionAidedConfig } from '../src';

const TINY_CLIP = path.resolve(__dirname, '../../encoders/test/fixtures/tiny-clip');
const d = fs.existsSync(path.join(TINY_CLIP, 'config.json')) ? describe : describe.skip;

d('GigaGAN with a CLIP (tiny random CLIP from the encoders fixtures)', () => {
  let clip: CLIP;
  let adapter: GigaGANClip;
  let model: GigaGAN;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
    clip = await CLIP.fromPretrained(TINY_CLIP);
    adapter = new GigaGANClip(clip, { eosId: clip.config.text.pool as number });
    const cfg = presetConfig('tiny');
    cfg.clip = { dimLatent: adapter.dimLatent, dimImageLatent: adapter.dimImageLatent };
    cfg.visionAided = visionAidedConfig({ dimImage: adapter.dimImageLatent, convDim: 16, textDim: clip.config.embedDim, layerIndices: [-1, -2] });
    model = GigaGAN.create(cfg, { seed: 1, clip: adapter });
  });
  afterAll(() => {
    model?.dispose();
    clip?.dispose();
  });

  test('text encodings zero everything after the first EOS and the padding', () => {
    const { embeds, encodings } = adapter.embedTexts(['a photo of a cat', 'dog']);
    const rows = tf.tidy(() => tf.any(tf.notEqual(encodings, 0), -1).arraySync() as boolean[][]);
    const ids = clip.tokenize(['a photo of a cat', 'dog']);
    const idRows = ids.arraySync();
    for (let b = 0; b < 2; b++) {
      const eos = idRows[b].indexOf(clip.config.text.pool as number);
      expect(rows[b].slice(0, eos + 1).every(Boolean)).toBe(true);
      expect(rows[b].slice(eos + 1).some(Boolean)).toBe(false);
    }
    expect(tf.tidy(() => tf.norm(embeds, 'euclidean', -1).arraySync() as number[]).every((n) => Math.abs(n - 1) < 1e-5)).toBe(true);
    tf.dispose([embeds, encodings, ids]);
  });

  test('generate({ prompts }) equals generate({ textEncodings }) and is leak-free', () => {
    const before = tf.memory().numTensors;
    const a = model.generate({ prompts: ['a red cube', 'the sea'], seed: 3 });
    const enc = model.encodePrompts(['a red cube', 'the sea']);
    const b = model.generate({ textEncodings: enc, seed: 3 });
    expect(a.images.shape).toEqual([2, 32, 32, 3]);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a.images, b.images))).arraySync())).toBe(0);
    tf.dispose([a.images, b.images, enc]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('G loss with the vision-aided and CLIP contrastive terms has finite gradients; D loss with both penalties', () => {
    const tr = new GigaGANTrainable(model);
    const images = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const batch = { images, captions: ['a red cube', 'the sea'] };
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const ctx = { step: 0, phase: 'G' as const, sub: 0, micro: 0, micros: 1, seed: 9, weights: {} };
      const { value, grads } = tf.variableGrads(() => {
        const r = tr.gLoss(batch, ctx);
        expect(Object.keys(r.logs!).sort()).toEqual(['contrastive', 'divergence', 'multiscale', 'vision_aided']);
        return r.loss;
      }, tr.gVariables());
      expect(Number.isFinite(value.arraySync() as number)).toBe(true);
      expect(tf.sum(tf.abs(grads[model.G['init_block'].name])).arraySync()).toBeGreaterThan(0);
      // step index 3 is a gradient-penalty step: the main GP and the vision-aided GP on CLIP hidden states
      const dctx = { ...ctx, step: 3, phase: 'D' as const };
      const dl = tr.dLoss(batch, dctx);
      expect(dl.logs!.vision_aided).toBeDefined();
      expect(dl.logs!.vision_aided_gp.arraySync()).toBeGreaterThan(0);
      expect(dl.logs!.gradient_penalty.arraySync()).toBeGreaterThan(0);
      expect(Number.isFinite(dl.loss.arraySync() as number)).toBe(true);
    });
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});
