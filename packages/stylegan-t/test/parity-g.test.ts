import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { nchwToNhwc, parityFixture, readFixture, readSafetensors, relativeError } from '@ganzoo/core';
import { resolveConfig, StyleGANTConfig } from '../src/config';
import { generatorShapes, Generator, isGeneratorBuffer } from '../src/generator';
import { convertStateDict, generatorLayout } from '../src/convert';
import { disposeParams, paramsFromTensors } from '../src/params';

const dir = parityFixture('stylegan-t');
const maybe = dir ? describe : describe.skip;

maybe('StyleGAN-T generator parity (official fixture)', () => {
  let G: Generator;
  let io: ReturnType<typeof readFixture>['io'];
  beforeAll(async () => {
    const backend = process.env.GANZOO_TEST_BACKEND ?? 'wasm'; // cpu works too (same errors), ~15x slower
    if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    await tf.setBackend(backend);
    const fx = readFixture(dir as string);
    io = fx.io;
    const modelCfg = JSON.parse(require('fs').readFileSync(path.join(dir as string, 'model', 'config.json'), 'utf8')) as StyleGANTConfig;
    const cfg = resolveConfig(modelCfg);
    const sd = readSafetensors(path.join(dir as string, 'model', 'model.safetensors')).tensors;
    const conv = convertStateDict(sd, generatorShapes(cfg), generatorLayout, 'StyleGAN-T G');
    G = new Generator(cfg, paramsFromTensors('Gtest', conv, isGeneratorBuffer));
  });
  afterAll(() => disposeParams(G.params));

  for (const psi of ['1.0', '0.5']) {
    test(`psi ${psi}: mapping, every stored synthesis intermediate and the image within 1e-4`, () => {
      const before = tf.memory().numTensors;
      const z = tf.tensor(io['G/input.z'].data as Float32Array, io['G/input.z'].shape) as tf.Tensor2D;
      const c = tf.tensor(io['G/input.c_text_embedding'].data as Float32Array, io['G/input.c_text_embedding'].shape) as tf.Tensor2D;
      const cap: Record<string, tf.Tensor> = {};
      const w = G.mapping(z, c, Number(psi), { capture: cap });
      const img = G.synthesis(w, { noiseMode: 'const', capture: cap });
      const errs: Record<string, number> = {};
      let checked = 0;
      for (const key of Object.keys(io)) {
        const m = key.match(new RegExp(`^G/psi${psi.replace('.', '\\.')}/act\\.(.*)$`));
        const name = m ? m[1] : key === `G/psi${psi}/output.image` ? 'image' : null;
        if (!name) continue;
        const ours = name === 'image' ? img : cap[name];
        expect(ours).toBeDefined();
        const ref = nchwToNhwc(io[key]);
        expect(ours.shape).toEqual(ref.shape);
        errs[name] = relativeError(ours, ref);
        ref.dispose();
        checked++;
      }
      console.log(`G psi=${psi} relative errors:`, JSON.stringify(errs));
      expect(checked).toBeGreaterThanOrEqual(psi === '1.0' ? 21 : 3);
      for (const [k, e] of Object.entries(errs)) expect([k, e <= 1e-4]).toEqual([k, true]);
      tf.dispose([z, c, w, img, ...Object.values(cap)]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  test('fused modulated-conv path equals the scale path', () => {
    const z = tf.tensor(io['G/input.z'].data as Float32Array, io['G/input.z'].shape) as tf.Tensor2D;
    const c = tf.tensor(io['G/input.c_text_embedding'].data as Float32Array, io['G/input.c_text_embedding'].shape) as tf.Tensor2D;
    const w = G.mapping(z, c, 1);
    const a = G.synthesis(w, { noiseMode: 'const' });
    const b = G.synthesis(w, { noiseMode: 'const', modconv: 'fused' });
    expect(relativeError(b, a)).toBeLessThan(1e-5);
    tf.dispose([z, c, w, a, b]);
  });
});
