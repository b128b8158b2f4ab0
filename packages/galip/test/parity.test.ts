/**
 * Parity with the official tobran/GALIP code (../shared/parity/galip and galip-disc): the fixture checkpoint is
 * loaded through core's .pth reader (state_epoch_000.pth, `module.` prefixes) and the CLIP through encoders'
 * OpenAI layout (clip.pth); every stored output and intermediate must match within 1e-4 relative.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nchwToNhwc, parityFixture, readFixture, relativeError } from '@ganzoo/core';
import { GALIP, clipTextEncoder } from '@ganzoo/galip';

const TOL = 1e-4;
const genDir = parityFixture('galip');
const discDir = parityFixture('galip-disc');
const maybe = genDir && discDir ? describe : describe.skip;

maybe('GALIP parity (official code, reduced widths)', () => {
  let model: GALIP;
  const errors: Record<string, number> = {};

  beforeAll(async () => {
    await initBackend({ log: false });
    model = await GALIP.fromPretrained(path.join(genDir!, 'model'));
  });
  afterAll(() => {
    model?.dispose();
    console.log(`GALIP parity on ${tf.getBackend()} (max|Δ|/max|ref|):\n` + Object.entries(errors).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n'));
  });

  const check = (name: string, actual: tf.Tensor, ref: { data: any; shape: number[] }, nchw = true) => {
    const exp = nchw ? nchwToNhwc(ref as any) : tf.tensor(ref.data, ref.shape);
    try {
      expect(actual.shape).toEqual(exp.shape);
      const e = relativeError(actual, exp);
      errors[name] = e;
      expect(e).toBeLessThanOrEqual(TOL);
    } finally {
      exp.dispose();
    }
  };

  test('config and weights come from the fixture folder', () => {
    expect(model.config.clip.visionWidth).toBe(64);
    expect(model.config.netDOut).toBe(32);
    expect(model.config.zDim).toBe(16);
  });

  test('generator side: CLIP text encoder -> NetG image, every intermediate', () => {
    const { io } = readFixture(genDir!);
    const before = tf.memory().numTensors;
    const ids = tf.tensor(io['input.tokens'].data as Int32Array, io['input.tokens'].shape as [number, number], 'int32') as tf.Tensor2D;
    const { sentEmb, words } = clipTextEncoder(model.clip, ids);
    check('output.sent_emb', sentEmb, io['output.sent_emb'], false);
    check('output.words_embs', words, io['output.words_embs'], false);
    const noise = tf.tensor(io['input.noise'].data as Float32Array, io['input.noise'].shape) as tf.Tensor2D;
    const acts: Record<string, tf.Tensor> = {};
    // NetG is fed the reference sentence embedding so each stage is checked on its own
    const refSent = tf.tensor(io['output.sent_emb'].data as Float32Array, io['output.sent_emb'].shape) as tf.Tensor2D;
    const img = model.netG.forward(noise, refSent, acts);
    check('output.image', img, io['output.image']);
    const keys = Object.keys(io).filter((k) => k.startsWith('G.act.'));
    expect(keys.length).toBeGreaterThan(10);
    for (const k of keys) {
      expect(acts[k]).toBeDefined();
      check(k, acts[k], io[k], io[k].shape.length === 4);
    }
    // the whole chain from tokens
    const img2 = model.netG.forward(noise, sentEmb);
    check('chain tokens -> image', img2, io['output.image']);
    tf.dispose([ids, sentEmb, words, noise, refSent, img, img2, ...Object.values(acts)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('discriminator side: CLIP image encoder features -> NetD -> NetC', () => {
    const { io } = readFixture(discDir!);
    const before = tf.memory().numTensors;
    const img = nchwToNhwc(io['input.image']) as tf.Tensor4D;
    const sent = tf.tensor(io['input.sent_emb'].data as Float32Array, io['input.sent_emb'].shape) as tf.Tensor2D;
    const f = model.encodeImage(img);
    const local = io['output.clip_local_features'];
    const [b, n, c, h, w] = local.shape;
    const ref = tf.tensor(local.data as Float32Array, local.shape);
    for (let k = 0; k < n; k++) {
      const r = tf.tidy(() => tf.transpose(tf.reshape(tf.slice(ref, [0, k, 0, 0, 0], [b, 1, c, h, w]), [b, c, h, w]), [0, 2, 3, 1]));
      check(`output.clip_local_features[:, ${k}]`, f.local[k], { data: r.dataSync(), shape: r.shape }, false);
      r.dispose();
    }
    check('output.clip_img_emb', f.emb, io['output.clip_img_emb'], false);
    const acts: Record<string, tf.Tensor> = {};
    // NetD on the reference features, NetC on the reference NetD output: each stage on its own
    const refFeats = f.local.map((_, k) => tf.tidy(() => tf.transpose(tf.reshape(tf.slice(ref, [0, k, 0, 0, 0], [b, 1, c, h, w]), [b, c, h, w]), [0, 2, 3, 1]))) as tf.Tensor4D[];
    const d = model.netD!.forward(refFeats, acts);
    check('output.netD', d, io['output.netD']);
    const refD = nchwToNhwc(io['output.netD']) as tf.Tensor4D;
    const logit = model.netC!.forward(refD, sent, acts);
    check('output.netC', logit, io['output.netC']);
    for (const k of Object.keys(io).filter((x) => x.startsWith('D.act.') || x.startsWith('C.act.'))) {
      expect(acts[k]).toBeDefined();
      check(k, acts[k], io[k]);
    }
    const chain = model.discriminate(img, sent);
    check('chain image -> logit', chain, io['output.netC']);
    tf.dispose([img, sent, ref, f.local, f.emb, refFeats, d, refD, logit, chain, ...Object.values(acts)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('the same CLIP in the Hugging Face layout (../clip-hf/model) gives the same image', async () => {
    const hfDir = parityFixture('clip-hf');
    if (!hfDir) return;
    const { io } = readFixture(genDir!);
    const hf = await GALIP.fromPretrained(path.join(genDir!, 'model'), { clip: path.join(hfDir, 'model'), discriminator: false });
    try {
      const ids = tf.tensor(io['input.tokens'].data as Int32Array, io['input.tokens'].shape as [number, number], 'int32') as tf.Tensor2D;
      const noise = tf.tensor(io['input.noise'].data as Float32Array, io['input.noise'].shape) as tf.Tensor2D;
      const img = hf.generate({ tokenIds: ids, noise, clamp: false });
      check('HF-layout CLIP: tokens -> image', img, io['output.image']);
      tf.dispose([ids, noise, img]);
    } finally {
      hf.dispose();
    }
  });
});
