import { Writable } from 'stream';
import { createProgress, formatDuration, progressCallback } from '../src/progress';

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  return { stream, text: () => chunks.join(''), lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('progress reporter, plain (non-TTY) output', () => {
  test('one line per interval with value, percentage, rate, ETA and fields; a final line at done', () => {
    const out = sink();
    let t = 1_000_000;
    const p = createProgress({ total: 100, label: 'train', unit: 'steps', stream: out.stream, tty: false, intervalMs: 10000, now: () => t });
    for (let i = 0; i < 100; i++) {
      t += 500; // 2 steps/s
      p.tick(1, { loss_G: 1 / (i + 1), loss_D: 0.5, lr: 2e-4 });
    }
    p.done();
    const lines = out.lines();
    // first tick prints, then one line per 10 s (= 20 steps) -> steps 1, 21, 41, 61, 81, then the final line
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe('[train] 1/100 steps (1.0%) | 2.00 steps/s | ETA 50s | loss_G=1 loss_D=0.5000 lr=2.000e-4');
    expect(lines[1]).toMatch(/^\[train\] 21\/100 steps \(21\.0%\) \| 2\.00 steps\/s \| ETA 40s \| loss_G=0\.04762 /);
    expect(lines[4]).toMatch(/^\[train\] 81\/100 steps \(81\.0%\) .* ETA 10s /);
    expect(lines[5]).toBe('[train] 100/100 steps (100.0%) | done in 50s | 2.00 steps/s | loss_G=0.01000 loss_D=0.5000 lr=2.000e-4');
    expect(p.value).toBe(100);
    p.tick(5);
    p.done();
    expect(out.lines()).toHaveLength(6); // nothing after done
  });

  test('skipTo (a resumed run): the jump is not progress — rate, ETA and the final speed count from there', () => {
    const out = sink();
    let t = 5_000;
    const p = createProgress({ total: 1000, label: 'train', unit: 'steps', stream: out.stream, tty: false, intervalMs: 0, now: () => t });
    t += 10;
    p.skipTo(900);
    expect(out.lines()).toHaveLength(0);
    for (let i = 0; i < 10; i++) {
      t += 2000; // 0.5 steps/s
      p.tick();
    }
    expect(p.value).toBe(910);
    expect(p.rate).toBeCloseTo(0.5, 5);
    expect(out.lines()[0]).toBe('[train] 901/1000 steps (90.1%) | 0.50 steps/s | ETA 3m18s');
    p.done();
    expect(out.lines().pop()).toBe('[train] 910/1000 steps (91.0%) | done in 20s | 0.50 steps/s');
  });

  test('everySteps prints on step counts as well; unknown totals show no percentage or ETA', () => {
    const out = sink();
    let t = 0;
    const p = createProgress({ label: 'convert', unit: 'tensors', stream: out.stream, tty: false, intervalMs: 1e9, everySteps: 10, now: () => t });
    for (let i = 0; i < 30; i++) {
      t += 100;
      p.tick();
    }
    p.done();
    expect(out.lines().map((l) => l.split(' | ')[0])).toEqual([
      '[convert] 1 tensors',
      '[convert] 11 tensors',
      '[convert] 21 tensors',
      '[convert] 30 tensors',
    ]);
    expect(out.lines()[1]).not.toMatch(/ETA|%/);
  });

  test('bytes are shown as sizes and rates; update sets the absolute value', () => {
    const out = sink();
    let t = 0;
    const p = createProgress({ total: 5_000_000, label: 'model.bin', unit: 'bytes', stream: out.stream, tty: false, intervalMs: 1000, now: () => t });
    t = 1000;
    p.update(1_500_000);
    t = 2000;
    p.update(2_500_000);
    p.done();
    expect(out.lines()[0]).toBe('[model.bin] 1.50 MB/5.00 MB (30.0%) | 1.50 MB/s | ETA 2s');
    expect(out.lines()[1]).toBe('[model.bin] 2.50 MB/5.00 MB (50.0%) | 1.25 MB/s | ETA 2s');
    expect(out.lines()[2]).toBe('[model.bin] 2.50 MB/5.00 MB (50.0%) | done in 2s | 1.25 MB/s');
  });

  test('silent reporters write nothing but still count', () => {
    const out = sink();
    const p = createProgress({ total: 3, stream: out.stream, tty: false, silent: true });
    p.tick(2);
    p.done();
    expect(out.text()).toBe('');
    expect(p.value).toBe(2);
  });

  test('progressCallback: one reporter per label, closed on done', () => {
    const out = sink();
    let t = 0;
    const cb = progressCallback({ stream: out.stream, tty: false, intervalMs: 1e9, now: () => t });
    cb({ label: 'a.bin', loaded: 0, total: 2000, unit: 'bytes' });
    t = 1000;
    cb({ label: 'b.json', loaded: 10, total: 10, unit: 'bytes', done: true });
    cb({ label: 'a.bin', loaded: 2000, total: 2000, unit: 'bytes', done: true });
    expect(out.lines()).toEqual([
      '[a.bin] 0 B/2.00 kB (0.0%) | 0 B/s | ETA ?',
      '[b.json] 10 B/10 B (100.0%) | 0 B/s | ETA 0s',
      '[b.json] 10 B/10 B (100.0%) | done in 0s',
      '[a.bin] 2.00 kB/2.00 kB (100.0%) | done in 1s | 2.00 kB/s',
    ]);
  });

  test('TTY mode draws a cli-progress bar', () => {
    const out = sink();
    (out.stream as unknown as { isTTY: boolean }).isTTY = true;
    Object.assign(out.stream, { columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    const p = createProgress({ total: 4, label: 'gen', unit: 'img', stream: out.stream, tty: true });
    p.tick(2, { psi: 0.7 });
    p.done();
    expect(out.text()).toMatch(/gen \[█+░+\] .*4 img|gen \[█+\] 2\/4 img/);
    expect(out.text()).toMatch(/2\/4 img \(50\.0%\)/);
    expect(out.text()).toMatch(/psi=0\.7000/);
  });

  test('formatDuration', () => {
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(75)).toBe('1m15s');
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(Infinity)).toBe('?');
  });
});
