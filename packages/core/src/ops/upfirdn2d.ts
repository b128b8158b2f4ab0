/**
 * FIR resampling as StyleGAN2/3 torch_utils/ops/upfirdn2d.py (reference semantics), channels-last [N, H, W, C]:
 * upsample by zero insertion, pad (negative = crop), convolve with a FIR filter, downsample by dropping pixels.
 * StyleGAN-T uses it for the skip-image upsampling and the D-input blur; GigaGAN reuses it.
 */
import * as tf from '@tensorflow/tfjs';

/** Padding as the official code takes it: one number, [x, y], or [x0, x1, y0, y1] (negative = crop). */
export type PaddingSpec = number | [number, number] | [number, number, number, number] | number[];
export type Scaling = number | [number, number];

export function parsePadding(padding: PaddingSpec = 0): [number, number, number, number] {
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (padding.length === 2) return [padding[0], padding[0], padding[1], padding[1]];
  if (padding.length === 4) return [padding[0], padding[1], padding[2], padding[3]];
  throw new Error(`padding must be a number, [x, y] or [x0, x1, y0, y1]; got [${padding}]`);
}

export function parseScaling(s: Scaling = 1): [number, number] {
  const [sx, sy]: [number, number] = typeof s === 'number' ? [s, s] : [s[0], s[1]];
  if (!Number.isInteger(sx) || !Number.isInteger(sy) || sx < 1 || sy < 1) {
    throw new Error(`up/down factors must be integers >= 1, got ${JSON.stringify(s)}`);
  }
  return [sx, sy];
}

/** [fw, fh] of a filter (1-D = separable, same taps both ways; null = identity). */
export function filterSize(f: tf.Tensor | null | undefined): [number, number] {
  if (!f) return [1, 1];
  const s = f.shape as number[];
  if (s.length === 1) return [s[0], s[0]];
  if (s.length === 2) return [s[1], s[0]];
  throw new Error(`FIR filter must be 1-D (separable) or 2-D, got shape [${f.shape}]`);
}

export interface SetupFilterOptions {
  /** Normalise to unit DC gain (sum 1); default true. */
  normalize?: boolean;
  flipFilter?: boolean;
  gain?: number;
  /** Keep a 1-D filter separable; default: only when it has >= 8 taps (as the official setup_filter). */
  separable?: boolean;
}

/** setup_filter: a 1-D tap list becomes its outer product (unless separable), normalised, flipped and gained. */
export function setupFilter(f: number | number[] | number[][] | null = null, opts: SetupFilterOptions = {}): tf.Tensor {
  const normalize = opts.normalize ?? true;
  const gain = opts.gain ?? 1;
  let taps: number[] | number[][] = f === null ? [1] : typeof f === 'number' ? [f] : f;
  const is2d = Array.isArray(taps[0]);
  if (taps.length === 0 || (is2d && (taps as number[][])[0].length === 0)) throw new Error('setupFilter: empty filter');
  const separable = !is2d && (opts.separable ?? taps.length >= 8);
  let rows: number[][];
  if (is2d) rows = (taps as number[][]).map((r) => r.slice());
  else if (separable) rows = [(taps as number[]).slice()];
  else {
    const t = taps as number[];
    rows = t.map((a) => t.map((b) => a * b));
  }
  if (normalize) {
    let s = 0;
    for (const r of rows) for (const v of r) s += v;
    rows = rows.map((r) => r.map((v) => v / s));
  }
  if (opts.flipFilter) rows = rows.reverse().map((r) => r.reverse());
  const ndim = separable ? 1 : 2;
  const g = gain ** (ndim / 2);
  rows = rows.map((r) => r.map((v) => v * g));
  taps = separable ? rows[0] : rows;
  return separable ? tf.tensor1d(taps as number[], 'float32') : tf.tensor2d(taps as number[][], undefined, 'float32');
}

/** Correlate every channel of x [N, H, W, C] with the same 2-D kernel k [kh, kw] (valid), via batch folding. */
function depthwiseValid(x: tf.Tensor4D, k: tf.Tensor2D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const folded = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h, w, 1]) as tf.Tensor4D;
  const y = tf.conv2d(folded, tf.reshape(k, [k.shape[0], k.shape[1], 1, 1]) as tf.Tensor4D, 1, 'valid');
  return tf.transpose(tf.reshape(y, [n, c, y.shape[1], y.shape[2]]), [0, 2, 3, 1]) as tf.Tensor4D;
}

