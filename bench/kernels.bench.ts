/**
 * Speed of the composed training kernels (packages/core/src/kernels) against the backends' own kernels, for GAN-sized
 * shapes: wasm with 1 and 2 threads, and cpu. Each configuration runs in its own child process (wasm's thread count
 * is fixed at initialisation). Prints ms and GFLOP/s; writes bench/results/kernels.json.
 *
 *   npx ts-node --transpile-only bench/kernels.bench.ts        (or: npm run bench -- kernels)
 *   GANZOO_BENCH_QUICK=1 ...                                   (fewer repetitions)
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../packages/core/src/backend';
import * as K from '../packages/core/src/kernels';
import { BenchRow, report, timeIt } from './lib';

type Mode = 'wasm-1t' | 'wasm-2t' | 'cpu';
type Inputs = Record<string, tf.Tensor>;

interface Case {
  kernel: string;
  label: string;
  gflop?: number;
  make: () => { inputs: Inputs; attrs: Record<string, any> };
  /** Extra composed variants timed by calling a function directly. */
  direct?: Record<string, (inputs: Inputs, attrs: Record<string, any>) => tf.Tensor>;
  /** Built-in too slow to time on cpu at this size (dW: 0.01 GFLOP/s; UnsortedSegmentSum: one pass per segment). */
  skipCpuBuiltin?: boolean;
}

const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

function convCase(x: [number, number, number, number], k: number, co: number, s: number, pad: 'same' | 'valid', which: 'dW' | 'dX', skipCpuBuiltin = false): Case {
  const f: [number, number, number, number] = [k, k, x[3], co];
  const info = tf.backend_util.computeConv2DInfo(x, f, s, 1, pad);
  const dy = [x[0], info.outHeight, info.outWidth, co];
  const gflop = (2 * x[0] * info.outHeight * info.outWidth * k * k * x[3] * co) / 1e9;
  const label = `x ${x.join('x')} w ${f.join('x')} s${s} ${pad}`;
  const g = { strides: s, pad };
  if (which === 'dW') {
    return {
      kernel: 'Conv2DBackpropFilter', label, gflop, skipCpuBuiltin,
      make: () => ({ inputs: { x: rnd(x, 1), dy: rnd(dy, 2) }, attrs: { strides: s, pad, dataFormat: 'NHWC', filterShape: f } }),
      direct: {
        'composed (per-tap GEMM)': (i) => K.conv2dBackpropFilterByTaps(i.x as tf.Tensor4D, i.dy as tf.Tensor4D, f, g),
        'composed (one conv)': (i) => K.conv2dBackpropFilterByConv(i.x as tf.Tensor4D, i.dy as tf.Tensor4D, f, g),
      },
    };
  }
  return {
    kernel: 'Conv2DBackpropInput', label, gflop, skipCpuBuiltin,
    make: () => ({ inputs: { dy: rnd(dy, 2), filter: rnd(f, 3) }, attrs: { strides: s, pad, dataFormat: 'NHWC', inputShape: x } }),
  };
}

