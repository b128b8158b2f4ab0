import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { nchwToNhwc, parityFixture, readFixture, readSafetensors, relativeError, rawToTensor } from '@ganzoo/core';
import { fromLucidrainsKwargs } from '../src/config';
import { fTextEncoder } from '../src/generator';
import { upsamplerForward, upsamplerSpec } from '../src/upsampler';
import { fromLucidrains } from '../src/convert';
import { getter } from '../src/params';

const dir = parityFixture('gigagan');
const d = dir ? describe.each(['cpu', 'wasm']) : describe.skip.each(['cpu', 'wasm']);

d('GigaGAN UnetUpsampler parity (lucidrains fixture) on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });
  test('upsampler image, rgbs and intermediates within 1e-4', () => {
    const { io } = readFixture(dir!);
    const cfg = fromLucidrainsKwargs(require(path.join(dir!, 'model', 'config.json')));
    const uc = cfg.upsampler!;
    const spec = upsamplerSpec(uc, cfg.clip.dimLatent);
    const weights = fromLucidrains(spec, readSafetensors(path.join(dir!, 'model', 'model_upsampler.safetensors')).tensors, 'upsampler');
    const w = getter(weights as any, 'upsampler');
    const acts: Record<string, tf.Tensor> = {};
    const record = (n: string, t: tf.Tensor) => { acts[n] = tf.keep(t.clone()); };
    const errs: Record<string, number> = {};
    tf.tidy(() => {
      const enc = rawToTensor(io['input.text_encodings']) as tf.Tensor3D;
      const text = fTextEncoder(w, 'text_encoder', uc.textEncoder!, cfg.clip.dimLatent, enc);
      errs['text_encoder.global_tokens'] = relativeError(text.global, io['U/act.text_encoder.global_tokens']);
      const out = upsamplerForward(w, uc, { lowres: nchwToNhwc(io['input.lowres_image']) as tf.Tensor4D, z: rawToTensor(io['input.z']) as tf.Tensor2D, text, record });
      errs['image'] = relativeError(out.image, nchwToNhwc(io['U/output.image']));
      expect(out.rgbs.length).toBe(2);
      out.rgbs.forEach((r, i) => { errs[`rgbs.${i}`] = relativeError(r, nchwToNhwc(io[`U/output.rgbs.${i}`])); });
      for (const [k, t] of Object.entries(acts)) {
        const key = `U/act.${k}`;
        if (io[key]) errs[k] = relativeError(t, nchwToNhwc(io[key]));
      }
    });
    console.log(backend, errs);
    for (const [k, e] of Object.entries(errs)) if (!(e <= 1e-4)) throw new Error(`${k}: relative error ${e}`);
    const missing = Object.keys(io).filter((k) => k.startsWith('U/act.') && !(k.slice(6) in errs));
    expect(missing).toEqual([]);
    Object.values(acts).forEach((t) => t.dispose());
    Object.values(weights).forEach((t) => t.dispose());
  });
});
