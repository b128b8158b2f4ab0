import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nchwToNhwc, parityFixture, readFixture, readSafetensors, relativeError } from '@ganzoo/core';
import { resolveConfig, StyleGANTConfig } from '../src/config';
import { DiscriminatorHeads, discriminatorShapes, isDiscriminatorBuffer } from '../src/discriminator';
import { convertStateDict, discriminatorLayout, exportStateDict } from '../src/convert';
import { disposeParams, paramsFromTensors } from '../src/params';

const dir = parityFixture('stylegan-t');
const maybe = dir ? describe : describe.skip;

maybe('StyleGAN-T discriminator heads parity (official fixture)', () => {
  let D: DiscriminatorHeads;
  let io: ReturnType<typeof readFixture>['io'];
  let sd: ReturnType<typeof readSafetensors>['tensors'];
  beforeAll(async () => {
    const backend = process.env.GANZOO_TEST_BACKEND ?? 'cpu';
    if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend(backend);
    io = readFixture(dir as string).io;
    const modelCfg = JSON.parse(require('fs').readFileSync(path.join(dir as string, 'model', 'config.json'), 'utf8')) as StyleGANTConfig;
    const cfg = resolveConfig(modelCfg);
    sd = readSafetensors(path.join(dir as string, 'model', 'model_D.safetensors')).tensors;
    D = new DiscriminatorHeads(cfg, paramsFromTensors('Dtest', convertStateDict(sd, discriminatorShapes(cfg), discriminatorLayout, 'StyleGAN-T D'), isDiscriminatorBuffer));
  });
  afterAll(() => disposeParams(D.params));

  test('five heads on the given features: logits and every stored intermediate within 1e-4 (eval mode)', () => {
    const before = tf.memory().numTensors;
    const feats = [0, 1, 2, 3, 4].map((k) => nchwToNhwc(io[`D/input.features.${k}`]) as tf.Tensor3D);
    const c = tf.tensor(io['D/input.c_text_embedding'].data as Float32Array, io['D/input.c_text_embedding'].shape) as tf.Tensor2D;
    const cap: Record<string, tf.Tensor> = {};
    const logits = D.forward(feats, c, { capture: cap });
    const errs: Record<string, number> = { logits: relativeError(logits, io['D/output.logits']) };
    for (const key of Object.keys(io)) {
      const m = key.match(/^D\/act\.(.*)$/);
      if (!m) continue;
      const ref = nchwToNhwc(io[key]);
      expect(cap[m[1]].shape).toEqual(ref.shape);
      errs[m[1]] = relativeError(cap[m[1]], ref);
      ref.dispose();
    }
    console.log('D heads relative errors:', JSON.stringify(errs));
    expect(Object.keys(errs).length).toBeGreaterThanOrEqual(18);
    for (const [k, e] of Object.entries(errs)) expect([k, e <= 1e-4]).toEqual([k, true]);
    tf.dispose([...feats, c, logits, ...Object.values(cap)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('converter round trip gives back the official tensors exactly', () => {
    const exported = exportStateDict(D.params, discriminatorShapes(D.cfg), discriminatorLayout);
    for (const [k, t] of Object.entries(exported)) {
      expect(t.shape).toEqual(sd[k].shape);
      expect(relativeError(t, sd[k])).toBe(0);
    }
    tf.dispose(Object.values(exported));
  });
});
