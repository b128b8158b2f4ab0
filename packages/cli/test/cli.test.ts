import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { EXIT } from '../src/index';
import { runCli } from './run-cli';
import { shippedDir } from '../src/adapters/biggan-deep';

let tmp: string;
let data: string;

const run = (...args: string[]) => runCli('cpu', ...args);

beforeAll(async () => {
  await tf.setBackend('cpu');
  tf.randomNormal([1]).dispose(); // tfjs prints its one-time Node notice here, not inside a captured command
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-cli-'));
  data = path.join(tmp, 'shapes');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('help and usage errors have the documented exit codes', async () => {
  const h = await run('--help');
  expect(h.code).toBe(EXIT.OK);
  expect(h.out).toMatch(/finetune/);
  expect(h.out).toMatch(/Exit codes: 0 ok, 1 failure/);
  for (const c of ['generate', 'finetune', 'convert', 'download', 'info', 'bench', 'make-shapes', 'demo', 'eval-shapes']) {
    const r = await run(c, '--help');
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toMatch(/Usage: ganzoo/);
  }
  expect((await run('frobnicate')).code).toBe(EXIT.USAGE);
  const missing = await run('finetune', '--data', 'x');
  expect(missing.code).toBe(EXIT.USAGE);
  expect(missing.err).toMatch(/required option '--model <id>' not specified/);
  const badNum = await run('make-shapes', '--out', path.join(tmp, 'x'), '--n', 'ten');
  expect(badNum.code).toBe(EXIT.USAGE);
  expect(badNum.err).toMatch(/--n must be an integer >= 1, got 'ten'/);
});

test('make-shapes, then finetune (dcgan) with checkpoints, resume, generate, info, eval-shapes', async () => {
  const m = await run('make-shapes', '--out', data, '--n', '32', '--size', '16', '--classes', 'shape');
  expect(m.code).toBe(EXIT.OK);
  expect(m.out.trim()).toBe(path.resolve(data));
  expect(fs.existsSync(path.join(data, 'captions.jsonl'))).toBe(true);

  const runDir = path.join(tmp, 'run');
  const f = await run('finetune', '--model', 'dcgan', '--data', data, '--out', runDir, '--steps', '2', '--batch', '4', '--checkpoint-every', '1', '--sample-every', '2');
  expect(f.err).not.toMatch(/error/);
  expect(f.code).toBe(EXIT.OK);
  expect(f.out.trim()).toBe(path.join(runDir, 'checkpoints', 'step-00000002'));
  expect(fs.existsSync(path.join(runDir, 'final', 'generator.safetensors'))).toBe(true);
  expect(fs.existsSync(path.join(runDir, 'samples', 'step-00000002.png'))).toBe(true);

  const bad = await run('finetune', '--model', 'dcgan', '--data', data, '--out', runDir, '--steps', '3', '--batch', '2', '--resume');
  expect(bad.code).toBe(EXIT.USAGE);
  expect(bad.err).toMatch(/cannot resume from .*training settings differ \(batchSize: checkpoint 4, this run 2\)/);
  const res = await run('finetune', '--model', 'dcgan', '--data', data, '--out', runDir, '--steps', '3', '--batch', '4', '--resume');
  expect(res.code).toBe(EXIT.OK);
  expect(res.err).toMatch(/done at step 3 \(resumed from 2\)/);

  const png = path.join(tmp, 'grid.png');
  const g = await run('generate', '--model', runDir, '--classes', 'star,circle', '--seeds', '0-2', '--out', png);
  expect(g.code).toBe(EXIT.OK);
  expect(fs.readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  const unknown = await run('generate', '--model', path.join(runDir, 'final'), '--classes', 'hexagon', '--out', png);
  expect(unknown.code).toBe(EXIT.USAGE);
  expect(unknown.err).toMatch(/unknown class 'hexagon': expected an id 0..3 or one of circle, square, triangle, star/);

  const i1 = await run('info', path.join(runDir, 'checkpoints', 'step-00000003'));
  expect(i1.code).toBe(EXIT.OK);
  expect(i1.out).toMatch(/checkpoint: .*\n {2}model dcgan, step 3, data position 12/);
  const i2 = await run('info', '--json', runDir);
  expect(JSON.parse(i2.out).checkpoints.map((c: { step: number }) => c.step)).toEqual([1, 2, 3]);
  const i3 = await run('info', path.join(runDir, 'final', 'generator.safetensors'));
  expect(i3.out).toMatch(/safetensors: .*\n {2}\d+ tensors, [\d,]+ parameters/);
  const i4 = await run('info', data);
  expect(i4.out).toMatch(/dataset: .*\n {2}32 images, 4 classes, captions: true/);

  const ev = await run('eval-shapes', '--model', path.join(runDir, 'final'), '--n', '8', '--json');
  expect(ev.code).toBe(EXIT.OK);
  const r = JSON.parse(ev.out);
  expect(r.n).toBe(8);
  expect(r.accuracy).toBeGreaterThanOrEqual(0);
  expect(Object.keys(r.perClass)).toEqual(['circle', 'square', 'triangle', 'star']);
  expect(Object.keys(r.variety)).toEqual(['circle', 'square', 'triangle', 'star']);
  expect(Object.values(r.colours as Record<string, Record<string, number>>).map((c) => Object.values(c).reduce((a, b) => a + b, 0))).toEqual([2, 2, 2, 2]);
});

test('bad input: missing / empty data, unknown or unavailable models, missing files', async () => {
  const out = path.join(tmp, 'never');
  const miss = await run('finetune', '--model', 'dcgan', '--data', path.join(tmp, 'nope'), '--out', out);
  expect(miss.code).toBe(EXIT.USAGE);
  expect(miss.err).toMatch(/data folder not found/);
  fs.mkdirSync(path.join(tmp, 'empty'));
  const empty = await run('finetune', '--model', 'dcgan', '--data', path.join(tmp, 'empty'), '--out', out);
  expect(empty.code).toBe(EXIT.USAGE);
  expect(empty.err).toMatch(/no images in/);
  const unk = await run('generate', '--model', 'no-such-model');
  expect(unk.code).toBe(EXIT.USAGE);
  expect(unk.err).toMatch(/unknown model 'no-such-model': expected one of biggan-deep, stylegan-t/);
  const conv = await run('convert', '--model', 'biggan-deep', '--from', path.join(tmp, 'nope.pth'), '--out', out);
  expect(conv.code).toBe(EXIT.USAGE);
  expect(conv.err).toMatch(/checkpoint not found/);
  const info = await run('info', path.join(tmp, 'nope'));
  expect(info.code).toBe(EXIT.USAGE);
  const dl = await run('download', 'no-such-id');
  expect(dl.code).toBe(EXIT.USAGE);
  expect(dl.err).toMatch(/download no-such-id failed: unknown weights id/);
});

test('demo: the shipped default when present, else a clear "not available" (exit 3)', async () => {
  const png = path.join(tmp, 'demo.png');
  const r = await run('demo', '--out', png, '--seeds', '0-1');
  if (fs.existsSync(path.join(shippedDir(), 'config.json'))) {
    expect(r.code).toBe(EXIT.OK);
    expect(r.out.trim()).toBe(png);
    expect(fs.existsSync(png)).toBe(true);
  } else {
    expect(r.code).toBe(EXIT.UNAVAILABLE);
    expect(r.err).toMatch(/shipped default 'biggan-deep-shapes' is not in this build/);
  }
});

test('bench (dcgan tiny) reports timings and no leaked tensors', async () => {
  const r = await run('bench', '--model', 'dcgan', '--steps', '1', '--batch', '2');
  expect(r.code).toBe(EXIT.OK);
  const j = JSON.parse(r.out);
  expect(j.trainStepS).toBeGreaterThan(0);
  expect(j.leakedTensors).toBe(0);
});

test('biggan-deep through the CLI: 1 finetune step (shapes-32), export, generate and eval from the run and from final/', async () => {
  const d32 = path.join(tmp, 'shapes32');
  expect((await run('make-shapes', '--out', d32, '--n', '8', '--size', '32', '--classes', 'shape')).code).toBe(EXIT.OK);
  const runDir = path.join(tmp, 'bg');
  const f = await run('finetune', '--model', 'biggan-deep', '--preset', 'shapes-32', '--data', d32, '--out', runDir,
    '--steps', '1', '--batch', '2', '--d-steps', '1', '--sample-every', '0', '--checkpoint-every', '1');
  expect(f.err).not.toMatch(/error/);
  expect(f.code).toBe(EXIT.OK);
  const final = path.join(runDir, 'final');
  expect(JSON.parse(fs.readFileSync(path.join(final, 'classes.json'), 'utf8'))).toEqual(['circle', 'square', 'triangle', 'star']);
  for (const ref of [runDir, final]) {
    const png = path.join(tmp, 'bg.png');
    const g = await run('generate', '--model', ref, '--classes', 'star', '--seeds', '0-1', '--truncation', '1', '--out', png);
    expect(g.err).not.toMatch(/error/);
    expect(g.code).toBe(EXIT.OK);
    const ev = await run('eval-shapes', '--model', ref, '--n', '4', '--json');
    expect(ev.code).toBe(EXIT.OK);
    expect(Object.keys(JSON.parse(ev.out).perClass)).toEqual(['circle', 'square', 'triangle', 'star']);
  }
}, 600000);
