/** CLIP parity with ../shared/parity/clip-hf (official openai/CLIP forward; weights under HF and OpenAI names). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nchwToNhwc, parityFixture, readFixture, relativeError, initBackend } from '@ganzoo/core';
import { CLIP } from '../src';

const TOL = 1e-4;
const dir = parityFixture('clip-hf');
const galipDir = parityFixture('galip');
const d = dir ? describe : describe.skip;

function ids(raw: { data: ArrayLike<number>; shape: number[] }): tf.Tensor2D {
  return tf.tensor2d(Int32Array.from(raw.data as ArrayLike<number>), raw.shape as [number, number], 'int32');
}

async function checkAll(clip: CLIP, label: string): Promise<void> {
  const { io } = readFixture(dir!);
  const before = tf.memory().numTensors;
  const t = ids(io['input.input_ids']);
  const px = nchwToNhwc(io['input.pixel_values']) as tf.Tensor4D;
  const text = clip.textForward(t);
  const vis = clip.visionForward(px);
  const logits = clip.logits(vis.embeds, text.embeds);
  const errs: Record<string, number> = {
    text_embeds: relativeError(text.embeds, io['output.text_embeds']),
    image_embeds: relativeError(vis.embeds, io['output.image_embeds']),
    logits_per_image: relativeError(logits, io['output.logits_per_image']),
    text_last_hidden_state: relativeError(text.lastHiddenState, io['act.text_last_hidden_state']),
    vision_last_hidden_state: relativeError(vis.lastHiddenState, io['act.vision_last_hidden_state']),
    vision_pooler_output: relativeError(vis.pooled, io['act.vision_pooler_output']),
  };
  console.log(`clip parity (${label}, ${tf.getBackend()}):`, JSON.stringify(errs));
  for (const [k, e] of Object.entries(errs)) expect([k, e]).toEqual([k, expect.any(Number)]);
  for (const e of Object.values(errs)) expect(e).toBeLessThan(TOL);
  tf.dispose([text.embeds, text.lastHiddenState, text.pooled, text.eotIndex, vis.embeds, vis.lastHiddenState, vis.pooled, logits]);
  tf.dispose([t, px]);
  expect(tf.memory().numTensors).toBe(before);
  // the lightweight calls agree with the full forwards and leak nothing
  const t2 = ids(io['input.input_ids']);
  const n0 = tf.memory().numTensors;
  const e = clip.encodeText(t2);
  expect(relativeError(e, io['output.text_embeds'])).toBeLessThan(TOL);
  e.dispose();
  expect(tf.memory().numTensors).toBe(n0);
  t2.dispose();
}

d('CLIP parity (clip-hf)', () => {
  beforeAll(async () => {
    await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm', threads: 1, log: false });
  });

  test('Hugging Face CLIPModel layout matches the official forward', async () => {
    const clip = await CLIP.fromPretrained(path.join(dir!, 'model'));
    expect(clip.config.vision.heads).toBe(1);
    expect(clip.config.text.heads).toBe(2);
    await checkAll(clip, 'hf');
    clip.dispose();
  });

  (galipDir ? test : test.skip)('OpenAI state_dict layout (galip/model/clip.pth) gives the same numbers', async () => {
    let clip: CLIP;
    try {
      clip = await CLIP.fromPretrained(path.join(galipDir!, 'model', 'clip.pth'), { heads: { text: 2, vision: 1 } });
    } catch (err) {
      if (/reader of @ganzoo\/core/.test(String(err))) {
        console.warn('skipping clip.pth: core io/torch not available yet');
        return;
      }
      throw err;
    }
    await checkAll(clip, 'openai');
    clip.dispose();
  });

  (galipDir ? test : test.skip)('a folder with pytorch_model.bin (torch zip) and a CLIPConfig config.json', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-clip-bin-'));
    try {
      fs.copyFileSync(path.join(galipDir!, 'model', 'clip.pth'), path.join(tmp, 'pytorch_model.bin'));
      fs.copyFileSync(path.join(dir!, 'model', 'config.json'), path.join(tmp, 'config.json'));
      const clip = await CLIP.fromPretrained(tmp);
      expect(clip.config.text.heads).toBe(2);
      const { io } = readFixture(dir!);
      const t = ids(io['input.input_ids']);
      const e = clip.encodeText(t);
      expect(relativeError(e, io['output.text_embeds'])).toBeLessThan(TOL);
      tf.dispose([t, e]);
      clip.dispose();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
