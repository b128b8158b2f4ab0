/**
 * Composed kernels besides convolutions: UnsortedSegmentSum (gather's gradient), Einsum, ResizeBilinearGrad,
 * MaxPoolGrad. Each is built from ops the wasm and cpu backends both have.
 */
import * as tf from '@tensorflow/tfjs';
import { Pad, phaseMerge, phaseSplit, window2d } from './util';

/**
 * out[s, ...] = sum over i with ids[i] == s of x[i, ...]; ids outside [0, numSegments) are dropped (TF semantics).
 * Scatter-add through scatterND (duplicate indices add up), so the cost is O(x.size), not O(x.size * numSegments).
 */
export function unsortedSegmentSum(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    const idRank = segmentIds.rank;
    if (segmentIds.dtype !== 'int32') throw new Error(`UnsortedSegmentSum: expected int32 segmentIds, got ${segmentIds.dtype}`);
    if (x.shape.slice(0, idRank).some((d, i) => d !== segmentIds.shape[i])) {
      throw new Error(`UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
    }
    const inner = x.shape.slice(idRank);
    const n = segmentIds.size;
    const ids = tf.reshape(segmentIds, [n]);
    const valid = tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, numSegments));
    const safeIds = tf.where(valid, ids, tf.zerosLike(ids));
    let upd = tf.reshape(x, [n, ...inner]);
    upd = tf.mul(upd, tf.reshape(tf.cast(valid, x.dtype), [n, ...inner.map(() => 1)]));
    return tf.scatterND(tf.reshape(safeIds, [n, 1]), upd, [numSegments, ...inner]);
  });
}

/**
 * Two-operand einsum without repeated indices as ONE batched GEMM: batch indices (in both inputs and the output),
 * contracted ones (in both, not in the output), free ones (in one input and the output); indices in one input only
 * and not in the output are summed out first. Returns null for any other form.
 */
function einsumAsMatMul(equation: string, tensors: tf.Tensor[]): tf.Tensor | null {
  const m = /^([a-zA-Z]*),([a-zA-Z]*)->([a-zA-Z]*)$/.exec(equation.replace(/\s/g, ''));
  if (!m || tensors.length !== 2) return null;
  const [, ia, ib, io] = m;
  const uniq = (t: string) => new Set(t).size === t.length;
  if (!uniq(ia) || !uniq(ib) || !uniq(io) || ia.length !== tensors[0].rank || ib.length !== tensors[1].rank) return null;
  if ([...io].some((c) => !ia.includes(c) && !ib.includes(c))) return null;
  let [a, b] = tensors;
  let sa = ia;
  let sb = ib;
  // Sum out indices that appear in one input only and not in the output.
  const lonely = (s: string, other: string) => [...s].filter((c) => !other.includes(c) && !io.includes(c));
  const la = lonely(sa, sb);
  if (la.length) { a = tf.sum(a, la.map((c) => sa.indexOf(c))); sa = [...sa].filter((c) => !la.includes(c)).join(''); }
  const lb = lonely(sb, sa);
  if (lb.length) { b = tf.sum(b, lb.map((c) => sb.indexOf(c))); sb = [...sb].filter((c) => !lb.includes(c)).join(''); }
  const batch = [...io].filter((c) => sa.includes(c) && sb.includes(c));
  const contr = [...sa].filter((c) => sb.includes(c) && !io.includes(c));
  const freeA = [...sa].filter((c) => !sb.includes(c));
  const freeB = [...sb].filter((c) => !sa.includes(c));
  const dim = (c: string) => (sa.includes(c) ? a.shape[sa.indexOf(c)] : b.shape[sb.indexOf(c)]);
  const prod = (cs: string[]) => cs.reduce((p, c) => p * dim(c), 1);
  const at = tf.transpose(a, [...batch, ...freeA, ...contr].map((c) => sa.indexOf(c)));
  const bt = tf.transpose(b, [...batch, ...contr, ...freeB].map((c) => sb.indexOf(c)));
  const r = tf.matMul(tf.reshape(at, [prod(batch), prod(freeA), prod(contr)]) as tf.Tensor3D,
    tf.reshape(bt, [prod(batch), prod(contr), prod(freeB)]) as tf.Tensor3D);
  const order = [...batch, ...freeA, ...freeB];
  const out = tf.reshape(r, order.map(dim));
  return tf.transpose(out, [...io].map((c) => order.indexOf(c)));
}

/**
 * Einsum. Two-operand contractions run as one batched GEMM (einsumAsMatMul); everything else by the same
 * transpose / broadcast-multiply / sum plan as the cpu kernel (backend_util's compute path), which materialises
 * the full outer product and is only fit for small tensors.
 */
export function einsum(equation: string, tensors: tf.Tensor[]): tf.Tensor {
  return tf.tidy(() => {
    const fast = einsumAsMatMul(equation, tensors);
    if (fast) return fast;
    const bu = tf.backend_util;
    const { allDims, summedDims, idDims } = bu.decodeEinsumEquation(equation, tensors.length);
    bu.checkEinsumDimSizes(allDims.length, idDims, tensors);
    const { path, steps } = bu.getEinsumComputePath(summedDims, idDims);
    let out: tf.Tensor | null = null;
    let remaining = allDims.length;
    for (let i = 0; i < steps.length; i++) {
      for (const term of steps[i]) {
        const { permutationIndices, expandDims } = bu.getEinsumPermutation(remaining, idDims[term]);
        let t = bu.isIdentityPermutation(permutationIndices) ? tensors[term] : tf.transpose(tensors[term], permutationIndices);
        const target = t.shape.slice();
        for (const d of expandDims) target.splice(d, 0, 1);
        if (target.length !== t.shape.length || target.some((v, k) => v !== t.shape[k])) t = tf.reshape(t, target);
        out = out === null ? t : tf.mul(t, out);
      }
      if (i < steps.length - 1) {
        if (path[i] >= 0) {
          out = tf.sum(out as tf.Tensor, path[i] - (allDims.length - remaining));
          remaining--;
        }
      }
    }
    return (out as tf.Tensor).clone();
  });
}

/**
 * The 1-D resize matrix A [outSize, inSize] of the CURRENT backend's ResizeBilinear / ResizeNearestNeighbor, read off
 * by resizing a one-hot basis, so align-corners / half-pixel / rounding rules match the forward kernel exactly.
 */
function resizeMatrix(method: 'bilinear' | 'nearest', inSize: number, outSize: number, alignCorners: boolean,
  halfPixelCenters: boolean): tf.Tensor2D {
  return tf.tidy(() => {
    const basis = tf.reshape(tf.eye(inSize), [inSize, inSize, 1, 1]) as tf.Tensor4D; // image k: column k of I
    const r = method === 'bilinear'
      ? tf.image.resizeBilinear(basis, [outSize, 1], alignCorners, halfPixelCenters)
      : tf.image.resizeNearestNeighbor(basis, [outSize, 1], alignCorners, halfPixelCenters); // [in, out, 1, 1]
    return tf.transpose(tf.reshape(r, [inSize, outSize])) as tf.Tensor2D;
  });
}

/**
 * ResizeBilinearGrad / ResizeNearestNeighborGrad as the adjoint of the separable forward map:
 * dx = A_h^T . dy . A_w (two batched GEMMs). Replaces the built-ins: tfjs 4.22's cpu ResizeBilinearGrad returns
 * [N, W, H, C] for non-square images, and the cpu and wasm bilinear gradients ignore halfPixelCenters (the PyTorch
 * align_corners=False convention), giving wrong gradients there.
 */
export function resizeGrad(
  method: 'bilinear' | 'nearest', images: tf.Tensor4D, dy: tf.Tensor4D, alignCorners: boolean, halfPixelCenters: boolean,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, H, W, c] = images.shape;
    const [, OH, OW] = dy.shape;
    const ah = resizeMatrix(method, H, OH, alignCorners, halfPixelCenters); // [OH, H]
    const aw = resizeMatrix(method, W, OW, alignCorners, halfPixelCenters); // [OW, W]
    // 2-D GEMMs with the big operand on the left (wasm packs the right operand on every call) and rank-4
    // transposes only (broadcast batch matMul and transposeA are slow paths on wasm).
    const rowsIn = tf.reshape(tf.transpose(dy, [0, 2, 3, 1]), [n * OW * c, OH]);
    const t1 = tf.reshape(tf.matMul(rowsIn, ah), [n, OW, c, H]); // rows resized back: [n, OW, c, H]
    const colsIn = tf.reshape(tf.transpose(t1, [0, 3, 2, 1]), [n * H * c, OW]);
    const t2 = tf.reshape(tf.matMul(colsIn, aw), [n, H, c, W]); // cols resized back: [n, H, c, W]
    return tf.transpose(t2, [0, 1, 3, 2]) as tf.Tensor4D;
  });
}

/**
 * MaxPoolGrad with the cpu backend's routing: each window sends its gradient to the FIRST position (row-major over
 * the window) that holds the maximum; padding never wins. The wasm kernel misroutes all-negative windows.
 */
export function maxPoolGrad(
  dy: tf.Tensor4D, input: tf.Tensor4D, output: tf.Tensor4D,
  filterSize: number | [number, number], strides: number | [number, number], pad: Pad,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computePool2DInfo(input.shape, filterSize, strides, 1, pad, dimRoundingMode);
    const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, outHeight: OH, outWidth: OW } = info;
    const { top, left } = info.padInfo;
    const [n, H, W, c] = input.shape;
    if (dy.shape[1] !== OH || dy.shape[2] !== OW) {
      throw new Error(`MaxPoolGrad: expected dy of shape [${n},${OH},${OW},${c}], got [${dy.shape}]`);
    }
    const Qh = OH + Math.floor((KH - 1) / sh);
    const Qw = OW + Math.floor((KW - 1) / sw);
    // Padding as -Infinity so that it never equals a window max.
    const inside = window2d(tf.onesLike(input), -top, Qh * sh, -left, Qw * sw);
    const xw = tf.where(tf.cast(inside, 'bool'), window2d(input, -top, Qh * sh, -left, Qw * sw), tf.fill(inside.shape, -Infinity));
    const ph = phaseSplit(xw, sh, sw);
    let taken = tf.zeros([n, OH, OW, c], 'bool');
    const acc: tf.Tensor4D[][] = ph.map((row) => row.map(() => tf.zeros([n, Qh, Qw, c]) as tf.Tensor4D));
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const qh = Math.floor(kh / sh);
        const qw = Math.floor(kw / sw);
        const a = kh % sh;
        const b = kw % sw;
        const v = tf.slice(ph[a][b], [0, qh, qw, 0], [n, OH, OW, c]);
        const hit = tf.logicalAnd(tf.equal(v, output), tf.logicalNot(taken));
        taken = tf.logicalOr(taken, hit);
        const g = tf.where(hit, dy, tf.zerosLike(dy));
        // Scatter the tap's gradient back into its phase at block offset (qh, qw).
        acc[a][b] = tf.add(acc[a][b], tf.pad(g, [[0, 0], [qh, Qh - OH - qh], [qw, Qw - OW - qw], [0, 0]]));
      }
    }
    return window2d(phaseMerge(acc), top, H, left, W);
  });
}

