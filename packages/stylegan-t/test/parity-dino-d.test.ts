import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nchwToNhwc, parityFixture, readFixture, readSafetensors, relativeError } from '@ganzoo/core';
import { DINO } from '@ganzoo/encoders';
import { resolveConfig } from '../src/config';
import { DiscriminatorHeads, discriminatorShapes, isDiscriminatorBuffer, ProjectedDiscriminator } from '../src/discriminator';
import { convertStateDict, discriminatorLayout } from '../src/convert';
import { disposeParams, paramsFromTensors } from '../src/params';

const dir = parityFixture('dino');
const maybe = dir ? describe : describe.skip;

maybe('StyleGAN-T discriminator end to end through DINO (official fixture)', () => {
  let D: ProjectedDiscriminator;
  let io: ReturnType<typeof readFixture>['io'];
  beforeAll(async () => {
    const backend = process.env.GANZOO_TEST_BACKEND ?? 'wasm';
    if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend(backend);
    io = readFixture(dir as string).io;
    const cfg = resolveConfig({
      G: { z_dim: 32, conditional: true, img_resolution: 64, synthesis_kwargs: { channel_base: 2048, channel_max: 64, num_res_blocks: 2, architecture: 'skip' } },
      D: { c_dim: 32, diffaug: false, p_crop: 0.5 },
      text_dim: 32,
      dino: { embed_dim: 32, n_hooks: 5, img_resolution: 224 },
    });
    const dino = await DINO.fromPretrained(path.join(dir as string, 'model'));
    const sd = readSafetensors(path.join(dir as string, 'model', 'model_D.safetensors')).tensors;
    const heads = new DiscriminatorHeads(cfg, paramsFromTensors('Dd', convertStateDict(sd, discriminatorShapes(cfg), discriminatorLayout, 'D'), isDiscriminatorBuffer));
    D = new ProjectedDiscriminator(cfg, heads, dino);
  });
  afterAll(() => {
    disposeParams(D.heads.params);
    D.dino.dispose();
  });

  for (const [name, key] of [['d224', 'input.image224'], ['d256', 'input.image256']] as const) {
    test(`${name}: features and logits within 1e-4`, () => {
      const before = tf.memory().numTensors;
      const x = nchwToNhwc(io[key]) as tf.Tensor4D;
      const c = tf.tensor(io['input.c_text_embedding'].data as Float32Array, io['input.c_text_embedding'].shape) as tf.Tensor2D;
      const x01 = tf.tidy(() => tf.div(tf.add(x, 1), 2)) as tf.Tensor4D;
      const feats = D.features(x01);
      const errs: Record<string, number> = {};
      feats.forEach((f, k) => {
        const ref = nchwToNhwc(io[`${name}/output.features.${k}`]);
        errs[`features.${k}`] = relativeError(f, ref);
        ref.dispose();
      });
      const logits = D.forward(x, c, { pCrop: 0 });
      errs.logits = relativeError(logits, io[`${name}/output.logits`]);
      console.log(`${name} relative errors:`, JSON.stringify(errs));
      for (const [k, e] of Object.entries(errs)) expect([k, e <= 1e-4]).toEqual([k, true]);
      tf.dispose([x, x01, c, logits, ...feats]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