const CASES: Case[] = [
  // BigGAN-deep 128 / DCGAN-like blocks, StyleGAN-T / GigaGAN D blocks, a G upsampling (conv2dTranspose) layer.
  convCase([1, 64, 64, 128], 3, 128, 1, 'same', 'dW', true),
  convCase([1, 64, 64, 128], 3, 128, 1, 'same', 'dX'),
  convCase([8, 32, 32, 128], 3, 128, 1, 'same', 'dW', true),
  convCase([8, 32, 32, 128], 3, 128, 1, 'same', 'dX'),
  convCase([16, 16, 16, 128], 4, 64, 2, 'same', 'dW', true),
  convCase([16, 16, 16, 128], 4, 64, 2, 'same', 'dX'),
  convCase([8, 32, 32, 64], 4, 128, 2, 'same', 'dX'), // = conv2dTranspose 16x16x128 -> 32x32x64 forward
  convCase([8, 16, 16, 256], 1, 256, 1, 'same', 'dW', true),
  convCase([1, 16, 16, 32], 3, 32, 1, 'same', 'dW'), // small enough to time cpu's built-in
  {
    kernel: 'DepthwiseConv2dNativeBackpropInput', label: 'x 4x32x32x64 w 3x3x64x1 s1 same', gflop: (2 * 4 * 32 * 32 * 9 * 64) / 1e9,
    make: () => ({ inputs: { dy: rnd([4, 32, 32, 64], 1), filter: rnd([3, 3, 64, 1], 2) }, attrs: { strides: 1, pad: 'same', dilations: 1, inputShape: [4, 32, 32, 64] } }),
  },
  {
    kernel: 'DepthwiseConv2dNativeBackpropFilter', label: 'x 4x32x32x64 w 3x3x64x1 s1 same', gflop: (2 * 4 * 32 * 32 * 9 * 64) / 1e9,
    make: () => ({ inputs: { x: rnd([4, 32, 32, 64], 1), dy: rnd([4, 32, 32, 64], 2) }, attrs: { strides: 1, pad: 'same', dilations: 1, filterShape: [3, 3, 64, 1] } }),
  },
  {
    kernel: 'UnsortedSegmentSum', label: 'class embedding grad: 256 rows of 128 into 1000',
    make: () => ({ inputs: { x: rnd([256, 128], 1), segmentIds: tf.randomUniform([256], 0, 1000, 'int32', 2) }, attrs: { numSegments: 1000 } }),
  },
  {
    kernel: 'UnsortedSegmentSum', label: 'CLIP token embedding grad: 8x77 rows of 512 into 49408', skipCpuBuiltin: true,
    make: () => ({ inputs: { x: rnd([616, 512], 1), segmentIds: tf.randomUniform([616], 0, 49408, 'int32', 2) }, attrs: { numSegments: 49408 } }),
  },
  {
    kernel: 'Einsum', label: 'bhqd,bhkd->bhqk 2x4x64x32', gflop: (2 * 2 * 4 * 64 * 64 * 32) / 1e9,
    make: () => ({ inputs: { a: rnd([2, 4, 64, 32], 1), b: rnd([2, 4, 64, 32], 2) }, attrs: { equation: 'bhqd,bhkd->bhqk' } }),
  },
  {
    kernel: 'MaxPoolGrad', label: 'x 8x32x32x64 k2 s2',
    make: () => {
      const input = rnd([8, 32, 32, 64], 1) as tf.Tensor4D;
      const output = tf.maxPool(input, 2, 2, 'valid');
      return { inputs: { dy: rnd(output.shape, 2), input, output }, attrs: { filterSize: 2, strides: 2, pad: 'valid' } };
    },
  },
  {
    kernel: 'ResizeBilinearGrad', label: 'images 8x64x64x32 -> 128x128 halfPixelCenters',
    make: () => ({ inputs: { images: rnd([8, 64, 64, 32], 1), dy: rnd([8, 128, 128, 32], 2) }, attrs: { alignCorners: false, halfPixelCenters: true } }),
  },
];

function disposeOut(out: tf.TensorInfo | tf.TensorInfo[] | tf.Tensor) {
  for (const o of Array.isArray(out) ? out : [out]) {
    if (o instanceof tf.Tensor) o.dispose();
    else tf.backend().disposeData(o.dataId);
  }
}

