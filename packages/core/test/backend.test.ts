import { execFileSync, spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { relativeError } from '@ganzoo/core';
import { getBackendInfo, initBackend, wasmThreadsWanted } from '../src/backend';
import { isComposedKernel, KERNELS_FOR_BACKEND } from '../src/kernels/register';

const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Run initBackend in a fresh node process with the given environment; returns stdout, stderr and exit code. */
function child(env: Record<string, string>, expr = 'initBackend().then((n) => { console.log(n, JSON.stringify(getBackendInfo())); })') {
  const script = `const { initBackend, getBackendInfo } = require('./packages/core/src/backend'); ${expr}`
    + '.catch((e) => { console.log("ERROR " + e.message); process.exitCode = 3; });';
  const childEnv: Record<string, string | undefined> = { ...process.env, GANZOO_BACKEND: '', GANZOO_WASM_THREADS: '', ...env };
  delete childEnv.JEST_WORKER_ID; // a plain node process, not a jest worker
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: ROOT, encoding: 'utf8', timeout: 120000, env: childEnv,
  });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

describe('initBackend in this (jest) process', () => {
  let writes: string[] = [];
  const origWrite = process.stderr.write.bind(process.stderr);

  beforeAll(() => {
    jest.spyOn(process.stderr, 'write').mockImplementation(((chunk: any, ...rest: any[]) => {
      writes.push(String(chunk));
      return origWrite(chunk, ...rest);
    }) as any);
  });
  afterAll(() => jest.restoreAllMocks());

  test('picks wasm (threaded when asked: jest workers default to 1 thread), logs once, idempotent', async () => {
    writes = [];
    expect(wasmThreadsWanted()).toBe(1); // JEST_WORKER_ID is set here
    const name = await initBackend({ threads: 2 });
    expect(name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const info = getBackendInfo()!;
    expect(info.name).toBe('wasm');
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(Math.min(os.cpus().length, 2));
    expect(info.composedKernels).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'UnsortedSegmentSum']));
    expect(await initBackend()).toBe('wasm');
    expect(await Promise.all([initBackend(), initBackend()])).toEqual(['wasm', 'wasm']);
    const lines = writes.filter((w) => w.startsWith('ganzoo: tfjs backend'));
    expect(lines).toEqual([`ganzoo: tfjs backend wasm (${info.threads} thread${info.threads > 1 ? 's' : ''}, SIMD)\n`]);
  });

  test('threaded wasm computes what cpu computes (forward and the composed backward kernels), without leaks', async () => {
    await initBackend();
    const run = () => tf.tidy(() => {
      const x = tf.randomNormal([2, 16, 16, 8], 0, 1, 'float32', 1) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 8, 16], 0, 1, 'float32', 2) as tf.Tensor4D;
      const m = tf.randomNormal([64, 48], 0, 1, 'float32', 3) as tf.Tensor2D;
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, w]);
      return tf.concat([dx.flatten(), dw.flatten(), tf.matMul(m, m, false, true).flatten()]);
    });
    const before = tf.memory().numTensors;
    const onWasm = run();
    const a = onWasm.dataSync().slice();
    onWasm.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend('cpu');
    const onCpu = run();
    expect(relativeError(a, onCpu.dataSync() as Float32Array)).toBeLessThan(1e-4);
    onCpu.dispose();
    await tf.setBackend('wasm');
  });

  test('initBackend also fixed the cpu fallback (composed Conv2DBackpropFilter, resize gradients)', async () => {
    await initBackend();
    await tf.setBackend('cpu');
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.image.resizeBilinear(x as tf.Tensor4D, [6, 10], false, true)))(
      tf.ones([1, 3, 5, 2])).shape);
    expect(g).toEqual([1, 3, 5, 2]); // tfjs 4.22's cpu kernel returns [1, 5, 3, 2]
    // Registered resize gradients are exact adjoints on both backends: <resize(x), dy> = <x, grad(dy)>.
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      for (const [ac, hp] of [[false, false], [true, false], [false, true]]) {
        for (const method of ['bilinear', 'nearest']) {
          const [l, r] = tf.tidy(() => {
            const x = tf.randomNormal([2, 3, 5, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
            const dy = tf.randomNormal([2, 7, 4, 2], 0, 1, 'float32', 5);
            const f = (t: tf.Tensor) => (method === 'bilinear' ? tf.image.resizeBilinear(t as tf.Tensor4D, [7, 4], ac, hp)
              : tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [7, 4], ac, hp));
            const gx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), dy)))(x);
            return [tf.sum(tf.mul(f(x), dy)).dataSync()[0], tf.sum(tf.mul(x, gx)).dataSync()[0]];
          });
          expect({ backend, method, ac, hp, err: Math.abs(l - r) / Math.max(1, Math.abs(l)) < 1e-5 })
            .toEqual({ backend, method, ac, hp, err: true });
        }
      }
    }
    await tf.setBackend('cpu');
    const segs = tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [3, 4], [5, 6]]), tf.tensor1d([2, 0, 2], 'int32'), 3).arraySync());
    expect(segs).toEqual([[3, 4], [0, 0], [6, 8]]);
    for (const k of KERNELS_FOR_BACKEND.cpu) expect(isComposedKernel(k, 'cpu')).toBe(true);
    for (const k of KERNELS_FOR_BACKEND.wasm) expect(isComposedKernel(k, 'wasm')).toBe(true);
    expect(isComposedKernel('Conv2D', 'wasm')).toBe(false);
    await tf.setBackend('wasm');
  });

  test('a forced backend switches; an unknown name is an Error listing the valid ones', async () => {
    expect(await initBackend({ backend: 'cpu', log: false })).toBe('cpu');
    expect(getBackendInfo()!.name).toBe('cpu');
    expect(await initBackend({ backend: 'wasm', log: false })).toBe('wasm');
    await expect(initBackend({ backend: 'webgpu' })).rejects.toThrow(
      "initBackend({backend}): unknown backend 'webgpu' (expected one of: tensorflow, wasm, cpu)");
    const old = process.env.GANZOO_BACKEND;
    process.env.GANZOO_BACKEND = 'gpu';
    try {
      await expect(initBackend()).rejects.toThrow("GANZOO_BACKEND: unknown backend 'gpu' (expected one of: tensorflow, wasm, cpu)");
    } finally {
      if (old === undefined) delete process.env.GANZOO_BACKEND;
      else process.env.GANZOO_BACKEND = old;
    }
  });

  test('forcing tensorflow where tfjs-node is not installed fails loudly (no silent fallback)', async () => {
    await expect(initBackend({ backend: 'tensorflow' })).rejects.toThrow(
      /forced backend 'tensorflow'.*@tensorflow\/tfjs-node-gpu: Cannot find module.*@tensorflow\/tfjs-node: Cannot find module/);
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('initBackend in child processes (environment variables)', () => {
  test('GANZOO_BACKEND=cpu forces cpu; one log line on stderr; the process exits', () => {
    const r = child({ GANZOO_BACKEND: 'cpu' });
    expect(r.status).toBe(0);
    expect(r.out.split(' ')[0]).toBe('cpu');
    expect(r.err.match(/ganzoo: tfjs backend/g)).toHaveLength(1);
    expect(r.err).toContain('ganzoo: tfjs backend cpu\n');
  });

  test('GANZOO_WASM_THREADS=1 gives single-threaded wasm; default is multi-threaded and exits cleanly', () => {
    const one = child({ GANZOO_WASM_THREADS: '1' });
    expect(one.status).toBe(0);
    expect(one.out).toMatch(/^wasm /);
    expect(JSON.parse(one.out.slice(5)).threads).toBe(1);
    const t0 = Date.now();
    const def = child({}, 'initBackend().then((n) => { const tf = require("@tensorflow/tfjs"); '
      + 'const y = tf.matMul(tf.ones([256, 256]), tf.ones([256, 256])); console.log(n, JSON.stringify(getBackendInfo()), y.dataSync()[0]); })');
    expect(def.status).toBe(0);
    const [name, json, v] = def.out.trim().split(' ');
    expect(name).toBe('wasm');
    expect(JSON.parse(json).threads).toBe(Math.min(os.cpus().length, 16));
    expect(Number(v)).toBe(256);
    expect(Date.now() - t0).toBeLessThan(60000); // unref'd workers: no hang at exit
  });

  test('GANZOO_WASM_THREADS parsing: a bad value is an Error naming the variable', () => {
    const old = process.env.GANZOO_WASM_THREADS;
    try {
      process.env.GANZOO_WASM_THREADS = 'many';
      expect(() => wasmThreadsWanted()).toThrow("GANZOO_WASM_THREADS: expected a whole number >= 0, got 'many'");
      process.env.GANZOO_WASM_THREADS = '0';
      expect(wasmThreadsWanted()).toBe(1);
      process.env.GANZOO_WASM_THREADS = '3';
      expect(wasmThreadsWanted()).toBe(3);
      expect(wasmThreadsWanted({ threads: 1 })).toBe(1);
      process.env.GANZOO_WASM_THREADS = '';
      expect(wasmThreadsWanted()).toBe(1); // inside a jest worker
      const worker = process.env.JEST_WORKER_ID;
      delete process.env.JEST_WORKER_ID;
      expect(wasmThreadsWanted()).toBe(Math.min(os.cpus().length, 16)); // plain node: every core
      process.env.JEST_WORKER_ID = worker;
    } finally {
      if (old === undefined) delete process.env.GANZOO_WASM_THREADS;
      else process.env.GANZOO_WASM_THREADS = old;
    }
  });

  test('the built package: node -e "require(\'@ganzoo/core\').initBackend()" prints wasm (when dist/ is built)', () => {
    const dist = path.join(ROOT, 'packages', 'core', 'dist', 'backend.js');
    if (!require('fs').existsSync(dist)) {
      console.warn('packages/core/dist not built: skipping the dist check (run `npx tsc -b packages/core`)');
      return;
    }
    const out = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(dist)}).initBackend().then(console.log)`],
      { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GANZOO_BACKEND: '', GANZOO_WASM_THREADS: '' } });
    expect(out.trim()).toBe('wasm');
  });
});
