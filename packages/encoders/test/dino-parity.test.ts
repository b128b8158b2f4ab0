/** DINO parity with ../shared/parity/dino (StyleGAN-T's DINO wrapper on timm ViT names, official code). */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nchwToNhwc, parityFixture, readFixture, relativeError, initBackend } from '@ganzoo/core';
import { DINO, addReadout, resizeImages } from '../src';

const TOL = 1e-4;
const dir = parityFixture('dino');
const d = dir ? describe : describe.skip;

d('DINO parity (StyleGAN-T wrapper, timm names)', () => {
  let dino: DINO;
  let io: ReturnType<typeof readFixture>['io'];
  beforeAll(async () => {
    await initBackend({ backend: process.env.GANZOO_TEST_BACKEND ?? 'wasm', threads: 1, log: false });
    dino = await DINO.fromPretrained(path.join(dir!, 'model'));
    io = readFixture(dir!).io;
  });
  afterAll(() => dino?.dispose());

  /** StyleGAN-T DINO.forward: [-1,1] -> [0,1] -> area resize to 224 -> ImageNet normalize -> hooks [2,5,8,11,'embed']. */
  function features(img: tf.Tensor4D, resize: boolean): tf.Tensor[] {
    return tf.tidy(() => {
      let x = tf.div(tf.add(img, 1), 2) as tf.Tensor4D;
      if (resize) x = resizeImages(x, 224, 224, 'area');
      const out = dino.forward(dino.normalize(x), { hooks: [2, 5, 8, 11, 'embed'], posInterpolation: 'bilinear' });
      // [B, N, D] -> [B, D, N] as the fixture stores features
      return out.hidden.map((h) => tf.transpose(addReadout(h), [0, 2, 1]));
    });
  }

  test.each([
    ['d224', 'input.image224', true],
    ['d256', 'input.image256', true],
    ['flex256', 'input.image256', false],
  ] as Array<[string, string, boolean]>)('%s features', (name, input, resize) => {
    const before = tf.memory().numTensors;
    const img = nchwToNhwc(io[input]) as tf.Tensor4D;
    const feats = features(img, resize as boolean);
    const errs = feats.map((f, k) => relativeError(f, io[`${name}/output.features.${k}`]));
    console.log(`dino parity ${name} (${tf.getBackend()}):`, errs.map((e) => e.toExponential(2)).join(' '));
    for (const e of errs) expect(e).toBeLessThan(TOL);
    tf.dispose([img, ...feats]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('intermediates: patch embed, pos_drop, every block, area resize, resized pos embed', () => {
    tf.tidy(() => {
      const img = nchwToNhwc(io['input.image224']) as tf.Tensor4D;
      const x = dino.normalize(tf.div(tf.add(img, 1), 2) as tf.Tensor4D);
      const errs: Record<string, number> = {};
      errs.patch_embed = relativeError(dino.patchEmbed(x), nchwToNhwc(io['d224/act.patch_embed']));
      const hooks = Array.from({ length: 12 }, (_, i) => i);
      const out = dino.forward(x, { hooks: [...hooks, 'embed'] });
      errs.pos_drop = relativeError(out.hidden[12], io['d224/act.pos_drop']);
      for (const i of hooks) errs[`blocks.${i}`] = relativeError(out.hidden[i], io[`d224/act.blocks.${String(i).padStart(2, '0')}`]);
      const img256 = nchwToNhwc(io['input.image256']) as tf.Tensor4D;
      errs.area_resized = relativeError(resizeImages(tf.div(tf.add(img256, 1), 2) as tf.Tensor4D, 224, 224, 'area'), nchwToNhwc(io['d256/act.area_resized']));
      errs.pos_embed_resized = relativeError(dino.posEmbed(16, 16, 'bilinear'), io['flex256/act.pos_embed_resized']);
      console.log('dino intermediates:', JSON.stringify(errs));
      for (const e of Object.values(errs)) expect(e).toBeLessThan(TOL);
    });
  });
});
