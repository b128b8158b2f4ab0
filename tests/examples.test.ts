/**
 * The fine-tuning examples (examples/finetune/*.ts) run 2 steps each on a small procedural shapes set, offline (the
 * text models get the encoders' tiny CLIP fixture), and leave finite losses, a checkpoint and an exported generator that loads back with the package's loader.
 * They type-check against the built packages' .d.ts (`npx tsc -p examples`; npm test builds first).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { makeShapes } from '@ganzoo/core';
import { BigGANDeep } from '@ganzoo/biggan-deep';
import { CLIP } from '@ganzoo/encoders';
import { GALIP } from '@ganzoo/galip';
import { GigaGAN, GigaGANClip } from '@ganzoo/gigagan';
import { StyleGANT } from '@ganzoo/stylegan-t';

const tinyClip = path.resolve(__dirname, '../packages/encoders/test/fixtures/tiny-clip');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-examples-'));
const data = path.join(work, 'shapes');

beforeAll(async () => {
  await makeShapes({ out: data, n: 16, size: 32, seed: 0 });
}, 60000);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Loads the exported generator as the example's comment says and makes one image. */
type Reload = (dir: string) => Promise<tf.Tensor4D>;
const withClip = async (f: (clip: CLIP) => Promise<tf.Tensor4D>) => {
  const clip = await CLIP.fromPretrained(tinyClip);
  try {
    return await f(clip);
  } finally {
    clip.dispose();
  }
};
const cases: [string, string[], Reload][] = [
  ['biggan-deep', ['--batch', '4'], async (dir) => {
    const g = await BigGANDeep.fromPretrained(dir);
    const x = g.generate({ classes: [0], seed: 1 });
    g.dispose();
    return x;
  }],
  ['stylegan-t', ['--batch', '2', '--clip', tinyClip], (dir) => withClip(async (clip) => {
    const m = await StyleGANT.fromPretrained(dir, { textEncoder: clip });
    const x = m.generate({ prompts: ['a red circle'], seed: 1 });
    m.dispose();
    return x;
  })],
  ['gigagan', ['--batch', '2', '--clip', tinyClip], (dir) => withClip(async (clip) => {
    const m = await GigaGAN.fromPretrained(dir, { clip: new GigaGANClip(clip, { eosId: clip.config.text.pool as number }) });
    const x = m.generate({ prompts: ['a red circle'], seed: 1 }).images;
    m.dispose();
    return x;
  })],
  ['galip', ['--batch', '2', '--tokenizer', tinyClip], async (dir) => {
    const m = await GALIP.fromPretrained(dir);
    const s = tf.randomNormal([1, m.config.condDim], 0, 1, 'float32', 1) as tf.Tensor2D;
    const x = m.generate({ sentenceEmbeddings: s, seed: 1 });
    s.dispose();
    m.dispose();
    return x;
  }],
];

const maybe = fs.existsSync(path.join(tinyClip, 'tokenizer.json')) ? test.each(cases) : test.skip.each(cases);
maybe('examples/finetune/%s.ts trains 2 steps, checkpoints and exports a generator that loads', async (name, args, reload) => {
  const out = path.join(work, `run-${name}`);
  const { main } = require(`../examples/finetune/${name}`);
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    await main(['--data', data, '--out', out, '--steps', '2', ...args]);
  } finally {
    log.mockRestore();
  }
  const steps = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.losses);
  expect(steps.map((r) => r.step)).toEqual([1, 2]);
  for (const r of steps) for (const v of Object.values(r.losses)) expect(Number.isFinite(v as number)).toBe(true);
  expect(fs.readdirSync(path.join(out, 'checkpoints')).length).toBeGreaterThan(0);
  const image = await reload(path.join(out, 'final'));
  expect(image.shape[3]).toBe(3);
  expect(Array.from(image.dataSync()).every(Number.isFinite)).toBe(true);
  image.dispose();
}, 120000);

test('the examples type-check against the built packages (tsc -p examples)', () => {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'examples', '--pretty', 'false'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc -p examples failed:\n${r.stdout}${r.stderr}`);
}, 120000);
