// Execute the tslab notebooks in examples/notebooks headless with jupyter nbconvert.
// Installs the tslab kernel spec into a project-local prefix (.jupyter/), so nothing outside the repo is touched.
// Usage: node scripts/notebooks.js [notebook.ipynb ...]   (default: every notebook in examples/notebooks)
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const PY = process.env.GANZOO_JUPYTER_PYTHON || '/usr/bin/python3';

function jupyterAvailable() {
  const r = spawnSync(PY, ['-c', 'import nbconvert, ipykernel, jupyter_client'], { stdio: 'ignore' });
  return r.status === 0;
}

function env() {
  const bin = path.join(root, 'node_modules', '.bin');
  return {
    ...process.env,
    PATH: `${bin}${path.delimiter}${process.env.PATH}`,
    JUPYTER_PATH: path.join(root, '.jupyter', 'share', 'jupyter'),
  };
}

function installKernel() {
  const tslab = path.join(root, 'node_modules', '.bin', 'tslab');
  execFileSync(tslab, ['install', `--python=${PY}`, `--prefix=${path.join(root, '.jupyter')}`, `--binary=${tslab}`], {
    env: env(),
    stdio: 'pipe',
  });
}

/** Run one notebook; returns { ok, output, executed } where executed is the path of the executed copy. */
function runNotebook(nb, outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ganzoo-nb-'))) {
  const r = spawnSync(
    PY,
    ['-m', 'jupyter', 'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.kernel_name=tslab',
      '--ExecutePreprocessor.timeout=600', `--output-dir=${outDir}`, nb],
    { env: env(), encoding: 'utf8', cwd: path.dirname(nb), timeout: 900000 },
  );
  const executed = path.join(outDir, path.basename(nb));
  return { ok: r.status === 0, output: `${r.stdout || ''}${r.stderr || ''}`, executed };
}

function listNotebooks() {
  const dir = path.join(root, 'examples', 'notebooks');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort().map((f) => path.join(dir, f)) : [];
}

module.exports = { jupyterAvailable, installKernel, runNotebook, listNotebooks };

if (require.main === module) {
  if (!jupyterAvailable()) {
    console.error(`jupyter nbconvert/ipykernel not importable by ${PY}: apt-get install -y jupyter-nbconvert python3-ipykernel jupyter-client`);
    process.exit(2);
  }
  installKernel();
  const nbs = process.argv.slice(2).length ? process.argv.slice(2).map((p) => path.resolve(p)) : listNotebooks();
  let failed = 0;
  for (const nb of nbs) {
    const t0 = Date.now();
    const r = runNotebook(nb);
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${path.relative(root, nb)} (${((Date.now() - t0) / 1000).toFixed(1)} s) -> ${r.executed}`);
    if (!r.ok) {
      failed++;
      console.log(r.output.split('\n').slice(-40).join('\n'));
    }
  }
  process.exit(failed ? 1 : 0);
}
