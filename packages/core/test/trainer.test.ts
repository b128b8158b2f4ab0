import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { makeShapes } from '../src/data/shapes';
import { DataLoader, scanImageFolder } from '../src/data/dataset';
import { listCheckpoints, loadCheckpoint, readCheckpointState, saveCheckpoint } from '../src/checkpoint';
import { readSafetensors } from '../src/io/safetensors';
import { train, type StepRecord, type TrainerOptions } from '../src/trainer';
import { TinyGan } from './helpers/tiny-gan';

let tmp: string;
let data: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-trainer-'));
  data = path.join(tmp, 'data');
  await makeShapes({ out: data, n: 24, size: 8, seed: 0, classing: 'shape' });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const loader = (seed = 1, batchSize = 4) => new DataLoader(scanImageFolder(data), { batchSize, resolution: 8, seed });
const tiny = (o = {}) => new TinyGan({ resolution: 8, numClasses: 4, ch: 4, r1Interval: 2, ...o });

async function run(outDir: string, steps: number, extra: Partial<TrainerOptions> = {}, model = tiny(), batchSize = 4) {
  const recs: StepRecord[] = [];
  try {
    const r = await train(model, loader(1, batchSize), { outDir, steps, seed: 9, sampleEvery: 0, checkpointEvery: 2, onStep: (s) => recs.push(s), ...extra });
    return { r, recs };
  } finally {
    model.dispose();
  }
}

test('trains: finite losses, lazy R1 every 2nd step, JSONL log, samples, checkpoints kept to K, leak-free', async () => {
  const out = path.join(tmp, 'basic');
  const model = tiny();
  const before = tf.memory().numTensors;
  const recs: StepRecord[] = [];
  const r = await train(model, loader(), { outDir: out, steps: 5, sampleEvery: 2, checkpointEvery: 1, keepCheckpoints: 2, onStep: (s) => recs.push(s) });
  expect(tf.memory().numTensors).toBe(before);
  model.dispose();
  expect(r.step).toBe(5);
  expect(recs.map((x) => x.step)).toEqual([1, 2, 3, 4, 5]);
  for (const x of recs) {
    for (const v of Object.values(x.losses)) expect(Number.isFinite(v)).toBe(true);
    expect(x.imagesPerSec).toBeGreaterThan(0);
    expect(x.losses['D/loss']).toBeDefined();
    expect(x.losses['G/loss']).toBeDefined();
    expect('reg/r1/loss' in x.losses).toBe((x.step - 1) % 2 === 0);
  }
  const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(log.filter((l) => l.step !== undefined && l.event === undefined).length).toBe(5);
  expect(listCheckpoints(path.join(out, 'checkpoints')).map((c) => c.step)).toEqual([4, 5]);
  expect(fs.readdirSync(path.join(out, 'samples')).sort()).toEqual(['step-00000002.png', 'step-00000004.png', 'step-00000005.png']);
});

test('resume is exact: 3 steps + resume to 6 == 6 steps straight (losses, data order)', async () => {
  const a = await run(path.join(tmp, 'straight'), 6);
  const outB = path.join(tmp, 'split');
  await run(outB, 3, { checkpointEvery: 3 });
  const b = await run(outB, 6, { resume: true, checkpointEvery: 3 });
  expect(b.r.resumedFrom).toBe(3);
  expect(b.recs.map((x) => x.step)).toEqual([4, 5, 6]);
  for (let i = 0; i < 3; i++) {
    expect(b.recs[i].losses).toEqual(a.recs[i + 3].losses);
    expect(b.recs[i].firstIndices).toEqual(a.recs[i + 3].firstIndices);
    expect(b.recs[i].position).toBe(a.recs[i + 3].position);
  }
  // Resuming at the target does nothing; resuming from a run folder path works too.
  const c = await run(outB, 6, { resume: outB });
  expect(c.recs).toEqual([]);
});

test('resume refuses another model config / settings, and a missing path', async () => {
  const out = path.join(tmp, 'refuse');
  await run(out, 2);
  await expect(run(out, 8, { resume: true }, tiny({ ch: 6 }))).rejects.toThrow(/cannot resume from .*step-00000002: the model config differs \(ch: checkpoint 4, this run 6\)/);
  await expect(run(out, 8, { resume: true }, tiny(), 2)).rejects.toThrow(/training settings differ \(batchSize: checkpoint 4, this run 2\)/);
  await expect(run(out, 8, { resume: path.join(tmp, 'nope') })).rejects.toThrow(/resume path not found/);
  const other = Object.assign(tiny(), { modelId: 'other-gan' });
  await expect(run(out, 8, { resume: true }, other)).rejects.toThrow(/it holds a 'tiny-dcgan' checkpoint, this run trains 'other-gan'/);
});

test('non-finite guard: skips and counts NaN steps, stops after N in a row with a clear message', async () => {
  const a = await run(path.join(tmp, 'nan1'), 4, {}, tiny({ nanAt: [1, 2] }));
  expect(a.recs.map((x) => x.skipped)).toEqual([0, 1, 1, 0]);
  expect(a.r.nonFiniteTotal).toBe(2);
  expect(a.recs[3].nonFiniteInARow).toBe(0);
  await expect(run(path.join(tmp, 'nan2'), 10, { maxNonFinite: 3 }, tiny({ nanAt: 'always' })))
    .rejects.toThrow(/training stopped at step 3: 3 steps in a row had a non-finite \(NaN\/Inf\) loss or gradient/);
});

