/**
 * ImageNet class names -> indices for the 1000-class BigGAN-deep generators.
 */
import { IMAGENET_CLASS_NAMES, IMAGENET_WNIDS } from './imagenet-classes';
import { editDistance } from '@ganzoo/core';

export { IMAGENET_CLASS_NAMES, IMAGENET_WNIDS };

const norm = (s: string) => s.trim().toLowerCase().replace(/[_\s]+/g, ' ');

let lemmaIndex: Map<string, number> | null = null;
function lemmas(): Map<string, number> {
  if (lemmaIndex) return lemmaIndex;
  lemmaIndex = new Map();
  IMAGENET_CLASS_NAMES.forEach((full, i) => {
    const keys = [full, ...full.split(',')];
    for (const k of keys) {
      const n = norm(k);
      if (n && !lemmaIndex!.has(n)) lemmaIndex!.set(n, i); // first class wins (e.g. 'crane' the bird, 134)
    }
  });
  IMAGENET_WNIDS.forEach((id, i) => lemmaIndex!.set(id, i));
  return lemmaIndex;
}

/** The `n` class names closest to `name` (substring matches first, then edit distance). */
export function closestClassNames(name: string, n = 5): string[] {
  const q = norm(name);
  const scored: { lemma: string; idx: number; score: number }[] = [];
  for (const [lemma, idx] of lemmas()) {
    if (/^n\d{8}$/.test(lemma)) continue;
    const sub = lemma.includes(q) || q.includes(lemma);
    scored.push({ lemma, idx, score: (sub ? 0 : 1000) + editDistance(q, lemma) });
  }
  scored.sort((x, y) => x.score - y.score);
  const out: string[] = [];
  const seen = new Set<number>();
  for (const s of scored) {
    if (seen.has(s.idx)) continue;
    seen.add(s.idx);
    out.push(`'${s.lemma}' (${s.idx})`);
    if (out.length >= n) break;
  }
  return out;
}

/**
 * Index of an ImageNet class from any of its names ('golden retriever', 'Golden_Retriever'), its full
 * synset_words line, or its WordNet id ('n02099601'). Unknown names throw an Error suggesting the closest ones.
 */
export function classIndex(name: string): number {
  const i = lemmas().get(norm(name));
  if (i === undefined) {
    throw new Error(`unknown ImageNet class name '${name}'; closest: ${closestClassNames(name).join(', ')}`);
  }
  return i;
}

/** The display name (first lemma) of class `index`. */
export function className(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= IMAGENET_CLASS_NAMES.length) {
    throw new Error(`ImageNet class index must be an integer in [0, ${IMAGENET_CLASS_NAMES.length - 1}], found ${index}`);
  }
  return IMAGENET_CLASS_NAMES[index].split(',')[0].trim();
}
