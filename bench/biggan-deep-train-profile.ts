/**
 * CPU-time profile of one BigGAN-deep training step (BigGANDeepTrainer.step) per tfjs kernel, and the number of
 * kernels run: where a small model's step goes (kernel launches vs arithmetic).
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/biggan-deep-train-profile.ts [tiny|small] [batch]
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../packages/core/src/backend';
import { BigGANDeep, BigGANDeepTrainer, presetConfig } from '../packages/biggan-deep/src';

async function main(): Promise<void> {
  await initBackend();
  const cfg = presetConfig(process.argv[2] ?? 'tiny');
  const batch = Number(process.argv[3] ?? 8);
  const model = BigGANDeep.create(cfg, { seed: 1 });
  const trainer = new BigGANDeepTrainer(model, { batchSize: batch, dStepsPerG: 2 });
  const r = cfg.discriminator!.resolution;
  const images = tf.randomUniform([batch, r, r, 3], -1, 1) as tf.Tensor4D;
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % cfg.generator.numClasses), 'int32');
  trainer.step({ images, labels });
  const engine = tf.engine() as any;
  const orig = engine.runKernel.bind(engine);
  const cpu = new Map<string, { ms: number; n: number }>();
  let depth = 0;
  let kernels = 0;
  engine.runKernel = (name: string, inputs: any, attrs: any) => {
    kernels++;
    if (depth > 0) return orig(name, inputs, attrs);
    depth++;
    const c0 = process.cpuUsage();
    try {
      return orig(name, inputs, attrs);
    } finally {
      depth--;
      const c = process.cpuUsage(c0);
      if (process.env.SHAPES && name === process.env.SHAPES) console.log(name, Object.values(inputs).map((t: any) => t.shape.join('x')).join(' '), JSON.stringify(attrs), ((c.user + c.system) / 1000).toFixed(1));
      const e = cpu.get(name) ?? { ms: 0, n: 0 };
      e.ms += (c.user + c.system) / 1000;
      e.n++;
      cpu.set(name, e);
    }
  };
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  trainer.step({ images, labels });
  const c = process.cpuUsage(c0);
  engine.runKernel = orig;
  const inKernels = [...cpu.values()].reduce((a, e) => a + e.ms, 0);
  console.log(`step: wall ${Date.now() - t0} ms, cpu ${((c.user + c.system) / 1000).toFixed(0)} ms, in kernels ${inKernels.toFixed(0)} ms, ${kernels} kernel calls`);
  for (const [k, e] of [...cpu.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)) console.log(`  ${k.padEnd(28)} ${e.ms.toFixed(1).padStart(8)} ms x${e.n}`);
  tf.dispose([images, labels]);
  trainer.dispose();
  model.dispose();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
