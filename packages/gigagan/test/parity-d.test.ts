import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { nchwToNhwc, parityFixture, readFixture, readSafetensors, relativeError, rawToTensor } from '@ganzoo/core';
import { fromLucidrainsKwargs } from '../src/config';
import { discriminatorConvertOptions, discriminatorForward, discriminatorSpec, discriminatorTextEmbeds } from '../src/discriminator';
import { fromLucidrains } from '../src/convert';
import { getter } from '../src/params';

const dir = parityFixture('gigagan');
const d = dir ? describe.each(['cpu', 'wasm']) : describe.skip.each(['cpu', 'wasm']);

d('GigaGAN discriminator parity (lucidrains fixture) on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });
  test('D logits, multi-scale outputs and intermediates within 1e-4', () => {
    const { io } = readFixture(dir!);
    const cfg = fromLucidrainsKwargs(require(path.join(dir!, 'model', 'config.json')));
    const spec = discriminatorSpec(cfg.D, cfg.clip.dimLatent);
    const weights = fromLucidrains(spec, readSafetensors(path.join(dir!, 'model', 'model_D.safetensors')).tensors, 'D', discriminatorConvertOptions(cfg.D));
    const w = getter(weights as any, 'D');
    const acts: Record<string, tf.Tensor> = {};
    const record = (n: string, t: tf.Tensor) => { acts[n] = tf.keep(t.clone()); };
    const errs: Record<string, number> = {};
    tf.tidy(() => {
      const enc = rawToTensor(io['input.text_encodings']) as tf.Tensor3D;
      const textEmbeds = discriminatorTextEmbeds(w, cfg.D, cfg.clip.dimLatent, enc);
      const images = nchwToNhwc(io['G/output.image']) as tf.Tensor4D;
      const rgbs = Object.keys(io).filter((k) => k.startsWith('G/output.rgbs.')).map((k) => nchwToNhwc(io[k]) as tf.Tensor4D);
      const out = discriminatorForward(w, cfg.D, { images, rgbs, textEmbeds, record });
      errs['logits'] = relativeError(out.logits, io['D/output.logits']);
      out.multiscale.forEach((m, i) => { errs[`multiscale.${i}`] = relativeError(m, nchwToNhwc(io[`D/output.multiscale.${i}`])); });
      for (const [k, t] of Object.entries(acts)) {
        const key = `D/act.${k}`;
        if (io[key]) errs[k] = relativeError(t, nchwToNhwc(io[key]));
      }
    });
    console.log(backend, errs);
    for (const [k, e] of Object.entries(errs)) if (!(e <= 1e-4)) throw new Error(`${k}: relative error ${e}`);
    const missing = Object.keys(io).filter((k) => k.startsWith('D/act.') && !(k.slice(6) in acts));
    expect(missing).toEqual([]);
    expect(Object.keys(errs).filter((k) => k.startsWith('multiscale')).length).toBe(3);
    Object.values(acts).forEach((t) => t.dispose());
    Object.values(weights).forEach((t) => t.dispose());
  });
});
