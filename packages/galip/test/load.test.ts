/** Loading GALIP checkpoints: the fixture .pth through core's reader, round trips and clear errors. */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parityFixture } from '@ganzoo/core';
import { GALIP, galipConfig, galipStateDicts, randomClip, readGalipCheckpoint, configFromJson, findCheckpoint } from '@ganzoo/galip';

const dir = parityFixture('galip');
const maybe = dir ? describe : describe.skip;

beforeAll(async () => {
  await initBackend({ log: false });
});

test('a checkpoint object without netG is refused with what was found', () => {
  expect(() => galipStateDicts({ model: { netD: {}, netC: {} }, epoch: 3 })).toThrow(/found no netG.*model keys: netD, netC/);
  expect(() => galipStateDicts({ foo: 1 })).toThrow(/expected \{'model': \{'netG', 'netD', 'netC'\}\}/);
});

test('fromPretrained on a real .pth without netG says so (torch.save({model: {netD, netC}}))', async () => {
  const file = path.join(__dirname, 'fixtures', 'no-netg.pth');
  const clip = randomClip(galipConfig('tiny').clip, 2);
  try {
    await expect(GALIP.fromPretrained(file, { config: 'tiny', clip })).rejects.toThrow(/no-netg\.pth: expected \{'model': \{'netG', 'netD', 'netC'\}\}.*found no netG.*model keys: netD, netC/);
  } finally {
    clip.dispose();
  }
});

test('manifest ids: the official checkpoints are manual downloads, and the error says where to get them', async () => {
  const os = require('os');
  const fs = require('fs');
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'galip-'));
  try {
    await expect(GALIP.fromPretrained('galip-coco', { cacheDir: cache })).rejects.toThrow(/pre_coco\.pth.*must be downloaded by hand.*drive\.google\.com/s);
    await expect(GALIP.fromPretrained('no-such-model', { cacheDir: cache })).rejects.toThrow(/no-such-model/);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

maybe('fixture checkpoint (state_epoch_000.pth, module. prefixes)', () => {
  const modelDir = dir ? path.join(dir, 'model') : '';

  test('module. prefixes stripped; netG carries the CLIP visual copy; exact round trip through the converter', async () => {
    expect(path.basename(findCheckpoint(modelDir))).toBe('state_epoch_000.pth');
    const sds = readGalipCheckpoint(path.join(modelDir, 'state_epoch_000.pth'));
    expect(Object.keys(sds.netG)[0]).toBe('fc_code.weight');
    expect(Object.keys(sds.netG).length).toBe(525);
    expect(Object.keys(sds.netD!).length).toBe(17);
    const model = await GALIP.fromPretrained(modelDir);
    const back = model.stateDicts();
    for (const net of ['netG', 'netD', 'netC'] as const) {
      const a = sds[net]!;
      const b = back[net]!;
      expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
      for (const k of Object.keys(a)) {
        expect(b[k].shape).toEqual(a[k].shape);
        const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
        if (!bytes(b[k].data as Float32Array).equals(bytes(a[k].data as Float32Array))) throw new Error(`${net}.${k} differs after the round trip`);
      }
    }
    model.dispose();
  });

  test('CLIP weights of another width are refused, naming the mismatch', async () => {
    const wrong = randomClip(galipConfig('tiny').clip, 1);
    await expect(GALIP.fromPretrained(modelDir, { clip: wrong })).rejects.toThrow(/CLIP weights do not match .*vision width: expected 64, found 32/);
    wrong.dispose();
  });

  test('a config whose widths disagree with the checkpoint lists mis-shaped keys', async () => {
    const json = require(path.join(modelDir, 'config.json'));
    const cfg = configFromJson({ ...json, nf: 4 });
    const before = tf.memory().numTensors;
    await expect(GALIP.fromPretrained(modelDir, { config: cfg })).rejects.toThrow(/netG: the weights do not match the GALIP config: mis-shaped keys .*mapping\.conv\.weight: expected \[32,64,5,5\], found \[16,64,5,5\]/);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a checkpoint file path works like the folder (config.json and clip.pth beside it)', async () => {
    const model = await GALIP.fromPretrained(path.join(modelDir, 'state_epoch_000.pth'), { discriminator: false });
    expect(model.config.netDOut).toBe(32);
    model.dispose();
  });

  test('save() writes a ganzoo folder that loads back to the same numbers', async () => {
    const os = require('os');
    const fs = require('fs');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'galip-save-'));
    try {
      const a = await GALIP.fromPretrained(modelDir);
      a.save(out);
      expect(fs.readdirSync(out).sort()).toEqual(['clip.safetensors', 'config.json', 'galip.safetensors']);
      const b = await GALIP.fromPretrained(out);
      expect(b.config).toEqual(a.config);
      const s = tf.randomNormal([1, 32], 0, 1, 'float32', 4) as tf.Tensor2D;
      const x = a.generate({ sentenceEmbeddings: s, seed: 5, clamp: false });
      const y = b.generate({ sentenceEmbeddings: s, seed: 5, clamp: false });
      expect(Buffer.from(x.dataSync().buffer).equals(Buffer.from(y.dataSync().buffer))).toBe(true);
      const la = a.discriminate(x, s);
      const lb = b.discriminate(x, s);
      expect(la.dataSync()[0]).toBe(lb.dataSync()[0]);
      tf.dispose([s, x, y, la, lb]);
      a.dispose();
      b.dispose();
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('generation only: discriminator false skips NetD/NetC', async () => {
    const model = await GALIP.fromPretrained(modelDir, { discriminator: false });
    expect(model.netD).toBeNull();
    const s = tf.zeros([1, 32]) as tf.Tensor2D;
    expect(() => model.discriminate(tf.zeros([1, 224, 224, 3]) as tf.Tensor4D, s)).toThrow(/without NetD\/NetC/);
    const img = model.generate({ sentenceEmbeddings: s, seed: 3 });
    expect(img.shape).toEqual([1, 224, 224, 3]);
    tf.dispose([s, img]);
    model.dispose();
  });
});
