// Pack the publishable packages with `npm pack`, install the tarballs into a fresh project outside the repository,
// and run there what a user would: a CommonJS script, an ESM script and a TypeScript type-check against the
// installed .d.ts files. Used by tests/pack-install.test.ts; runnable by hand: node scripts/pack-install.js
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const PACKAGES = ['core', 'encoders', 'biggan-deep', 'stylegan-t', 'gigagan', 'galip'];
/** Packed and installed too, without a README quick start: the `ganzoo` command. */
const TOOLS = ['cli'];

function sh(cmd, args, cwd, extraEnv = {}) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, ...extraEnv }, maxBuffer: 64 << 20 });
}

/** Packs each package; returns { name -> tarball path }. */
function packAll(dest) {
  const out = {};
  for (const p of [...PACKAGES, ...TOOLS]) {
    const dir = path.join(root, 'packages', p);
    if (!fs.existsSync(path.join(dir, 'dist', 'index.js'))) throw new Error(`packages/${p} is not built (dist/index.js missing): run npm run build`);
    const json = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dest], dir));
    out[`@ganzoo/${p}`] = path.join(dest, json[0].filename);
  }
  return out;
}

/** A fresh project that depends on the tarballs (and on tfjs as the peer a user installs). */
function makeProject(dir, tarballs) {
  const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const tfjs = rootPkg.devDependencies['@tensorflow/tfjs'];
  const deps = { '@tensorflow/tfjs': tfjs };
  const overrides = {};
  for (const [name, tgz] of Object.entries(tarballs)) {
    deps[name] = `file:${tgz}`;
    overrides[name] = `file:${tgz}`;
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({
    name: 'ganzoo-install-check', version: '1.0.0', private: true, dependencies: deps, overrides,
    devDependencies: { typescript: rootPkg.devDependencies.typescript, '@types/node': rootPkg.devDependencies['@types/node'] },
    allowScripts: rootPkg.allowScripts,
  }, null, 2));
  sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir);
}

/** The quick start of a package README: the first ```ts block right after `<!-- quickstart -->`. */
function quickStart(readme) {
  const m = /<!--\s*quickstart\s*-->\s*```ts\n([\s\S]*?)```/.exec(readme);
  return m ? m[1] : null;
}

/** CommonJS form of a quick start: imports stay on top (tsc turns them into require), the rest runs in an async main. */
function asCommonJs(code) {
  const imports = [];
  const body = code.replace(/^import\s[\s\S]*?['"][^'"\n]+['"];?[ \t]*$/gm, (m) => {
    imports.push(m);
    return '';
  });
  return `${imports.join('\n')}\nasync function main(): Promise<void> {\n${body}\n}\n` +
    'main().catch((e) => { console.error(e); process.exit(1); });\n';
}

/**
 * Writes each quick start as `<project>/qs-<pkg>/quickstart.mts` (ESM, as written) and `quickstart.cts` (CommonJS),
 * and compiles them all with one strict tsc run against the installed .d.ts (emitting .mjs / .cjs next to them).
 * Returns the tsc diagnostics by package ({} when clean).
 */
function writeQuickStarts(project, readmes) {
  const files = [];
  for (const r of readmes) {
    const dir = path.join(project, `qs-${r.pkg}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'quickstart.mts'), r.code);
    fs.writeFileSync(path.join(dir, 'quickstart.cts'), asCommonJs(r.code));
    files.push(`qs-${r.pkg}/quickstart.mts`, `qs-${r.pkg}/quickstart.cts`);
  }
  const tsc = path.join(project, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '--strict', '--skipLibCheck', '--target', 'ES2022', '--types', 'node', '--module', 'nodenext', '--pretty', 'false', ...files];
  const errors = {};
  try {
    sh(process.execPath, args, project);
  } catch (e) {
    const out = `${e.stdout || ''}${e.stderr || ''}`;
    for (const line of out.split('\n')) {
      const m = /^qs-([^/]+)\//.exec(line);
      const key = m ? m[1] : '*';
      if (line.trim()) errors[key] = `${errors[key] || ''}${line}\n`;
    }
    if (errors['*']) for (const r of readmes) errors[r.pkg] = `${errors[r.pkg] || ''}${errors['*']}`;
  }
  return errors;
}

/**
 * A tslab notebook in the project that imports the installed packages (it prints where @ganzoo/biggan-deep resolved
 * from) and displays a generated image; returns its path.
 */
function writeNotebook(project) {
  let n = 0;
  const cell = (source) => ({ cell_type: 'code', execution_count: null, id: `cell-${n++}`, metadata: {}, outputs: [], source });
  const cells = [
    cell([
      "import * as tslab from 'tslab';\n",
      "import { initBackend, imageGrid } from '@ganzoo/core';\n",
      "import { BigGANDeep } from '@ganzoo/biggan-deep';\n",
      "console.log(`resolved: ${require.resolve('@ganzoo/biggan-deep')}`);\n",
      'console.log(`backend: ${await initBackend()}`);',
    ]),
    cell([
      "const g = BigGANDeep.create('tiny', { seed: 0 });\n",
      'const images = g.generate({ classes: [0, 1, 2, 3], truncation: 0.5, seed: 1 });\n',
      'tslab.display.png(await imageGrid(images, { cols: 4 }));\n',
      'images.dispose();\n',
      'g.dispose();',
    ]),
  ];
  const nb = {
    cells,
    metadata: {
      kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' },
      language_info: { name: 'typescript', file_extension: '.ts', mimetype: 'text/typescript' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  const file = path.join(project, 'installed.ipynb');
  fs.writeFileSync(file, JSON.stringify(nb, null, 1));
  return file;
}

module.exports = { PACKAGES, TOOLS, packAll, makeProject, sh, root, quickStart, asCommonJs, writeQuickStarts, writeNotebook };

if (require.main === module) {
  // By hand: pack, install, compile and run every quick start (CommonJS and ESM); keeps the project for a look.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-install-'));
  const tarballs = packAll(work);
  const proj = path.join(work, 'project');
  fs.mkdirSync(proj);
  makeProject(proj, tarballs);
  console.log(`installed ${Object.keys(tarballs).join(', ')} into ${proj}`);
  const readmes = PACKAGES.map((p) => ({ pkg: p, code: quickStart(fs.readFileSync(path.join(root, 'packages', p, 'README.md'), 'utf8')) }))
    .filter((r) => r.code !== null);
  const errors = writeQuickStarts(proj, readmes);
  let failed = 0;
  for (const r of readmes) {
    if (errors[r.pkg]) {
      console.log(`FAIL ${r.pkg}: tsc\n${errors[r.pkg]}`);
      failed++;
      continue;
    }
    for (const js of ['quickstart.cjs', 'quickstart.mjs']) {
      const t0 = Date.now();
      try {
        sh(process.execPath, [path.join(proj, `qs-${r.pkg}`, js)], path.join(proj, `qs-${r.pkg}`));
        console.log(`ok   ${r.pkg} ${js} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        console.log(`FAIL ${r.pkg} ${js}\n${e.stderr || e.message}`);
        failed++;
      }
    }
  }
  process.exit(failed ? 1 : 0);
}
