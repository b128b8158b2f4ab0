import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { nchwToNhwc, parityFixture, readFixture, readSafetensors, relativeError, rawToTensor } from '@ganzoo/core';
import { fromLucidrainsKwargs } from '../src/config';
import { GigaGAN } from '../src/model';
import { generatorForward, generatorSpec, fTextEncoder } from '../src/generator';
import { fromLucidrains } from '../src/convert';
import { getter } from '../src/params';

const dir = parityFixture('gigagan');
const d = dir ? describe.each(['cpu', 'wasm']) : describe.skip.each(['cpu', 'wasm']);

d('GigaGAN generator parity (lucidrains fixture) on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });
  test('G outputs and intermediates within 1e-4', () => {
    const { io } = readFixture(dir!);
    const cfg = fromLucidrainsKwargs(require(path.join(dir!, 'model', 'config.json')));
    const spec = generatorSpec(cfg.G, cfg.clip.dimLatent);
    const weights = fromLucidrains(spec, readSafetensors(path.join(dir!, 'model', 'model.safetensors')).tensors, 'G');
    const w = getter(weights as any, 'G');
    const acts: Record<string, tf.Tensor> = {};
    const record = (n: string, t: tf.Tensor) => { acts[n] = tf.keep(t.clone()); };
    const errs: Record<string, number> = {};
    tf.tidy(() => {
      const enc = rawToTensor(io['input.text_encodings']) as tf.Tensor3D;
      const text = fTextEncoder(w, 'text_encoder', cfg.G.textEncoder!, cfg.clip.dimLatent, enc);
      errs['text.global'] = relativeError(text.global, io['G/act.text_encoder.global_tokens']);
      errs['text.fine'] = relativeError(text.fine, io['G/act.text_encoder.fine_tokens']);
      errs['text.mask'] = relativeError(tf.cast(text.mask, 'float32'), io['G/act.text_encoder.mask']);
      const noise: Record<string, tf.Tensor> = {};
      for (const k of Object.keys(io)) if (k.startsWith('input.noise.')) noise[k.slice('input.noise.'.length)] = nchwToNhwc(io[k]);
      const out = generatorForward(w, cfg.G, { z: rawToTensor(io['input.z']) as tf.Tensor2D, text, noise, record });
      errs['image'] = relativeError(out.image, nchwToNhwc(io['G/output.image']));
      out.rgbs.forEach((r) => { errs[`rgbs.${r.shape[1]}`] = relativeError(r, nchwToNhwc(io[`G/output.rgbs.${r.shape[1]}`])); });
      for (const [k, t] of Object.entries(acts)) {
        const key = `G/act.${k}`;
        if (io[key]) errs[k] = relativeError(t, nchwToNhwc(io[key]));
      }
    });
    console.log(backend, errs);
    for (const [k, e] of Object.entries(errs)) expect([k, e]).toEqual([k, expect.any(Number)]);
    for (const [k, e] of Object.entries(errs)) if (!(e <= 1e-4)) throw new Error(`${k}: relative error ${e}`);
    const missing = Object.keys(io).filter((k) => k.startsWith('G/act.') && !(k.slice(6) in acts) && !k.includes('text_encoder'));
    expect(missing).toEqual([]);
    Object.values(acts).forEach((t) => t.dispose());
    Object.values(weights).forEach((t) => t.dispose());
  });
  // the public path once (wasm); the cpu backend is covered by the module-level test above
  (backend === 'wasm' ? test : test.skip)('GigaGAN.fromPretrained(fixture/model) + generate({ z, textEncodings, noise, raw }) and upsample match', async () => {
    const { io } = readFixture(dir!);
    const m = await GigaGAN.fromPretrained(path.join(dir!, 'model'));
    const before = tf.memory().numTensors;
    const enc = rawToTensor(io['input.text_encodings']) as tf.Tensor3D;
    const z = rawToTensor(io['input.z']) as tf.Tensor2D;
    const noise: Record<string, tf.Tensor> = {};
    for (const k of Object.keys(io)) if (k.startsWith('input.noise.')) noise[k.slice('input.noise.'.length)] = nchwToNhwc(io[k]);
    const g = m.generate({ textEncodings: enc, z, noise, raw: true, returnPyramid: true });
    const eImg = tf.tidy(() => relativeError(g.images, nchwToNhwc(io['G/output.image'])));
    const eR4 = tf.tidy(() => relativeError(g.pyramid![0], nchwToNhwc(io['G/output.rgbs.4'])));
    const low = nchwToNhwc(io['input.lowres_image']) as tf.Tensor4D;
    // the API takes [-1, 1] images and maps them to lucidrains' [0, 1] range: undo that to feed the raw fixture input
    const lowApi = tf.tidy(() => tf.sub(tf.mul(low, 2), 1) as tf.Tensor4D);
    const u = m.upsample({ images: lowApi, textEncodings: enc, z, raw: true });
    const eU = tf.tidy(() => relativeError(u.images, nchwToNhwc(io['U/output.image'])));
    console.log(backend, { eImg, eR4, eU });
    expect(eImg).toBeLessThan(1e-4);
    expect(eR4).toBeLessThan(1e-4);
    expect(eU).toBeLessThan(1e-4);
    tf.dispose([g.images, ...g.pyramid!, u.images, low, lowApi, enc, z, ...Object.values(noise)]);
    expect(tf.memory().numTensors).toBe(before);
    m.dispose();
  });
});
