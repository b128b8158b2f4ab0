/** Named parameter maps: official state_dict names -> tf.Variables (values in our NHWC / [in, out] layouts). */
import * as tf from '@tensorflow/tfjs';
import { tfSeed } from '@ganzoo/core';

export type ParamMap = Record<string, tf.Variable>;

let counter = 0;

/** A variable with a process-unique tfjs name (the map key stays the official name). */
export function makeVariable(scope: string, name: string, value: tf.Tensor, trainable = true): tf.Variable {
  counter += 1;
  return tf.variable(value, trainable, `${scope}_${counter}/${name}`, 'float32');
}

/** Seeded initialisers: each call advances an internal counter so every tensor gets its own stream. */
export class Init {
  private k = 0;
  constructor(private readonly seed: number) {}
  private next(): number {
    this.k += 1;
    return (Math.imul(this.seed >>> 0, 0x9e3779b1) + this.k * 0x85ebca6b) >>> 0;
  }
  randn(shape: number[], std = 1): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.randomNormal(shape, 0, 1, 'float32', tfSeed(this.next())), std));
  }
  uniform(shape: number[], lo: number, hi: number): tf.Tensor {
    return tf.randomUniform(shape, lo, hi, 'float32', tfSeed(this.next()));
  }
}

export function disposeParams(p: ParamMap): void {
  for (const v of Object.values(p)) v.dispose();
}

/** Variables for converted tensors (takes ownership of the tensors). */
export function paramsFromTensors(scope: string, tensors: Record<string, tf.Tensor>, isBuffer: (name: string) => boolean): ParamMap {
  const p: ParamMap = {};
  for (const [name, t] of Object.entries(tensors)) {
    p[name] = makeVariable(scope, name, t, !isBuffer(name));
    t.dispose();
  }
  return p;
}
