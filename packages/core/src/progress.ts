/**
 * One progress reporter for downloads, conversion and training: a cli-progress bar on a TTY, and one plain
 * log line per interval otherwise (CI logs, notebooks, files). Both show the same text: value/total, percentage,
 * rate, ETA and any fields (losses, learning rate, ...).
 *
 *   const p = createProgress({ total: 1000, label: 'train', unit: 'steps' });
 *   for (...) p.tick(1, { loss_G: 1.23, loss_D: 0.56 });
 *   p.done();
 *
 * `progressCallback()` turns the reporter into an `onProgress(event)` callback (used by resolveWeights).
 */
import * as cliProgress from 'cli-progress';

export type ProgressFields = Record<string, number | string | boolean | null | undefined>;

export interface ProgressOptions {
  /** Total units of work (0 / undefined: unknown). */
  total?: number;
  /** Shown first on every line. */
  label?: string;
  /** 'bytes' formats sizes and rates as kB/MB/GB; anything else is shown as a word ('steps', 'it', 'files'). */
  unit?: string;
  /** Where to write (default process.stderr). */
  stream?: NodeJS.WritableStream;
  /** Force bar (true) or plain lines (false); default: the stream is a TTY and CI is not set. */
  tty?: boolean;
  /** Plain mode: at most one line per this many ms (default 10000); the first update and done() always print. */
  intervalMs?: number;
  /** Plain mode: also print whenever this many units passed since the last line. */
  everySteps?: number;
  /** No output at all (the reporter still tracks value and rate). Default: GANZOO_PROGRESS=0. */
  silent?: boolean;
  /** Clock in ms (tests). */
  now?: () => number;
}

export interface ProgressReporter {
  /** Advance by n units (default 1), optionally updating the fields shown. */
  tick(n?: number, fields?: ProgressFields): void;
  /** Set the absolute value. */
  update(value: number, fields?: ProgressFields): void;
  /** Jump to a value without counting the jump as progress (a resumed run): rate, ETA and the final speed start here. */
  skipTo(value: number): void;
  /** Change the total (e.g. once a Content-Length is known). */
  setTotal(total: number | undefined): void;
  /** Finish: print the final line / stop the bar. Further calls are ignored. */
  done(fields?: ProgressFields): void;
  readonly value: number;
  readonly total: number | undefined;
  /** Units per second over the recent window. */
  readonly rate: number;
}

/** What progress-emitting code (downloads, conversion, training) passes to an `onProgress` callback. */
export interface ProgressEvent {
  /** Names the job: one bar / line series per label (e.g. the file being downloaded). */
  label: string;
  loaded: number;
  total?: number;
  unit?: string;
  fields?: ProgressFields;
  /** Last event of this label. */
  done?: boolean;
}

export type OnProgress = (event: ProgressEvent) => void;

