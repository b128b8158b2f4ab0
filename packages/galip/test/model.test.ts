import * as tf from '@tensorflow/tfjs';
import { initBackend, relativeError } from '@ganzoo/core';
import {
  GALIP, galipConfig, gBlockSpecs, configFromJson, netGSpecs, netDSpecs, netCSpecs, resizeNearest, resizeNearestGather, torchNearestIndices,
} from '@ganzoo/galip';

beforeAll(async () => {
  await initBackend({ log: false });
});

describe('config', () => {
  test('official G block schedule: imsize 256 -> 6 blocks ending at 224, 224 -> 5 blocks', () => {
    const coco = galipConfig('coco');
    expect(gBlockSpecs(coco)).toEqual([
      { inCh: 512, outCh: 512, size: 8 }, { inCh: 512, outCh: 512, size: 16 }, { inCh: 512, outCh: 512, size: 32 },
      { inCh: 512, outCh: 256, size: 64 }, { inCh: 256, outCh: 128, size: 128 }, { inCh: 128, outCh: 64, size: 224 },
    ]);
    expect(gBlockSpecs(galipConfig('coco', { imsize: 224 })).map((b) => b.size)).toEqual([8, 16, 32, 64, 224]);
  });

  test('published parameter counts (official-impls.md §4.5)', () => {
    const n = (specs: { shape: number[] }[]) => specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    const coco = galipConfig('coco');
    // NetG trainable (excl. CLIP) 51.83 M
    expect(Math.round(n(netGSpecs(coco)) / 1e4) / 100).toBeCloseTo(51.83, 2);
    expect(Math.round(n(netDSpecs(coco)) / 1e4) / 100).toBeCloseTo(28.71, 2);
    expect(Math.round(n(netCSpecs(coco)) / 1e4) / 100).toBeCloseTo(2.10, 2);
  });

  test('the manifest config of galip-coco is the coco preset', () => {
    const cfg = configFromJson({ nf: 64, z_dim: 100, cond_dim: 512, imsize: 256, ch_size: 3, clip: 'ViT-B/32', mixed_precision: false, output_size: 224 });
    expect(cfg).toEqual(galipConfig('coco'));
  });

  test('yml-style config.json with width substitutions', () => {
    const cfg = configFromJson({
      z_dim: 16, cond_dim: 32, nf: 2, imsize: 256, ch_size: 3,
      clip: { embed_dim: 32, image_resolution: 224, vision_layers: 12, vision_width: 64, vision_patch_size: 32, context_length: 77, vocab_size: 512, transformer_width: 32, transformer_heads: 2, transformer_layers: 2, vision_heads: 1 },
      width_substitutions: { substitutions: [{ old: '768', new: '64' }, { old: '512', new: '32' }] },
    });
    expect(cfg.netDOut).toBe(32);
    expect(cfg.clip.visionWidth).toBe(64);
    expect(() => configFromJson({ z_dim: 16, cond_dim: 31, nf: 2, imsize: 256, clip: { embed_dim: 32, image_resolution: 224, vision_layers: 12, vision_width: 64, vision_patch_size: 32, context_length: 77, vocab_size: 512, transformer_width: 32, transformer_heads: 2, transformer_layers: 2 } }))
      .toThrow(/condDim equal to clip.embedDim \(32\).*found 31/);
    expect(() => galipConfig('nope' as any)).toThrow(/unknown preset 'nope'/);
  });
});

describe('nearest resize', () => {
  test('torch legacy indices', () => {
    expect(torchNearestIndices(7, 8)).toEqual([0, 0, 1, 2, 3, 4, 5, 6]);
    expect(torchNearestIndices(2, 4)).toEqual([0, 0, 1, 1]);
  });
  test('fast path equals the gather path at GALIP sizes', () => {
    for (const [i, o] of [[7, 8], [8, 16], [128, 224], [16, 28], [300, 224], [224, 224]]) {
      const x = tf.randomNormal([1, i, i, 2], 0, 1, 'float32', 3) as tf.Tensor4D;
      const a = resizeNearest(x, o);
      const b = resizeNearestGather(x, o);
      expect(relativeError(a, b)).toBe(0);
      tf.dispose([x, a, b]);
    }
  });
});

test('create + dispose frees every tensor', () => {
  const n0 = tf.memory().numTensors;
  const m = GALIP.create('tiny', { seed: 2 });
  expect(tf.memory().numTensors).toBeGreaterThan(n0);
  m.dispose();
  expect(tf.memory().numTensors).toBe(n0);
});

describe('tiny model', () => {
  let model: GALIP;
  beforeAll(() => {
    model = GALIP.create('tiny', { seed: 5 });
  });
  afterAll(() => model.dispose());

  test('generate: shape, range, seeds reproducible, leak-free', () => {
    const sent = tf.randomNormal([2, 16], 0, 1, 'float32', 1) as tf.Tensor2D;
    model.generate({ sentenceEmbeddings: sent, seed: 1 }).dispose();
    const before = tf.memory().numTensors;
    const a = model.generate({ sentenceEmbeddings: sent, seed: 1 });
    const b = model.generate({ sentenceEmbeddings: sent, seed: 1, truncation: 0.5 });
    const c = model.generate({ sentenceEmbeddings: sent, seed: 1 });
    expect(a.shape).toEqual([2, 28, 28, 3]);
    expect(Math.max(...(a.dataSync() as Float32Array))).toBeLessThanOrEqual(1);
    expect(relativeError(a, c)).toBe(0);
    expect(relativeError(a, b)).toBeGreaterThan(0);
    tf.dispose([a, b, c]);
    expect(tf.memory().numTensors).toBe(before);
    sent.dispose();
  });

  test('interpolate and discriminate are leak-free', () => {
    const sent = tf.randomNormal([2, 16], 0, 1, 'float32', 2) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const imgs = model.interpolate({ sentenceEmbeddings: sent, seeds: [1, 2], steps: 3 });
    expect(imgs.shape).toEqual([3, 28, 28, 3]);
    const s3 = tf.tidy(() => tf.concat([sent, tf.slice(sent, [0, 0], [1, -1])])) as tf.Tensor2D;
    const logits = model.discriminate(imgs, s3);
    expect(logits.shape).toEqual([3, 1, 1, 1]);
    tf.dispose([imgs, logits, s3]);
    expect(tf.memory().numTensors).toBe(before);
    sent.dispose();
  });

  test('bad input: wrong noise shape, wrong embedding width, nothing to condition on', () => {
    const sent = tf.zeros([2, 16]) as tf.Tensor2D;
    const noise = tf.zeros([2, 7]) as tf.Tensor2D;
    const bad = tf.zeros([2, 15]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    expect(() => model.generate({ sentenceEmbeddings: sent, noise })).toThrow(/expected noise \[2, 8\], found \[2,7\]/);
    expect(() => model.generate({ sentenceEmbeddings: bad })).toThrow(/expected sentence embeddings \[B, 16\], found \[2,15\]/);
    expect(() => model.generate({})).toThrow(/exactly one of prompts, tokenIds, sentenceEmbeddings/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([sent, noise, bad]);
  });
});
