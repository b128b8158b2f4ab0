/** The CLI-facing functions (packages/cli's ModelPackageApi) on the parity fixture and the tiny preset. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parityFixture } from '@ganzoo/core';
import * as galip from '@ganzoo/galip';

beforeAll(async () => {
  await initBackend({ log: false });
});

test('createTrainable: preset with random weights; a wrong resolution is refused', async () => {
  expect(Object.keys(galip.presets)).toEqual(expect.arrayContaining(['tiny', 'coco', 'cc12m']));
  const t = await galip.createTrainable({ preset: 'tiny', seed: 1 });
  expect(t.resolution).toBe(28);
  expect(t.gVariables().length).toBeGreaterThan(10);
  expect(t.textEncoderSpec).toMatchObject({ kind: 'random', seed: 0 });
  expect(t.model.clip.tokenizer).not.toBeNull(); // the byte-level tokenizer: prompts work on the random CLIP
  t.dispose(); // disposes the model too
  await expect(galip.createTrainable({ preset: 'tiny', resolution: 64 })).rejects.toThrow(/trains at 28x28 .* found a requested resolution 64/);
});

const dir = parityFixture('galip');
(dir ? test : test.skip)('convertCheckpoint writes a ganzoo folder that loadGenerator reads; generate needs prompts', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'galip-cli-'));
  const before = tf.memory().numTensors;
  try {
    const r = await galip.convertCheckpoint(path.join(dir!, 'model', 'state_epoch_000.pth'), out);
    expect(r.config.netDOut).toBe(32);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).modelId).toBe('galip');
    const g = await galip.loadGenerator(out);
    expect(g.resolution).toBe(224);
    expect(() => g.generate({ seeds: [1] })).toThrow(/at least one prompt/);
    // the fixture's CLIP has no tokenizer: prompts are refused with a clear message
    expect(() => g.generate({ seeds: [1], prompts: ['a cat'] })).toThrow(/no tokenizer/);
    g.dispose();
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
  expect(tf.memory().numTensors).toBe(before);
});
