/**
 * Crash safety: a training process is SIGKILLed at a random step; the resumed run must continue from the last
 * checkpoint with the same data order and the same losses as an uninterrupted run, and no checkpoint is corrupt.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeShapes } from '../src/data/shapes';
import { listCheckpoints, readCheckpointState } from '../src/checkpoint';
import { readSafetensors } from '../src/io/safetensors';

const CHILD = path.join(__dirname, 'helpers', 'train-child.ts');
const STEPS = 14;

function runChild(args: string[], killAtStep?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CHILD, ...args], {
      cwd: path.resolve(__dirname, '../../..'), env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1', TS_NODE_PROJECT: path.resolve(__dirname, '../../../tsconfig.jest.json') }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    let timer: NodeJS.Timeout | undefined;
    if (killAtStep !== undefined) {
      const log = path.join(args[1], 'log.jsonl');
      timer = setInterval(() => {
        if (!fs.existsSync(log)) return;
        const steps = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('{"step"')).length;
        if (steps >= killAtStep) {
          clearInterval(timer);
          p.kill('SIGKILL');
        }
      }, 5);
    }
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stderr });
    });
  });
}

// A SIGKILL may cut the last log line short: such a line is not JSON and is skipped.
const stepLines = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').flatMap((l) => {
  try {
    return [JSON.parse(l)];
  } catch {
    return [];
  }
});

test('SIGKILL at a random step, then --resume: same data order and losses as an uninterrupted run, no corrupt checkpoint', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-kill-'));
  try {
    const data = path.join(tmp, 'data');
    await makeShapes({ out: data, n: 20, size: 8, seed: 0, classing: 'shape' });
    const ref = path.join(tmp, 'ref');
    const r0 = await runChild([data, ref, String(STEPS), '3']);
    expect(r0.stderr).not.toMatch(/child failed/);
    expect(r0.code).toBe(0);
    const refSteps = stepLines(path.join(ref, 'log.jsonl')).filter((l) => l.event === undefined);
    expect(refSteps.length).toBe(STEPS);

    const killAt = 4 + Math.floor(Math.random() * 8); // 4..11
    const run = path.join(tmp, 'run');
    const r1 = await runChild([data, run, String(STEPS), '3'], killAt);
    expect(r1.signal).toBe('SIGKILL');
    // Whatever the kill interrupted, every listed checkpoint is complete and readable.
    const cks = listCheckpoints(path.join(run, 'checkpoints'));
    for (const c of cks) {
      expect(readCheckpointState(c.path).step).toBe(c.step);
      expect(Object.keys(readSafetensors(path.join(c.path, 'model.safetensors')).tensors).length).toBeGreaterThan(0);
      readSafetensors(path.join(c.path, 'optimizer.safetensors'));
    }
    const last = cks.length ? cks[cks.length - 1].step : 0;

    const r2 = await runChild([data, run, String(STEPS), '3', 'resume']);
    expect(r2.stderr).not.toMatch(/child failed/);
    expect(r2.code).toBe(0);
    const lines = stepLines(path.join(run, 'log.jsonl'));
    const resumedAt = lines.findIndex((l) => typeof l.event === 'string' && /^(resumed from|no checkpoint found)/.test(l.event));
    expect(resumedAt).toBeGreaterThan(0);
    const after = lines.slice(resumedAt + 1).filter((l) => l.event === undefined);
    expect(after[0].step).toBe(last + 1);
    expect(after.map((l) => l.step)).toEqual(refSteps.slice(last).map((l) => l.step));
    for (let i = 0; i < after.length; i++) {
      const want = refSteps[last + i];
      expect(after[i].firstIndices).toEqual(want.firstIndices);
      expect(after[i].position).toBe(want.position);
      expect(after[i].losses).toEqual(want.losses);
    }
    expect(fs.readdirSync(path.join(run, 'checkpoints')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    // The final checkpoints of both runs hold identical weights.
    const a = readSafetensors(path.join(ref, 'checkpoints', `step-${String(STEPS).padStart(8, '0')}`, 'model.safetensors')).tensors;
    const b = readSafetensors(path.join(run, 'checkpoints', `step-${String(STEPS).padStart(8, '0')}`, 'model.safetensors')).tensors;
    for (const k of Object.keys(a)) expect(Array.from(b[k].data)).toEqual(Array.from(a[k].data));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 240000);