function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)} ${units[i]}`;
}

/** 75 -> "1m15s", 3725 -> "1h02m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatField(v: ProgressFields[string]): string {
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4);
  }
  return String(v);
}

export function createProgress(opts: ProgressOptions = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  const unit = opts.unit ?? 'it';
  const bytes = unit === 'bytes';
  const label = opts.label ?? '';
  const silent = opts.silent ?? process.env.GANZOO_PROGRESS === '0';
  const tty = opts.tty ?? (!!(stream as NodeJS.WriteStream).isTTY && !process.env.CI);
  const intervalMs = opts.intervalMs ?? 10000;
  let total = opts.total && opts.total > 0 ? opts.total : undefined;
  let value = 0;
  let fields: ProgressFields = {};
  let start = now();
  let startValue = 0;
  let finished = false;
  // recent (time, value) samples for the rate: the last ~20 s
  const samples: [number, number][] = [[start, 0]];
  let lastLineAt = -Infinity;
  let lastLineValue = 0;
  let printedAny = false;

  const rate = () => {
    const t = now();
    while (samples.length > 2 && t - samples[0][0] > 20000) samples.shift();
    const [t0, v0] = samples[0];
    const dt = (t - t0) / 1000;
    return dt > 0 ? (value - v0) / dt : 0;
  };
  const fmtValue = (v: number) => (bytes ? formatBytes(v) : String(Math.round(v * 1000) / 1000));

  /** The status text shared by bar and plain lines (without the bar). */
  const status = (final: boolean): string => {
    const parts: string[] = [];
    const r = rate();
    let head = total !== undefined ? `${fmtValue(value)}/${fmtValue(total)}` : fmtValue(value);
    if (!bytes) head += ` ${unit}`;
    if (total !== undefined) head += ` (${((100 * value) / total).toFixed(1)}%)`;
    parts.push(head);
    if (final) {
      const el = (now() - start) / 1000;
      parts.push(`done in ${formatDuration(el)}`);
      const done = value - startValue;
      if (el > 0 && done > 0) parts.push(bytes ? `${formatBytes(done / el)}/s` : `${(done / el).toFixed(2)} ${unit}/s`);
    } else {
      parts.push(bytes ? `${formatBytes(r)}/s` : `${r.toFixed(2)} ${unit}/s`);
      if (total !== undefined) parts.push(`ETA ${value >= total ? '0s' : r > 0 ? formatDuration((total - value) / r) : '?'}`);
    }
    const f = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatField(v)}`)
      .join(' ');
    if (f) parts.push(f);
    return parts.join(' | ');
  };

  let bar: cliProgress.SingleBar | undefined;
  if (tty && !silent) {
    bar = new cliProgress.SingleBar({
      stream,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 10,
      barsize: 24,
      format: (o: cliProgress.Options) => {
        const size = o.barsize ?? 24;
        const filled = total !== undefined ? Math.max(0, Math.min(size, Math.round((size * value) / total))) : 0;
        const b = total !== undefined ? `[${'█'.repeat(filled)}${'░'.repeat(size - filled)}] ` : '';
        return `${label ? label + ' ' : ''}${b}${status(finished)}`;
      },
    });
    bar.start(total ?? 0, 0);
  }

  const plainLine = (final: boolean) => {
    if (silent || bar) return;
    stream.write(`${label ? `[${label}] ` : ''}${status(final)}\n`);
    lastLineAt = now();
    lastLineValue = value;
    printedAny = true;
  };

  const changed = () => {
    if (finished) return;
    const t = now();
    samples.push([t, value]);
    if (samples.length > 512) samples.splice(1, samples.length - 256);
    if (bar) {
      bar.setTotal(total ?? 0);
      bar.update(value);
      return;
    }
    if (!printedAny || t - lastLineAt >= intervalMs || (opts.everySteps !== undefined && value - lastLineValue >= opts.everySteps)) plainLine(false);
  };

  return {
    tick(n = 1, f) {
      value += n;
      if (f) fields = { ...fields, ...f };
      changed();
    },
    update(v, f) {
      value = v;
      if (f) fields = { ...fields, ...f };
      changed();
    },
    skipTo(v) {
      if (finished) return;
      value = v;
      startValue = v;
      start = now();
      samples.length = 0;
      samples.push([start, v]);
      if (bar) bar.update(value);
    },
    setTotal(t) {
      total = t && t > 0 ? t : undefined;
    },
    done(f) {
      if (finished) return;
      if (f) fields = { ...fields, ...f };
      finished = true;
      if (bar) {
        bar.setTotal(total ?? 0);
        bar.update(value);
        bar.stop();
      } else plainLine(true);
    },
    get value() {
      return value;
    },
    get total() {
      return total;
    },
    get rate() {
      return rate();
    },
  };
}

/**
 * An `onProgress` callback that shows every labelled job with its own reporter (bar on a TTY, plain lines
 * otherwise). Options apply to every reporter it makes.
 */
export function progressCallback(opts: Omit<ProgressOptions, 'total' | 'label' | 'unit'> = {}): OnProgress {
  const active = new Map<string, ProgressReporter>();
  return (e: ProgressEvent) => {
    let r = active.get(e.label);
    if (!r) {
      r = createProgress({ ...opts, total: e.total, label: e.label, unit: e.unit });
      active.set(e.label, r);
    }
    if (e.total !== undefined && e.total !== r.total) r.setTotal(e.total);
    r.update(e.loaded, e.fields);
    if (e.done) {
      r.done();
      active.delete(e.label);
    }
  };
}
