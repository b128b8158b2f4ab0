/**
 * The text-to-image families through the CLI, end to end on the tiny presets: make-shapes -> finetune (2 steps,
 * checkpoints, samples, final/) -> generate from the run and from final/ with prompts -> resume to step 3; and data
 * without captions refused with exit code 2. Commands run in-process through `main()`, as cli.test.ts does.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { EXIT } from '../src/index';
import { runCli } from './run-cli';

const BACKEND = process.env.GANZOO_TEST_BACKEND ?? 'wasm';
const TINY_CLIP = path.resolve(__dirname, '../../encoders/test/fixtures/tiny-clip');
let tmp: string;
let data: string;

const run = (...args: string[]) => runCli(BACKEND, ...args);

/** Size of a `generate --no-labels` grid of n x cols tiles of side `res` (grid.ts: tiles upscaled to >= 64 px, 4 px gaps). */
function gridSize(res: number, rows: number, cols: number) {
  const tile = res * Math.max(1, Math.ceil(64 / res));
  return { width: cols * tile + (cols + 1) * 4, height: rows * tile + (rows + 1) * 4 };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-text-'));
  data = path.join(tmp, 'shapes');
  // both tiny presets are 32 px
  const m = await run('make-shapes', '--out', data, '--n', '16', '--size', '32');
  expect(m.code).toBe(EXIT.OK);
  tf.randomNormal([1]).dispose(); // tfjs prints its one-time notices here, not inside a captured command
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.each([
  ['stylegan-t', 32],
  ['gigagan', 32],
  ['galip', 28], // the tiny CLIP's input size: the 32 px shapes are resized down
])('%s through the CLI (tiny preset)', (model, res) => {
  const runDir = () => path.join(tmp, `run-${model}`);

  test('finetune 2 steps with checkpoints and samples, generate from the run and final/, resume to step 3; no leaks', async () => {
    const before = tf.memory().numTensors;
    const f = await run('finetune', '--model', model, '--preset', 'tiny', '--data', data, '--out', runDir(), '--steps', '2', '--batch', '2',
      '--checkpoint-every', '1', '--sample-every', '2');
    expect(f.err).not.toMatch(/error/);
    expect(f.code).toBe(EXIT.OK);
    expect(f.err).toMatch(/warning: no --clip given: captions are encoded by a seeded random CLIP/);
    expect(f.out.trim()).toBe(path.join(runDir(), 'checkpoints', 'step-00000002'));
    expect(fs.existsSync(path.join(runDir(), 'samples', 'step-00000002.png'))).toBe(true);
    const state = JSON.parse(fs.readFileSync(path.join(runDir(), 'checkpoints', 'step-00000002', 'state.json'), 'utf8'));
    expect(state.modelId).toBe(model);
    expect(fs.existsSync(path.join(runDir(), 'final', 'config.json'))).toBe(true);
    expect(tf.memory().numTensors).toBe(before);

    const pixels: Buffer[] = [];
    for (const ref of [runDir(), path.join(runDir(), 'final')]) {
      const png = path.join(tmp, `${model}-${pixels.length}.png`);
      // seed 0 included: the run's checkpoint and final/ must give the same grid, so seed 0 has to be reproducible
      const g = await run('generate', '--model', ref, '--prompts', 'a red star|a small blue circle', '--seeds', '0-1', '--no-labels', '--out', png);
      expect(g.err).not.toMatch(/error/);
      expect(g.code).toBe(EXIT.OK);
      expect(g.out.trim()).toBe(png);
      const meta = await sharp(png).metadata();
      expect(meta.format).toBe('png');
      expect({ width: meta.width, height: meta.height }).toEqual(gridSize(res, 2, 2));
      // the tiles are images, not a blank (NaN / constant) canvas
      const tile = await sharp(png).extract({ left: 4, top: 4, width: 64, height: 64 }).stats();
      expect(Math.max(...tile.channels.map((c) => c.stdev))).toBeGreaterThan(1);
      pixels.push(await sharp(png).raw().toBuffer());
      expect(tf.memory().numTensors).toBe(before);
    }
    // the run's newest checkpoint and final/ hold the same EMA generator (final/ is exported at the last step)
    let maxDiff = 0;
    for (let i = 0; i < pixels[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(pixels[0][i] - pixels[1][i]));
    expect(maxDiff).toBeLessThanOrEqual(1);

    const noPrompt = await run('generate', '--model', runDir(), '--out', path.join(tmp, 'x.png'));
    expect(noPrompt.code).toBe(EXIT.USAGE);
    expect(noPrompt.err).toMatch(/text-conditional: give --prompts/);

    const r = await run('finetune', '--model', model, '--preset', 'tiny', '--data', data, '--out', runDir(), '--steps', '3', '--batch', '2',
      '--checkpoint-every', '1', '--sample-every', '0', '--resume');
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(EXIT.OK);
    expect(r.err).toMatch(/done at step 3 \(resumed from 2\)/);
    expect(r.out.trim()).toBe(path.join(runDir(), 'checkpoints', 'step-00000003'));
    expect(tf.memory().numTensors).toBe(before);
  }, 120000);

  // a real CLIP folder (random weights, real tokenizer files) through --clip; the run records it for generate.
  // Not GALIP: its tiny preset taps CLIP vision blocks 1-3, and the test CLIP has 2.
  const clipTest = model === 'galip' ? test.skip : fs.existsSync(path.join(TINY_CLIP, 'tokenizer.json')) ? test : test.skip;
  clipTest('--clip <folder>: finetune records the CLIP, generate from final/ needs no --clip; convert, then generate with --clip', async () => {
    const dir = path.join(tmp, `clip-${model}`);
    const f = await run('finetune', '--model', model, '--data', data, '--out', dir, '--steps', '1', '--batch', '2', '--clip', TINY_CLIP,
      '--sample-every', '0', '--checkpoint-every', '0');
    expect(f.err).not.toMatch(/error/);
    expect(f.code).toBe(EXIT.OK);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'final', 'text_encoder.json'), 'utf8'))).toEqual({ kind: 'clip', ref: TINY_CLIP });
    const png = path.join(tmp, `clip-${model}.png`);
    const g = await run('generate', '--model', path.join(dir, 'final'), '--prompts', 'a green square', '--seeds', '3', '--no-labels', '--out', png);
    expect(g.err).not.toMatch(/error/);
    expect(g.code).toBe(EXIT.OK);
    expect(await sharp(png).metadata()).toMatchObject(gridSize(res, 1, 1));
    const conv = path.join(tmp, `conv-${model}`);
    const c = await run('convert', '--model', model, '--from', path.join(dir, 'final'), '--out', conv);
    expect(c.err).not.toMatch(/error/);
    expect(c.code).toBe(EXIT.OK);
    const noClip = await run('generate', '--model', conv, '--prompts', 'a green square', '--seeds', '3', '--out', png);
    expect(noClip.code).toBe(EXIT.FAILURE);
    expect(noClip.err).toMatch(/does not record which CLIP encodes its prompts: pass --clip/);
    const withClip = await run('generate', '--model', conv, '--clip', TINY_CLIP, '--prompts', 'a green square', '--seeds', '3', '--no-labels', '--out', png);
    expect(withClip.err).not.toMatch(/error/);
    expect(withClip.code).toBe(EXIT.OK);
  }, 120000);

  test('bench (tiny) reports timings and no leaked tensors', async () => {
    const r = await run('bench', '--model', model, '--steps', '1', '--batch', '2');
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(EXIT.OK);
    const j = JSON.parse(r.out);
    expect(j.resolution).toBe(res);
    expect(j.trainStepS).toBeGreaterThan(0);
    expect(j.leakedTensors).toBe(0);
  });

  test('data without captions: exit code 2 naming the captions', async () => {
    const bare = path.join(tmp, `bare-${model}`);
    fs.cpSync(data, bare, { recursive: true });
    fs.rmSync(path.join(bare, 'captions.jsonl'));
    const r = await run('finetune', '--model', model, '--preset', 'tiny', '--data', bare, '--out', path.join(tmp, `never-${model}`), '--steps', '1', '--batch', '2');
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.err).toMatch(/text-conditional but 16 of 16 images have no caption .*captions\.jsonl/);
  });
});