/** Zero-insertion upsampling of [N, H, W, C] by (ux, uy): samples land on the top-left of each up x up cell. */
export function zeroInsert(x: tf.Tensor4D, ux: number, uy: number): tf.Tensor4D {
  if (ux === 1 && uy === 1) return x;
  const [n, h, w, c] = x.shape;
  const t = tf.reshape(x, [n, h, 1, w, 1, c]);
  const p = tf.pad(t, [[0, 0], [0, 0], [0, uy - 1], [0, 0], [0, ux - 1], [0, 0]]);
  return tf.reshape(p, [n, h * uy, w * ux, c]) as tf.Tensor4D;
}

/** Pad with zeros (positive) or crop (negative) by [x0, x1, y0, y1]. */
export function padOrCrop(x: tf.Tensor4D, [px0, px1, py0, py1]: [number, number, number, number]): tf.Tensor4D {
  let y = x;
  if (px0 > 0 || px1 > 0 || py0 > 0 || py1 > 0) {
    y = tf.pad(y, [[0, 0], [Math.max(py0, 0), Math.max(py1, 0)], [Math.max(px0, 0), Math.max(px1, 0)], [0, 0]]);
  }
  if (px0 < 0 || px1 < 0 || py0 < 0 || py1 < 0) {
    const [, h, w] = y.shape;
    const top = Math.max(-py0, 0);
    const left = Math.max(-px0, 0);
    y = tf.slice(y, [0, top, left, 0], [-1, h - top - Math.max(-py1, 0), w - left - Math.max(-px1, 0), -1]);
  }
  return y;
}

export interface Upfirdn2dOptions {
  up?: Scaling;
  down?: Scaling;
  padding?: PaddingSpec;
  /** false = convolution (default, as official), true = correlation. */
  flipFilter?: boolean;
  gain?: number;
  /**
   * 'ref' (default): the official reference order (zero-insert, pad, one 2-D FIR conv, drop pixels).
   * 'separable': the same with a rank-1 2-D filter split into two 1-D passes (faster; tested against 'ref').
   */
  impl?: 'ref' | 'separable';
}

/** Split a 2-D filter into a column and a row when it is an outer product (within float tolerance), else null. */
function rankOneFactors(f: tf.Tensor2D): [number[], number[]] | null {
  const rows = f.arraySync();
  let bi = 0;
  let bj = 0;
  for (let i = 0; i < rows.length; i++) for (let j = 0; j < rows[0].length; j++) if (Math.abs(rows[i][j]) > Math.abs(rows[bi][bj])) [bi, bj] = [i, j];
  const piv = rows[bi][bj];
  if (piv === 0) return null;
  const col = rows.map((r) => r[bj]);
  const row = rows[bi].map((v) => v / piv);
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < rows[0].length; j++) {
      if (Math.abs(col[i] * row[j] - rows[i][j]) > 1e-7 * Math.abs(piv)) return null;
    }
  }
  return [col, row];
}

/**
 * upfirdn2d (Karras et al. 2021, StyleGAN3 appendix / StyleGAN2 resampling): y = down(FIR(pad(up(x)))).
 * x [N, H, W, C]; f [fh, fw] (2-D), [taps] (separable) or null (identity).
 */
