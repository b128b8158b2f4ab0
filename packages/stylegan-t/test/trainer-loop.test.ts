import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { BatchSource, initBackend, relativeError, train } from '@ganzoo/core';
import { CLIP } from '@ganzoo/encoders';
import { PRESETS, StyleGANT, StyleGANTTrainer } from '../src';

const tinyClip = path.resolve(__dirname, '../../encoders/test/fixtures/tiny-clip');

test("core's trainer drives StyleGANTTrainer (captions through the loss CLIP); the exported EMA G loads back", async () => {
  await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm' });
  const clip = await CLIP.fromPretrained(tinyClip);
  const cfg = PRESETS.tiny();
  cfg.text_dim = 16;
  cfg.D.c_dim = 16;
  const model = StyleGANT.create(cfg, { seed: 1, withDiscriminator: true, textEncoder: clip });
  const tr = new StyleGANTTrainer(model, { batchSize: 2, lossClip: clip });
  const images = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
  let pos = 0;
  const data: BatchSource = {
    async next() {
      pos += 2;
      return { batch: { images: images.clone(), captions: ['a cat', 'a dog'] }, indices: [0, 1] };
    },
    get position() {
      return pos;
    },
    seek(p: number) {
      pos = p;
    },
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgt-train-'));
  try {
    // no sampleCond: the sample grid falls back to the first batch's captions
    const res = await train(tr, data, { outDir: dir, steps: 1, seed: 3, sampleEvery: 1, checkpointEvery: 0, sampleSeeds: [0, 1, 2] });
    expect(res.step).toBe(1);
    expect(res.lastSamples && fs.existsSync(res.lastSamples)).toBe(true);
    const log = fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.step !== undefined && r.losses);
    expect(Number.isFinite(log[0].losses['D/loss'])).toBe(true);
    expect(Number.isFinite(log[0].losses['G/loss'])).toBe(true);
    const out = path.join(dir, 'export');
    tr.exportGenerator(out);
    const back = await StyleGANT.fromPretrained(out, { textEncoder: clip });
    const a = tr.sample([4], { captions: ['a cat'] });
    const b = back.generate({ prompts: ['a cat'], seed: 4 });
    expect(relativeError(b, a)).toBeLessThan(1e-6);
    tf.dispose([a, b]);
    back.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    tr.dispose();
    model.dispose();
    clip.dispose();
    images.dispose();
  }
});
