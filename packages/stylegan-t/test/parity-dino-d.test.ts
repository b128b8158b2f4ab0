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

const sgt = parityFixture('stylegan-t');
(dir && sgt ? test : test.skip)('fromPretrained reads an official-layout model_D (heads.* + dino.model.model.*) and reproduces the logits', async () => {
  const fs = await import('fs');
  const os = await import('os');
  const { saveSafetensors } = await import('@ganzoo/core');
  const { StyleGANT } = await import('../src');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgt-d-'));
  try {
    fs.copyFileSync(path.join(sgt as string, 'model', 'config.json'), path.join(tmp, 'config.json'));
    fs.copyFileSync(path.join(sgt as string, 'model', 'model.safetensors'), path.join(tmp, 'model.safetensors'));
    const heads = readSafetensors(path.join(dir as string, 'model', 'model_D.safetensors')).tensors;
    const vit = readSafetensors(path.join(dir as string, 'model', 'model.safetensors')).tensors;
    const all: Record<string, (typeof heads)[string]> = { ...heads };
    for (const [k, v] of Object.entries(vit)) all[`dino.model.model.${k}`] = v;
    saveSafetensors(path.join(tmp, 'model_D.safetensors'), all);
    const m = await StyleGANT.fromPretrained(tmp, { dinoLoad: { heads: 2 } });
    expect(m.D).not.toBeNull();
    const io = readFixture(dir as string).io;
    const x = nchwToNhwc(io['input.image224']) as tf.Tensor4D;
    const c = tf.tensor(io['input.c_text_embedding'].data as Float32Array, io['input.c_text_embedding'].shape) as tf.Tensor2D;
    const logits = m.D!.forward(x, c, { pCrop: 0 });
    const err = relativeError(logits, io['d224/output.logits']);
    console.log('fromPretrained D d224 logits relative error:', err);
    expect(err).toBeLessThan(1e-4);
    tf.dispose([x, c, logits]);
    m.dispose();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
