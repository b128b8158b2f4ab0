/**
 * Helpers for golden-tensor and parity tests (timm-style: stored inputs -> expected outputs).
 * Parity fixtures live in `../shared/parity/<name>` beside the repository (or GANZOO_PARITY_DIR).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { RawTensor, readSafetensors } from './io/safetensors';

/** Walk up from `start` to the directory holding the root package.json with workspaces. */
export function findRepoRoot(start = process.cwd()): string {
  let dir = path.resolve(start);
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).workspaces) return dir;
      } catch {
        /* keep walking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(start);
    dir = up;
  }
}

/** The parity fixture folder `name`, or null (with the reason on stderr) when it is not present. */
export function parityFixture(name: string): string | null {
  const root = process.env.GANZOO_PARITY_DIR ?? path.resolve(findRepoRoot(), '..', 'shared', 'parity');
  const dir = path.join(root, name);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    console.warn(`parity fixture '${name}' not found at ${dir}: parity tests for it are skipped`);
    return null;
  }
  return dir;
}

/** Read a fixture's io.safetensors (inputs, outputs, intermediates) and config.json. */
export function readFixture(dir: string): { io: Record<string, RawTensor>; config: any } {
  return {
    io: readSafetensors(path.join(dir, 'io.safetensors')).tensors,
    config: JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')),
  };
}

type Numeric = tf.Tensor | RawTensor | Float32Array | Int32Array | number[];

function values(x: Numeric): ArrayLike<number> {
  if (x instanceof tf.Tensor) return x.dataSync() as Float32Array;
  if (Array.isArray(x) || ArrayBuffer.isView(x)) return x as ArrayLike<number>;
  return (x as RawTensor).data as ArrayLike<number>;
}

/** max|actual - expected| / max|expected|: the parity measure of ../shared/parity/README.md. */
export function relativeError(actual: Numeric, expected: Numeric): number {
  const a = values(actual);
  const e = values(expected);
  if (a.length !== e.length) throw new Error(`relativeError: ${a.length} values vs ${e.length} expected`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    den = Math.max(den, Math.abs(e[i]));
  }
  return den === 0 ? num : num / den;
}

/** A raw NCHW (or N,C,L / N,C,H,W) tensor from a fixture as an NHWC (N,L,C) tf tensor. */
export function nchwToNhwc(raw: RawTensor | tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const t = raw instanceof tf.Tensor ? raw : tf.tensor(raw.data, raw.shape, raw.dtype);
    if (t.rank === 4) return tf.transpose(t, [0, 2, 3, 1]);
    if (t.rank === 3) return tf.transpose(t, [0, 2, 1]);
    return t.clone();
  });
}
