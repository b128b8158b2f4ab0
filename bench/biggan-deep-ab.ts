/**
 * A/B timing of BigGAN-deep generation variants in ONE process, interleaved (robust to a changing machine load):
 * reference path, fast path with weight folding at batch 1 (foldRatio 3), fast path default (no folding).
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/biggan-deep-ab.ts [batch] [rounds] [preset]
 */
import * as tf from '@tensorflow/tfjs';
import * as os from 'os';
import { initBackend } from '../packages/core/src/backend';
import { BigGANDeep, truncatedNoise } from '../packages/biggan-deep/src';
import { FastGenerator } from '../packages/biggan-deep/src/fast';

async function main(): Promise<void> {
  await initBackend();
  const b = Number(process.argv[2] ?? 1);
  const rounds = Number(process.argv[3] ?? 3);
  const g = BigGANDeep.create(process.argv[4] ?? 'biggan-deep-128', { seed: 1, init: 'N02' });
  const z = truncatedNoise(b, 0.4, 3);
  const cv = tf.oneHot(tf.tensor1d(Array.from({ length: b }, (_, i) => (i * 97) % 1000), 'int32'), 1000).toFloat() as tf.Tensor2D;
  const fast = new FastGenerator(g.G, g.config.generator, { foldRatio: 3 });
  const noFold = new FastGenerator(g.G, g.config.generator);
  const variants: [string, () => tf.Tensor][] = [
    ['reference', () => g.forwardG(z, cv, { truncation: 0.4 })],
    ['fast-fold', () => fast.forward(z, cv, 0.4)],
    ['fast', () => noFold.forward(z, cv, 0.4)],
  ];
  const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  for (const [, f] of variants) f().dispose(); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [n, f] of variants) {
      const t0 = process.hrtime.bigint();
      const y = f();
      y.dataSync();
      y.dispose();
      times.get(n)!.push(Number(process.hrtime.bigint() - t0) / 1e6 / b);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`batch ${b}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (const [n, t] of times) console.log(`  ${n.padEnd(12)} median ${med(t).toFixed(0)} ms/image  (${t.map((x) => x.toFixed(0)).join(', ')})`);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
