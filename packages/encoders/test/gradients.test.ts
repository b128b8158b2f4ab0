/**
 * The encoders are frozen but differentiable: the CLIP spherical loss and a DINO feature sum give finite,
 * non-zero gradients w.r.t. the input image on wasm and cpu, without leaking tensors.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { clipContrastiveLoss, clipSphericalLoss, initBackend } from '@ganzoo/core';
import { CLIP, DINO, addReadout, resizeImages } from '../src';

const FIX = path.join(__dirname, 'fixtures');

function finiteNonZero(g: tf.Tensor): { finite: boolean; nonZero: boolean } {
  const v = g.dataSync();
  let finite = true;
  let nonZero = false;
  for (const x of v) {
    if (!Number.isFinite(x)) finite = false;
    if (x !== 0) nonZero = true;
  }
  return { finite, nonZero };
}

describe.each(['cpu', 'wasm'])('gradients w.r.t. the image on %s', (backend) => {
  let clip: CLIP;
  let dino: DINO;
  beforeAll(async () => {
    await initBackend({ backend, threads: 1, log: false });
    expect(tf.getBackend()).toBe(backend);
    clip = await CLIP.fromPretrained(path.join(FIX, 'tiny-clip'));
    dino = await DINO.fromPretrained(path.join(FIX, 'tiny-dino'));
  });
  afterAll(() => {
    clip?.dispose();
    dino?.dispose();
  });

  test('CLIP spherical and contrastive losses (generator-style [-1,1] image, area resize, preprocess)', () => {
    const img = tf.randomUniform([2, 40, 40, 3], -1, 1) as tf.Tensor4D;
    const ids = clip.tokenize(['a photo of a cat', 'a red car']);
    const text = clip.encodeText(ids);
    const before = tf.memory().numTensors;
    const grad = tf.grad((x: tf.Tensor) =>
      tf.tidy(() => {
        const px = clip.preprocess(resizeImages(x as tf.Tensor4D, 36, 36, 'area'));
        const e = clip.encodeImage(px);
        return tf.add(clipSphericalLoss(e, text), clipContrastiveLoss(text, e, clip.logitScale()));
      }),
    );
    const g = grad(img);
    expect(g.shape).toEqual(img.shape);
    expect(finiteNonZero(g)).toEqual({ finite: true, nonZero: true });
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([img, ids, text]);
  });

  test('DINO feature sum (hooks incl. the embedding stage) and given-token block ranges', () => {
    const img = tf.randomUniform([1, 32, 32, 3], -1, 1) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const g = tf.grad((x: tf.Tensor) =>
      tf.tidy(() => {
        const out = dino.forward(dino.normalize(tf.div(tf.add(x, 1), 2) as tf.Tensor4D), { hooks: [1, 2, 'embed'] });
        return tf.addN([tf.sum(out.pooled), ...out.hidden.map((h) => tf.sum(tf.square(addReadout(h))))]);
      }),
    )(img);
    expect(finiteNonZero(g)).toEqual({ finite: true, nonZero: true });
    g.dispose();
    // gradients to tokens fed into a range of CLIP vision blocks (GALIP's mapper)
    const tokens = tf.randomNormal([2, 17, 32]) as tf.Tensor3D;
    const gt = tf.grad((t: tf.Tensor) => tf.tidy(() => tf.sum(clip.runVisionBlocks(t as tf.Tensor3D, 0, 2).tokens)))(tokens);
    expect(finiteNonZero(gt)).toEqual({ finite: true, nonZero: true });
    tf.dispose([gt, tokens]);
    expect(tf.memory().numTensors).toBe(before);
    img.dispose();
  });

  test('the encoder weights are frozen (not trainable)', () => {
    expect(clip.params.keys().every((k) => !clip.params.get(k).trainable)).toBe(true);
    expect(dino.params.keys().every((k) => !dino.params.get(k).trainable)).toBe(true);
  });
});