export function upfirdn2d(x: tf.Tensor4D, f: tf.Tensor | null | undefined, opts: Upfirdn2dOptions = {}): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`upfirdn2d: expected x of rank 4 [N, H, W, C], got shape [${x.shape}]`);
  const [ux, uy] = parseScaling(opts.up ?? 1);
  const [dx, dy] = parseScaling(opts.down ?? 1);
  const pad = parsePadding(opts.padding ?? 0);
  const gain = opts.gain ?? 1;
  const [fw, fh] = filterSize(f);
  const [, inH, inW] = x.shape;
  const upW = inW * ux + pad[0] + pad[1];
  const upH = inH * uy + pad[2] + pad[3];
  if (upW < fw || upH < fh) {
    throw new Error(`upfirdn2d: padded upsampled size ${upH}x${upW} is smaller than the ${fh}x${fw} filter`);
  }
  return tf.tidy(() => {
    let y = padOrCrop(zeroInsert(x, ux, uy), pad);
    let filt: tf.Tensor = f ? f : tf.ones([1, 1]);
    filt = tf.mul(filt, gain ** (filt.rank / 2));
    if (!opts.flipFilter) filt = tf.reverse(filt);
    if (filt.rank === 2) {
      const factors = opts.impl === 'separable' ? rankOneFactors(filt as tf.Tensor2D) : null;
      if (factors) {
        y = depthwiseValid(y, tf.tensor2d(factors[1], [1, fw]));
        y = depthwiseValid(y, tf.tensor2d(factors[0], [fh, 1]));
      } else {
        y = depthwiseValid(y, filt as tf.Tensor2D);
      }
    } else {
      y = depthwiseValid(y, tf.reshape(filt, [1, fw]) as tf.Tensor2D);
      y = depthwiseValid(y, tf.reshape(filt, [fh, 1]) as tf.Tensor2D);
    }
    if (dx > 1 || dy > 1) y = tf.stridedSlice(y, [0, 0, 0, 0], y.shape, [1, dy, dx, 1]) as tf.Tensor4D;
    return y;
  });
}

/** filter2d: FIR filtering that keeps the shape (pads fw//2, (fw-1)//2 around, plus `padding`). */
export function filter2d(x: tf.Tensor4D, f: tf.Tensor | null, opts: { padding?: PaddingSpec; flipFilter?: boolean; gain?: number; impl?: 'ref' | 'separable' } = {}): tf.Tensor4D {
  const [px0, px1, py0, py1] = parsePadding(opts.padding ?? 0);
  const [fw, fh] = filterSize(f);
  const p: [number, number, number, number] = [px0 + Math.floor(fw / 2), px1 + Math.floor((fw - 1) / 2), py0 + Math.floor(fh / 2), py1 + Math.floor((fh - 1) / 2)];
  return upfirdn2d(x, f, { padding: p, flipFilter: opts.flipFilter, gain: opts.gain, impl: opts.impl });
}

/** upsample2d: upfirdn2d with up, padded so the output is exactly up x the input, gain up^2 (keeps DC). */
export function upsample2d(x: tf.Tensor4D, f: tf.Tensor | null, opts: { up?: Scaling; padding?: PaddingSpec; flipFilter?: boolean; gain?: number; impl?: 'ref' | 'separable' } = {}): tf.Tensor4D {
  const [ux, uy] = parseScaling(opts.up ?? 2);
  const [px0, px1, py0, py1] = parsePadding(opts.padding ?? 0);
  const [fw, fh] = filterSize(f);
  const p: [number, number, number, number] = [
    px0 + Math.floor((fw + ux - 1) / 2),
    px1 + Math.floor((fw - ux) / 2),
    py0 + Math.floor((fh + uy - 1) / 2),
    py1 + Math.floor((fh - uy) / 2),
  ];
  return upfirdn2d(x, f, { up: [ux, uy], padding: p, flipFilter: opts.flipFilter, gain: (opts.gain ?? 1) * ux * uy, impl: opts.impl });
}

/** downsample2d: upfirdn2d with down, padded so the output is exactly input / down. */
export function downsample2d(x: tf.Tensor4D, f: tf.Tensor | null, opts: { down?: Scaling; padding?: PaddingSpec; flipFilter?: boolean; gain?: number; impl?: 'ref' | 'separable' } = {}): tf.Tensor4D {
  const [dx, dy] = parseScaling(opts.down ?? 2);
  const [px0, px1, py0, py1] = parsePadding(opts.padding ?? 0);
  const [fw, fh] = filterSize(f);
  const p: [number, number, number, number] = [
    px0 + Math.floor((fw - dx + 1) / 2),
    px1 + Math.floor((fw - dx) / 2),
    py0 + Math.floor((fh - dy + 1) / 2),
    py1 + Math.floor((fh - dy) / 2),
  ];
  return upfirdn2d(x, f, { down: [dx, dy], padding: p, flipFilter: opts.flipFilter, gain: opts.gain, impl: opts.impl });
}
