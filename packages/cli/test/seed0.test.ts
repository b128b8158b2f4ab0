/** Seed 0 (the CLI's default `--seeds 0-7`, a run's `--seed 0`) gives the same numbers every time (DCGAN). */
import * as tf from '@tensorflow/tfjs';
import { createTrainable } from '../src/dcgan';

test('dcgan: a model created with seed 0 samples seed 0 reproducibly', () => {
  const before = tf.memory().numTensors;
  const a = createTrainable({ preset: 'tiny', numClasses: 2, seed: 0 });
  const b = createTrainable({ preset: 'tiny', numClasses: 2, seed: 0 });
  const x = a.sample([0, 1], { labels: [0, 1] });
  const y = b.sample([0, 1], { labels: [0, 1] });
  const z = a.sample([0, 1], { labels: [0, 1] });
  expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
  expect(Array.from(z.dataSync())).toEqual(Array.from(x.dataSync()));
  tf.dispose([x, y, z]);
  a.dispose();
  b.dispose();
  expect(tf.memory().numTensors).toBe(before);
});
