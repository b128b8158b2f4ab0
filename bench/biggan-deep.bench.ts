/**
 * BigGAN-deep generation speed at the published biggan-deep-128 size (random weights, truncation 0.4), per image at
 * batch 1 and 4 on the active backend, reference path and fast path (src/fast.ts) interleaved, against a PyTorch CPU
 * module of the same architecture (bench/biggan_deep_ref.py) run just before AND just after in the same process tree
 * (the reference time is the mean of the two) when /usr/bin/python3 imports torch. Wall time and CPU time (all threads)
 * per image are reported with the load average: on a shared, loaded machine CPU time measures the work, wall time
 * also the waiting.
 *
 *   npx ts-node --transpile-only -P tsconfig.jest.json bench/biggan-deep.bench.ts     (or: npm run bench -- biggan-deep)
 *   GANZOO_BENCH_QUICK=1 ...      batch 1 only, fewer repetitions
 *   GANZOO_WASM_THREADS=1|2       wasm threads (core initBackend);  GANZOO_TORCH_THREADS=N  torch threads
 *   GANZOO_BENCH_SPLIT=N          also time the fast path with the batch split over N worker threads (src/split.ts), batch >= 2
 *   GANZOO_BENCH_ORT=0            skip the onnxruntime engine rows (src/onnx.ts, 1 and 2 intra-op threads; they are timed
 *                                 whenever onnxruntime-node loads). Torch also runs at 2 threads before/after; an ORT
 *                                 row's torch column is torch at the same thread count, the tfjs rows' torch's default.
 *   GANZOO_BENCH_MEMORY=1 ...     memory mode: fast-path generation at batch 16 (peak RSS), then GANZOO_BENCH_CALLS
 *                                 (default 100) calls at batch GANZOO_BENCH_CALLS_BATCH (default 1): RSS, wasm heap
 *                                 and tensor count after the first 10 and after all calls (no growth expected)
 *   GANZOO_BENCH_ENGINE=onnxruntime  memory mode on the onnxruntime engine (GANZOO_ORT_THREADS threads) instead
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { initBackend, getBackendInfo } from '../packages/core/src/backend';
import { BigGANDeep, truncatedNoise } from '../packages/biggan-deep/src';
import { FastGenerator } from '../packages/biggan-deep/src/fast';
import { BatchSplitGenerator } from '../packages/biggan-deep/src/split';
import { OnnxGenerator } from '../packages/biggan-deep/src/onnx';
import { BenchRow, peakRssMB, report, runTorchReference } from './lib';

const load = () => os.loadavg()[0].toFixed(1);
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

function inputs(b: number): { z: tf.Tensor2D; cv: tf.Tensor2D } {
  const classes = Array.from({ length: b }, (_, i) => (i * 97) % 1000);
  return { z: truncatedNoise(b, 0.4, 3), cv: tf.tidy(() => tf.oneHot(tf.tensor1d(classes, 'int32'), 1000).toFloat() as tf.Tensor2D) };
}

type Gen = () => tf.Tensor | Promise<tf.Tensor>;

/** One timed call: wall and process CPU ms. */
async function timed(f: Gen): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const y = await f();
  y.dataSync();
  y.dispose();
  const c = process.cpuUsage(c0);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e6, cpu: (c.user + c.system) / 1000 };
}

function wasmHeapMB(): number | undefined {
  const b = tf.backend() as any;
  return b?.wasm?.HEAPU8 ? b.wasm.HEAPU8.length / 2 ** 20 : undefined;
}

