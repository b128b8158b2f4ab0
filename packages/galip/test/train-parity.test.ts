/**
 * Training parity with the official code: the D loss (hinge + mismatched text + MA-GP) and the G loss on the parity
 * fixture's weights and inputs, and their gradients w.r.t. NetD/NetC (incl. the second-order MA-GP part) and NetG,
 * against fixtures/train-reference.json (made by running tobran/GALIP's train() step on CPU, see its "source").
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, nchwToNhwc, parityFixture, readFixture } from '@ganzoo/core';
import { GALIP, GalipTrainer } from '@ganzoo/galip';

const genDir = parityFixture('galip');
const discDir = parityFixture('galip-disc');
const maybe = genDir && discDir ? describe : describe.skip;

/** torch layout -> the sums / norms / first values the reference stores. */
function summary(g: tf.Tensor, torchShape: number[]): { sum: number; l2: number; maxAbs: number; first: number[] } {
  return tf.tidy(() => {
    let t = g;
    if (torchShape.length === 4) t = tf.transpose(g, [3, 2, 0, 1]);
    else if (torchShape.length === 2) t = tf.transpose(g);
    const d = t.dataSync();
    let sum = 0; let sq = 0; let maxAbs = 0;
    for (const v of d) { sum += v; sq += v * v; maxAbs = Math.max(maxAbs, Math.abs(v)); }
    return { sum, l2: Math.sqrt(sq), maxAbs, first: Array.from(d.slice(0, 16)) };
  });
}

maybe('GALIP training parity (official train() step on the fixture)', () => {
  test('L_D parts, MA-GP, L_G and their gradients', async () => {
    await initBackend({ log: false });
    const ref = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'train-reference.json'), 'utf8'));
    const model = await GALIP.fromPretrained(path.join(genDir!, 'model'));
    const gio = readFixture(genDir!).io;
    const dio = readFixture(discDir!).io;
    const images = nchwToNhwc(dio['input.image']) as tf.Tensor4D;
    const sentEmb = tf.tensor(dio['input.sent_emb'].data as Float32Array, dio['input.sent_emb'].shape) as tf.Tensor2D;
    const noise = tf.tensor(gio['input.noise'].data as Float32Array, gio['input.noise'].shape) as tf.Tensor2D;
    const tr = new GalipTrainer(model);
    const errors: Record<string, number> = {};
    const rel = (a: number, b: number, scale = Math.abs(b)) => Math.abs(a - b) / scale;

    let logs: Record<string, tf.Scalar> = {};
    const d = tf.variableGrads(() => {
      const r = tr.dLossParts({ images, sentEmb }, noise);
      logs = r.logs;
      Object.values(logs).forEach((l) => tf.keep(l));
      return r.total;
    }, tr.dVariables());
    errors['L_D'] = rel(d.value.dataSync()[0], ref.scalars.errD);
    errors['L_D real'] = rel(logs.dReal.dataSync()[0], ref.scalars.errD_real);
    errors['L_D mis'] = rel(logs.dMis.dataSync()[0], ref.scalars.errD_mis);
    errors['L_D fake'] = rel(logs.dFake.dataSync()[0], ref.scalars.errD_fake);
    errors['MA-GP'] = rel(logs.magp.dataSync()[0], ref.scalars.magp);
    const named: Record<string, tf.Variable> = {};
    for (const [k, v] of Object.entries(model.netD!.vars)) named[`netD.${k}`] = v;
    for (const [k, v] of Object.entries(model.netC!.vars)) named[`netC.${k}`] = v;
    const gradErrors = (grads: Record<string, tf.Tensor>, vars: Record<string, tf.Variable>, refs: Record<string, any>, tag: string) => {
      for (const [k, r] of Object.entries<any>(refs)) {
        const g = grads[vars[k].name];
        if (!g) {
          // unused parameters (DBlocks.*.conv_s exist but are not applied): torch reports zero
          expect(r.maxAbs).toBe(0);
          continue;
        }
        const s = summary(g, r.shape);
        const scale = Math.max(r.maxAbs, 1e-30);
        errors[`${tag} ${k}`] = Math.max(
          rel(s.l2, r.l2), Math.abs(s.sum - r.sum) / (r.l2 * Math.sqrt(r.first.length ? r.shape.reduce((a: number, b: number) => a * b, 1) : 1)),
          ...s.first.map((v, i) => Math.abs(v - r.first[i]) / scale),
        );
      }
    };
    gradErrors(d.grads, named, ref.gradD, 'dL_D/d');
    const g = tf.variableGrads(() => tr.gLossParts({ images, sentEmb }, noise).total, tr.gVariables());
    errors['L_G'] = rel(g.value.dataSync()[0], ref.scalars.errG);
    gradErrors(g.grads, model.netG.vars, ref.gradG, 'dL_G/d');
    console.log(`GALIP training parity on ${tf.getBackend()}:\n` + Object.entries(errors).map(([k, v]) => `  ${k}: ${v.toExponential(2)}`).join('\n'));
    for (const [k, v] of Object.entries(errors)) {
      if (!(v <= (k.startsWith('dL_') ? 2e-4 : 1e-4))) throw new Error(`${k}: relative error ${v} above the tolerance`);
    }
    tf.dispose([d.value, g.value, ...Object.values(d.grads), ...Object.values(g.grads), ...Object.values(logs), images, sentEmb, noise]);
    tr.dispose();
    model.dispose();
  });
});
