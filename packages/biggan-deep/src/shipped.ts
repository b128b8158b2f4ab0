/**
 * The weights shipped inside this package (no download): `biggan-deep-shapes`, a 32 px BigGAN-deep trained with
 * `ganzoo finetune` on the procedural shapes set (weights/shapes-32/README.md says how, and how well it does).
 */
import * as fs from 'fs';
import * as path from 'path';

/** Ids of the shipped weights and their folders under `<package>/weights/`. */
export const SHIPPED_WEIGHTS: Readonly<Record<string, string>> = { 'biggan-deep-shapes': 'shapes-32' };

/** The folder of a shipped id (config.json, model.safetensors, classes.json), or null for other ids. */
export function shippedWeightsDir(id: string): string | null {
  const sub = SHIPPED_WEIGHTS[id];
  if (!sub) return null;
  // dist/shipped.js and src/shipped.ts both sit one level below the package root.
  const dir = path.join(__dirname, '..', 'weights', sub);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    throw new Error(`BigGAN-deep: the shipped weights '${id}' are missing from this install (expected ${dir}/config.json)`);
  }
  return dir;
}

/** Class names saved next to a weights folder (classes.json), if any. */
export function classNamesOf(dir: string): string[] | null {
  const f = path.join(dir, 'classes.json');
  if (!fs.existsSync(f)) return null;
  const names = JSON.parse(fs.readFileSync(f, 'utf8'));
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new Error(`BigGAN-deep: ${f} must be a JSON array of class names`);
  return names;
}
