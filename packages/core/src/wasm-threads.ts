/**
 * Multi-threaded tfjs wasm backend in Node (see ../shared/reference/platform.md §2).
 *
 * tfjs-backend-wasm 4.22 hard-codes WASM_HAS_MULTITHREAD_SUPPORT=false in Node. Forcing it on fails for three
 * reasons this module works around, only for the duration of the backend's initialisation:
 *  1. Emscripten gets `blob:` URLs for the pthread worker script and for the main factory script; Node's
 *     worker_threads cannot load those -> Blob contents are recorded and object URLs become temp files.
 *  2. The factory text posted to each worker refers to rollup aliases (require$$0.., commonjsGlobal) that exist only
 *     in the bundle -> a prelude defining them is prepended.
 *  3. The C++ side caps threads at os.cpus().length / 2 (1 on a 2-core machine) -> os.cpus is doubled, then restored.
 * Workers are unref'd (and Emscripten's later ref() calls ignored) so that node and jest can exit.
 */
import * as fs from 'fs';
import * as path from 'path';
// `import x = require` (not `import * as`): the patches must land on the real module objects the wasm bundle uses.
import os = require('os');
import wt = require('worker_threads');

const PRELUDE = "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),"
  + "require$$4=require('os'),commonjsGlobal=globalThis;\n";

interface RecordedBlob extends Blob { __ganzooText?: string; __ganzooFile?: string }

let tempDir: string | null = null;
let fileCount = 0;

function tempFile(text: string): string {
  if (tempDir === null) {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-wasm-'));
    const dir = tempDir;
    process.once('exit', () => {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort at exit */
      }
    });
  }
  const f = path.join(tempDir, `chunk${fileCount++}.js`);
  fs.writeFileSync(f, text);
  return f;
}

/**
 * A worker_threads.Worker factory (used with `new`) whose workers never keep the process alive and load recorded
 * blobs from temp files. Plain functions returning the native object, not `class extends`: the native classes
 * cannot be subclassed by ES5-transpiled code (ts-node without a tsconfig target).
 */
function makeUnrefWorker(NativeWorker: typeof wt.Worker): typeof wt.Worker {
  function UnrefWorker(filename: string | URL, options?: wt.WorkerOptions): wt.Worker {
    const w = new NativeWorker(filename, options);
    w.unref();
    // Emscripten re-refs running pthreads; that would keep node/jest alive after the last test.
    w.ref = () => undefined;
    const post = w.postMessage.bind(w);
    w.postMessage = (msg: any, transfer?: readonly any[]) => {
      const blob = msg && msg.cmd === 'load' ? (msg.urlOrBlob as RecordedBlob | undefined) : undefined;
      if (blob && typeof blob === 'object' && blob.__ganzooText !== undefined) {
        blob.__ganzooFile ??= tempFile(PRELUDE + blob.__ganzooText);
        msg = { ...msg, urlOrBlob: blob.__ganzooFile };
      }
      post(msg, transfer as any);
    };
    return w;
  }
  UnrefWorker.prototype = NativeWorker.prototype;
  return UnrefWorker as unknown as typeof wt.Worker;
}

/**
 * Run `init` (which must create the wasm backend) with the patches in place, then restore Blob,
 * URL.createObjectURL, os.cpus and worker_threads.Worker. The worker class Emscripten captured (globalThis.Worker)
 * keeps its behaviour, so threads spawned later still load. Returns what `init` returns.
 */
export async function withWasmThreadShim<T>(init: () => Promise<T>): Promise<T> {
  const g = globalThis as any;
  const saved = {
    Blob: g.Blob,
    createObjectURL: URL.createObjectURL,
    cpus: os.cpus,
    Worker: wt.Worker,
  };
  const NativeBlob = saved.Blob as typeof Blob;
  // Records the text of string-only Blobs (the two scripts Emscripten wraps); used with `new`.
  function RecBlob(parts?: any[], opts?: BlobPropertyBag): Blob {
    const b = new NativeBlob(parts, opts) as RecordedBlob;
    if (parts && parts.every((p) => typeof p === 'string')) b.__ganzooText = parts.join('');
    return b;
  }
  RecBlob.prototype = NativeBlob.prototype;
  g.Blob = RecBlob;
  URL.createObjectURL = (obj: any) => (obj && obj.__ganzooText !== undefined ? tempFile(obj.__ganzooText) : saved.createObjectURL(obj));
  (os as any).cpus = () => {
    const c = saved.cpus.call(os);
    return c.concat(c);
  };
  (wt as any).Worker = makeUnrefWorker(saved.Worker);
  try {
    return await init();
  } finally {
    g.Blob = saved.Blob;
    URL.createObjectURL = saved.createObjectURL;
    (os as any).cpus = saved.cpus;
    (wt as any).Worker = saved.Worker;
  }
}
