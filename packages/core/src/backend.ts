/**
 * Backend selection for ganzoo: tfjs-node-gpu -> tfjs-node -> wasm (multi-threaded when it helps) -> cpu,
 * plus the composed training kernels and higher-order gradients every backend needs.
 *
 *   GANZOO_BACKEND=tensorflow|wasm|cpu   force one backend (no silent fallback)
 *   GANZOO_WASM_THREADS=N                wasm threads (0 or 1: single-threaded; default: all cores, except 1
 *                                        inside jest workers, which already run one process per core)
 */
import * as tf from '@tensorflow/tfjs';
import os = require('os');
import { registerHigherOrderGradients } from './kernels/gradients';
import { registerTrainingKernels } from './kernels/register';
import { withWasmThreadShim } from './wasm-threads';

export const BACKEND_NAMES = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface InitBackendOptions {
  /** Force a backend (overrides GANZOO_BACKEND). */
  backend?: BackendName | string;
  /** wasm threads (overrides GANZOO_WASM_THREADS); 1 = single-threaded SIMD build. */
  threads?: number;
  /** Print the one-line "backend: ..." notice to stderr (default true). */
  log?: boolean;
}

export interface BackendInfo {
  /** Active tfjs backend: 'tensorflow' | 'wasm' | 'cpu'. */
  name: string;
  /** Worker threads the backend computes with (wasm: pthreads incl. the main thread; cpu: 1). */
  threads: number;
  /** wasm: the SIMD binary is in use. */
  simd: boolean;
  /** For tensorflow: which package provided it. */
  package?: string;
  /** Kernels served by ganzoo's composed implementations on this backend. */
  composedKernels: string[];
}

let active: BackendInfo | null = null;
let pending: Promise<string> | null = null;
let pendingKey = '';
let logged = false;

/** The active backend's description, or null before initBackend() resolved. */
export function getBackendInfo(): BackendInfo | null {
  return active && tf.getBackend() === active.name ? { ...active, composedKernels: [...active.composedKernels] } : active;
}

function requestedBackend(opts: InitBackendOptions): BackendName | null {
  const raw = opts.backend ?? process.env.GANZOO_BACKEND;
  if (raw == null || raw === '') return null;
  const name = raw.trim().toLowerCase();
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
    const src = opts.backend != null ? 'initBackend({backend})' : 'GANZOO_BACKEND';
    throw new Error(`${src}: unknown backend '${raw}' (expected one of: ${BACKEND_NAMES.join(', ')})`);
  }
  return name as BackendName;
}

/**
 * Threads to ask of wasm: option, else GANZOO_WASM_THREADS, else every core, except inside a jest worker (jest
 * already runs one test process per core, where extra threads measured no faster; bench/notes-kernels.md).
 */
export function wasmThreadsWanted(opts: InitBackendOptions = {}): number {
  let n: number;
  const env = process.env.GANZOO_WASM_THREADS;
  if (opts.threads != null) n = opts.threads;
  else if (env != null && env.trim() !== '') {
    n = Number(env);
    if (!Number.isInteger(n) || n < 0) throw new Error(`GANZOO_WASM_THREADS: expected a whole number >= 0, got '${env}'`);
  } else n = process.env.JEST_WORKER_ID !== undefined ? 1 : os.cpus().length;
  return Math.max(1, Math.min(Math.floor(n), 16));
}

/** Load a native tfjs-node package; returns an error message instead of throwing when it is absent or broken. */
function tryNative(pkg: string): string | null {
  try {
    require(pkg);
  } catch (e) {
    return `${pkg}: ${(e as Error).message.split('\n')[0]}`;
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    return `${pkg} loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs (two copies of tfjs-core installed?)`;
  }
  return null;
}