async function speed(backend: string, threads: string): Promise<void> {
  const quick = !!process.env.GANZOO_BENCH_QUICK;
  const batches = quick ? [1] : [1, 4];
  const reps = quick ? 2 : 3;
  const t0 = Date.now();
  const g = BigGANDeep.create('biggan-deep-128', { seed: 1, init: 'N02' });
  console.log(`built biggan-deep-128 with random weights in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const fast = new FastGenerator(g.G, g.config.generator);
  const nSplit = Number(process.env.GANZOO_BENCH_SPLIT ?? 0);
  const split = nSplit > 1 ? await BatchSplitGenerator.create(g.G, g.config.generator, nSplit) : null;
  const useOrt = process.env.GANZOO_BENCH_ORT !== '0' && OnnxGenerator.available();
  const ortThreads = [1, 2];
  const onnx = useOrt ? ortThreads.map((n) => new OnnxGenerator(fast, g.config.generator, { threads: n })) : [];
  const rows: BenchRow[] = [];
  for (const b of batches) {
    const loadBefore = load();
    const refA = runTorchReference('biggan_deep_ref.py', [String(b), String(reps)]);
    const refA2 = runTorchReference('biggan_deep_ref.py', [String(b), String(reps)], { GANZOO_TORCH_THREADS: '2' });
    const { z, cv } = inputs(b);
    const paths: [string, Gen][] = [
      ['reference path', () => g.forwardG(z, cv, { truncation: 0.4 })],
      ['fast path', () => fast.forward(z, cv, 0.4)],
      ...onnx.map((o, i): [string, Gen] => [`onnxruntime engine, ${ortThreads[i]} thread${ortThreads[i] > 1 ? 's' : ''}`, () => o.forward(z, cv, 0.4)]),
    ];
    const t = new Map(paths.map(([n]) => [n, { wall: [] as number[], cpu: [] as number[] }]));
    for (const [, f] of paths) (await f()).dispose(); // warm-up (SN cache / plan build / ORT session, kernel set-up)
    for (let r = 0; r < reps; r++) {
      for (const [n, f] of paths) {
        const m = await timed(f);
        t.get(n)!.wall.push(m.wall / b);
        t.get(n)!.cpu.push(m.cpu / b);
      }
    }
    if (split && b > 1) {
      const name = `fast path, batch split over ${nSplit} worker threads`;
      paths.push([name, () => fast.forward(z, cv, 0.4)]); // placeholder for the row order; timed below
      const wall: number[] = [];
      const cpu: number[] = [];
      (await split.forward(z, cv, 0.4)).dispose();
      for (let r = 0; r < reps; r++) {
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        (await split.forward(z, cv, 0.4)).dispose();
        const c = process.cpuUsage(c0);
        wall.push(Number(process.hrtime.bigint() - t0) / 1e6 / b);
        cpu.push((c.user + c.system) / 1000 / b);
      }
      t.set(name, { wall, cpu });
    }
    tf.dispose([z, cv]);
    const refB = runTorchReference('biggan_deep_ref.py', [String(b), String(reps)]);
    const refB2 = runTorchReference('biggan_deep_ref.py', [String(b), String(reps)], { GANZOO_TORCH_THREADS: '2' });
    // torch at its default thread count (1 here) and at 2 threads: mean of the runs before and after
    const torch = (runs: any[]) => {
      const both = runs.filter((r) => r);
      return {
        both,
        ms: both.length ? both.reduce((a, r) => a + r.ms_per_image[String(b)], 0) / both.length : undefined,
        cpu: both.length ? both.reduce((a, r) => a + r.cpu_ms_per_image[String(b)], 0) / both.length : undefined,
      };
    };
    const t1 = torch([refA, refB]);
    const t2 = torch([refA2, refB2]);
    for (const [n] of paths) {
      const cpu = med(t.get(n)!.cpu);
      const ms = med(t.get(n)!.wall);
      const ref = / 2 threads$/.test(n) ? t2 : t1;
      rows.push({
        bench: 'biggan-deep', case: `generate 128x128 (biggan-deep-128), ${n}`, backend: `${backend}${threads}`, batch: b,
        ms, refMs: ref.ms, unit: 'ms/image', peakRssMB: peakRssMB(), cpuMs: cpu, refCpuMs: ref.cpu,
        note: `cpu ${cpu.toFixed(0)} vs torch cpu ${ref.cpu?.toFixed(0) ?? '-'} ms/image (ratio ${ref.cpu ? (cpu / ref.cpu).toFixed(2) : '-'}); `
          + `torch ${ref.both[0]?.threads ?? '-'} thread(s) [${ref.both.map((r) => r.ms_per_image[String(b)].toFixed(0)).join(', ')}]`
          + (t2.ms ? `; vs torch 2 threads ${t2.ms.toFixed(0)} ms: ratio ${(ms / t2.ms).toFixed(2)}` : '')
          + (t1.ms ? `; vs torch ${t1.both[0]?.threads} thread(s) ${t1.ms.toFixed(0)} ms: ratio ${(ms / t1.ms).toFixed(2)}` : '')
          + `; load ${loadBefore}->${load()}`,
      });
    }
  }
  for (const o of onnx) o.dispose();
  fast.dispose();
  await split?.dispose();
  g.dispose();
  report('biggan-deep', rows);
}

async function memory(backend: string, threads: string): Promise<void> {
  const calls = Number(process.env.GANZOO_BENCH_CALLS ?? 100);
  const callBatch = Number(process.env.GANZOO_BENCH_CALLS_BATCH ?? 1);
  const g = BigGANDeep.create('biggan-deep-128', { seed: 1, init: 'N02' });
  const fast = new FastGenerator(g.G, g.config.generator);
  const ort = process.env.GANZOO_BENCH_ENGINE === 'onnxruntime';
  const onnx = ort ? new OnnxGenerator(fast, g.config.generator) : null;
  const gen: (z: tf.Tensor2D, cv: tf.Tensor2D) => tf.Tensor | Promise<tf.Tensor> = onnx ? (z, cv) => onnx.forward(z, cv, 0.4) : (z, cv) => fast.forward(z, cv, 0.4);
  const label = onnx ? `onnxruntime engine, ${process.env.GANZOO_ORT_THREADS ?? os.availableParallelism()} threads` : 'fast path';
  const rows: BenchRow[] = [];
  const rssBefore = process.memoryUsage().rss / 2 ** 20;
  {
    const { z, cv } = inputs(16);
    const m = await timed(() => gen(z, cv));
    tf.dispose([z, cv]);
    rows.push({
      bench: 'biggan-deep-memory', case: `generate batch 16 (${label})`, backend: `${backend}${threads}`, batch: 16, ms: m.wall / 16,
      unit: 'ms/image', peakRssMB: peakRssMB(), note: `rss before ${rssBefore.toFixed(0)} MB, wasm heap ${wasmHeapMB()?.toFixed(0) ?? '-'} MB; load ${load()}`,
    });
  }
  const { z, cv } = inputs(callBatch);
  const snap = () => ({ rss: process.memoryUsage().rss / 2 ** 20, heap: wasmHeapMB(), tensors: tf.memory().numTensors, bytes: tf.memory().numBytes });
  let at10 = snap();
  const t0 = Date.now();
  for (let i = 1; i <= calls; i++) {
    (await gen(z, cv)).dispose();
    if (i === Math.min(10, calls)) at10 = snap();
  }
  const end = snap();
  tf.dispose([z, cv]);
  rows.push({
    bench: 'biggan-deep-memory', case: `${calls} calls at batch ${callBatch} (${label})`, backend: `${backend}${threads}`, batch: callBatch,
    ms: (Date.now() - t0) / calls / callBatch, unit: 'ms/image', peakRssMB: peakRssMB(),
    note: `after 10 / ${calls} calls: rss ${at10.rss.toFixed(0)} / ${end.rss.toFixed(0)} MB, wasm heap ${at10.heap?.toFixed(0) ?? '-'} / ${end.heap?.toFixed(0) ?? '-'} MB, `
      + `tensors ${at10.tensors} / ${end.tensors}, tensor bytes ${at10.bytes} / ${end.bytes}; load ${load()}`,
  });
  onnx?.dispose();
  fast.dispose();
  g.dispose();
  report('biggan-deep-memory', rows);
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const info = getBackendInfo();
  const threads = info && info.name === 'wasm' ? `-${info.threads}t` : '';
  if (process.env.GANZOO_BENCH_MEMORY) await memory(backend, threads);
  else await speed(backend, threads);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
