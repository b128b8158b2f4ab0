/**
 * Training checkpoints: model variables (G, D, EMA, SN u, ...), optimizer state, step, data position and run
 * counters, written atomically and pruned to the last K.
 *
 * Layout: `<dir>/step-00001000/{model.safetensors, optimizer.safetensors, state.json}`. A checkpoint is written
 * into a hidden temp folder which is renamed into place only after every file is written and fsynced, so a crash
 * (even SIGKILL) or a full disk never leaves a half-written `step-*` folder, and older checkpoints are only
 * pruned after the new one is in place.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, serializeSafetensors } from './io/safetensors';

export const CHECKPOINT_FORMAT = 'ganzoo-checkpoint/1';

/** What `state.json` holds. */
export interface CheckpointState {
  format: string;
  modelId: string;
  config: Record<string, unknown>;
  /** Completed steps (G updates). */
  step: number;
  /** Data loader position (samples consumed). */
  dataPosition: number;
  /** Run seed (per-step randomness and data order derive from it). */
  seed: number;
  /** Trainer settings that must match on resume (batch size, accumulation, D steps per G...). */
  settings: Record<string, unknown>;
  /** Run counters (skipped non-finite updates etc.). */
  counters: Record<string, number>;
  savedAt: string;
}

/** Optimizers to save, by phase name. */
export type OptimizerMap = Record<string, tf.Optimizer>;

export interface SaveCheckpointOptions {
  /** Keep this many newest checkpoints (default 3; 0 = keep all). */
  keep?: number;
  /** File writer (tests inject failures here); default writes and fsyncs. */
  writeFile?: (file: string, data: Uint8Array | string) => void;
}

function defaultWrite(file: string, data: Uint8Array | string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export const stepDirName = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** Completed checkpoints in `dir`, oldest first. */
export function listCheckpoints(dir: string): { step: number; path: string }[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir)
    .map((name) => ({ name, m: /^step-(\d+)$/.exec(name) }))
    .filter((e) => e.m && fs.existsSync(path.join(dir, e.name, 'state.json')))
    .map((e) => ({ step: Number(e.m![1]), path: path.join(dir, e.name) }))
    .sort((a, b) => a.step - b.step);
}

function explainWriteError(e: unknown, where: string): Error {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOSPC' ? 'no space left on device (ENOSPC)'
    : err.code === 'EDQUOT' ? 'disk quota exceeded (EDQUOT)'
    : err.code === 'EACCES' || err.code === 'EPERM' ? `permission denied (${err.code})`
    : err.message;
  return new Error(`could not write checkpoint ${where}: ${why}`);
}

const ACC_FIELDS = ['accBeta1', 'accBeta2'];

async function optimizerTensors(optimizers: OptimizerMap): Promise<{ tensors: Record<string, tf.Tensor>; owned: tf.Tensor[] }> {
  const tensors: Record<string, tf.Tensor> = {};
  const owned: tf.Tensor[] = [];
  for (const [phase, opt] of Object.entries(optimizers)) {
    const weights = await opt.getWeights();
    weights.forEach((w, i) => {
      tensors[`${phase}/${String(i).padStart(6, '0')}/${w.name}`] = w.tensor;
      if (w.name === 'iter') owned.push(w.tensor); // getWeights makes a fresh iteration scalar
    });
    // Adam/Adamax keep running products beta^t; setWeights recomputes them as pow(beta, t + 1), which differs in
    // the last float bits from the product. Save them so a resumed run is bit-identical.
    for (const k of ACC_FIELDS) {
      const t = (opt as unknown as Record<string, unknown>)[k];
      if (t instanceof tf.Tensor) tensors[`${phase}#${k}`] = t;
    }
  }
  return { tensors, owned };
}

/**
 * Write a checkpoint for `state.step` into `dir` atomically, then prune to the newest `keep`.
 * Returns the checkpoint folder. On failure nothing is left behind and older checkpoints are untouched.
 */
export async function saveCheckpoint(
  dir: string,
  variables: Record<string, tf.Variable>,
  optimizers: OptimizerMap,
  state: Omit<CheckpointState, 'format' | 'savedAt'>,
  opts: SaveCheckpointOptions = {},
): Promise<string> {
  const write = opts.writeFile ?? defaultWrite;
  const final = path.join(dir, stepDirName(state.step));
  const tmp = path.join(dir, `.tmp-${stepDirName(state.step)}-${process.pid}`);
  const { tensors: optTensors, owned } = await optimizerTensors(optimizers);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp);
    const meta = { format: CHECKPOINT_FORMAT, modelId: state.modelId, step: String(state.step) };
    write(path.join(tmp, 'model.safetensors'), serializeSafetensors(variables, { metadata: meta }));
    write(path.join(tmp, 'optimizer.safetensors'), serializeSafetensors(optTensors, { metadata: meta }));
    const full: CheckpointState = { format: CHECKPOINT_FORMAT, ...state, savedAt: new Date().toISOString() };
    write(path.join(tmp, 'state.json'), JSON.stringify(full, null, 1) + '\n');
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
    try {
      const fd = fs.openSync(dir, 'r');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    } catch {
      /* directory fsync is best effort */
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const prev = listCheckpoints(dir).pop();
    const err = explainWriteError(e, `${final}`);
    err.message += prev ? `; the previous checkpoint ${prev.path} (step ${prev.step}) is intact` : '; no earlier checkpoint exists';
    throw err;
  } finally {
    tf.dispose(owned);
  }
  const keep = opts.keep ?? 3;
  if (keep > 0) {
    const all = listCheckpoints(dir);
    for (const old of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(old.path, { recursive: true, force: true });
  }
  // Temp folders of killed runs.
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('.tmp-step-') && !name.endsWith(`-${process.pid}`)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
  return final;
}

