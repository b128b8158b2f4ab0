/**
 * Differentiable image / grid resizing with PyTorch `F.interpolate` semantics (align_corners=False), written
 * as two interpolation matrices applied separably, so gradients flow to the input and the numbers match torch:
 * 'nearest' (torch legacy nearest), 'bilinear', 'bicubic' (A = -0.75, border-clamped taps), 'area'
 * (= adaptive average pooling), plus 'pil-bicubic' / 'pil-bilinear': PIL's antialiased filters (bicubic A = -0.5,
 * triangle; support scaled when downsampling) as CLIPImageProcessor / ViTImageProcessor use them (float version,
 * without PIL's uint8 rounding between passes; preprocess.ts has the exact 8-bit version).
 */
import * as tf from '@tensorflow/tfjs';

export type ResizeMode = 'nearest' | 'bilinear' | 'bicubic' | 'area' | 'pil-bicubic' | 'pil-bilinear';

/** PIL resampling filters (Pillow libImaging/Resample.c): support and kernel. */
const PIL_FILTERS = {
  bicubic: {
    support: 2,
    f: (x: number) => {
      const a = -0.5;
      const t = Math.abs(x);
      return t < 1 ? ((a + 2) * t - (a + 3)) * t * t + 1 : t < 2 ? (((t - 5) * t + 8) * t - 4) * a : 0;
    },
  },
  bilinear: { support: 1, f: (x: number) => Math.max(0, 1 - Math.abs(x)) },
};

/**
 * PIL's normalised resampling weights along one axis (precompute_coeffs): for each output pixel the first input
 * index and the float64 weights (which sum to 1).
 */
export function pilWeights(inSize: number, outSize: number, filter: 'bicubic' | 'bilinear'): Array<{ start: number; weights: number[] }> {
  const { support: base, f } = PIL_FILTERS[filter];
  const scale = inSize / outSize;
  const fscale = Math.max(scale, 1);
  const support = base * fscale;
  const out: Array<{ start: number; weights: number[] }> = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const ws: number[] = [];
    let total = 0;
    for (let x = xmin; x < xmax; x++) {
      const w = f((x - center + 0.5) / fscale);
      ws.push(w);
      total += w;
    }
    out.push({ start: xmin, weights: ws.map((w) => (total !== 0 ? w / total : 0)) });
  }
  return out;
}

function cubicWeights(t: number, a: number): [number, number, number, number] {
  const c1 = (x: number) => ((a + 2) * x - (a + 3)) * x * x + 1;
  const c2 = (x: number) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return [c2(t + 1), c1(t), c1(1 - t), c2(2 - t)];
}

/**
 * The [out, in] matrix M with y = M x along one axis. `scale` overrides the in/out ratio the way torch uses
 * an explicit `scale_factor` (source = (dst + 0.5) / scale_factor - 0.5).
 */
export function interpolationMatrix(inSize: number, outSize: number, mode: ResizeMode, scaleFactor?: number): Float32Array {
  if (!(inSize > 0 && outSize > 0)) throw new Error(`resize: sizes must be positive, found in ${inSize}, out ${outSize}`);
  const m = new Float64Array(outSize * inSize);
  const ratio = scaleFactor !== undefined ? 1 / scaleFactor : inSize / outSize;
  const clampIdx = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let o = 0; o < outSize; o++) {
    const row = o * inSize;
    if (mode === 'nearest') {
      m[row + Math.min(Math.floor(o * ratio), inSize - 1)] = 1;
    } else if (mode === 'bilinear') {
      let src = ratio * (o + 0.5) - 0.5;
      if (src < 0) src = 0;
      const i0 = Math.floor(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = src - i0;
      m[row + i0] += 1 - l1;
      m[row + i1] += l1;
    } else if (mode === 'bicubic') {
      const src = ratio * (o + 0.5) - 0.5;
      const i = Math.floor(src);
      const w = cubicWeights(src - i, -0.75);
      for (let k = 0; k < 4; k++) m[row + clampIdx(i - 1 + k)] += w[k];
    } else if (mode === 'area') {
      const start = Math.floor((o * inSize) / outSize);
      const end = Math.ceil(((o + 1) * inSize) / outSize);
      for (let i = start; i < end; i++) m[row + i] = 1 / (end - start);
    } else if (mode === 'pil-bicubic' || mode === 'pil-bilinear') {
      const { start, weights } = pilWeights(inSize, outSize, mode === 'pil-bicubic' ? 'bicubic' : 'bilinear')[o];
      weights.forEach((w, i) => (m[row + start + i] = w));
    } else {
      throw new Error(`resize: unknown mode '${mode}' (expected nearest, bilinear, bicubic, area, pil-bicubic or pil-bilinear)`);
    }
  }
  return Float32Array.from(m);
}

export interface ResizeOptions {
  /** torch `scale_factor` semantics for the source-coordinate ratio (height, width); sizes still given explicitly. */
  scaleFactor?: [number, number];
}

/** Resize NHWC images [B, H, W, C] to [B, outH, outW, C]; differentiable w.r.t. x. */
export function resizeImages(x: tf.Tensor4D, outH: number, outW: number, mode: ResizeMode, opts: ResizeOptions = {}): tf.Tensor4D {
  if (x.rank !== 4) throw new Error(`resizeImages: expected NHWC [B, H, W, C], found rank ${x.rank} [${x.shape}]`);
  const [b, h, w, c] = x.shape;
  if (h === outH && w === outW && !opts.scaleFactor && mode !== 'nearest') return tf.clone(x);
  return tf.tidy(() => {
    const mh = tf.tensor2d(interpolationMatrix(h, outH, mode, opts.scaleFactor?.[0]), [outH, h]);
    const mw = tf.tensor2d(interpolationMatrix(w, outW, mode, opts.scaleFactor?.[1]), [outW, w]);
    // rows: [H, B*W*C] -> [outH, B*W*C]
    const xr = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, b * w * c]);
    const yr = tf.reshape(tf.matMul(mh, xr), [outH, b, w, c]);
    // cols: [W, outH*B*C] -> [outW, ...]
    const xc = tf.reshape(tf.transpose(yr, [2, 0, 1, 3]), [w, outH * b * c]);
    const yc = tf.reshape(tf.matMul(mw, xc), [outW, outH, b, c]);
    return tf.transpose(yc, [2, 1, 0, 3]) as tf.Tensor4D;
  });
}
