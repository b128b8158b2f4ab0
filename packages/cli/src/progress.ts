/**
 * Step progress for long commands: a cli-progress bar on a TTY (steps, losses, it/s, ETA), plain lines otherwise
 * (every `every` steps and at the end), so logs of background runs stay readable.
 */
import * as cliProgress from 'cli-progress';

export interface StepProgress {
  update(step: number, fields: { losses?: Record<string, number>; itPerSec?: number }): void;
  log(msg: string): void;
  stop(): void;
}

function fmtLosses(l: Record<string, number> = {}): string {
  return Object.entries(l)
    .filter(([k]) => k.endsWith('/loss'))
    .map(([k, v]) => `${k.replace('/loss', '')} ${Math.abs(v) >= 100 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toFixed(3)}`)
    .join(' ');
}

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function stepProgress(label: string, total: number, start: number, opts: { tty?: boolean; every?: number } = {}): StepProgress {
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  const t0 = Date.now();
  let ewma = 0;
  if (tty) {
    const bar = new cliProgress.SingleBar({
      format: `${label} {bar} {value}/{total} | {losses} | {ips} it/s | ETA {etaf}`,
      stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, start, { losses: '', ips: '-', etaf: '?' });
    let last = Date.now();
    return {
      update(step, f) {
        const now = Date.now();
        const dt = (now - last) / 1000;
        last = now;
        ewma = ewma ? 0.9 * ewma + 0.1 * dt : dt;
        bar.update(step, { losses: fmtLosses(f.losses), ips: (1 / ewma).toFixed(2), etaf: fmtEta((total - step) * ewma) });
      },
      log(msg) {
        bar.stop();
        process.stderr.write(`${msg}\n`);
        bar.start(total, (bar as unknown as { value: number }).value, {});
      },
      stop() {
        bar.stop();
      },
    };
  }
  const every = opts.every ?? 10;
  let lastStep = start;
  return {
    update(step, f) {
      if (step % every !== 0 && step !== total) return;
      const el = (Date.now() - t0) / 1000;
      const rate = (step - start) / Math.max(el, 1e-9);
      process.stderr.write(`${label} step ${step}/${total} ${fmtLosses(f.losses)} | ${rate.toFixed(2)} it/s | ` +
        `elapsed ${fmtEta(el)} | ETA ${fmtEta((total - step) / rate)}\n`);
      lastStep = step;
    },
    log(msg) {
      process.stderr.write(`${msg}\n`);
    },
    stop() {
      void lastStep;
    },
  };
}

/** Byte progress for downloads (bar on a TTY, a line per 10% otherwise). */
export function byteProgress(label: string): { update(done: number, total?: number): void; stop(): void } {
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let lastPct = -10;
  return {
    update(done, total) {
      if (tty && total) {
        if (!bar) {
          bar = new cliProgress.SingleBar({ format: `${label} {bar} {percentage}% | {value}/{total} bytes | ETA {eta_formatted}`, stream: process.stderr },
            cliProgress.Presets.shades_classic);
          bar.start(total, 0);
        }
        bar.update(done);
      } else if (total) {
        const pct = Math.floor((100 * done) / total);
        if (pct >= lastPct + 10) {
          lastPct = pct;
          process.stderr.write(`${label} ${pct}% (${done}/${total} bytes)\n`);
        }
      }
    },
    stop() {
      bar?.stop();
    },
  };
}
