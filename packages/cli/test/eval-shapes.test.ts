/**
 * evalShapes on a stand-in generator that draws real rendered shapes: accuracy, per-class variety over seeds (0 for a
 * class that draws one image for every seed, as a per-class collapsed GAN does) and the colours the checker read.
 */
import * as tf from '@tensorflow/tfjs';
import { renderShape, shapeSpec, SHAPES } from '@ganzoo/core';
import { evalShapes } from '../src/index';
import type { LoadedGenerator } from '../src/models';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Class c draws shape c from seed-dependent specs; class 0 ('circle') always draws seed 0's circle. */
function standIn(): LoadedGenerator {
  return {
    conditioning: 'class', resolution: 32, numClasses: 4, classNames: [...SHAPES],
    async generate({ seeds, labels }) {
      const imgs = await Promise.all(seeds.map((s, k) => {
        const shape = SHAPES[labels![k]];
        return renderShape(shapeSpec(7, shape === 'circle' ? 0 : s, 32, { shape, background: 'white' }), 32);
      }));
      const flat = new Float32Array(seeds.length * 32 * 32 * 3);
      imgs.forEach((im, k) => im.forEach((v, j) => { flat[k * 3072 + j] = v / 127.5 - 1; }));
      return tf.tensor4d(flat, [seeds.length, 32, 32, 3]);
    },
    dispose() {},
  };
}

test('accuracy, variety over seeds (0 for a collapsed class) and colours per class; no leaks', async () => {
  const before = tf.memory().numTensors;
  const r = await evalShapes(standIn(), { n: 40, seed: 100, chunk: 16 });
  expect(tf.memory().numTensors).toBe(before);
  expect(r.accuracy).toBe(1);
  expect(Object.keys(r.variety)).toEqual([...SHAPES]);
  expect(r.variety.circle).toBe(0);
  for (const c of ['square', 'triangle', 'star']) expect(r.variety[c]).toBeGreaterThan(0.05);
  const circleColours = Object.entries(r.colours.circle);
  expect(circleColours).toHaveLength(1); // one image, one colour
  expect(circleColours[0][1]).toBe(10);
  expect(Object.values(r.colours.star).reduce((a, b) => a + b, 0)).toBe(10);
  expect(Object.keys(r.colours.square).length).toBeGreaterThan(1); // seeds vary the colour
});
