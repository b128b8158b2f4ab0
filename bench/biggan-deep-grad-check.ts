/**
 * Gradient check of BigGAN-deep training against PyTorch (not a timing bench; run by hand):
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/biggan-deep-grad-check.ts [preset]
 *
 * Builds the preset (default `shapes-32`, the shipped model's layout) with random weights, computes the G hinge loss
 * −mean D(G(z, y), y) and the D hinge loss on fixed inputs in train mode (batch-statistics BN, one SN power iteration)
 * and their gradients for every trainable variable, then runs `biggan_deep_grad_ref.py`, an independent float64
 * PyTorch re-implementation of the same G and D (autograd; u and v without gradient as torch's spectral_norm), on the
 * same weights and inputs, and prints the relative L2 error per variable. Needs `/usr/bin/python3` with torch
 * (`apt-get install -y python3-torch`); exits 1 if any variable differs by more than 1e-3.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@ganzoo/core';
import { BigGANDeep, discriminatorLoss, discriminatorStages, generatorLoss, generatorModules, presetConfig } from '@ganzoo/biggan-deep';
import { runTorchReference } from './lib';

async function main(): Promise<void> {
  await initBackend({ threads: 1 });
  const preset = process.argv[2] ?? 'shapes-32';
  const cfg = presetConfig(preset);
  if (!cfg.discriminator) throw new Error(`preset ${preset} has no discriminator`);
  if (cfg.generator.attention.length || cfg.discriminator.attentionResolutions.length) {
    throw new Error(`preset ${preset} has attention; the PyTorch reference here covers attention-free layouts`);
  }
  cfg.generator.nStats = 2;
  const net = BigGANDeep.create(cfg, { seed: 1, discriminator: true });
  const g = cfg.generator;
  const B = 2;
  const z = tf.tensor2d(Array.from({ length: B * g.zDim }, (_, i) => Math.sin(i * 1.3) * 1.2), [B, g.zDim]);
  const labels = tf.tensor1d(Array.from({ length: B }, (_, i) => (2 * i + 1) % g.numClasses), 'int32');
  const cv = tf.oneHot(labels, g.numClasses).toFloat() as tf.Tensor2D;
  const R = g.resolution;
  const real = tf.tensor4d(Array.from({ length: B * R * R * 3 }, (_, i) => Math.cos(i * 0.77)), [B, R, R, 3]);
  const all = net.variables();
  const snap = Object.fromEntries(Object.entries(all).map(([k, v]) => [k, tf.keep(v.clone())]));
  const restore = () => {
    for (const [k, v] of Object.entries(all)) v.assign(snap[k]);
    net.invalidateCaches();
  };
  const grads: Record<string, number[]> = {};
  const losses: Record<string, number> = {};
  for (const ph of ['G', 'D'] as const) {
    restore();
    const store = ph === 'G' ? net.G : net.D!;
    const nameOf = new Map(Object.entries(store.vars).map(([k, v]) => [v.name, k]));
    const r = tf.variableGrads(() => {
      const fake = net.forwardG(z, cv, { truncation: 1, training: true });
      if (ph === 'G') return generatorLoss(net.discriminate(fake, labels, { training: true }));
      const o = net.discriminate(tf.concat([fake, real], 0) as tf.Tensor4D, tf.concat([labels, labels], 0) as tf.Tensor1D, { training: true });
      return discriminatorLoss(o.slice([B, 0], [B, -1]), o.slice([0, 0], [B, -1])).loss;
    }, store.trainable());
    losses[ph] = r.value.dataSync()[0];
    for (const [n, t] of Object.entries(r.grads)) grads[`${ph}:${nameOf.get(n)}`] = Array.from(t.dataSync());
    tf.dispose([r.value, ...Object.values(r.grads)]);
  }
  const dump = {
    weights: Object.fromEntries(Object.entries(snap).map(([k, v]) => [k, { shape: v.shape, data: Array.from(v.dataSync()) }])),
    inputs: { z: { shape: z.shape, data: Array.from(z.dataSync()) }, real: { shape: real.shape, data: Array.from(real.dataSync()) }, labels: Array.from(labels.dataSync()) },
    gcfg: g, gmods: generatorModules(g), dstages: discriminatorStages(cfg.discriminator), dSnEps: cfg.discriminator.snEps,
  };
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-gradcheck-')), 'dump.json');
  fs.writeFileSync(file, JSON.stringify(dump));
  const ref = runTorchReference('biggan_deep_grad_ref.py', [file]);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  if (!ref) process.exit(1);
  console.log(`loss G: ganzoo ${losses.G.toFixed(6)} torch ${ref.loss.G.toFixed(6)}; D: ganzoo ${losses.D.toFixed(6)} torch ${ref.loss.D.toFixed(6)}`);
  let worst = 0;
  let bad = 0;
  for (const [k, a] of Object.entries(grads)) {
    const b = ref.grads[k] as number[] | undefined;
    if (!b) throw new Error(`the reference has no gradient for ${k}`);
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) ** 2;
      den += b[i] ** 2;
    }
    const norm = Math.sqrt(den);
    // conv biases in front of a BN get a zero gradient in exact arithmetic: compare those absolutely
    const err = norm < 1e-5 ? Math.sqrt(num) : Math.sqrt(num) / norm;
    worst = Math.max(worst, err);
    if (err > 1e-3) bad++;
    if (err > 1e-3 || process.env.VERBOSE) console.log(`${k.padEnd(56)} ${norm < 1e-5 ? 'abs' : 'rel'} ${err.toExponential(2)}  |grad| ${norm.toExponential(2)}`);
  }
  console.log(`${Object.keys(grads).length} gradients compared, worst error ${worst.toExponential(2)}, ${bad} above 1e-3`);
  process.exit(bad ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
