// npm run bench: runs every benchmark in bench/ (each prints a table and writes bench/results/<name>.json).
// Usage: npm run bench [-- name ...]   e.g. npm run bench -- biggan-deep
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const dir = __dirname;
const all = fs.readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).sort();
const pick = process.argv.slice(2);
const names = pick.length ? pick : all;
let failed = 0;
for (const n of names) {
  if (!all.includes(n)) {
    console.error(`unknown bench '${n}'; available: ${all.join(', ')}`);
    process.exit(2);
  }
  console.log(`\n=== bench ${n} ===`);
  const r = spawnSync(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', '-P',
    path.join(dir, '..', 'tsconfig.jest.json'), path.join(dir, `${n}.bench.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
