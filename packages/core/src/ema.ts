/**
 * Exponential moving average of model parameters (Yazıcı et al. 2019; BigGAN's G_ema), over named variables.
 */
import * as tf from '@tensorflow/tfjs';

export interface EmaOptions {
  /** Decay β in θ_ema ← β·θ_ema + (1 − β)·θ. BigGAN: 0.9999. */
  decay?: number;
  /** Before this step the average is pinned to the source (decay 0), as ajbrock's `--ema_start`. */
  startStep?: number;
  /** Names to average; default all. Others (e.g. integer buffers) are copied. */
  filter?: (name: string) => boolean;
}

/**
 * Holds a shadow copy of a flat map of named variables. `update(step)` blends the source into the shadow:
 * θ_ema ← β·θ_ema + (1 − β)·θ (ajbrock utils.ema.update; β = 0 before `startStep`).
 */
export class EMA {
  readonly shadow: Record<string, tf.Variable> = {};
  readonly decay: number;
  readonly startStep: number;
  private readonly filter: (name: string) => boolean;

  constructor(readonly source: Record<string, tf.Variable>, opts: EmaOptions = {}) {
    this.decay = opts.decay ?? 0.9999;
    this.startStep = opts.startStep ?? 0;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new Error(`EMA: decay must be in [0, 1], found ${this.decay}`);
    this.filter = opts.filter ?? (() => true);
    for (const [name, v] of Object.entries(source)) {
      const copy = v.clone();
      this.shadow[name] = tf.variable(copy, false, undefined, v.dtype);
      copy.dispose(); // the variable keeps its own reference to the data
    }
  }

  /** One EMA step; `step` (the training iteration) selects decay 0 before `startStep`. */
  update(step?: number): void {
    const decay = step !== undefined && step < this.startStep ? 0 : this.decay;
    tf.tidy(() => {
      for (const [name, v] of Object.entries(this.source)) {
        const s = this.shadow[name];
        if (!s) throw new Error(`EMA: source variable '${name}' has no shadow (was it added after the EMA was made?)`);
        if (decay === 0 || !this.filter(name) || v.dtype !== 'float32') s.assign(v);
        else s.assign(tf.add(tf.mul(s, decay), tf.mul(v, 1 - decay)));
      }
    });
  }

  /** Copy the shadow values into `target` variables of the same names (e.g. an inference copy of G). */
  copyTo(target: Record<string, tf.Variable>): void {
    for (const [name, v] of Object.entries(target)) {
      const s = this.shadow[name];
      if (!s) throw new Error(`EMA: no shadow for '${name}'`);
      v.assign(s);
    }
  }

  /** Replace the shadow values (e.g. from a checkpoint); every name must exist with the same shape. */
  load(values: Record<string, tf.Tensor>): void {
    for (const [name, s] of Object.entries(this.shadow)) {
      const t = values[name];
      if (!t) throw new Error(`EMA.load: missing '${name}'`);
      if (t.shape.join(',') !== s.shape.join(',')) throw new Error(`EMA.load: '${name}' has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(s.shape)}`);
      s.assign(t);
    }
  }

  dispose(): void {
    for (const s of Object.values(this.shadow)) s.dispose();
  }
}
