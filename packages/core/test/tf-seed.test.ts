import * as tf from '@tensorflow/tfjs';
import { diffAugment } from '../src/diffaugment';
import { TF_SEED_ZERO, tfSeed } from '../src/rng';

const draw = (seed: number) => {
  const a = tf.randomNormal([64], 0, 1, 'float32', tfSeed(seed));
  const b = tf.randomUniform([64], 0, 1, 'float32', tfSeed(seed));
  const c = tf.truncatedNormal([64], 0, 1, 'float32', tfSeed(seed));
  const out = [...a.dataSync(), ...b.dataSync(), ...c.dataSync()];
  tf.dispose([a, b, c]);
  return out;
};

describe('tfSeed', () => {
  test('seed 0 gives the same numbers twice (tfjs alone would not)', () => {
    expect(draw(0)).toEqual(draw(0));
    expect(draw(0)).not.toEqual(draw(1));
    expect(tfSeed(0)).toBe(TF_SEED_ZERO);
    expect(tfSeed(-0)).toBe(TF_SEED_ZERO);
    expect(Number.isInteger(TF_SEED_ZERO)).toBe(false); // never equal to an integer seed
  });

  test('other seeds are unchanged, so their outputs stay what they were', () => {
    for (const s of [1, 7, -3, 12345, 4294967295, 2.5]) expect(tfSeed(s)).toBe(s);
    const raw = tf.randomNormal([16], 0, 1, 'float32', 42);
    const mapped = tf.randomNormal([16], 0, 1, 'float32', tfSeed(42));
    expect(Array.from(mapped.dataSync())).toEqual(Array.from(raw.dataSync()));
    tf.dispose([raw, mapped]);
  });

  test('NaN and non-finite seeds are refused', () => {
    expect(() => tfSeed(Number.NaN)).toThrow(/tfSeed: expected a finite number as seed, got NaN/);
    expect(() => tfSeed(Infinity)).toThrow(/got Infinity/);
    expect(() => tfSeed(undefined as unknown as number)).toThrow(/finite number/);
  });

  test('diffAugment with seed 0 is reproducible', () => {
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const a = diffAugment(x, { seed: 0 });
    const b = diffAugment(x, { seed: 0 });
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    tf.dispose([x, a, b]);
  });
});
