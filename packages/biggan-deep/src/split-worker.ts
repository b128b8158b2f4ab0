/**
 * Worker-thread side of `BatchSplitGenerator` (split.ts): its own single-threaded tfjs wasm backend, a generator
 * parameter store built from the weights it was sent, and the inference fast path. Messages: {id, z, cv, b, zDim,
 * numClasses, truncation} -> {id, data, shape} or {id, error}.
 */
import { parentPort, workerData } from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@ganzoo/core';
import { GeneratorConfig } from './config';
import { generatorSpecs } from './generator';
import { ParamStore } from './params';
import { FastGenerator } from './fast';

interface Job { id: number; z: Float32Array; cv: Float32Array; b: number; truncation: number }

async function main(): Promise<void> {
  const port = parentPort!;
  const g = workerData.generator as GeneratorConfig;
  await initBackend({ backend: workerData.backend, threads: 1, log: false });
  const specs = generatorSpecs(g);
  const store = new ParamStore(specs.specs, specs.sn);
  const raw = workerData.tensors as Record<string, { shape: number[]; data: Float32Array }>;
  store.setAll(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, tf.tensor(v.data, v.shape)])));
  const fast = new FastGenerator(store, g);
  port.on('message', (job: Job | { cmd: 'close' }) => {
    if ('cmd' in job) {
      fast.dispose();
      store.dispose();
      port.close();
      return;
    }
    try {
      const out = tf.tidy(() => fast.forward(tf.tensor2d(job.z, [job.b, g.zDim]), tf.tensor2d(job.cv, [job.b, g.numClasses]), job.truncation));
      const data = out.dataSync() as Float32Array;
      const shape = out.shape;
      out.dispose();
      port.postMessage({ id: job.id, data, shape }, [data.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: job.id, error: (e as Error).message });
    }
  });
  port.postMessage({ ready: true });
}

main().catch((e) => parentPort!.postMessage({ fatal: (e as Error).stack ?? String(e) }));
