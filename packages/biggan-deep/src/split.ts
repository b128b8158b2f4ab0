/**
 * Batch split across worker threads: tfjs-wasm's 2-thread build runs its convolutions on one thread (measured cpu/wall
 * 1.0 for a lone conv with 2 threads, bench/notes.md), so a batch is split into N parts that N worker threads, each
 * with its own single-threaded wasm backend and a copy of the generator weights, run through the fast path at once.
 * Same numbers as `FastGenerator.forward` on each part; memory: one more copy of G (+ its W/σ plan) per worker.
 *
 *   const split = await BatchSplitGenerator.create(model, 2);
 *   const img = await split.forward(z, classVector, 0.4);   // [B, R, R, 3]
 *   await split.dispose();
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import * as tf from '@tensorflow/tfjs';
import { GeneratorConfig } from './config';
import { ParamStore } from './params';

interface Pending { resolve: (r: { data: Float32Array; shape: number[] }) => void; reject: (e: Error) => void }

/** Bootstrap for a worker running from TypeScript sources (ts-node, jest): @ganzoo/x -> packages/x/src. */
function tsBootstrap(file: string, packagesDir: string, tsconfig: string): string {
  return `
const Module = require('module');
const path = require('path');
const orig = Module._resolveFilename;
Module._resolveFilename = function (req, ...rest) {
  const m = /^@ganzoo\\/([^/]+)$/.exec(req);
  return orig.call(this, m ? path.join(${JSON.stringify(packagesDir)}, m[1], 'src') : req, ...rest);
};
require('ts-node').register({ transpileOnly: true, project: ${JSON.stringify(tsconfig)} });
require(${JSON.stringify(file)});
`;
}

export class BatchSplitGenerator {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  private constructor(private readonly workers: Worker[], private readonly g: GeneratorConfig) {
    for (const w of workers) {
      w.on('message', (m: any) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error) p.reject(new Error(`BatchSplitGenerator worker: ${m.error}`));
        else p.resolve({ data: m.data, shape: m.shape });
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
    }
  }

  /** Start `workers` threads with copies of the generator's weights (backend: wasm unless given). */
  static async create(store: ParamStore, g: GeneratorConfig, workers = 2, backend = 'wasm'): Promise<BatchSplitGenerator> {
    if (!Number.isInteger(workers) || workers < 1) throw new Error(`BatchSplitGenerator: workers must be a positive integer, found ${workers}`);
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const s of store.specs) tensors[s.name] = { shape: store.vars[s.name].shape, data: store.vars[s.name].dataSync() as Float32Array };
    const ts = __filename.endsWith('.ts');
    const file = path.join(__dirname, ts ? 'split-worker.ts' : 'split-worker.js');
    if (!fs.existsSync(file)) throw new Error(`BatchSplitGenerator: worker script ${file} not found`);
    const packagesDir = path.resolve(__dirname, '..', '..');
    const tsconfig = path.resolve(packagesDir, '..', 'tsconfig.jest.json');
    const started = Array.from({ length: workers }, () => {
      const workerData = { generator: g, tensors, backend };
      const w = ts ? new Worker(tsBootstrap(file, packagesDir, tsconfig), { eval: true, workerData }) : new Worker(file, { workerData });
      return new Promise<Worker>((resolve, reject) => {
        const onMsg = (m: any) => {
          if (m.ready) {
            w.off('message', onMsg);
            resolve(w);
          } else if (m.fatal) reject(new Error(`BatchSplitGenerator worker failed to start: ${m.fatal}`));
        };
        w.on('message', onMsg);
        w.once('error', reject);
      });
    });
    return new BatchSplitGenerator(await Promise.all(started), g);
  }

  /** G(z, y, truncation) with the batch split over the workers -> [B, R, R, 3]. */
  async forward(z: tf.Tensor2D, classVector: tf.Tensor2D, truncation: number): Promise<tf.Tensor4D> {
    const b = z.shape[0];
    if (classVector.shape[0] !== b) throw new Error(`classVector batch ${classVector.shape[0]} does not match z's batch ${b}`);
    const zd = z.dataSync() as Float32Array;
    const cd = classVector.dataSync() as Float32Array;
    const n = Math.min(this.workers.length, b);
    const parts: Promise<{ data: Float32Array; shape: number[] }>[] = [];
    let start = 0;
    for (let i = 0; i < n; i++) {
      const len = Math.floor(b / n) + (i < b % n ? 1 : 0);
      const id = this.nextId++;
      const zPart = zd.slice(start * this.g.zDim, (start + len) * this.g.zDim);
      const cPart = cd.slice(start * this.g.numClasses, (start + len) * this.g.numClasses);
      parts.push(new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        this.workers[i].postMessage({ id, z: zPart, cv: cPart, b: len, truncation }, [zPart.buffer, cPart.buffer]);
      }));
      start += len;
    }
    const res = await Promise.all(parts);
    const [, h, w, c] = res[0].shape;
    const out = new Float32Array(b * h * w * c);
    let off = 0;
    for (const r of res) {
      out.set(r.data, off);
      off += r.data.length;
    }
    return tf.tensor4d(out, [b, h, w, c]);
  }

  /** Stop the workers. */
  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
