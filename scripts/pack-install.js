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

function sh(cmd, args, cwd, extraEnv = {}) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, ...extraEnv }, maxBuffer: 64 << 20 });
}

/** Packs each package; returns { name -> tarball path }. */
function packAll(dest) {
  const out = {};
  for (const p of PACKAGES) {
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

module.exports = { PACKAGES, packAll, makeProject, sh, root };

if (require.main === module) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-install-'));
  const tarballs = packAll(work);
  const proj = path.join(work, 'project');
  fs.mkdirSync(proj);
  makeProject(proj, tarballs);
  console.log(`installed ${Object.keys(tarballs).join(', ')} into ${proj}`);
}
