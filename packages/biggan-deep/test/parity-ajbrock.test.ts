import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, parityFixture, readFixture, relativeError, nchwToNhwc } from '@ganzoo/core';
import { BigGANDeep } from '../src';

const dir = parityFixture('biggan-deep-ajbrock');
const maybe = dir ? describe : describe.skip;

export async function runAjbrockParity(backend: string): Promise<Record<string, number>> {
  const { io } = readFixture(dir!);
  const model = await BigGANDeep.fromPretrained(path.join(dir!, 'model'));
  expect(model.config.layout).toBe('ajbrock');
  expect(model.D).not.toBeNull();
  const errs: Record<string, number> = {};
  const z = tf.tensor2d(io['input.z'].data as Float32Array, io['input.z'].shape as [number, number]);
  const labels = Array.from(io['input.y'].data as Int32Array);
  const cv = model.classVector(labels);
  const gActs: Record<string, tf.Tensor> = {};
  const img = model.forwardG(z, cv, { truncation: 1, record: (n, x) => (gActs[n] = tf.keep(x.clone())) });
  const cmp = (key: string, actual: tf.Tensor | undefined) => {
    const ref = io[key];
    expect(actual).toBeDefined();
    const exp = nchwToNhwc(ref);
    expect(actual!.shape).toEqual(exp.shape);
    errs[key] = relativeError(actual!, exp);
    exp.dispose();
  };
  cmp('output.G_image', img);
  cmp('G.act.shared', gActs.embed);
  cmp('G.act.ccbn_cond', gActs.cond);
  cmp('G.act.linear_reshaped', gActs.gen_z);
  cmp('G.act.output_conv', gActs.conv_to_rgb);
  // flat block i -> HF-style module index (attention modules counted inline)
  const mods = (await import('../src/generator')).generatorModules(model.config.generator);
  for (const key of Object.keys(io).filter((k) => k.startsWith('G.act.blocks.'))) {
    const m = /^G\.act\.blocks\.(\d+)\.(\d+)\.(gblock|attn)$/.exec(key)!;
    const i = Number(m[1]);
    const blockMod = mods.find((x) => x.kind === 'block' && x.blockIndex === i)!;
    const j = m[3] === 'gblock' ? blockMod.index : blockMod.index + 1;
    if (m[3] === 'attn') expect(mods[j].kind).toBe('attention');
    cmp(key, gActs[`layers.${j}`]);
  }
  // D on the official G image (the chain the fixture recorded)
  const ref = nchwToNhwc(io['output.G_image']) as tf.Tensor4D;
  const dActs: Record<string, tf.Tensor> = {};
  const logit = model.discriminate(ref, labels, { record: (n, x) => (dActs[n] = tf.keep(x.clone())) });
  cmp('output.D_logit', logit);
  for (const key of Object.keys(io).filter((k) => k.startsWith('D.act.'))) cmp(key, dActs[key.slice('D.act.'.length).replace(/\.(dblock|attn)$/, '')]);
  const wanted = Object.keys(io).filter((k) => !k.startsWith('input.'));
  expect(Object.keys(errs).sort()).toEqual(wanted.sort());
  tf.dispose([z, cv, img, ref, logit, ...Object.values(gActs), ...Object.values(dActs)]);
  model.dispose();
  const worst = Math.max(...Object.values(errs));
  console.log(`biggan-deep-ajbrock parity (${backend}, G.pth + D.pth): ${Object.keys(errs).length} tensors, worst ${worst.toExponential(2)}`);
  for (const [k, e] of Object.entries(errs)) {
    if (!(e <= 1e-4)) throw new Error(`${k}: relative error ${e}`);
  }
  return errs;
}

maybe('BigGAN-deep ajbrock parity', () => {
  test('cpu: G image, D logit and every intermediate within 1e-4 via G.pth / D.pth', async () => {
    await initBackend({ backend: 'cpu', log: false });
    await runAjbrockParity('cpu');
  });
  test('wasm: same checks', async () => {
    await initBackend({ backend: 'wasm', log: false });
    await runAjbrockParity('wasm');
  });
});
