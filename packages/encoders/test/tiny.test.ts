/**
 * Tiny random CLIP and DINO models written by scripts/make-tiny.py in the Hugging Face layout (test/fixtures),
 * loaded through the same path as real models (folder -> config.json + model.safetensors + tokenizer files),
 * against torch reference outputs written by the same script.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nchwToNhwc, readSafetensors, relativeError, clipContrastiveLoss, clipScore, sphericalDistance, clipSphericalLoss, initBackend } from '@ganzoo/core';
import { CLIP, DINO, RawImageLike, ResizeMode, patchEmbedding, resizeImages, toTfTensor } from '../src';

const FIX = path.join(__dirname, 'fixtures');
const ref = readSafetensors(path.join(FIX, 'reference.safetensors'));
const io = ref.tensors;
const TOL = 1e-5;

function idsOf(key: string): tf.Tensor2D {
  const r = io[key];
  return tf.tensor2d(Int32Array.from(r.data as Int32Array), r.shape as [number, number], 'int32');
}

describe('tiny CLIP (HF layout, transformers.js tokenizer)', () => {
  let clip: CLIP;
  beforeAll(async () => {
    await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm', threads: 1, log: false });
    clip = await CLIP.fromPretrained(path.join(FIX, 'tiny-clip'));
  });
  afterAll(() => clip?.dispose());

  test('config read from config.json; eos pooling rule', () => {
    expect(clip.config.embedDim).toBe(16);
    expect(clip.config.text.pool).toBe(547);
    expect(clip.config.vision.patchSize).toBe(8);
  });

  test('tokenize matches the CLIP BPE reference, truncation keeps <eot> last, zero padding', () => {
    const texts: string[] = JSON.parse(ref.metadata.texts);
    const ids = clip.tokenize(texts);
    expect(ids.dtype).toBe('int32');
    expect(ids.shape).toEqual([4, 77]);
    expect(Array.from(ids.dataSync())).toEqual(Array.from(io['clip/input.input_ids'].data));
    const row = ids.arraySync()[3];
    expect(row[0]).toBe(546);
    expect(row[76]).toBe(547);
    ids.dispose();
    const hfPad = clip.tokenize('two dogs', { padding: 'tokenizer' });
    expect(hfPad.arraySync()[0][76]).toBe(547);
    hfPad.dispose();
  });

  test('text tower: embeddings, last hidden state, leak-free', () => {
    const ids = idsOf('clip/input.input_ids');
    const before = tf.memory().numTensors;
    const out = clip.textForward(ids);
    expect(relativeError(out.embeds, io['clip/output.text_embeds'])).toBeLessThan(TOL);
    expect(tf.tidy(() => relativeError(tf.slice(out.lastHiddenState, [0, 0, 0], [-1, 8, -1]), io['clip/act.text_last_hidden_state_first8']))).toBeLessThan(TOL);
    tf.dispose([out.embeds, out.lastHiddenState, out.pooled, out.eotIndex]);
    const e = clip.encodeText(ids);
    expect(relativeError(e, io['clip/output.text_embeds'])).toBeLessThan(TOL);
    e.dispose();
    const tok = clip.textTokens(ids);
    expect(tok.shape).toEqual([4, 77, 16]);
    tok.dispose();
    expect(tf.memory().numTensors).toBe(before);
    ids.dispose();
  });

  test('vision tower: embeddings, hooks, pieces (embed stage, block ranges, head) agree', () => {
    const px = nchwToNhwc(io['clip/input.pixel_values']) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = clip.visionForward(px, { hooks: [0, 'embed'] });
    expect(relativeError(out.embeds, io['clip/output.image_embeds'])).toBeLessThan(TOL);
    expect(relativeError(out.lastHiddenState, io['clip/act.vision_last_hidden_state'])).toBeLessThan(TOL);
    expect(relativeError(out.pooled, io['clip/act.vision_pooler_output'])).toBeLessThan(TOL);
    expect(relativeError(out.hidden[0], io['clip/act.vision_hidden_1'])).toBeLessThan(TOL);
    expect(relativeError(out.hidden[1], io['clip/act.vision_embed'])).toBeLessThan(TOL);
    // the same through the lower-level pieces
    const pieces = tf.tidy(() => {
      const x0 = clip.embedPatchTokens(clip.patchEmbed(px));
      const a = clip.runVisionBlocks(x0, 0, 1);
      const b = clip.runVisionBlocks(a.tokens, 1, 2);
      return clip.visionHead(b.tokens).embeds;
    });
    expect(relativeError(pieces, io['clip/output.image_embeds'])).toBeLessThan(TOL);
    const textEmbeds = tf.tidy(() => clip.encodeText(idsOf('clip/input.input_ids')));
    const logits = clip.logits(out.embeds, textEmbeds);
    expect(relativeError(logits, io['clip/output.logits_per_image'])).toBeLessThan(TOL);
    tf.dispose([out.embeds, out.lastHiddenState, out.pooled, ...out.hidden, pieces, logits, textEmbeds]);
    expect(tf.memory().numTensors).toBe(before);
    px.dispose();
  });

  test('runVisionBlocks accepts extra tokens (GALIP prompts)', () => {
    tf.tidy(() => {
      const px = nchwToNhwc(io['clip/input.pixel_values']) as tf.Tensor4D;
      const x0 = clip.visionEmbed(px);
      const prompt = tf.randomNormal([2, 1, 32]);
      const y = clip.runVisionBlocks(tf.concat([x0, prompt], 1) as tf.Tensor3D, 1, 2).tokens;
      expect(y.shape).toEqual([2, 18, 32]);
    });
  });

  test('preprocess 8-bit images equals CLIPImageProcessor (PIL bicubic, crop, normalise)', () => {
    const imgs: RawImageLike[] = [0, 1].map((i) => {
      const r = io[`pre/input.image${i}`];
      return { data: Uint8Array.from(r.data as ArrayLike<number>), height: r.shape[0], width: r.shape[1], channels: 3 };
    });
    const px = clip.preprocess(imgs);
    expect(px.shape).toEqual([2, 32, 32, 3]);
    const expected = nchwToNhwc(io['pre/output.pixel_values']);
    expect(relativeError(px, expected)).toBeLessThan(1e-6);
    tf.dispose([px, expected]);
  });

  test('preprocess tensors: [-1,1] float images, differentiable; bad shapes throw', () => {
    const x = tf.randomUniform([2, 40, 48, 3], -1, 1) as tf.Tensor4D;
    const px = clip.preprocess(x);
    expect(px.shape).toEqual([2, 32, 32, 3]);
    tf.dispose([x, px]);
    const bad = tf.zeros([2, 32, 32, 4]);
    expect(() => clip.preprocess(bad as tf.Tensor4D)).toThrow(/\[B, H, W, 3\]/);
    expect(() => clip.encodeImage(bad as tf.Tensor4D)).toThrow(/expected preprocessed NHWC pixels \[B, 32, 32, 3\]/);
    bad.dispose();
    const ids = tf.tensor2d([[1, 2, 9999]], [1, 3], 'int32');
    expect(() => clip.encodeText(ids)).toThrow(/token ids must lie in \[0, 547\]/);
    ids.dispose();
  });
});

describe('tiny DINO (HF ViTModel layout)', () => {
  let dino: DINO;
  beforeAll(async () => {
    await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm', threads: 1, log: false });
    dino = await DINO.fromPretrained(path.join(FIX, 'tiny-dino'));
  });
  afterAll(() => dino?.dispose());

  test('forward: pooled, last hidden state, hooks of every block and the embedding stage', () => {
    const px = nchwToNhwc(io['dino/input.pixel_values']) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = dino.forward(px, { hooks: ['embed', 0, 1, 2] });
    expect(relativeError(out.pooled, io['dino/output.pooled'])).toBeLessThan(TOL);
    expect(relativeError(out.lastHiddenState, io['dino/output.last_hidden_state'])).toBeLessThan(TOL);
    out.hidden.forEach((h, i) => expect([i, relativeError(h, io[`dino/act.hidden_${i}`]) < TOL]).toEqual([i, true]));
    tf.dispose([out.pooled, out.lastHiddenState, ...out.hidden]);
    expect(tf.memory().numTensors).toBe(before);
    px.dispose();
  });

  test('position embedding interpolation for other sizes: official DINO bicubic and HF bicubic', () => {
    tf.tidy(() => {
      const px = nchwToNhwc(io['dino/input.pixel_values_48x40']) as tf.Tensor4D;
      expect(dino.posInterpolation).toBe('bicubic-size'); // HF checkpoint: current transformers' rule by default
      expect(relativeError(dino.forward(px).pooled, io['dino/output.pooled_48x40_hf'])).toBeLessThan(TOL);
      expect(relativeError(dino.forward(px, { posInterpolation: 'bicubic' }).pooled, io['dino/output.pooled_48x40_official'])).toBeLessThan(TOL);
    });
  });

  test('preprocess 8-bit images equals ViTImageProcessor (PIL bilinear to 32x32, ImageNet mean/std)', () => {
    expect(dino.imageProcessor.resizeTo).toEqual([32, 32]);
    const imgs: RawImageLike[] = [0, 1].map((i) => {
      const r = io[`pre/input.image${i}`];
      return { data: Uint8Array.from(r.data as ArrayLike<number>), height: r.shape[0], width: r.shape[1], channels: 3 };
    });
    const px = dino.preprocess(imgs);
    const expected = nchwToNhwc(io['pre/output.pixel_values_vit']);
    expect(relativeError(px, expected)).toBeLessThan(1e-6);
    tf.dispose([px, expected]);
  });

  test('bad hooks and images throw', () => {
    const px = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    expect(() => dino.forward(px, { hooks: [3] })).toThrow(/hook 3/);
    px.dispose();
    const bad = tf.zeros([1, 32, 32]);
    expect(() => dino.forward(bad as unknown as tf.Tensor4D)).toThrow(/NHWC/);
    bad.dispose();
  });
});

describe('tiny DINOv2 (HF Dinov2Model layout: LayerScale, mask token ignored)', () => {
  test('forward at the trained size and interpolated to a larger grid', async () => {
    await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm', threads: 1, log: false });
    const v2 = await DINO.fromPretrained(path.join(FIX, 'tiny-dinov2'));
    expect(v2.config.layerScale).toBe(true);
    expect(v2.params.has('blocks.1.ls2.gamma')).toBe(true);
    const before = tf.memory().numTensors;
    for (const size of [16, 24]) {
      tf.tidy(() => {
        const px = nchwToNhwc(io[`dinov2/input.pixel_values_${size}`]) as tf.Tensor4D;
        const out = v2.forward(px);
        expect(relativeError(out.lastHiddenState, io[`dinov2/output.last_hidden_state_${size}`])).toBeLessThan(TOL);
        expect(relativeError(out.pooled, io[`dinov2/output.pooled_${size}`])).toBeLessThan(TOL);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    v2.dispose();
  });
});

describe('CLIP losses (core) against the official formulas', () => {
  test('spherical distance, contrastive loss, CLIP score', () => {
    tf.tidy(() => {
      const x = tf.tensor2d(io['loss/input.x'].data as Float32Array, io['loss/input.x'].shape as [number, number]);
      const y = tf.tensor2d(io['loss/input.y'].data as Float32Array, io['loss/input.y'].shape as [number, number]);
      expect(relativeError(sphericalDistance(x, y), io['loss/output.spherical_distance'])).toBeLessThan(1e-5);
      expect(relativeError(clipSphericalLoss(x, y), [tf.mean(tf.tensor(io['loss/output.spherical_distance'].data)).dataSync()[0]])).toBeLessThan(1e-5);
      const tau = Math.exp(Number(ref.metadata.logit_scale));
      expect(relativeError(clipContrastiveLoss(y, x, tau), io['loss/output.contrastive'])).toBeLessThan(1e-5);
      expect(relativeError(clipScore(x, y, 'mean'), io['loss/output.clip_score_mean'])).toBeLessThan(1e-5);
      const per = clipScore(x, x, 'none');
      expect(relativeError(per, [100, 100, 100, 100])).toBeLessThan(1e-5);
      expect(() => clipContrastiveLoss(x, tf.slice(y, 0, 3) as tf.Tensor2D, tau)).toThrow(/as many texts as images/);
    });
  });
});

describe('ONNX text path (transformers.js CLIPTextModelWithProjection)', () => {
  test('gives the tfjs text embeddings', async () => {
    await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm', threads: 1, log: false });
    const clip = await CLIP.fromPretrained(path.join(FIX, 'tiny-clip'));
    const ids = idsOf('clip/input.input_ids');
    const fast = await clip.encodeTextFrozen(ids);
    const ref = clip.encodeText(ids);
    expect(fast.shape).toEqual([4, 16]);
    expect(relativeError(fast, ref)).toBeLessThan(1e-5);
    expect(relativeError(fast, io['clip/output.text_embeds'])).toBeLessThan(1e-5);
    tf.dispose([fast, ref, ids]);
    clip.dispose();
  });
});

describe('resizeImages against torch F.interpolate and PIL float resampling', () => {
  test.each(['nearest', 'bilinear', 'bicubic', 'area', 'pil-bicubic', 'pil-bilinear'] as ResizeMode[])('%s', (mode) => {
    tf.tidy(() => {
      const x = nchwToNhwc(io['resize/input']) as tf.Tensor4D;
      for (const [h, w] of [[12, 5], [4, 13]]) {
        const y = resizeImages(x, h, w, mode);
        expect([mode, h, w, relativeError(y, nchwToNhwc(io[`resize/${mode}_${h}x${w}`])) < 1e-5]).toEqual([mode, h, w, true]);
      }
    });
  });
});

describe('patch embedding: matmul fast path equals the conv reference', () => {
  test.each([[32, 32, 8], [37, 45, 8], [28, 28, 14]])('%ix%i patch %i (values and input gradients)', (h, w, p) => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, h, w, 3]) as tf.Tensor4D;
      const k = tf.randomNormal([p, p, 3, 5]) as tf.Tensor4D;
      const b = tf.randomNormal([5]);
      const fast = patchEmbedding(x, k, b, p, 'matmul');
      const ref = patchEmbedding(x, k, b, p, 'conv');
      expect(fast.shape).toEqual(ref.shape);
      expect(relativeError(fast, ref)).toBeLessThan(1e-5);
      const gf = tf.grad((t: tf.Tensor) => tf.sum(tf.square(patchEmbedding(t as tf.Tensor4D, k, b, p, 'matmul'))))(x);
      const gr = tf.grad((t: tf.Tensor) => tf.sum(tf.square(patchEmbedding(t as tf.Tensor4D, k, b, p, 'conv'))))(x);
      expect(relativeError(gf, gr)).toBeLessThan(1e-5);
    });
  });
});

describe('transformers.js tensors -> tf', () => {
  test('int64 ids become int32, floats stay float32', async () => {
    const { Tensor } = await import('@huggingface/transformers');
    const ids = toTfTensor(new Tensor('int64', BigInt64Array.from([1n, 49407n, 0n, 5n]), [2, 2]));
    expect(ids.dtype).toBe('int32');
    expect(ids.arraySync()).toEqual([[1, 49407], [0, 5]]);
    const f = toTfTensor(new Tensor('float32', Float32Array.from([0.5, -1]), [1, 2]));
    expect(f.dtype).toBe('float32');
    expect(f.arraySync()).toEqual([[0.5, -1]]);
    tf.dispose([ids, f]);
    expect(() => toTfTensor(new Tensor('int64', BigInt64Array.from([2n ** 40n]), [1]))).toThrow(/does not fit int32/);
  });
});