async function initTensorflow(): Promise<BackendInfo | string> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const err = tryNative(pkg);
    if (err) {
      errors.push(err);
      continue;
    }
    if (await tf.setBackend('tensorflow')) {
      return { name: 'tensorflow', threads: os.cpus().length, simd: false, package: pkg, composedKernels: [] };
    }
    errors.push(`${pkg}: tf.setBackend('tensorflow') failed`);
  }
  return errors.join('; ');
}

async function initWasm(threads: number): Promise<BackendInfo | string> {
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  const env = tf.env();
  const errors: string[] = [];
  if (threads > 1) {
    env.set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
    let ok = false;
    try {
      ok = await withWasmThreadShim(() => tf.setBackend('wasm'));
    } catch (e) {
      errors.push((e as Error).message);
    }
    if (ok) {
      return { name: 'wasm', threads: wasm.getThreadsCount(), simd: true, composedKernels: registerTrainingKernels('wasm') };
    }
    errors.push(`threaded wasm (${threads} threads) failed to initialise; retrying single-threaded`);
    env.set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    wasm.setThreadsCount(1);
    if (tf.findBackend('wasm') == null && tf.findBackendFactory('wasm') == null) return errors.join('; ');
  } else {
    env.set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  if (await tf.setBackend('wasm')) {
    if (errors.length) process.stderr.write(`ganzoo: ${errors.join('; ')}\n`);
    const simd = Boolean(await env.getAsync('WASM_HAS_SIMD_SUPPORT'));
    return { name: 'wasm', threads: 1, simd, composedKernels: registerTrainingKernels('wasm') };
  }
  errors.push("tf.setBackend('wasm') returned false (is the .wasm binary next to tf-backend-wasm.node.js?)");
  return errors.join('; ');
}

async function initCpu(): Promise<BackendInfo | string> {
  if (await tf.setBackend('cpu')) return { name: 'cpu', threads: 1, simd: false, composedKernels: registerTrainingKernels('cpu') };
  return "tf.setBackend('cpu') returned false";
}

async function select(opts: InitBackendOptions): Promise<string> {
  const forced = requestedBackend(opts);
  registerHigherOrderGradients();
  registerTrainingKernels('cpu'); // the fallback stays usable for training whichever backend is active
  const order: BackendName[] = forced ? [forced] : ['tensorflow', 'wasm', 'cpu'];
  const failures: string[] = [];
  for (const name of order) {
    const r = name === 'tensorflow' ? await initTensorflow() : name === 'wasm' ? await initWasm(wasmThreadsWanted(opts)) : await initCpu();
    if (typeof r === 'string') {
      failures.push(`${name}: ${r}`);
      continue;
    }
    active = r;
    if (opts.log !== false && !logged) {
      logged = true;
      const detail = r.name === 'wasm' ? ` (${r.threads} thread${r.threads > 1 ? 's' : ''}${r.simd ? ', SIMD' : ''})`
        : r.package ? ` (${r.package})` : '';
      process.stderr.write(`ganzoo: tfjs backend ${r.name}${detail}\n`);
    }
    return r.name;
  }
  const why = forced ? `forced backend '${forced}' (${opts.backend != null ? 'initBackend option' : 'GANZOO_BACKEND'}) could not be initialised` : 'no tfjs backend could be initialised';
  throw new Error(`initBackend: ${why}: ${failures.join(' | ')}`);
}

/**
 * Pick and initialise the tfjs backend (idempotent: later calls return the active backend's name; a call forcing a
 * different backend switches to it). Registers the composed training kernels and higher-order gradients.
 * Resolves to 'tensorflow' | 'wasm' | 'cpu'.
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<string> {
  let forced: BackendName | null;
  try {
    forced = requestedBackend(opts);
  } catch (e) {
    return Promise.reject(e);
  }
  const key = forced ?? 'auto';
  if (active && tf.getBackend() === active.name && (forced === null || forced === active.name)) return Promise.resolve(active.name);
  if (pending && pendingKey === key) return pending;
  pendingKey = key;
  pending = select(opts).finally(() => {
    pending = null;
  });
  return pending;
}
