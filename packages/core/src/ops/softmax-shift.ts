/**
 * The max that a written-out softmax subtracts before exp(), as a constant to differentiation.
 *
 * softmax(l − m) = softmax(l) for any m, so the exact gradient (of every order) through the shift is zero. tfjs would
 * still backpropagate through tf.max — a broadcast Equal per call, which tfjs-wasm runs 100x slower than a
 * subtraction ([256,64] vs [256,1]: 1.4 ms against 12 µs) — to add up terms that cancel.
 */
import * as tf from '@tensorflow/tfjs';

const shiftFns = new Map<number, (x: tf.Tensor) => tf.Tensor>();

/** max of `x` over `axis` with keepDims, with a zero gradient (see the module comment). */
export function softmaxShift<T extends tf.Tensor>(x: T, axis: number): T {
  const ax = axis < 0 ? x.rank + axis : axis;
  let f = shiftFns.get(ax);
  if (!f) {
    f = tf.customGrad(((t: tf.Tensor) => ({ value: tf.max(t, ax, true), gradFunc: () => tf.zerosLike(t) })) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
    shiftFns.set(ax, f);
  }
  return f(x) as T;
}
