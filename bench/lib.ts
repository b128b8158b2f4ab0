/**
 * Shared bench helpers: timing with warm-up, peak RSS, the PyTorch reference run in the same process tree, and the
 * table/JSON report. Benchmarks never run in tests; `npm run bench` runs them all (bench/run.js).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export interface BenchRow {
  bench: string;
  case: string;
  backend: string;
  batch?: number;
  /** ganzoo milliseconds per image (or per step). */
  ms: number;
  /** reference (PyTorch CPU) milliseconds per image/step measured in the same run, when available. */
  refMs?: number;
  unit?: string;
  peakRssMB?: number;
  note?: string;
  /** ganzoo / reference CPU milliseconds (all threads) per image or step, when measured. */
  cpuMs?: number;
  refCpuMs?: number;
}

/** Median wall time in ms of `fn` after `warmup` untimed calls. */
export async function timeIt(fn: () => Promise<unknown> | unknown, reps = 3, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/** Peak resident set size of this process so far, in MB (Linux VmHWM). */
export function peakRssMB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    /* not Linux */
  }
  return process.memoryUsage().rss / 2 ** 20;
}

export const TORCH_PYTHON = process.env.GANZOO_TORCH_PYTHON ?? '/usr/bin/python3';

/** True when the reference interpreter imports torch (the bench installs nothing itself). */
export function torchAvailable(): boolean {
  return spawnSync(TORCH_PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/**
 * Run a python reference script that prints one JSON object on its last stdout line; returns it, or null when torch is
 * missing or the script fails (the reason goes to stderr).
 */
export function runTorchReference(script: string, args: string[] = [], env: Record<string, string> = {}): any | null {
  if (!torchAvailable()) {
    console.error(`PyTorch reference skipped: ${TORCH_PYTHON} cannot import torch (apt-get install -y python3-torch)`);
    return null;
  }
  const r = spawnSync(TORCH_PYTHON, [path.resolve(__dirname, script), ...args], {
    encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    console.error(`PyTorch reference ${script} failed: ${r.stderr.split('\n').slice(-10).join('\n')}`);
    return null;
  }
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** Print rows as a table with ganzoo/PyTorch ratios, and append them as JSON to bench/results/<name>.json. */
export function report(name: string, rows: BenchRow[]): void {
  const fmt = (v?: number) => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const head = ['case', 'backend', 'batch', 'ganzoo ms', 'torch ms', 'ratio', 'peak RSS MB', 'note'];
  const body = rows.map((r) => [r.case, r.backend, r.batch ?? '-', fmt(r.ms), fmt(r.refMs),
    r.refMs ? (r.ms / r.refMs).toFixed(2) : '-', fmt(r.peakRssMB), r.note ?? ''].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((s, i) => s.padEnd(w[i])).join('  ');
  console.log(`\n## ${name}\n${line(head)}\n${w.map((n) => '-'.repeat(n)).join('  ')}\n${body.map(line).join('\n')}`);
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
}