test('resolution mismatches (data smaller than the model, preset vs weights) and an unknown preset are clear errors', async () => {
  const small = path.join(tmp, 'shapes16');
  expect((await run('make-shapes', '--out', small, '--n', '4', '--size', '16')).code).toBe(EXIT.OK);
  const d = await run('finetune', '--model', 'stylegan-t', '--data', small, '--out', path.join(tmp, 'never'), '--steps', '1', '--batch', '2');
  expect(d.code).toBe(EXIT.FAILURE);
  expect(d.err).toMatch(/every image in .* failed to load \(last: .*too small: 16x16, the model needs at least 32x32\)/);
  const r = await run('finetune', '--model', 'gigagan', '--preset', 'text-64', '--weights', path.join(tmp, 'run-gigagan', 'final'), '--data', data,
    '--out', path.join(tmp, 'never'), '--steps', '1');
  expect(r.code).toBe(EXIT.FAILURE);
  expect(r.err).toMatch(/GigaGAN: preset 'text-64' is 64x64 but the weights .* are 32x32/);
  // StyleGAN-T's final/ holds G only: fine-tuning from it starts fresh discriminator heads
  const w = await run('finetune', '--model', 'stylegan-t', '--weights', path.join(tmp, 'run-stylegan-t', 'final'), '--data', data,
    '--out', path.join(tmp, 'from-final'), '--steps', '1', '--batch', '2', '--sample-every', '0', '--checkpoint-every', '0');
  expect(w.err).not.toMatch(/error/);
  expect(w.code).toBe(EXIT.OK);
  const u = await run('finetune', '--model', 'stylegan-t', '--preset', 'huge', '--data', data, '--out', path.join(tmp, 'never'), '--steps', '1');
  expect(u.code).toBe(EXIT.FAILURE);
  expect(u.err).toMatch(/unknown preset 'huge' \(expected one of tiny, lite, full\)/);
});
