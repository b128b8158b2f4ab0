/**
 * Per-kernel profile of BigGAN-deep-128 generation (random weights) on the active backend: total time per tfjs
 * kernel name (tf.profile; on wasm kernels run synchronously, so kernelTimeMs is their wall time).
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/biggan-deep-profile.ts [batch] [preset] [path: ref|fast]
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, getBackendInfo } from '../packages/core/src/backend';
import { BigGANDeep, truncatedNoise } from '../packages/biggan-deep/src';
import { FastGenerator } from '../packages/biggan-deep/src/fast';

async function main(): Promise<void> {
  await initBackend();
  const b = Number(process.argv[2] ?? 1);
  const preset = process.argv[3] ?? 'biggan-deep-128';
  const mode = process.argv[4] ?? 'ref';
  const g = BigGANDeep.create(preset, { seed: 1, init: 'N02' });
  const classes = Array.from({ length: b }, (_, i) => (i * 97) % 1000);
  const fast = mode === 'fast' ? new FastGenerator(g.G, g.config.generator) : null;
  const z = truncatedNoise(b, 0.4, 3);
  const cv = tf.oneHot(tf.tensor1d(classes, 'int32'), 1000).toFloat() as tf.Tensor2D;
  const run = () => {
    const img = fast ? fast.forward(z, cv, 0.4) : g.forwardG(z, cv, { truncation: 0.4 });
    img.dataSync();
    img.dispose();
  };
  run(); // warm-up (SN cache, kernel set-up)
  // CPU time per kernel (process.cpuUsage: all threads; unlike wall time it does not count waiting for a loaded CPU)
  const engine = tf.engine() as any;
  const orig = engine.runKernel.bind(engine);
  const cpu = new Map<string, { us: number; n: number }>();
  let depth = 0;
  engine.runKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: unknown) => {
    if (depth > 0) return orig(name, inputs, attrs);
    depth++;
    const c0 = process.cpuUsage();
    try {
      return orig(name, inputs, attrs);
    } finally {
      depth--;
      const c = process.cpuUsage(c0);
      const shapes = Object.values(inputs).slice(0, 2).map((t) => t.shape.join('x')).join(' ');
      const key = `${name} ${shapes}`;
      const e = cpu.get(key) ?? { us: 0, n: 0 };
      e.us += c.user + c.system;
      e.n++;
      cpu.set(key, e);
    }
  };
  const cw0 = Date.now();
  const cc0 = process.cpuUsage();
  run();
  const ccu = process.cpuUsage(cc0);
  engine.runKernel = orig;
  const cpuTotal = [...cpu.values()].reduce((a, e) => a + e.us, 0) / 1000;
  console.log(`cpu-time profile: wall ${Date.now() - cw0} ms, process cpu ${((ccu.user + ccu.system) / 1000).toFixed(0)} ms, kernels ${cpuTotal.toFixed(0)} ms`);
  const byName = new Map<string, number>();
  for (const [k, e] of cpu) byName.set(k.split(' ')[0], (byName.get(k.split(' ')[0]) ?? 0) + e.us / 1000);
  for (const [k, v] of [...byName.entries()].sort((a, c) => c[1] - a[1])) console.log(`  cpu ${k.padEnd(24)} ${v.toFixed(1).padStart(8)} ms ${(100 * v / cpuTotal).toFixed(1).padStart(5)}%`);
  for (const [k, e] of [...cpu.entries()].sort((a, c) => c[1].us - a[1].us).slice(0, 20)) console.log(`  cpu ${(e.us / 1000).toFixed(1).padStart(8)} ms x${e.n} ${k}`);
  const t0 = Date.now();
  const prof = await tf.profile(run);
  const wall = Date.now() - t0;
  const by = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const key = k.name + (k.name.startsWith('Conv') || k.name.startsWith('Fused') || k.name.includes('MatMul') || k.name === 'Multiply' || k.name === 'Add' ? ` ${JSON.stringify(k.inputShapes.slice(0, 2))}` : '');
    const e = by.get(key) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs);
    e.n++;
    by.set(key, e);
  }
  const kinds = new Map<string, number>();
  for (const k of prof.kernels) kinds.set(k.name, (kinds.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  const total = [...kinds.values()].reduce((a, c) => a + c, 0);
  console.log(`backend ${JSON.stringify(getBackendInfo())} batch ${b} ${mode}: wall ${wall} ms (profiled), kernel sum ${total.toFixed(0)} ms, ${prof.kernels.length} kernels`);
  for (const [k, v] of [...kinds.entries()].sort((a, c) => c[1] - a[1])) console.log(`  ${k.padEnd(24)} ${v.toFixed(1).padStart(8)} ms ${(100 * v / total).toFixed(1).padStart(5)}%`);
  console.log('top shapes:');
  for (const [k, v] of [...by.entries()].sort((a, c) => c[1].ms - a[1].ms).slice(0, 25)) console.log(`  ${v.ms.toFixed(1).padStart(8)} ms x${v.n} ${k}`);
  g.dispose();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