test('gradient accumulation: 2 micro-batches of 2 update once per step, data position advances by 4', async () => {
  const a = await run(path.join(tmp, 'acc'), 2, { accumulate: 2 }, tiny(), 2);
  expect(a.recs.map((x) => x.position)).toEqual([4, 8]);
  const st = readCheckpointState(path.join(tmp, 'acc', 'checkpoints', 'step-00000002'));
  expect(st.settings.accumulate).toBe(2);
  const opt = readSafetensors(path.join(tmp, 'acc', 'checkpoints', 'step-00000002', 'optimizer.safetensors')).tensors;
  expect(opt['D/000000/iter'].data[0]).toBe(2 + 1); // two D updates + one lazy R1 update (step 0)
  expect(opt['G/000000/iter'].data[0]).toBe(2);
});

test('checkpoints: round trip of variables and Adam state; disk full keeps the previous checkpoint; mismatches listed', async () => {
  const dir = path.join(tmp, 'ck');
  const v = { a: tf.variable(tf.tensor([1, 2, 3]), true, 'ck_a'), b: tf.variable(tf.tensor([[4]]), true, 'ck_b') };
  const opt = tf.train.adam(0.1);
  opt.applyGradients({ ck_a: tf.tensor([1, 1, 1]), ck_b: tf.tensor([[2]]) });
  const state = { modelId: 'm', config: { x: 1 }, step: 1, dataPosition: 7, seed: 0, settings: {}, counters: {} };
  await saveCheckpoint(dir, v, { D: opt }, state);
  const saved = { a: Array.from(v.a.dataSync()), b: Array.from(v.b.dataSync()) };
  // A full disk on the second checkpoint: clear message, nothing half-written, step 1 intact.
  let writes = 0;
  const full = (file: string, d: Uint8Array | string) => {
    if (++writes === 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    fs.writeFileSync(file, d);
  };
  await expect(saveCheckpoint(dir, v, { D: opt }, { ...state, step: 2 }, { writeFile: full }))
    .rejects.toThrow(/could not write checkpoint .*step-00000002: no space left on device \(ENOSPC\); the previous checkpoint .*step-00000001 \(step 1\) is intact/);
  expect(fs.readdirSync(dir)).toEqual(['step-00000001']);
  // Perturb, then load back.
  v.a.assign(tf.zeros([3]));
  const opt2 = tf.train.adam(0.1);
  const st = await loadCheckpoint(path.join(dir, 'step-00000001'), v, { D: opt2 });
  expect(st.dataPosition).toBe(7);
  expect(Array.from(v.a.dataSync())).toEqual(saved.a);
  const w1 = await opt.getWeights();
  const w2 = await opt2.getWeights();
  expect(w2.map((w) => w.name)).toEqual(w1.map((w) => w.name));
  for (let i = 0; i < w1.length; i++) expect(Array.from(w2[i].tensor.dataSync())).toEqual(Array.from(w1[i].tensor.dataSync()));
  // Same next update from both optimizers.
  opt.applyGradients({ ck_a: tf.tensor([1, -1, 1]), ck_b: tf.tensor([[1]]) });
  const after1 = Array.from(v.a.dataSync());
  await loadCheckpoint(path.join(dir, 'step-00000001'), v, { D: opt2 });
  opt2.applyGradients({ ck_a: tf.tensor([1, -1, 1]), ck_b: tf.tensor([[1]]) });
  expect(Array.from(v.a.dataSync())).toEqual(after1);
  const other = { a: v.a, c: tf.variable(tf.zeros([2]), true, 'ck_c') };
  await expect(loadCheckpoint(path.join(dir, 'step-00000001'), other, {})).rejects.toThrow(/does not match the model: missing: c; unexpected: b/);
  tf.dispose([v.a, v.b, other.c]);
  opt.dispose();
  opt2.dispose();
});

test('sample grid: labels / captions shorter than the seeds are cycled, one per seed', async () => {
  const model = tiny();
  const seen: { seeds: number[]; labels?: number[]; captions?: string[] }[] = [];
  const orig = model.sample.bind(model);
  model.sample = (seeds, cond) => {
    seen.push({ seeds, labels: cond.labels, captions: cond.captions });
    return orig(seeds, cond);
  };
  try {
    await train(model, loader(), { outDir: path.join(tmp, 'cycle'), steps: 1, sampleEvery: 1, checkpointEvery: 0,
      sampleSeeds: [5, 6, 7, 8, 9], sampleCond: { labels: [2, 3], captions: ['a', 'b'] } });
  } finally {
    model.dispose();
  }
  expect(seen.length).toBeGreaterThan(0);
  expect(seen[0]).toEqual({ seeds: [5, 6, 7, 8, 9], labels: [2, 3, 2, 3, 2], captions: ['a', 'b', 'a', 'b', 'a'] });
});
