/**
 * The fine-tuning examples (examples/finetune/*.ts) run 2 steps each on a small procedural shapes set, offline (the
 * text models get the encoders' tiny CLIP fixture), and leave finite losses, a checkpoint and an exported generator folder.
 * Type-checking them is `npx tsc -p examples`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeShapes } from '@ganzoo/core';

const tinyClip = path.resolve(__dirname, '../packages/encoders/test/fixtures/tiny-clip');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-examples-'));
const data = path.join(work, 'shapes');

beforeAll(async () => {
  await makeShapes({ out: data, n: 16, size: 32, seed: 0 });
}, 60000);
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

const cases: [string, string[]][] = [
  ['biggan-deep', ['--batch', '4']],
  ['stylegan-t', ['--batch', '2', '--clip', tinyClip]],
  ['gigagan', ['--batch', '2', '--clip', tinyClip]],
  ['galip', ['--batch', '2', '--tokenizer', tinyClip]],
];

const maybe = fs.existsSync(path.join(tinyClip, 'tokenizer.json')) ? test.each(cases) : test.skip.each(cases);
maybe('examples/finetune/%s.ts trains 2 steps, checkpoints and exports the generator', async (name, args) => {
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
  expect(fs.existsSync(path.join(out, 'final', 'config.json'))).toBe(true);
}, 120000);
