import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parityFixture, readFixture, relativeError, nchwToNhwc } from '@ganzoo/core';
import { BigGANDeep } from '../src';

const dir = parityFixture('biggan-deep-hf');
const maybe = dir ? describe : describe.skip;

async function run(backend: string, weightsFile: 'model.safetensors' | 'pytorch_model.bin', truncations = ['0.4', '1.0', '0.725']) {
  const { io } = readFixture(dir!);
  let modelDir = path.join(dir!, 'model');
  let tmp: string | null = null;
  if (weightsFile === 'pytorch_model.bin') {
    // a folder with only config.json + the legacy-format pytorch_model.bin, as the 2019 hub files
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'biggan-hf-bin-'));
    for (const f of ['config.json', 'pytorch_model.bin']) fs.copyFileSync(path.join(modelDir, f), path.join(tmp, f));
    modelDir = tmp;
  }
  const g = await BigGANDeep.fromPretrained(modelDir);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  const errs: Record<string, number> = {};
  for (const t of truncations) {
    const p = `trunc${t}/`;
    const trunc = io[`${p}input.truncation`].float64![0];
    expect(trunc).toBe(Number(t));
    const z = tf.tensor2d(io[`${p}input.z`].data as Float32Array, io[`${p}input.z`].shape as [number, number]);
    const cv = tf.tensor2d(io[`${p}input.class_label`].data as Float32Array, io[`${p}input.class_label`].shape as [number, number]);
    const acts: Record<string, tf.Tensor> = {};
    const img = g.forwardG(z, cv, { truncation: trunc, record: (n, x) => (acts[n] = tf.keep(x.clone())) });
    const cmp = (key: string, actual: tf.Tensor) => {
      const ref = io[`${p}${key}`];
      if (!ref) return;
      const exp = nchwToNhwc(ref);
      expect(actual.shape).toEqual(exp.shape);
      errs[`${t}:${key}`] = relativeError(actual, exp);
      exp.dispose();
    };
    cmp('output.image', img);
    cmp('act.embed', acts.embed);
    cmp('act.cond_vector', acts.cond);
    cmp('act.gen_z_nchw', acts.gen_z);
    for (const [n, a] of Object.entries(acts)) {
      const m = /^layers\.(\d+)$/.exec(n);
      if (m) {
        const j = m[1].padStart(2, '0');
        cmp(`act.layers.${j}.block`, a);
        cmp(`act.layers.${j}.attn`, a);
      }
    }
    cmp('act.final_bn', acts.final_bn);
    cmp('act.conv_to_rgb', acts.conv_to_rgb);
    // the public API on the same inputs gives the same image
    const img2 = g.generate({ z, classVector: cv, truncation: trunc, fast: false });
    expect(relativeError(img2, img)).toBe(0);
    tf.dispose([z, cv, img, img2, ...Object.values(acts)]);
  }
  g.dispose();
  const worst = Math.max(...Object.values(errs));
  console.log(`biggan-deep-hf parity (${backend}, ${weightsFile}): ${Object.keys(errs).length} tensors, worst ${worst.toExponential(2)}`);
  const wanted = Object.keys(io).filter((k) => !k.includes('/input.') && truncations.some((t) => k.startsWith(`trunc${t}/`)));
  expect(Object.keys(errs).sort()).toEqual(wanted.map((k) => k.replace(/^trunc([^/]+)\//, '$1:')).sort());
  for (const [k, e] of Object.entries(errs)) {
    if (!(e <= 1e-4)) throw new Error(`${k}: relative error ${e}`);
  }
}

maybe('BigGAN-deep HF parity', () => {
  // the cpu backend is ~10x slower: one truncation there (all intermediates), all three on wasm
  test('cpu, model.safetensors: image and every intermediate within 1e-4 (truncation 0.4)', async () => {
    await initBackend({ backend: 'cpu', log: false });
    await run('cpu', 'model.safetensors', ['0.4']);
  });
  test('wasm, legacy pytorch_model.bin: image and every intermediate within 1e-4', async () => {
    await initBackend({ backend: 'wasm', log: false });
    await run('wasm', 'pytorch_model.bin');
  });
});
