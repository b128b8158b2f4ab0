/**
 * onnxruntime-node as an optional engine: loaded lazily with `require`, never a hard dependency. Models call
 * `loadOnnxRuntime()` (null when the package is absent or disabled) and `createOrtSession(bytes)`.
 *
 *   GANZOO_ORT=off           behave as if onnxruntime-node were not installed
 *   GANZOO_ORT_THREADS=N     intra-op threads of new sessions (default: os.availableParallelism())
 */
import * as os from 'os';

export type OnnxRuntime = typeof import('onnxruntime-node');
export type OrtSession = import('onnxruntime-node').InferenceSession;

/** The npm package name, for messages. */
export const ONNXRUNTIME_PACKAGE = 'onnxruntime-node';

let cached: { ort: OnnxRuntime | null; error: string | null } | null = null;

function disabled(): boolean {
  const v = (process.env.GANZOO_ORT ?? '').toLowerCase();
  return v === 'off' || v === '0' || v === 'false';
}

/** onnxruntime-node, or null when it cannot be loaded (not installed, no prebuilt binary, or GANZOO_ORT=off). */
export function loadOnnxRuntime(): OnnxRuntime | null {
  if (disabled()) return null;
  if (!cached) {
    try {
      cached = { ort: require(ONNXRUNTIME_PACKAGE) as OnnxRuntime, error: null };
    } catch (e) {
      cached = { ort: null, error: (e as Error).message.split('\n')[0] };
    }
  }
  return cached.ort;
}

/** Why `loadOnnxRuntime()` returns null (null when it loads). */
export function onnxRuntimeUnavailableReason(): string | null {
  if (disabled()) return `disabled by GANZOO_ORT=${process.env.GANZOO_ORT}`;
  loadOnnxRuntime();
  return cached?.error ?? null;
}

/** onnxruntime-node or an Error that says how to install it. */
export function requireOnnxRuntime(what = 'this engine'): OnnxRuntime {
  const ort = loadOnnxRuntime();
  if (!ort) {
    throw new Error(`${what} needs the optional package '${ONNXRUNTIME_PACKAGE}', which cannot be loaded `
      + `(${onnxRuntimeUnavailableReason()}). Install it with \`npm install ${ONNXRUNTIME_PACKAGE}\` (prebuilt for linux/macOS/windows x64 and arm64).`);
  }
  return ort;
}

/** Default intra-op thread count: GANZOO_ORT_THREADS, else the number of cores (os.availableParallelism()). */
export function defaultOrtThreads(): number {
  const env = process.env.GANZOO_ORT_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`GANZOO_ORT_THREADS must be a positive integer, found '${env}'`);
    return n;
  }
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export interface OrtSessionOptions {
  /** Intra-op threads (default `defaultOrtThreads()`). */
  threads?: number;
  /** Let idle pool threads spin (lower latency, burns CPU between ops). Default false: better on shared machines. */
  spinning?: boolean;
  /** ORT graph optimisation level (default 'all': constant folding, Conv+activation fusion, NCHWc layouts). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** An ORT CPU inference session of a serialised model (see OnnxGraph.toBytes). Release it with `session.release()`. */
export async function createOrtSession(bytes: Uint8Array, opts: OrtSessionOptions = {}): Promise<OrtSession> {
  const ort = requireOnnxRuntime('createOrtSession');
  const threads = opts.threads ?? defaultOrtThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`createOrtSession: threads must be a positive integer, found ${threads}`);
  return ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: opts.optimization ?? 'all',
    extra: { session: { intra_op: { allow_spinning: opts.spinning ? '1' : '0' } } },
  });
}