export function readCheckpointState(ckpt: string): CheckpointState {
  const file = path.join(ckpt, 'state.json');
  if (!fs.existsSync(file)) throw new Error(`not a ganzoo checkpoint: ${ckpt} has no state.json`);
  const s = JSON.parse(fs.readFileSync(file, 'utf8')) as CheckpointState;
  if (s.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: expected format ${CHECKPOINT_FORMAT}, found ${s.format}`);
  return s;
}

/** Stable JSON (sorted keys) for comparing configs. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Keys whose values differ between two flat-ish objects ("a: x -> y"). */
export function describeDiff(found: Record<string, unknown>, expected: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(found ?? {}), ...Object.keys(expected ?? {})])].sort();
  return keys
    .filter((k) => stableJson(found?.[k]) !== stableJson(expected?.[k]))
    .map((k) => `${k}: checkpoint ${stableJson(found?.[k])}, this run ${stableJson(expected?.[k])}`);
}

/**
 * Check that a checkpoint belongs to this model/config/settings; throw an Error naming the differences if not.
 */
export function assertCompatible(
  state: CheckpointState,
  modelId: string,
  config: Record<string, unknown>,
  settings: Record<string, unknown>,
  where: string,
): void {
  if (state.modelId !== modelId) {
    throw new Error(`cannot resume from ${where}: it holds a '${state.modelId}' checkpoint, this run trains '${modelId}'`);
  }
  const cfg = describeDiff(state.config, config);
  if (cfg.length) throw new Error(`cannot resume from ${where}: the model config differs (${cfg.join('; ')})`);
  const st = describeDiff(state.settings, settings);
  if (st.length) throw new Error(`cannot resume from ${where}: the training settings differ (${st.join('; ')})`);
}

/**
 * Load a checkpoint's variables and optimizer state into a live model/optimizers. Throws listing
 * missing / unexpected / mis-shaped variables. Returns the state.
 */
export async function loadCheckpoint(
  ckpt: string,
  variables: Record<string, tf.Variable>,
  optimizers: OptimizerMap,
): Promise<CheckpointState> {
  const state = readCheckpointState(ckpt);
  const model = readSafetensors(path.join(ckpt, 'model.safetensors')).tensors;
  const missing = Object.keys(variables).filter((k) => !(k in model));
  const unexpected = Object.keys(model).filter((k) => !(k in variables));
  const misShaped = Object.keys(variables)
    .filter((k) => k in model && stableJson(model[k].shape) !== stableJson(variables[k].shape))
    .map((k) => `${k} (checkpoint ${JSON.stringify(model[k].shape)}, model ${JSON.stringify(variables[k].shape)})`);
  if (missing.length || unexpected.length || misShaped.length) {
    const parts = [];
    if (missing.length) parts.push(`missing: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ` (+${missing.length - 20})` : ''}`);
    if (unexpected.length) parts.push(`unexpected: ${unexpected.slice(0, 20).join(', ')}${unexpected.length > 20 ? ` (+${unexpected.length - 20})` : ''}`);
    if (misShaped.length) parts.push(`mis-shaped: ${misShaped.slice(0, 20).join(', ')}`);
    throw new Error(`checkpoint ${ckpt} does not match the model: ${parts.join('; ')}`);
  }
  for (const [k, v] of Object.entries(variables)) {
    const r = model[k];
    tf.tidy(() => v.assign(tf.tensor(r.data, r.shape, r.dtype).cast(v.dtype)));
  }
  const opt = readSafetensors(path.join(ckpt, 'optimizer.safetensors')).tensors;
  for (const [phase, o] of Object.entries(optimizers)) {
    const keys = Object.keys(opt).filter((k) => k.startsWith(`${phase}/`)).sort();
    if (!keys.length) throw new Error(`checkpoint ${ckpt} has no optimizer state for '${phase}'`);
    const named = keys.map((k) => {
      const r = opt[k];
      return { name: k.split('/').slice(2).join('/'), tensor: tf.tensor(r.data, r.shape, r.dtype) };
    });
    if (named[0].name !== 'iter') throw new Error(`checkpoint ${ckpt}: optimizer '${phase}' state does not start with 'iter'`);
    // Adam.setWeights makes variables from the tensors; dispose the originals afterwards.
    const old = await o.getWeights().catch(() => [] as { name: string; tensor: tf.Tensor }[]);
    tf.dispose(old.filter((w) => w.name === 'iter').map((w) => w.tensor));
    const prevVars = old.filter((w) => w.name !== 'iter').map((w) => w.tensor);
    await o.setWeights(named);
    tf.dispose(named.map((n) => n.tensor));
    tf.dispose(prevVars);
    for (const k of ACC_FIELDS) {
      const r = opt[`${phase}#${k}`];
      const v = (o as unknown as Record<string, unknown>)[k];
      if (r && v instanceof tf.Variable) tf.tidy(() => v.assign(tf.tensor(r.data, r.shape, r.dtype)));
    }
  }
  return state;
}
