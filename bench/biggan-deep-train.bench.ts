/**
 * One BigGAN-deep training step (dStepsPerG = 2 D updates + 1 G update + EMA, BigGANDeepTrainer.step) at the tiny
 * preset and a small 64 px preset, on the active backend, against a PyTorch CPU module of the same architecture
 * (bench/biggan_deep_train_ref.py) run just before and just after in the same process tree (mean of the two). Wall and
 * CPU time per step, with the load average.
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/biggan-deep-train.bench.ts   (npm run bench -- biggan-deep-train)
 *   GANZOO_BENCH_QUICK=1 ...   tiny only, fewer repetitions
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, getBackendInfo } from '../packages/core/src/backend';
import { BigGANDeep, BigGANDeepConfig, BigGANDeepTrainer, ajbrockDArch, fromHfConfig, presetConfig, validateConfig } from '../packages/biggan-deep/src';
import { BenchRow, peakRssMB, report, runTorchReference } from './lib';

/** 64 px, ch 16, 100 classes, attention at 32 px in G and D (G ≈ 2 M, D ≈ 1 M parameters). */
function smallConfig(): BigGANDeepConfig {
  const cfg = fromHfConfig({
    output_dim: 64, z_dim: 64, class_embed_dim: 64, channel_width: 16, num_classes: 100,
    layers: [[false, 16, 16], [true, 16, 8], [false, 8, 8], [true, 8, 4], [false, 4, 4], [true, 4, 2], [false, 2, 2], [true, 2, 1]],
    attention_layer_position: 6,
  });
  cfg.discriminator = { resolution: 64, ch: 16, numClasses: 100, attentionResolutions: [32], snEps: 1e-6, depth: 1, outputDim: 1 };
  validateConfig(cfg);
  return cfg;
}

const load = () => os.loadavg()[0].toFixed(1);
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main(): Promise<void> {
  const backend = await initBackend();
  const info = getBackendInfo();
  const be = `${backend}${info && info.name === 'wasm' ? `-${info.threads}t` : ''}`;
  const quick = !!process.env.GANZOO_BENCH_QUICK;
  const reps = quick ? 2 : 3;
  const cases: [string, BigGANDeepConfig, number][] = [['tiny', presetConfig('tiny'), 8]];
  if (!quick) cases.push(['small (64 px, ch 16)', smallConfig(), 8]);
  const rows: BenchRow[] = [];
  for (const [name, cfg, batch] of cases) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-bench-'));
    const cfgFile = path.join(dir, 'config.json');
    const train = { gLr: 1e-4, dLr: 4e-4, dStepsPerG: 2 };
    fs.writeFileSync(cfgFile, JSON.stringify({ ...cfg, dArch: ajbrockDArch(cfg.discriminator!.resolution), train }));
    const loadBefore = load();
    const refA = runTorchReference('biggan_deep_train_ref.py', [cfgFile, String(batch), String(reps)]);
    const model = BigGANDeep.create(cfg, { seed: 1 });
    const trainer = new BigGANDeepTrainer(model, { ...train, batchSize: batch });
    const r = cfg.discriminator!.resolution;
    const images = tf.randomUniform([batch, r, r, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % cfg.generator.numClasses), 'int32');
    trainer.step({ images, labels }); // warm-up
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < reps; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      trainer.step({ images, labels });
      const c = process.cpuUsage(c0);
      wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
      cpu.push((c.user + c.system) / 1000);
    }
    tf.dispose([images, labels]);
    trainer.dispose();
    model.dispose();
    const refB = runTorchReference('biggan_deep_train_ref.py', [cfgFile, String(batch), String(reps)]);
    fs.rmSync(dir, { recursive: true, force: true });
    const both = [refA, refB].filter((x) => x);
    const refMs = both.length ? both.reduce((a, x) => a + x.ms_per_step, 0) / both.length : undefined;
    const refCpu = both.length ? both.reduce((a, x) => a + x.cpu_ms_per_step, 0) / both.length : undefined;
    const c = med(cpu);
    rows.push({
      bench: 'biggan-deep-train', case: `train step G+D (2 D + 1 G + EMA), ${name}`, backend: be, batch, ms: med(wall), refMs,
      unit: 'ms/step', peakRssMB: peakRssMB(), cpuMs: c, refCpuMs: refCpu,
      note: `cpu ${c.toFixed(0)} vs torch cpu ${refCpu?.toFixed(0) ?? '-'} ms/step (ratio ${refCpu ? (c / refCpu).toFixed(2) : '-'}); torch ${both[0]?.threads ?? '-'} thread(s), G ${both[0]?.g_params ?? '-'} D ${both[0]?.d_params ?? '-'} params; load ${loadBefore}->${load()}`,
    });
  }
  report('biggan-deep-train', rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
