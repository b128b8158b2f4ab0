/**
 * The GAN trainer: one loop that every ganzoo model plugs into.
 *
 * ## How a model plugs in: implement `GanTrainable`
 *
 * The model owns its networks, losses, EMA and any non-trainable state (spectral-norm `u`, BN running stats).
 * The trainer owns everything around them: the data, optimizers (Adam, built from the model's `trainDefaults`
 * merged with user overrides), gradient accumulation, lazy-regularization scheduling, NaN/Inf guards, logging,
 * sample grids and checkpoints. Concretely the model provides:
 *
 *  - `modelId` and a JSON-serialisable `config`: written into every checkpoint; a resume with a different
 *    id/config is refused.
 *  - `dVariables()` / `gVariables()`: the trainable variables each optimizer updates (fixed order, unique names).
 *  - `dLoss(batch, ctx)` / `gLoss(batch, ctx)`: forward pass + loss, returning `{ loss, logs? }` as scalars.
 *    The trainer calls them inside `tf.variableGrads`, so they must not dispose what they return. Randomness
 *    (latents, fake labels) must come from `ctx.seed` (e.g. `tf.randomNormal(shape, 0, 1, 'float32', ctx.seed)` or
 *    core's `Rng`): the seed is a pure function of (run seed, step, phase, sub-step, micro-batch), which is what
 *    makes `--resume` bit-exact without saving RNG state. Non-trainable state (SN power iteration `u`) may be
 *    updated by `assign` inside the loss, or in `beforeUpdate`.
 *  - `regularizers()` (optional): lazy regularizers (R1, path length, ...). Each has a phase, an interval k and a
 *    loss; every k-th step the trainer runs it as an extra update whose loss is multiplied by k (StyleGAN2 lazy
 *    regularization, Karras et al. 2020, sec. B).
 *  - `adjustGradients(phase, grads)` (optional): e.g. add BigGAN's orthogonal-regularisation gradient.
 *  - `emaUpdate(step)`: update the EMA copy of G after each G update (the model decides decay and start step).
 *  - `variables()`: EVERY variable to checkpoint, by stable name: G, D, EMA, SN `u`, BN statistics.
 *  - `sample(seeds, cond)`: images in [-1, 1] NHWC from the EMA generator (or G if it has no EMA), one per seed,
 *    for the fixed-seed sample grids; `cond.labels` (class ids) or `cond.captions` (prompts), one per seed.
 *  - `trainDefaults`: the model's recipe: D steps per G step, Adam settings per network, loss weights, batch size.
 *  - `dispose()`.
 *
 * Batches are `{ images, labels?, captions? }`: images float32 NHWC in [-1, 1]; labels int32 [B] class ids for
 * class-conditional models; captions for text-conditional ones. The G step receives the batch of the last D step
 * (its labels/captions are the conditioning distribution; G losses usually ignore the images).
 *
 * Vocabulary: a *step* is one G update preceded by `dStepsPerG` D updates. An *update* is one optimizer
 * application, averaged over `accumulate` micro-batches of `batchSize` each.
 */
import * as tf from '@tensorflow/tfjs';

/** One batch as the model sees it. */
export interface TrainBatch {
  /** float32 [B, H, W, 3] in [-1, 1]. */
  images: tf.Tensor4D;
  /** int32 [B] class ids (class-conditional models). */
  labels?: tf.Tensor1D;
  /** B captions (text-conditional models). */
  captions?: string[];
}

export type Phase = 'D' | 'G';

/** What the trainer tells a loss function about the current call. */
export interface StepContext {
  /** 0-based step index (number of completed G updates before this one). */
  step: number;
  phase: Phase;
  /** Which D update within the step (0 .. dStepsPerG-1); 0 for G. */
  sub: number;
  /** Micro-batch index within the update (0 .. micros-1). */
  micro: number;
  micros: number;
  /** uint32 seed, a pure function of (run seed, step, phase, sub, micro, regularizer): use it for all randomness. */
  seed: number;
  /** Loss weights: the model's `trainDefaults.lossWeights` merged with user overrides. */
  weights: Record<string, number>;
}

/** A loss as returned by a model: `loss` is minimised; `logs` are extra scalars for the log (e.g. D(real)). */
export interface LossResult {
  loss: tf.Scalar;
  logs?: Record<string, tf.Scalar>;
}

/** A lazily applied regularizer (run every `interval` steps, loss scaled by `interval`). */
export interface Regularizer {
  /** Name used in logs and in `TrainerOptions.regIntervals` overrides, e.g. 'r1'. */
  name: string;
  /** Which network's optimizer applies it. */
  phase: Phase;
  /** Default interval in steps (1 = every step, no lazy scaling). */
  interval: number;
  loss(batch: TrainBatch, ctx: StepContext): LossResult;
}

/** Adam settings of one network. */
export interface AdamSettings {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon?: number;
}

/** A model's training recipe; every field can be overridden by `TrainerOptions`. */
export interface TrainDefaults {
  dStepsPerG: number;
  batchSize: number;
  G: AdamSettings;
  D: AdamSettings;
  /** Named loss weights the model's losses read from `ctx.weights`. */
  lossWeights?: Record<string, number>;
}

/** The plug-in interface every trainable ganzoo model implements. */
export interface GanTrainable {
  /** Model family id, e.g. 'biggan-deep'. */
  readonly modelId: string;
  /** JSON-serialisable architecture config (checkpoints refuse to resume across different configs). */
  readonly config: Record<string, unknown>;
  readonly trainDefaults: TrainDefaults;
  /** Image side length the model trains on. */
  readonly resolution: number;
  /** 'class' needs batch labels in [0, numClasses); 'text' needs captions. */
  readonly conditioning: 'class' | 'text' | 'none';
  readonly numClasses?: number;

  dVariables(): tf.Variable[];
  gVariables(): tf.Variable[];
  dLoss(batch: TrainBatch, ctx: StepContext): LossResult;
  gLoss(batch: TrainBatch, ctx: StepContext): LossResult;
  regularizers?(): Regularizer[];
  /** Optional hook before each update's first micro-batch (e.g. SN power iteration outside the tape). */
  beforeUpdate?(phase: Phase, ctx: StepContext): void;
  /**
   * Optional: adjust the (accumulated, averaged) gradients of an update before the optimizer applies them, e.g.
   * BigGAN's orthogonal regularisation added directly to G's gradients. Return a map with the same keys; the
   * trainer disposes both maps.
   */
  adjustGradients?(phase: Phase, grads: Record<string, tf.Tensor>, ctx: StepContext): Record<string, tf.Tensor>;
  /** Update EMA weights after G update number `step` (0-based). */
  emaUpdate(step: number): void;
  /** Every variable to checkpoint (G, D, EMA, SN u, BN stats), keyed by a stable name. */
  variables(): Record<string, tf.Variable>;
  /** [N, H, W, 3] in [-1, 1] from the EMA generator, one image per seed. */
  sample(seeds: number[], cond: { labels?: number[]; captions?: string[]; truncation?: number }): tf.Tensor4D;
  dispose(): void;
}