async function child(mode: Mode): Promise<BenchRow[]> {
  const quick = process.env.GANZOO_BENCH_QUICK === '1';
  await initBackend({ backend: mode === 'cpu' ? 'cpu' : 'wasm', threads: mode === 'wasm-2t' ? 2 : 1, log: false });
  const rows: BenchRow[] = [];
  for (const c of CASES) {
    const { inputs, attrs } = c.make();
    const runKernel = () => tf.engine().runKernel(c.kernel, (c.kernel === 'Einsum' ? Object.values(inputs) : inputs) as any, attrs as any);
    const variants: Record<string, () => void> = {};
    const builtin = K.builtinKernel(c.kernel, tf.getBackend()) ?? (K.isComposedKernel(c.kernel, tf.getBackend()) ? undefined : tf.getKernel(c.kernel, tf.getBackend()));
    if (builtin && !(mode === 'cpu' && c.skipCpuBuiltin)) {
      variants.builtin = () => {
        const ins = c.kernel === 'Einsum' ? Object.values(inputs) : inputs;
        disposeOut(builtin.kernelFunc({ inputs: ins as any, attrs: attrs as any, backend: tf.backend() }) as any);
      };
    }
    if (K.isComposedKernel(c.kernel, tf.getBackend())) variants['composed (registered)'] = () => disposeOut(runKernel() as tf.Tensor);
    else if (K.COMPOSED_KERNELS[c.kernel]) {
      variants['composed (not registered here)'] = () => tf.tidy(() => K.COMPOSED_KERNELS[c.kernel](inputs, attrs)).dispose();
    }
    // The alternative dW forms, timed once (wasm, 1 thread) to document which one the kernel uses.
    for (const [name, fn] of Object.entries(c.direct ?? {})) {
      if (mode === 'wasm-1t') variants[name] = () => fn(inputs, attrs).dispose();
    }
    if (!Object.keys(variants).length) continue;
    for (const [variant, fn] of Object.entries(variants)) {
      const slow = mode === 'cpu' && variant === 'builtin';
      const ms = await timeIt(fn, quick || slow ? 1 : 3, slow ? 0 : 1);
      process.stderr.write(`[${mode}] ${c.kernel} | ${c.label} | ${variant}: ${ms.toFixed(1)} ms\n`);
      rows.push({
        bench: 'kernels', case: `${c.kernel} | ${c.label} | ${variant}`, backend: mode, ms,
        note: c.gflop ? `${(c.gflop / (ms / 1000)).toFixed(2)} GFLOP/s` : undefined,
      });
    }
    tf.dispose(Object.values(inputs));
  }
  return rows;
}

async function main() {
  const arg = process.argv.indexOf('--child');
  if (arg >= 0) {
    const rows = await child(process.argv[arg + 1] as Mode);
    process.stdout.write(`\n${JSON.stringify(rows)}\n`);
    return;
  }
  const all: BenchRow[] = [];
  for (const mode of ['wasm-2t', 'wasm-1t', 'cpu'] as Mode[]) {
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, '--child', mode], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20,
      env: {
        ...process.env, GANZOO_BACKEND: '', GANZOO_WASM_THREADS: '',
        TS_NODE_PROJECT: path.join(__dirname, '..', 'tsconfig.jest.json'), TS_NODE_TRANSPILE_ONLY: '1',
      },
    });
    if (r.status !== 0) throw new Error(`bench child ${mode} failed with status ${r.status}`);
    const lines = r.stdout.trim().split('\n');
    all.push(...JSON.parse(lines[lines.length - 1]));
  }
  // One line per (kernel, shape, variant) with the three configurations side by side.
  const key = (row: BenchRow) => row.case;
  const cases = Array.from(new Set(all.map(key)));
  const cell = (c: string, m: Mode) => {
    const row = all.find((r) => key(r) === c && r.backend === m);
    return row ? `${row.ms >= 100 ? row.ms.toFixed(0) : row.ms.toFixed(1)} ms${row.note ? ` (${row.note.replace(' GFLOP/s', '')})` : ''}` : '-';
  };
  console.log('\n| kernel | shape | implementation | wasm 2 threads | wasm 1 thread | cpu |\n|---|---|---|---|---|---|');
  for (const c of cases) {
    const [k, shape, variant] = c.split(' | ');
    console.log(`| ${k} | ${shape} | ${variant} | ${cell(c, 'wasm-2t')} | ${cell(c, 'wasm-1t')} | ${cell(c, 'cpu')} |`);
  }
  report('kernels', all);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
