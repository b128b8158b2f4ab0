import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { resolveWeights } from '../src/io/resolve';
import { downloadFile } from '../src/io/download';
import { Manifest } from '../src/io/manifest';
import { ProgressEvent } from '../src/progress';
import { flattenStateDict, readTorchCheckpoint } from '../src/io/torch';
import { readSafetensors } from '../src/io/safetensors';
import { parityFixture } from '../src/testing';

const BIG = crypto.randomBytes(3 * 1024 * 1024 + 123); // several chunks, so a mid-file drop is really mid-file
const SMALL = Buffer.from(JSON.stringify({ hello: 'world' }));
const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

interface Hit {
  url: string;
  range?: string;
}
let server: http.Server;
let base = '';
const hits: Hit[] = [];
const dropOnce = new Set<string>(); // paths whose next full-body request is cut mid-file
const bodies: Record<string, Buffer> = { '/files/model.bin': BIG, '/files/config.json': SMALL, '/files/other.bin': BIG };

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.push({ url: url.pathname, range: req.headers.range });
    if (url.pathname === '/redirect/model.bin') {
      res.writeHead(302, { location: '/files/model.bin' });
      res.end();
      return;
    }
    if (url.pathname.startsWith('/status/')) {
      const code = Number(url.pathname.split('/')[2]);
      res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(`status ${code}`);
      return;
    }
    const body = bodies[url.pathname];
    if (!body) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    } else {
      res.writeHead(200, { 'content-length': body.length });
    }
    if (dropOnce.has(url.pathname) && !m) {
      dropOnce.delete(url.pathname);
      // send about a third of the file, then drop the connection
      res.write(body.subarray(0, Math.floor(body.length / 3)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

let cacheDir: string;
beforeEach(() => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-cache-'));
  hits.length = 0;
});
afterEach(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

function manifest(files: Record<string, unknown>[], id = 'test-model'): Manifest {
  return {
    version: 1,
    entries: [
      { id, model: 'test', variant: 'tiny', format: 'pytorch', license: 'MIT', homepage: 'https://example.invalid/', files: files as never, config: { a: 1 } },
      { id: 'biggan-deep-128', model: 'biggan-deep', variant: '128', format: 'pytorch', license: 'x', homepage: 'https://example.invalid/', files: [{ name: 'x.bin', url: `${base}/files/model.bin` }], config: {} },
      { id: 'openai/clip-vit-base-patch32', model: 'clip', variant: 'B/32', format: 'pytorch', license: 'x', homepage: 'https://example.invalid/', files: [{ name: 'x.bin', url: `${base}/files/model.bin` }], config: {} },
    ],
  };
}

/** Files (recursively) under the cache, hidden ones included. */
function cacheListing(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      if (fs.lstatSync(p).isDirectory()) walk(p);
      else out.push(path.relative(cacheDir, p));
    }
  };
  walk(cacheDir);
  return out.sort();
}

describe('resolveWeights over a real HTTP server on 127.0.0.1', () => {
  test('downloads every file of an id with progress events, verifies sha256, caches, and reuses the cache', async () => {
    const events: ProgressEvent[] = [];
    const m = manifest([
      { name: 'model.bin', url: `${base}/files/model.bin`, sha256: sha(BIG), size: BIG.length },
      { name: 'config.json', url: `${base}/redirect/../files/config.json` },
    ]);
    const r = await resolveWeights('test-model', { manifest: m, cacheDir, onProgress: (e) => events.push(e) });
    expect(r.entry?.id).toBe('test-model');
    expect(Object.keys(r.files)).toEqual(['model.bin', 'config.json']);
    expect(fs.readFileSync(r.files['model.bin']).equals(BIG)).toBe(true);
    expect(fs.readFileSync(r.files['config.json']).equals(SMALL)).toBe(true);
    expect(path.dirname(r.files['model.bin'])).toBe(r.dir);
    const big = events.filter((e) => e.label === 'model.bin');
    expect(big[0].loaded).toBe(0);
    expect(big.every((e) => e.total === BIG.length && e.unit === 'bytes')).toBe(true);
    for (let i = 1; i < big.length; i++) expect(big[i].loaded).toBeGreaterThanOrEqual(big[i - 1].loaded);
    expect(big[big.length - 1]).toEqual({ label: 'model.bin', loaded: BIG.length, total: BIG.length, unit: 'bytes', done: true });
    // no sha256 in the manifest for config.json: the first download's hash is recorded
    const rec = JSON.parse(fs.readFileSync(path.join(r.dir, '.config.json.sha256.json'), 'utf8'));
    expect(rec.sha256).toBe(sha(SMALL));
    expect(cacheListing().filter((f) => f.endsWith('.partial'))).toEqual([]);
    // second call: served from the cache, no request
    hits.length = 0;
    const again = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(again.files).toEqual(r.files);
    expect(hits).toEqual([]);
  });

  test('onProgress: true reports through the standard reporter (plain lines when not a TTY)', async () => {
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((c: unknown) => (written.push(String(c)), true));
    const prevCI = process.env.CI;
    process.env.CI = '1';
    try {
      await resolveWeights('test-model', { manifest: manifest([{ name: 'model.bin', url: `${base}/files/model.bin` }]), cacheDir, onProgress: true });
    } finally {
      spy.mockRestore();
      if (prevCI === undefined) delete process.env.CI;
      else process.env.CI = prevCI;
    }
    const lines = written.join('').split('\n').filter((l) => l.startsWith('[model.bin]'));
    expect(lines[0]).toMatch(/^\[model\.bin\] 0 B\/3\.15 MB \(0\.0%\)/);
    expect(lines[lines.length - 1]).toMatch(/^\[model\.bin\] 3\.15 MB\/3\.15 MB \(100\.0%\) \| done in /);
  });

  test('concurrent resolves of one id download each file once (lock file); stale locks are taken over', async () => {
    const m = manifest([{ name: 'model.bin', url: `${base}/files/model.bin`, sha256: sha(BIG) }]);
    const dir = path.join(cacheDir, 'models', 'test-model');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.model.bin.lock'), '999999999:dead'); // left by a process that is gone
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => resolveWeights('test-model', { manifest: m, cacheDir })));
    expect(a.files).toEqual(b.files);
    expect(b.files).toEqual(c.files);
    expect(fs.readFileSync(a.files['model.bin']).equals(BIG)).toBe(true);
    expect(hits.filter((h) => h.url === '/files/model.bin').length).toBe(1);
    expect(cacheListing().filter((f) => /\.(lock|partial)$/.test(f))).toEqual([]);
  });

  test('follows redirects', async () => {
    const m = manifest([{ name: 'model.bin', url: `${base}/redirect/model.bin`, sha256: sha(BIG) }]);
    const r = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(fs.readFileSync(r.files['model.bin']).equals(BIG)).toBe(true);
    expect(hits.map((h) => h.url)).toEqual(['/redirect/model.bin', '/files/model.bin']);
  });

  test('resumes after the server drops the connection mid-file (HTTP Range)', async () => {
    dropOnce.add('/files/model.bin');
    const m = manifest([{ name: 'model.bin', url: `${base}/files/model.bin`, sha256: sha(BIG) }]);
    const r = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(fs.readFileSync(r.files['model.bin']).equals(BIG)).toBe(true);
    expect(hits.length).toBe(2);
    expect(hits[0].range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(hits[1].range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThan(BIG.length);
  });

  test('resumes a partial file left by an earlier run', async () => {
    const m = manifest([{ name: 'model.bin', url: `${base}/files/model.bin`, sha256: sha(BIG) }]);
    const dir = path.join(cacheDir, 'models', 'test-model');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '.model.bin.partial'), BIG.subarray(0, 1000));
    const r = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(fs.readFileSync(r.files['model.bin']).equals(BIG)).toBe(true);
    expect(hits).toEqual([{ url: '/files/model.bin', range: 'bytes=1000-' }]);
  });

  test('wrong sha256: error naming both hashes, nothing cached', async () => {
    const wrong = 'ab'.repeat(32);
    const m = manifest([{ name: 'model.bin', url: `${base}/files/model.bin`, sha256: wrong }]);
    await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(
      new RegExp(`sha256 mismatch for ${base}/files/model.bin: expected ${wrong}, found ${sha(BIG)}`),
    );
    expect(cacheListing()).toEqual([]);
  });

  test.each([404, 500])('HTTP %d: error naming the URL and the status, nothing cached', async (code) => {
    const m = manifest([{ name: 'model.bin', url: `${base}/status/${code}` }]);
    await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(new RegExp(`HTTP ${code} .*for ${base}/status/${code}`));
    expect(cacheListing()).toEqual([]);
    expect(hits.length).toBe(1); // an HTTP status is not retried
  });

  test('a mirror is used when the main URL fails', async () => {
    const m = manifest([{ name: 'model.bin', url: `${base}/status/404`, mirrors: [`${base}/files/model.bin`], sha256: sha(BIG) }]);
    const r = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(fs.readFileSync(r.files['model.bin']).equals(BIG)).toBe(true);
  });

  test('offline with a cached copy: no request; without: an error naming the missing file', async () => {
    const m = manifest([{ name: 'config.json', url: `${base}/files/config.json` }]);
    await expect(resolveWeights('test-model', { manifest: m, cacheDir, offline: true })).rejects.toThrow(
      /offline mode \(offline: true\): 'config\.json' of 'test-model' is not in the cache \(expected at .*config\.json\)/,
    );
    expect(hits).toEqual([]);
    await resolveWeights('test-model', { manifest: m, cacheDir });
    hits.length = 0;
    const prev = process.env.GANZOO_OFFLINE;
    process.env.GANZOO_OFFLINE = '1';
    try {
      const r = await resolveWeights('test-model', { manifest: m, cacheDir });
      expect(fs.readFileSync(r.files['config.json']).equals(SMALL)).toBe(true);
      expect(hits).toEqual([]);
      // a cached file that no longer matches its recorded hash is refused offline...
      fs.writeFileSync(r.files['config.json'], '{"tampered":1}');
      await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(/is corrupt: sha256 .* does not match the hash recorded at first download/);
    } finally {
      if (prev === undefined) delete process.env.GANZOO_OFFLINE;
      else process.env.GANZOO_OFFLINE = prev;
    }
    // ...and downloaded again online
    const r2 = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(fs.readFileSync(r2.files['config.json']).equals(SMALL)).toBe(true);
    expect(hits.length).toBe(1);
  });

  test('GANZOO_CACHE is the default cache folder', async () => {
    const prev = process.env.GANZOO_CACHE;
    process.env.GANZOO_CACHE = cacheDir;
    try {
      const r = await resolveWeights('test-model', { manifest: manifest([{ name: 'config.json', url: `${base}/files/config.json` }]) });
      expect(r.files['config.json']).toBe(path.join(cacheDir, 'models', 'test-model', 'config.json'));
    } finally {
      if (prev === undefined) delete process.env.GANZOO_CACHE;
      else process.env.GANZOO_CACHE = prev;
    }
  });

  test('an http URL downloads one file into the cache; other schemes are refused', async () => {
    const r = await resolveWeights(`${base}/files/config.json`, { cacheDir });
    expect(Object.keys(r.files)).toEqual(['config.json']);
    expect(r.files['config.json'].startsWith(path.join(cacheDir, 'urls'))).toBe(true);
    expect(fs.readFileSync(r.files['config.json']).equals(SMALL)).toBe(true);
    for (const u of ['ftp://example.invalid/x.bin', 's3://bucket/x.bin', 'file:///etc/passwd', 'hf://openai/clip']) {
      await expect(resolveWeights(u, { cacheDir })).rejects.toThrow(/unsupported URL scheme '.*:' .* expected an http\(s\) URL/);
    }
  });

  test('unknown id: error suggesting close ids', async () => {
    await expect(resolveWeights('biggan-deep-12', { manifest: manifest([{ name: 'a', url: `${base}/files/config.json` }]), cacheDir })).rejects.toThrow(
      /unknown weights id 'biggan-deep-12'.*Did you mean 'biggan-deep-128'/,
    );
    await expect(resolveWeights('clip-vit-base-patch32', { manifest: manifest([{ name: 'a', url: `${base}/files/config.json` }]), cacheDir })).rejects.toThrow(
      /Did you mean 'openai\/clip-vit-base-patch32'/,
    );
  });

  test('malformed manifest entries are rejected with what was expected and found', async () => {
    const m = manifest([{ name: '../evil', url: 'ftp://x', sha256: 'xyz', size: -1 }]);
    const p = resolveWeights('test-model', { manifest: m, cacheDir });
    await expect(p).rejects.toThrow(/entry 0 \('test-model'\): files\[0\]\.name must be a plain file name .*found "\.\.\/evil"/);
    await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(/files\[0\]\.url must be an http\(s\) URL, found "ftp:\/\/x"/);
    await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(/files\[0\]\.sha256 must be 64 lower-case hex digits, found "xyz"/);
    await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(/files\[0\]\.size must be a positive integer \(bytes\), found -1/);
  });

  test('manual downloads explain where to put the file; once there it is used', async () => {
    const m = manifest([{ name: 'pre_coco.pth', url: `${base}/files/model.bin`, manual: true, instructions: 'Get it from the authors.' }]);
    await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(
      /'pre_coco\.pth' of 'test-model' must be downloaded by hand: Get it from the authors\. .*Then put it at .*pre_coco\.pth/,
    );
    expect(hits).toEqual([]);
    const dir = path.join(cacheDir, 'models', 'test-model');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'pre_coco.pth'), BIG);
    const r = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(r.files['pre_coco.pth']).toBe(path.join(dir, 'pre_coco.pth'));
  });

  test('local files and folders are returned as they are', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-local-'));
    try {
      fs.writeFileSync(path.join(d, 'config.json'), SMALL);
      fs.writeFileSync(path.join(d, 'model.safetensors'), BIG.subarray(0, 10));
      fs.writeFileSync(path.join(d, '.hidden'), 'x');
      const r = await resolveWeights(d, { cacheDir });
      expect(r).toEqual({ dir: d, files: { 'config.json': path.join(d, 'config.json'), 'model.safetensors': path.join(d, 'model.safetensors') } });
      const f = await resolveWeights(path.join(d, 'config.json'), { cacheDir });
      expect(f).toEqual({ dir: d, files: { 'config.json': path.join(d, 'config.json') } });
      await expect(resolveWeights(path.join(d, 'missing.safetensors'), { cacheDir })).rejects.toThrow(/no such file or folder: .*missing\.safetensors/);
      expect(hits).toEqual([]);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  const devFull = fs.existsSync('/dev/full');
  if (!devFull) console.warn('no /dev/full on this system: the disk-full test is skipped');
  (devFull ? test : test.skip)('disk full while writing: an error, and no partial file is left in the cache', async () => {
    // The partial file is a symlink to /dev/full, so every write fails with ENOSPC as on a full disk.
    const m = manifest([{ name: 'model.bin', url: `${base}/files/model.bin`, sha256: sha(BIG) }]);
    const dir = path.join(cacheDir, 'models', 'test-model');
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync('/dev/full', path.join(dir, '.model.bin.partial'));
    await expect(resolveWeights('test-model', { manifest: m, cacheDir })).rejects.toThrow(/could not write .*\.model\.bin\.partial: ENOSPC/);
    expect(cacheListing()).toEqual([]);
    expect(hits.length).toBe(1); // not retried
  });

  const hf = parityFixture('biggan-deep-hf');
  (hf ? test : test.skip)('end to end: a manifest id served over HTTP resolves and loads to the reference tensors', async () => {
    const bin = fs.readFileSync(path.join(hf!, 'model', 'pytorch_model.bin'));
    bodies['/hf/pytorch_model.bin'] = bin;
    bodies['/hf/config.json'] = fs.readFileSync(path.join(hf!, 'model', 'config.json'));
    dropOnce.add('/hf/pytorch_model.bin');
    const m = manifest([
      { name: 'pytorch_model.bin', url: `${base}/hf/pytorch_model.bin`, sha256: sha(bin), size: bin.length },
      { name: 'config.json', url: `${base}/hf/config.json` },
    ]);
    const r = await resolveWeights('test-model', { manifest: m, cacheDir });
    expect(JSON.parse(fs.readFileSync(r.files['config.json'], 'utf8')).n_stats).toBe(51);
    const got = flattenStateDict(readTorchCheckpoint(r.files['pytorch_model.bin']));
    const want = readSafetensors(path.join(hf!, 'model', 'model.safetensors')).tensors;
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const k of Object.keys(want)) expect(Buffer.from(got[k].data.buffer, got[k].data.byteOffset, got[k].data.byteLength).equals(Buffer.from(want[k].data.buffer, want[k].data.byteOffset, want[k].data.byteLength))).toBe(true);
    expect(hits.filter((h) => h.url === '/hf/pytorch_model.bin').length).toBe(2); // dropped once, resumed
  });

  test('downloadFile: connection failures end with a clear error after the retries, keeping the partial file', async () => {
    const dest = path.join(cacheDir, 'x', 'model.bin');
    const dead = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    try {
      await expect(downloadFile(`http://127.0.0.1:${port}/model.bin`, dest, { retries: 1 })).rejects.toThrow(
        new RegExp(`download of model\\.bin from http://127\\.0\\.0\\.1:${port}/model\\.bin failed after 2 attempts: connection failed`),
      );
    } finally {
      await new Promise((r) => dead.close(r));
    }
    expect(fs.existsSync(dest)).toBe(false);
  });
});
